/**
 * DeepSpeed's `get_schedule`: which pre/main/post steps a tasklet runs, from the op and
 * whether `io_parallel` was given (even 1 selects the async pread/pwrite + wait path).
 *
 * @module
 */
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioFile } from "../../ffi/file.ts";
import { AioHandle, type AioHandleOptions, type RequestOptions } from "../../ffi/handle.ts";
import type { Workload } from "../common/types.ts";
import type { GpuTaskPlan } from "../gpu/plan.ts";
import { PerCallHandle } from "./basic.ts";
import type { Exclusive } from "./exclusive.ts";

/**
 * Everything one tasklet needs, resolved on the main thread (plain data, sent to the worker):
 * the worker reads no config and derives nothing.
 */
export interface TaskSpec {
  worker: number;
  workload: Workload;
  path: string;
  /** --different_file_each_iteration: the file of each loop, warm-up loops first. */
  loopPaths?: string[];
  /** Bytes per loop. */
  ioSizeBytes: number;
  /** Open the file with O_DIRECT. */
  direct: boolean;
  /** The native handle, complete: engine resolved, alignment, `ioParallel` 0 for none. */
  handle: AioHandleOptions;
  /** The IO buffer: its size (io_size, a GPU host slot, or fio-style slots) and backing. */
  buffer: { bytes: number; lock: boolean; hugePages: boolean; kernelPageOrder?: boolean };
  /** What every request of the main step carries (runtime and time_based come per step). */
  request: { rwmixread: number; seed: number; slotBuffers: boolean };
  /** io_parallel given (even 1): the async pread/pwrite + wait schedule, as ds_aio's. */
  async: boolean;
  /**
   * DeepSpeed's aio_basic: a fresh file open and native handle inside every main step, instead
   * of one handle for the run (aio_handle).
   */
  perCall: boolean;
  /** Seed of the data pattern written (and expected by --validate). */
  seed: number;
  /** The loops: warm-up, ramp, timed; time-based when `runtimeS` is set. */
  loops: {
    warmup: number;
    timed: number;
    includeWarmupTime: boolean;
    rampTimeS: number;
    runtimeS?: number;
    timeBased: boolean;
  };
  validate: boolean;
  verbose: boolean;
  /** `--log_interval` in seconds. */
  logIntervalS?: number;
  /** `--gpu`: the worker's device, how data moves, and the chunk of overlapped copies. */
  gpu?: GpuTaskPlan;
}

/** What pre builds and post releases. */
export interface TaskContext {
  spec: TaskSpec;
  file: AioFile;
  buffer: AlignedBuffer;
  /** One handle for the whole run, or (aio_basic) a fresh native handle per call. */
  handle: AioHandle | PerCallHandle;
}

/** One step's function. `runtimeS` bounds a time-based main step (ramp or --runtime). */
export type Step = (ctx: TaskContext, runtimeS?: number) => number;

/** A schedule: names (for --verbose logs) and the functions. */
export interface Schedule {
  name: string;
  /** `exclusive`: runs the buffer's allocation while no other tasklet allocates. */
  pre: (spec: TaskSpec, exclusive?: Exclusive) => TaskContext;
  /** Untimed, before each main step (warm-up and measured loops alike). */
  prepare?: (ctx: TaskContext) => void;
  main: Step;
  post: (ctx: TaskContext) => void;
}

/** True for workloads whose IO writes to the file. */
export function writes(workload: Workload): boolean {
  return workload === "write" || workload === "randwrite" || workload === "randrw";
}

/** pre_handle: open the file, allocate the aligned buffer, create the handle. */
export function preHandle(spec: TaskSpec, exclusive?: Exclusive): TaskContext {
  return preWith(spec, () => new AioHandle(spec.handle), exclusive);
}

