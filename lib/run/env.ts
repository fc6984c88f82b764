/**
 * The environment a benchmark ran in, read from /proc, /sys and `df` (no native library).
 * Every field is null when it can't be known; nothing here throws for a missing file.
 *
 * ```ts
 * import { captureEnv, envHeader } from "./env.ts";
 * const env = await captureEnv("/mnt/nvme/bench");
 * console.log(envHeader(env).join("\n"));
 * ```
 */
import { formatBytesHuman } from "../common/size.ts";

/** What `captureEnv` found. */
export interface EnvInfo {
  /** `uname -r`. */
  kernel: string | null;
  hostname: string | null;
  cpuModel: string | null;
  cpuCount: number | null;
  /** cpu0's cpufreq governor; null without cpufreq (common in VMs). */
  governor: string | null;
  /** The path asked about, resolved (up to its deepest existing ancestor). */
  path: string;
  fsType: string | null;
  mountSource: string | null;
  mountPoint: string | null;
  /** Per-mount options, then superblock options, without repeats. */
  mountOptions: string | null;
  /** `MAJ:MIN` of the filesystem, from mountinfo. */
  deviceNumber: string | null;
  /** The whole disk behind the filesystem, e.g. `nvme0n1`, `vda`, `loop0`, `dm-0`. */
  device: string | null;
  /** The partition the filesystem sits on (`nvme0n1p2`), or null for a whole disk. */
  partition: string | null;
  /** Devices under a dm/md device (`/sys/block/X/slaves`), or null when there are none. */
  slaves: string[] | null;
  /** The disk whose model and queue settings are reported: `device`, or its only slave (followed). */
  queueDevice: string | null;
  /** A loop device's backing file. */
  loopBackingFile: string | null;
  /** `device/model`, or `loop (backing: FILE)`, `virtio`, `dm (slaves: ...)`. */
  deviceModel: string | null;
  /** The selected IO scheduler (the bracketed entry of queue/scheduler). */
  scheduler: string | null;
  nomerges: number | null;
  rotational: boolean | null;
  logicalBlockSize: number | null;
  physicalBlockSize: number | null;
  maxSectorsKb: number | null;
  nrRequests: number | null;
  ioPoll: boolean | null;
  /** `Max locked memory` of this process, in bytes. */
  memlockSoftBytes: number | "unlimited" | null;
  memlockHardBytes: number | "unlimited" | null;
  /** `kernel.io_uring_disabled`: 0 enabled, 1 only for a privileged group, 2 disabled; null if absent. */
  ioUringDisabled: number | null;
  /** Bytes available to this user on the filesystem of `path`. */
  freeBytes: number | null;
  /** O_DIRECT alignment (statx STATX_DIOALIGN), as given by the caller. */
  dioAlign: number | null;
}

/** Facts the caller knows better than /proc and /sys. */
export interface CaptureEnvOptions {
  /** From the native library's statx(STATX_DIOALIGN). */
  dioAlign?: number;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return null;
  }
}

function readInt(path: string): number | null {
  const text = readText(path);
  if (text === null || !/^-?\d+$/.test(text)) return null;
  return Number(text);
}

function realPath(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch {
    return null;
  }
}

function tryOr<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** The deepest existing ancestor of `path`, resolved; a file that is yet to be made still has a fs. */
function resolveExisting(path: string): string {
  let current = path.startsWith("/") ? path : `${tryOr(() => Deno.cwd(), "/")}/${path}`;
  for (let depth = 0; depth < 256; depth++) {
    const resolved = realPath(current);
    if (resolved !== null) return resolved;
    const cut = current.lastIndexOf("/");
    if (cut <= 0) return "/";
    current = current.slice(0, cut);
  }
  return "/";
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
}

/** One line of /proc/self/mountinfo. */
export interface MountInfo {
  deviceNumber: string;
  mountPoint: string;
  mountOptions: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** Parses /proc/self/mountinfo text; malformed lines are skipped. */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    mounts.push({
      deviceNumber: fields[2],
      mountPoint: unescapeMount(fields[4]),
      mountOptions: fields[5],
      fsType: fields[dash + 1],
      source: unescapeMount(fields[dash + 2]),
      superOptions: fields[dash + 3] ?? "",
    });
  }
  return mounts;
}

/** The mount holding `path`: the longest mount point that is a prefix, the later one on a tie. */
export function findMount(mounts: MountInfo[], path: string): MountInfo | null {
  let best: MountInfo | null = null;
  for (const mount of mounts) {
    const mp = mount.mountPoint;
    const under = mp === "/" || path === mp || path.startsWith(mp + "/");
    if (under && (best === null || mp.length >= best.mountPoint.length)) best = mount;
  }
  return best;
}

