/**
 * Target files: which file each worker uses, checks that nothing of the user's is overwritten,
 * creation of read files (random non-zero data, direct IO, fsync, outside the timed region),
 * and removal of what aiobench created.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioError } from "../../ffi/errors.ts";
import { AioFile, type FileStat } from "../../ffi/file.ts";
import { AioHandle, type NativeEngine } from "../../ffi/handle.ts";
import { UsageError } from "../common/size.ts";
import { formatBytesHuman, formatSize } from "../common/size.ts";
import { folder_io_size_default_bytes } from "../cli/options.ts";
import type { BenchConfig, Workload } from "../common/types.ts";
import { writes } from "../tasklets/schedule.ts";

/** One worker's file for one workload. */
export interface Target {
  worker: number;
  path: string;
  ioSizeBytes: number;
  /** --different_file_each_iteration: the file of each loop (warm-up first); `path` is loop 0's. */
  loopPaths?: string[];
}

/** Files aiobench made for this run (removed at the end unless --keep). */
export class CreatedFiles {
  readonly paths = new Set<string>();

  add(path: string): void {
    this.paths.add(path);
  }

  has(path: string): boolean {
    return this.paths.has(path);
  }

  /**
   * Unlinks every created file now but keeps the list, so a final `removeAll` runs again (IO in
   * flight goes on to the unlinked inodes; a launcher that kills soon after a stop, as Open MPI's
   * mpiexec does a second after Ctrl-C, then leaves nothing behind).
   */
  unlinkNow(): void {
    for (const path of this.paths) {
      try {
        Deno.removeSync(path);
      } catch {
        // gone already, or reported by removeAll
      }
    }
  }

  /** Removes every created file; returns the ones that could not be removed. */
  removeAll(): string[] {
    const failed: string[] = [];
    for (const path of this.paths) {
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) failed.push(path);
      }
    }
    this.paths.clear();
    return failed;
  }
}

/** statx of a path, or null when it doesn't exist. */
export function statOrNull(path: string): FileStat | null {
  try {
    return AioFile.stat(path);
  } catch (e) {
    if (e instanceof AioError && e.code === "ENOENT") return null;
    if (e instanceof AioError && e.code === "ENOTDIR") {
      throw new UsageError(`${path}: a part of this path is not a directory; check the path`);
    }
    if (e instanceof AioError && e.code === "EACCES") {
      throw new UsageError(`${path}: permission denied; run as a user who can read it`);
    }
    throw e;
  }
}

/**
 * Name of worker i's file inside a --folder: under MPI, of rank r's worker i; with
 * --different_file_each_iteration, of its loop.
 */
export function folderFileName(worker: number, rank?: number, loop?: number): string {
  const who = rank === undefined ? `${worker}` : `r${rank}_${worker}`;
  return `aiobench_${who}${loop === undefined ? "" : `_${loop}`}.dat`;
}

/** The default run's file in `dir` (unique per process; under MPI per rank too, for shared dirs). */
export function defaultRunFile(dir: string, rank?: number): string {
  return join(
    dir,
    rank === undefined ? `.aiobench-${Deno.pid}.tmp` : `.aiobench-r${rank}-${Deno.pid}.tmp`,
  );
}

/** Worker i's `--write_file` path: `<base>.<i>` as ds_aio, `<base>.<rank>.<i>` under MPI. */
export function writeFileName(base: string, worker: number, rank?: number): string {
  return rank === undefined ? `${base}.${worker}` : `${base}.${rank}.${worker}`;
}

function requireDirectory(dir: string, flag: string): void {
  const st = statOrNull(dir);
  if (!st) throw new UsageError(`${flag} ${dir} does not exist; create the directory first`);
  if (!st.isDirectory) throw new UsageError(`${flag} ${dir} is not a directory`);
}

/** The O_DIRECT alignment at `path` (a file, or a directory for files to come). */
export function directAlignment(path: string): number {
  const st = statOrNull(path) ?? statOrNull(dirname(path));
  const align = st?.dioOffsetAlign ?? 0;
  return align > 0 ? Math.max(512, align) : 4096;
}

/** Checks a block size against the target's O_DIRECT alignment (one clear line when wrong). */
export function checkBlockAlignment(config: BenchConfig, path: string): number {
  const align = config.buffered ? 512 : directAlignment(path);
  if (config.blockSizeBytes % align !== 0) {
    throw new UsageError(
      `--block_size ${config.blockSizeBytes} is not a multiple of ${align} (the O_DIRECT ` +
        `alignment of ${path}); try 4K, 1M or 8M`,
    );
  }
  return align;
}