function preWith(
  spec: TaskSpec,
  makeHandle: () => AioHandle | PerCallHandle,
  exclusive: Exclusive = (f) => f(),
): TaskContext {
  const file = AioFile.open(spec.path, { write: writes(spec.workload), direct: spec.direct });
  let buffer: AlignedBuffer | undefined;
  try {
    if (writes(spec.workload)) presize(file, spec.ioSizeBytes);
    buffer = exclusive(() =>
      AlignedBuffer.alloc(spec.buffer.bytes, {
        lock: spec.buffer.lock,
        hugePages: spec.buffer.hugePages,
        kernelPageOrder: spec.buffer.kernelPageOrder,
      })
    );
    // Writes carry the seeded pattern; read buffers start with a different pattern, so a
    // read that moved nothing can't pass --validate.
    buffer.fillPattern(writes(spec.workload) ? spec.seed : spec.seed ^ 0x5eed, 0);
    return { spec, file, buffer, handle: makeHandle() };
  } catch (e) {
    buffer?.free();
    file.close();
    throw e;
  }
}

/**
 * Gives a write target its final size before the timed region (as fio lays out its files), so
 * no timed write extends the file: an extending O_DIRECT write can't be issued without blocking
 * (io_uring hands every one to a worker thread) and serializes on the inode. The blocks are
 * still allocated by the timed writes; an existing file that is long enough is left alone.
 */
function presize(file: AioFile, bytes: number): void {
  const st = AioFile.stat(file.path);
  if (st.isFile && st.size < bytes) file.truncate(bytes);
}

/**
 * --different_file_each_iteration: points the context at loop `loop`'s file (untimed, before the
 * loop), as ds_io gives each iteration its own file.
 */
export function useLoopFile(ctx: TaskContext, loop: number): void {
  const paths = ctx.spec.loopPaths;
  if (paths === undefined) return;
  const path = paths[Math.min(loop, paths.length - 1)];
  if (path === ctx.spec.path) return;
  const write = writes(ctx.spec.workload);
  const next = AioFile.open(path, { write, direct: ctx.spec.direct });
  if (write) presize(next, ctx.spec.ioSizeBytes);
  ctx.file.close();
  ctx.file = next;
  ctx.spec = { ...ctx.spec, path };
}

/** post_handle: release what pre built. */
export function postHandle(ctx: TaskContext): void {
  ctx.handle.close();
  ctx.buffer.free();
  ctx.file.close();
}

function request(ctx: TaskContext, runtimeS?: number): RequestOptions {
  const { spec } = ctx;
  const timed = runtimeS !== undefined && runtimeS > 0;
  return {
    ...spec.request,
    mode: spec.workload,
    nbytes: spec.ioSizeBytes,
    runtimeS: timed ? runtimeS : undefined,
    timeBased: timed && spec.loops.timeBased,
  };
}

/** main_handle_read/write: synchronous request on the tasklet's thread. */
export function mainHandle(ctx: TaskContext, runtimeS?: number): number {
  return ctx.handle.submit(ctx.buffer, ctx.file, request(ctx, runtimeS), false);
}

/** main_parallel_read/write: async request across io_parallel threads, then wait. */
export function mainParallel(ctx: TaskContext, runtimeS?: number): number {
  ctx.handle.submit(ctx.buffer, ctx.file, request(ctx, runtimeS), true);
  return ctx.handle.wait();
}

/**
 * DeepSpeed's aio_basic (`--engine aio_basic`): each main step opens the file and builds a fresh
 * aio context inside the timed region, one synchronous request, both released again; a write
 * first removes the file, untimed, so it is written anew each loop, as ds_io's aio_basic does.
 */
export function basicSchedule(workload: Workload): Schedule {
  const write = writes(workload);
  return {
    name: `main_basic_${write ? "write" : "read"}`,
    pre: (spec, exclusive) =>
      preWith(
        spec,
        () => new PerCallHandle({ ...spec.handle, ioParallel: 0 }, { write, direct: spec.direct }),
        exclusive,
      ),
    prepare: write
      ? (ctx) => {
        // Only a regular file is removed: a block device target stays what it is.
        if (Deno.statSync(ctx.spec.path).isFile) Deno.removeSync(ctx.spec.path);
      }
      : undefined,
    main: mainHandle,
    post: postHandle,
  };
}

/** The schedule for a workload, async (io_parallel given) or not, as ds_aio's get_schedule. */
export function getSchedule(workload: Workload, parallel: boolean): Schedule {
  const op = writes(workload) ? "write" : "read";
  return {
    name: parallel ? `main_parallel_${op}` : `main_handle_${op}`,
    pre: preHandle,
    main: parallel ? mainParallel : mainHandle,
    post: postHandle,
  };
}
