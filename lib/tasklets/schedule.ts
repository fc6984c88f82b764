/**
 * DeepSpeed's `get_schedule`: which pre/main/post steps a tasklet runs, from the op and
 * whether `io_parallel` was given (even 1 selects the async pread/pwrite + wait path).
 *
 * @module
 */
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioFile } from "../../ffi/file.ts";
import { AioHandle, type NativeEngine, type RequestOptions } from "../../ffi/handle.ts";
import type { BenchConfig, Workload } from "../common/types.ts";
import type { GpuTaskPlan } from "../gpu/plan.ts";

/** Everything one tasklet needs to run its steps (plain data, sent to the worker). */
export interface TaskSpec {
  worker: number;
  workload: Workload;
  path: string;
  /** Bytes per loop. */
  ioSizeBytes: number;
  config: BenchConfig;
  /** The engine actually used (auto already resolved). */
  engine: NativeEngine;
  alignBytes: number;
  /** Seed of the data pattern written (and expected by --validate). */
  seed: number;
  /** `--gpu`: the worker's device, how data moves, and the chunk of overlapped copies. */
  gpu?: GpuTaskPlan;
}

/** What pre builds and post releases. */
export interface TaskContext {
  spec: TaskSpec;
  file: AioFile;
  buffer: AlignedBuffer;
  handle: AioHandle;
}

/** One step's function. `runtimeS` bounds a time-based main step (ramp or --runtime). */
export type Step = (ctx: TaskContext, runtimeS?: number) => number;

/** A schedule: names (for --verbose logs) and the functions. */
export interface Schedule {
  name: string;
  pre: (spec: TaskSpec) => TaskContext;
  main: Step;
  post: (ctx: TaskContext) => void;
}

/** True for workloads whose IO writes to the file. */
export function writes(workload: Workload): boolean {
  return workload === "write" || workload === "randwrite" || workload === "randrw";
}

/** pre_handle: open the file, allocate the aligned buffer, create the handle. */
export function preHandle(spec: TaskSpec): TaskContext {
  const c = spec.config;
  const file = AioFile.open(spec.path, { write: writes(spec.workload), direct: !c.buffered });
  let buffer: AlignedBuffer | undefined;
  try {
    const slotBytes = Math.max(1, c.ioParallel ?? 0) * c.queueDepth * c.blockSizeBytes;
    buffer = AlignedBuffer.alloc(c.slotBuffers ? slotBytes : spec.ioSizeBytes, {
      lock: c.mlock,
      hugePages: c.hugePages,
    });
    // Writes carry the seeded pattern; read buffers start with a different pattern, so a
    // read that moved nothing can't pass --validate.
    buffer.fillPattern(writes(spec.workload) ? spec.seed : spec.seed ^ 0x5eed, 0);
    const handle = new AioHandle({
      blockSize: c.blockSizeBytes,
      queueDepth: c.queueDepth,
      singleSubmit: c.singleSubmit,
      overlapEvents: c.overlapEvents,
      ioParallel: c.ioParallel ?? 0,
      engine: spec.engine,
      alignBytes: spec.alignBytes,
      fixedbufs: c.fixedbufs,
      registerfiles: c.registerfiles,
      sqthreadPoll: c.sqthreadPoll,
      sqthreadPollCpu: c.sqthreadPollCpu,
      hipri: c.hipri,
      nonvectored: c.nonvectored,
      latency: c.latency,
    });
    return { spec, file, buffer, handle };
  } catch (e) {
    buffer?.free();
    file.close();
    throw e;
  }
}

/** post_handle: release what pre built. */
export function postHandle(ctx: TaskContext): void {
  ctx.handle.close();
  ctx.buffer.free();
  ctx.file.close();
}

function request(ctx: TaskContext, runtimeS?: number): RequestOptions {
  const c = ctx.spec.config;
  const timed = runtimeS !== undefined && runtimeS > 0;
  return {
    mode: ctx.spec.workload,
    nbytes: ctx.spec.ioSizeBytes,
    rwmixread: c.rwmixread,
    seed: c.seed + ctx.spec.worker,
    runtimeS: timed ? runtimeS : undefined,
    timeBased: timed && c.timeBased,
    slotBuffers: c.slotBuffers,
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

/** The schedule for a workload and io_parallel setting, as ds_aio's get_schedule. */
export function getSchedule(workload: Workload, ioParallel: number | undefined): Schedule {
  const op = writes(workload) ? "write" : "read";
  const parallel = ioParallel !== undefined;
  return {
    name: parallel ? `main_parallel_${op}` : `main_handle_${op}`,
    pre: preHandle,
    main: parallel ? mainParallel : mainHandle,
    post: postHandle,
  };
}