/** Resolves every worker's file for `workload`, refusing to touch files that aren't ours. */
export function planTargets(
  config: BenchConfig,
  workload: Workload,
  created: CreatedFiles,
): Target[] {
  const workers = [...Array(config.threads).keys()];
  // With ds_aio's --read_file + --write_file pair, reads go to the one and writes to the other.
  const pair = config.readFile !== undefined && config.writeFile !== undefined;
  if (config.readFile && !(pair && writes(workload))) {
    const path = config.readFile;
    const st = statOrNull(path);
    if (!st) {
      throw new UsageError(
        `--read_file ${path} does not exist; create it first, or use --folder DIR --read to let aiobench make one`,
      );
    }
    if (st.isDirectory) {
      throw new UsageError(
        `--read_file ${path} is a directory; give a file, or use --folder ${path}`,
      );
    }
    if (st.isBlockDevice && !config.force) {
      throw new UsageError(
        `--read_file ${path} is a block device; add --force to read the device itself`,
      );
    }
    const size = st.isBlockDevice ? deviceSize(path) : st.size;
    if (size === 0) throw new UsageError(`--read_file ${path} is empty; give a file with data`);
    // In the pair, --io_size (--write_size) is the write's; the read moves the whole file, as
    // ds_aio reads os.path.getsize(read_file).
    const ioSize = pair ? size : config.ioSizeBytes ?? size;
    if (ioSize > size) {
      throw new UsageError(
        `--read_file ${path} has ${size} bytes, fewer than --io_size ${formatSize(ioSize)}; ` +
          `use --io_size ${size} or a larger file`,
      );
    }
    return workers.map((worker) => ({ worker, path, ioSizeBytes: ioSize }));
  }
  if (config.writeFile) return workers.map((w) => planWriteFile(config, w, created));
  if (config.folders.length > 0 || config.defaultRun) {
    return workers.map((worker) => {
      if (!config.differentFileEachIteration || config.defaultRun) {
        return planFolderFile(config, workload, worker, created);
      }
      const loops = [...Array(config.warmupLoops + config.loops).keys()];
      const each = loops.map((loop) => planFolderFile(config, workload, worker, created, loop));
      return { ...each[0], loopPaths: each.map((t) => t.path) };
    });
  }
  throw new UsageError("no target: give --read_file, --write_file or --folder");
}

function planWriteFile(config: BenchConfig, worker: number, created: CreatedFiles): Target {
  const base = config.writeFile!;
  const baseStat = statOrNull(base);
  if (baseStat?.isBlockDevice) {
    if (!config.force) {
      throw new UsageError(
        `--write_file ${base} is a block device: writing destroys its data; add --force to write the device itself`,
      );
    }
    return { worker, path: base, ioSizeBytes: config.ioSizeBytes ?? deviceSize(base) };
  }
  if (config.ioSizeBytes === undefined) {
    throw new UsageError(
      "--write_file needs --io_size (the bytes each worker writes), e.g. --io_size 1G",
    );
  }
  const path = writeFileName(base, worker, config.rank);
  requireDirectory(dirname(path), "--write_file's directory");
  // A file this run created (an earlier workload's write) is aiobench's for the rest of the run.
  if (!created.has(path)) claimWritePath(path, "--write_file", config, created);
  return { worker, path, ioSizeBytes: config.ioSizeBytes };
}

function planFolderFile(
  config: BenchConfig,
  workload: Workload,
  worker: number,
  created: CreatedFiles,
  loop?: number,
): Target {
  const dir = config.defaultRun
    ? config.defaultDir ?? Deno.cwd()
    : config.folders[worker % config.folders.length];
  const flag = config.defaultRun ? "the current directory" : "--folder";
  requireDirectory(dir, flag);
  const path = config.defaultRun
    ? defaultRunFile(dir, config.rank)
    : join(dir, folderFileName(worker, config.rank, loop));
  const ioSize = config.ioSizeBytes ??
    (config.defaultRun ? defaultRunSize(dir) : folder_io_size_default_bytes);
  if (writes(workload)) {
    if (!created.has(path)) claimWritePath(path, flag, config, created);
    return { worker, path, ioSizeBytes: ioSize };
  }
  const st = statOrNull(path);
  if (st && !st.isFile) throw new UsageError(`${path} exists and is not a regular file; remove it`);
  if (st && st.size < ioSize && !created.has(path)) {
    throw new UsageError(
      `${path} exists with ${st.size} bytes, fewer than --io_size ${formatSize(ioSize)}; ` +
        "remove it or add --force to let aiobench rewrite it",
    );
  }
  return { worker, path, ioSizeBytes: ioSize };
}

