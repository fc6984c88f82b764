/**
 * `aiobench doctor`: what on this machine would make a storage benchmark wrong or slow, and how to fix it.
 *
 * ```ts
 * import { doctor, formatDoctor } from "./doctor.ts";
 * console.log(formatDoctor(await doctor("/mnt/nvme")).join("\n"));
 * ```
 */

import { captureEnv, envHeader, type EnvInfo, envToJson, freeSpaceText } from "../run/env.ts";
import { formatBytesHuman } from "../common/size.ts";

export type CheckStatus = "ok" | "warn" | "fail" | "info";

/** One finding. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to run or change, when there is something to do. */
  fix?: string;
}

/** All findings for one path. */
export interface DoctorReport {
  path: string;
  /** The worst status among the checks (`info` counts as `ok`). */
  status: "ok" | "warn" | "fail";
  env: EnvInfo;
  checks: DoctorCheck[];
}

/** Result of really trying something in the kernel (from the native library). */
export interface ProbeResult {
  ok: boolean;
  /** `EINVAL`, `EPERM`, ... when it failed. */
  errno?: string;
  /** O_DIRECT alignment in bytes, when known. */
  align?: number;
}

/** Probes the caller wires to the native library; without them the checks say "not probed". */
export interface DoctorOptions {
  /** Opens a temporary file in `dir` with O_DIRECT and does one aligned IO. */
  probeDirect?: (dir: string) => Promise<ProbeResult>;
  /** Calls io_uring_setup (seccomp and container runtimes can block it whatever the sysctl says). */
  probeIoUring?: () => Promise<ProbeResult>;
  /** An environment captured already (tests, or a caller that has one). */
  env?: EnvInfo;
  /** Overrides reading CAP_IPC_LOCK from /proc/self/status (tests). */
  capIpcLock?: boolean;
}

const MIB = 2 ** 20;
const GIB = 2 ** 30;
const MEMLOCK_MIN_BYTES = 64 * MIB;
const FREE_MIN_BYTES = 2 * GIB;
const CAP_IPC_LOCK = 14n;

/** Sizes as the rest of aiobench prints them (the header's free space included). */
const describeBytes = formatBytesHuman;

function hasCapIpcLock(): boolean | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const hex = status.match(/^CapEff:\s*([0-9a-f]+)$/m)?.[1];
    return hex === undefined ? null : ((BigInt(`0x${hex}`) >> CAP_IPC_LOCK) & 1n) === 1n;
  } catch {
    return null;
  }
}

function filesystemCheck(env: EnvInfo): DoctorCheck {
  const where = `${env.fsType ?? "unknown fs"} from ${env.mountSource ?? "?"} at ${
    env.mountPoint ?? "?"
  }`;
  if (env.fsType === "tmpfs" || env.fsType === "ramfs") {
    return {
      name: "filesystem",
      status: "warn",
      detail: `${env.path} is on ${where}: files live in memory, so a benchmark measures memory ` +
        "copies, not storage",
      fix: "point --folder (or the file) at a directory on the NVMe filesystem",
    };
  }
  if (env.fsType === null) {
    return { name: "filesystem", status: "info", detail: `no mount found for ${env.path}` };
  }
  const remote = /^(nfs4?|cifs|smb3|fuse.*|overlay|9p|virtiofs)$/.test(env.fsType);
  return {
    name: "filesystem",
    status: remote ? "info" : "ok",
    detail: `${where} (${env.mountOptions ?? "no options"})` +
      (remote ? `; ${env.fsType} adds its own layer between the benchmark and the disk` : ""),
  };
}

async function directCheck(env: EnvInfo, opts: DoctorOptions): Promise<DoctorCheck> {
  const dir = env.path;
  if (!opts.probeDirect) {
    return {
      name: "o_direct",
      status: "info",
      detail: `not probed in ${dir} (needs the native library)` +
        (env.dioAlign !== null ? `; DIO alignment ${env.dioAlign} B` : ""),
    };
  }
  let probe: ProbeResult;
  try {
    probe = await opts.probeDirect(dir);
  } catch (e) {
    probe = { ok: false, errno: (e as Error).message };
  }
  if (probe.ok) {
    const align = probe.align ?? env.dioAlign;
    return {
      name: "o_direct",
      status: "ok",
      detail: `O_DIRECT works in ${dir}` + (align ? ` (alignment ${align} B)` : ""),
    };
  }
  return {
    name: "o_direct",
    status: "fail",
    detail: `O_DIRECT failed in ${dir} on ${env.fsType ?? "this fs"}: ${
      probe.errno ?? "unknown error"
    }`,
    fix: "use a filesystem that supports O_DIRECT (ext4, xfs), or run with --buffered (page cache)",
  };
}