/** `MAJ:MIN` of a block special file such as `/dev/mapper/root` (for btrfs' anonymous 0:N). */
function blockDeviceNumber(source: string): string | null {
  if (!source.startsWith("/dev/")) return null;
  const info = tryOr(() => Deno.statSync(source), null);
  if (info === null || !info.isBlockDevice || info.rdev === null) return null;
  const rdev = info.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 4096) & ~0xff) >>> 0);
  return `${major}:${minor}`;
}

interface BlockInfo {
  device: string;
  partition: string | null;
}

/** The whole disk (and partition) for `MAJ:MIN`, via /sys/dev/block. */
function blockDevice(deviceNumber: string): BlockInfo | null {
  const sysPath = realPath(`/sys/dev/block/${deviceNumber}`);
  if (sysPath === null) return null;
  const name = sysPath.slice(sysPath.lastIndexOf("/") + 1);
  if (readText(`${sysPath}/partition`) !== null) {
    const parent = sysPath.slice(0, sysPath.lastIndexOf("/"));
    return { device: parent.slice(parent.lastIndexOf("/") + 1), partition: name };
  }
  return { device: name, partition: null };
}

function slavesOf(device: string): string[] {
  try {
    return [...Deno.readDirSync(`/sys/block/${device}/slaves`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Follows a dm/md device down through single slaves to the disk (partitions to their disk). */
function queueDeviceOf(device: string): string {
  let current = device;
  for (let depth = 0; depth < 8; depth++) {
    const slaves = slavesOf(current);
    if (slaves.length !== 1) return current;
    const slave = slaves[0];
    const disk = realPath(`/sys/class/block/${slave}`);
    const isPartition = disk !== null && readText(`${disk}/partition`) !== null;
    current = isPartition ? disk!.split("/").at(-2)! : slave;
  }
  return current;
}

function deviceModel(device: string, queueDevice: string, backing: string | null): string | null {
  if (device.startsWith("loop")) return `loop (backing: ${backing ?? "unknown"})`;
  const model = readText(`/sys/block/${queueDevice}/device/model`);
  if (model) return model;
  const slaves = slavesOf(device);
  if (queueDevice === device && slaves.length > 1) {
    return `${device.replace(/-\d+$/, "").replace(/\d+$/, "")} (slaves: ${slaves.join(", ")})`;
  }
  if (/^vd[a-z]+$/.test(queueDevice)) return "virtio";
  return null;
}

function scheduler(queueDir: string): string | null {
  const text = readText(`${queueDir}/scheduler`);
  if (text === null) return null;
  const match = text.match(/\[([^\]]+)\]/);
  return match ? match[1] : text === "none" ? "none" : null;
}

function parseLimit(value: string | undefined): number | "unlimited" | null {
  if (value === "unlimited") return "unlimited";
  if (value === undefined || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/** The soft and hard "Max locked memory" limits from /proc/self/limits text. */
export function parseMemlock(
  limitsText: string | null,
): { soft: number | "unlimited" | null; hard: number | "unlimited" | null } {
  const line = limitsText?.split("\n").find((l) => l.startsWith("Max locked memory"));
  const fields = line?.slice("Max locked memory".length).trim().split(/\s+/) ?? [];
  return { soft: parseLimit(fields[0]), hard: parseLimit(fields[1]) };
}

function cpuInfo(): { model: string | null; count: number | null } {
  const text = readText("/proc/cpuinfo");
  const model = text?.match(/^(?:model name|Model|Hardware)\s*:\s*(.+)$/m)?.[1].trim() ?? null;
  const processors = text?.match(/^processor\s*:/gm)?.length ?? 0;
  const count = processors > 0 ? processors : (globalThis.navigator?.hardwareConcurrency ?? null);
  return { model, count };
}

async function freeBytes(path: string): Promise<number | null> {
  try {
    const out = await new Deno.Command("df", {
      args: ["-B1", "--output=avail", path],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
    if (!out.success) return null;
    const last = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)?.trim();
    return last !== undefined && /^\d+$/.test(last) ? Number(last) : null;
  } catch {
    return null;
  }
}

type DeviceFields = Pick<
  EnvInfo,
  | "device"
  | "partition"
  | "slaves"
  | "queueDevice"
  | "loopBackingFile"
  | "deviceModel"
  | "scheduler"
  | "nomerges"
  | "rotational"
  | "logicalBlockSize"
  | "physicalBlockSize"
  | "maxSectorsKb"
  | "nrRequests"
  | "ioPoll"
>;

function deviceFields(deviceNumber: string | null): DeviceFields {
  const block = deviceNumber === null ? null : blockDevice(deviceNumber);
  const device = block?.device ?? null;
  const queueDevice = device === null ? null : queueDeviceOf(device);
  const backing = device?.startsWith("loop")
    ? readText(`/sys/block/${device}/loop/backing_file`)
    : null;
  const slaves = device === null ? [] : slavesOf(device);
  const queue = `/sys/block/${queueDevice}/queue`;
  const rotational = queueDevice === null ? null : readInt(`${queue}/rotational`);
  const ioPoll = queueDevice === null ? null : readInt(`${queue}/io_poll`);
  const has = queueDevice !== null;
  return {
    device,
    partition: block?.partition ?? null,
    slaves: slaves.length > 0 ? slaves : null,
    queueDevice,
    loopBackingFile: backing,
    deviceModel: device === null ? null : deviceModel(device, queueDevice!, backing),
    scheduler: has ? scheduler(queue) : null,
    nomerges: has ? readInt(`${queue}/nomerges`) : null,
    rotational: rotational === null ? null : rotational !== 0,
    logicalBlockSize: has ? readInt(`${queue}/logical_block_size`) : null,
    physicalBlockSize: has ? readInt(`${queue}/physical_block_size`) : null,
    maxSectorsKb: has ? readInt(`${queue}/max_sectors_kb`) : null,
    nrRequests: has ? readInt(`${queue}/nr_requests`) : null,
    ioPoll: ioPoll === null ? null : ioPoll !== 0,
  };
}

/**
 * Captures the machine, filesystem and block device behind `path` (which need not exist yet).
 * Needs --allow-read, --allow-sys (kernel, hostname) and --allow-run=df (free space); a missing
 * permission or file leaves the field null.
 */
export async function captureEnv(path: string, opts: CaptureEnvOptions = {}): Promise<EnvInfo> {
  const resolved = resolveExisting(path);
  const mounts = parseMountinfo(readText("/proc/self/mountinfo") ?? "");
  const mount = findMount(mounts, resolved);
  let deviceNumber = mount?.deviceNumber ?? null;
  if (deviceNumber?.startsWith("0:") && mount) {
    deviceNumber = blockDeviceNumber(mount.source) ?? deviceNumber;
  }
  const options = mount
    ? [...new Set([...mount.mountOptions.split(","), ...mount.superOptions.split(",")])]
      .filter((o) => o !== "").join(",")
    : null;
  const memlock = parseMemlock(readText("/proc/self/limits"));
  const cpu = cpuInfo();
  return {
    kernel: tryOr(() => Deno.osRelease(), null) ?? readText("/proc/sys/kernel/osrelease"),
    hostname: tryOr(() => Deno.hostname(), null) ?? readText("/proc/sys/kernel/hostname"),
    cpuModel: cpu.model,
    cpuCount: cpu.count,
    governor: readText("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    path: resolved,
    fsType: mount?.fsType ?? null,
    mountSource: mount?.source ?? null,
    mountPoint: mount?.mountPoint ?? null,
    mountOptions: options,
    deviceNumber,
    ...deviceFields(deviceNumber),
    memlockSoftBytes: memlock.soft,
    memlockHardBytes: memlock.hard,
    ioUringDisabled: readInt("/proc/sys/kernel/io_uring_disabled"),
    freeBytes: await freeBytes(resolved),
    dioAlign: opts.dioAlign ?? null,
  };
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The `env` object of the `aiobench/1` JSON: the same fields in snake_case. */
export function envToJson(env: EnvInfo): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) json[snakeCase(key)] = value;
  return json;
}

/** "12.34 GiB free" (or "? free"): the one wording of free space, in the header and in doctor. */
export function freeSpaceText(bytes: number | null): string {
  return `${bytes === null ? "?" : formatBytesHuman(bytes)} free`;
}

/** Two or three short lines for the top of a human report. */
export function envHeader(env: EnvInfo): string[] {
  const cpu = `${env.cpuModel ?? "unknown cpu"} x${env.cpuCount ?? "?"}` +
    (env.governor ? ` (${env.governor})` : "");
  const lines = [`kernel ${env.kernel ?? "?"} on ${env.hostname ?? "?"}, ${cpu}`];
  const dev = env.device === null ? env.mountSource ?? "?" : `/dev/${env.partition ?? env.device}`;
  lines.push(
    `${env.path}: ${env.fsType ?? "?"} on ${dev} mounted at ${env.mountPoint ?? "?"}, ${
      freeSpaceText(env.freeBytes)
    }`,
  );
  if (env.device !== null) {
    const queue = env.queueDevice !== env.device ? ` via ${env.queueDevice}` : "";
    lines.push(
      `device ${env.device}${queue}: ${env.deviceModel ?? "unknown model"}, scheduler ${
        env.scheduler ?? "?"
      }, ${env.rotational === null ? "?" : env.rotational ? "rotational" : "non-rotational"}, ` +
        `${env.logicalBlockSize ?? "?"}/${env.physicalBlockSize ?? "?"} B blocks`,
    );
  }
  return lines;
}