/** Makes sure a write target is ours: created now (exclusively), or an existing file with --force. */
function claimWritePath(
  path: string,
  flag: string,
  config: BenchConfig,
  created: CreatedFiles,
): void {
  const st = statOrNull(path);
  if (st) {
    if (st.isDirectory) throw new UsageError(`${flag}: ${path} is a directory; give a file path`);
    if (!config.force) {
      throw new UsageError(
        `${path} already exists and aiobench did not create it; add --force to overwrite it, or pick another path`,
      );
    }
    return;
  }
  let file: AioFile;
  try {
    file = AioFile.open(path, { write: true, create: true, exclusive: true, direct: false });
  } catch (e) {
    throw explainOpen(e, path);
  }
  file.close();
  created.add(path);
}

/** Turns an open failure into a one-line UsageError where the user can act on it. */
export function explainOpen(e: unknown, path: string, access: "read" | "write" = "write"): unknown {
  if (!(e instanceof AioError)) return e;
  const fixes: Record<string, string> = {
    EACCES: access === "read"
      ? "permission denied; run as a user who may read it, or give another file"
      : "permission denied; run as a user who may write there, or pick another path",
    EROFS: "the filesystem is read-only; pick a writable one",
    ENOSPC: "no space left on the device; free some or use a smaller --io_size",
    EINVAL:
      "the filesystem refuses O_DIRECT; add --buffered (marked in the report) or use another filesystem",
    EISDIR: "is a directory; give a file path",
    ENOENT: access === "read"
      ? "does not exist"
      : "can't be created there (no such file or directory); use a directory on the disk to test",
  };
  const fix = fixes[e.code];
  return fix ? new UsageError(`${path}: ${fix} (${e.code})`) : e;
}

function deviceSize(path: string): number {
  const file = Deno.openSync(path, { read: true });
  try {
    return file.seekSync(0, Deno.SeekMode.End);
  } finally {
    file.close();
  }
}

/**
 * About 1 GiB, less when free space is short (a quarter of it, at least 64 MiB). (For tests,
 * AIOBENCH_DEFAULT_SIZE sets the default run's --io_size instead: see lib/cli/options.ts.)
 */
export function defaultRunSize(dir: string): number {
  let free = Infinity;
  try {
    const out = new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).outputSync();
    const value = Number(new TextDecoder().decode(out.stdout).trim().split("\n").pop());
    if (Number.isFinite(value)) free = value;
  } catch {
    // no df: assume enough space; a real ENOSPC is still reported clearly
  }
  const quarter = Math.floor(free / 4 / (1 << 20)) * (1 << 20);
  return Math.max(64 << 20, Math.min(1 << 30, quarter));
}

/** Options of `createReadFile`. */
export interface CreateOptions {
  engine: NativeEngine;
  direct: boolean;
  seed: number;
  progress?: (done: number, total: number) => void;
  /** Checked between chunks (the event loop gets a turn, so SIGINT can stop a long creation). */
  signal?: AbortSignal;
}

/**
 * Writes `size` bytes of seeded non-zero data to a new file with direct IO, then fsyncs.
 * Returns false when `signal` stopped it (the file is then incomplete).
 */
export async function createReadFile(
  path: string,
  size: number,
  options: CreateOptions,
): Promise<boolean> {
  const chunk = Math.min(size, 64 << 20);
  const buffer = AlignedBuffer.alloc(chunk);
  let file: AioFile | undefined;
  const handle = new AioHandle({
    blockSize: 1 << 20 <= chunk ? 1 << 20 : 4096,
    queueDepth: 16,
    overlapEvents: true,
    engine: options.engine,
  });
  try {
    file = AioFile.open(path, { write: true, create: true, direct: options.direct });
    for (let offset = 0; offset < size; offset += chunk) {
      const n = Math.min(chunk, size - offset);
      buffer.fillPattern(options.seed, offset, n);
      handle.write(buffer, file, { nbytes: n, offset });
      options.progress?.(offset + n, size);
      if (options.signal && offset + n < size) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (options.signal.aborted) return false;
      }
    }
    file.fsync();
    return true;
  } catch (e) {
    throw explainOpen(e, path);
  } finally {
    handle.close();
    file?.close();
    buffer.free();
  }
}

/** "creating /x/aiobench_0.dat: 512.00 MiB of 1.00 GiB" */
export function creationLine(path: string, done: number, total: number): string {
  return `creating ${path}: ${formatBytesHuman(done)} of ${formatBytesHuman(total)}`;
}