function isNvmeLike(env: EnvInfo): boolean {
  return /^nvme/.test(env.queueDevice ?? env.device ?? "");
}

function deviceCheck(env: EnvInfo): DoctorCheck {
  if (env.device === null) {
    return {
      name: "device",
      status: "info",
      detail: `no block device behind ${env.fsType ?? "the filesystem"} of ${env.path}`,
    };
  }
  const flag = (v: boolean | null, yes: string, no: string) => v === null ? "?" : v ? yes : no;
  const via = env.queueDevice !== env.device ? ` via ${env.queueDevice}` : "";
  const queue = `scheduler ${env.scheduler ?? "?"}, nomerges ${env.nomerges ?? "?"}, ` +
    `${flag(env.rotational, "rotational", "non-rotational")}, blocks ${
      env.logicalBlockSize ?? "?"
    }/${env.physicalBlockSize ?? "?"} B, max_sectors_kb ${env.maxSectorsKb ?? "?"}, ` +
    `nr_requests ${env.nrRequests ?? "?"}, io_poll ${flag(env.ioPoll, "on", "off")}`;
  const detail = `${env.device}${via} (${env.deviceModel ?? "unknown model"}): ${queue}`;
  if (isNvmeLike(env) && env.scheduler !== null && env.scheduler !== "none") {
    return {
      name: "device",
      status: "warn",
      detail: `${detail}; an IO scheduler on NVMe adds CPU per IO and caps IOPS`,
      fix: `echo none | sudo tee /sys/block/${env.queueDevice}/queue/scheduler`,
    };
  }
  const loop = env.loopBackingFile !== null
    ? `; a loop device measures its backing file's filesystem (${env.loopBackingFile})`
    : "";
  return { name: "device", status: "info", detail: detail + loop };
}

async function ioUringCheck(env: EnvInfo, opts: DoctorOptions): Promise<DoctorCheck> {
  const name = "io_uring";
  const fallback = "run with --engine libaio (or psync); auto does this by itself";
  if (env.ioUringDisabled === 2) {
    return {
      name,
      status: "fail",
      detail: "kernel.io_uring_disabled = 2: io_uring is disabled for every process",
      fix: `sudo sysctl -w kernel.io_uring_disabled=0, or ${fallback}`,
    };
  }
  const sysctl = env.ioUringDisabled === null
    ? "kernel.io_uring_disabled is absent (kernel before 6.6 or not built with it)"
    : env.ioUringDisabled === 1
    ? "kernel.io_uring_disabled = 1: only root and kernel.io_uring_group may use io_uring"
    : "kernel.io_uring_disabled = 0 (enabled)";
  if (opts.probeIoUring) {
    let probe: ProbeResult;
    try {
      probe = await opts.probeIoUring();
    } catch (e) {
      probe = { ok: false, errno: (e as Error).message };
    }
    return probe.ok ? { name, status: "ok", detail: `${sysctl}; io_uring_setup works` } : {
      name,
      status: "fail",
      detail: `${sysctl}; io_uring_setup failed: ${probe.errno ?? "unknown error"} ` +
        "(a seccomp profile or container runtime may block it)",
      fix: `allow io_uring in the container's seccomp profile, or ${fallback}`,
    };
  }
  const unknown = "; whether seccomp or a container runtime blocks io_uring_setup is not probed";
  if (env.ioUringDisabled === 1) {
    return {
      name,
      status: "warn",
      detail: sysctl + unknown,
      fix: `sudo sysctl -w kernel.io_uring_disabled=0, or ${fallback}`,
    };
  }
  return { name, status: env.ioUringDisabled === 0 ? "ok" : "info", detail: sysctl + unknown };
}

function memlockCheck(env: EnvInfo, opts: DoctorOptions): DoctorCheck {
  const name = "memlock";
  const soft = env.memlockSoftBytes, hard = env.memlockHardBytes;
  if (soft === null) return { name, status: "info", detail: "Max locked memory is unknown" };
  const show = (v: number | "unlimited" | null) =>
    v === null ? "?" : v === "unlimited" ? v : describeBytes(v);
  const limits = `Max locked memory ${show(soft)} (hard ${show(hard)})`;
  if (soft === "unlimited" || soft >= MEMLOCK_MIN_BYTES) {
    return { name, status: "ok", detail: limits };
  }
  if (opts.capIpcLock ?? hasCapIpcLock()) {
    return {
      name,
      status: "ok",
      detail: `${limits}, but this process has CAP_IPC_LOCK, which exempts mlock and fixed buffers`,
    };
  }
  const raise = hard === "unlimited" || (hard !== null && hard >= MEMLOCK_MIN_BYTES)
    ? "ulimit -l unlimited (or up to the hard limit) in this shell"
    : "ulimit -l unlimited as root, or '* - memlock unlimited' in /etc/security/limits.conf " +
      "(containers: --ulimit memlock=-1)";
  return {
    name,
    status: "warn",
    detail: `${limits} is under ${describeBytes(MEMLOCK_MIN_BYTES)}: --fixedbufs and --mlock ` +
      "need to lock every IO buffer",
    fix: raise,
  };
}

function governorCheck(env: EnvInfo): DoctorCheck {
  const name = "cpu_governor";
  if (env.governor === null) {
    return { name, status: "info", detail: "no cpufreq governor (a VM, or no cpufreq driver)" };
  }
  if (env.governor === "performance") return { name, status: "ok", detail: "performance" };
  return {
    name,
    status: "warn",
    detail: `${env.governor}: clocks ramp up and down during a run, which adds latency and noise`,
    fix: "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor",
  };
}

function freeSpaceCheck(env: EnvInfo): DoctorCheck {
  const name = "free_space";
  if (env.freeBytes === null) return { name, status: "info", detail: "free space is unknown" };
  const detail = `${freeSpaceText(env.freeBytes)} on ${env.mountPoint ?? env.path}`;
  if (env.freeBytes >= FREE_MIN_BYTES) return { name, status: "ok", detail };
  return {
    name,
    status: "warn",
    detail: `${detail}, under ${describeBytes(FREE_MIN_BYTES)}: test files may not fit`,
    fix: "free some space, or pass a --folder on a larger filesystem",
  };
}

/** Runs every check for `path` (a file or directory; it need not exist yet). */
export async function doctor(path: string, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const env = opts.env ?? await captureEnv(path);
  const checks = [
    filesystemCheck(env),
    await directCheck(env, opts),
    deviceCheck(env),
    await ioUringCheck(env, opts),
    memlockCheck(env, opts),
    governorCheck(env),
    freeSpaceCheck(env),
  ];
  const status = checks.some((c) => c.status === "fail")
    ? "fail"
    : checks.some((c) => c.status === "warn")
    ? "warn"
    : "ok";
  return { path: env.path, status, env, checks };
}

const MARKS: Record<CheckStatus, string> = {
  ok: "[ ok ]",
  warn: "[warn]",
  fail: "[FAIL]",
  info: "[info]",
};

/** Human lines: the environment header, one line per check, and `fix:` lines under problems. */
export function formatDoctor(report: DoctorReport): string[] {
  const lines = [...envHeader(report.env), ""];
  for (const check of report.checks) {
    lines.push(`${MARKS[check.status]} ${check.name}: ${check.detail}`);
    if (check.fix) lines.push(`       fix: ${check.fix}`);
  }
  lines.push("", `doctor: ${report.status}`);
  return lines;
}

/** The report as JSON data (env in snake_case, as in the `aiobench/1` schema). */
export function doctorToJson(report: DoctorReport): Record<string, unknown> {
  return {
    path: report.path,
    status: report.status,
    env: envToJson(report.env),
    checks: report.checks.map((c) => ({ ...c })),
  };
}
