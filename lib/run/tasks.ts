/**
 * The main thread's half of a tasklet: each worker's complete task description, resolved from
 * the config, the engine chosen and the worker's target. Workers read nothing else.
 *
 * @module
 */
import type { NativeEngine } from "../../ffi/handle.ts";
import type { BenchConfig, Workload } from "../common/types.ts";
import type { GpuTaskPlan } from "../gpu/plan.ts";
import type { TaskSpec } from "../tasklets/schedule.ts";

/** One worker's file for one workload. */
export interface TaskTarget {
  worker: number;
  workload: Workload;
  path: string;
  ioSizeBytes: number;
  /** --different_file_each_iteration: each loop's file, warm-up loops first. */
  loopPaths?: string[];
}

/** What the run decided before the workers start. */
export interface TaskSetup {
  /** The engine actually used (`auto` already resolved). */
  engine: NativeEngine;
  /** O_DIRECT alignment of the target. */
  alignBytes: number;
  /** `--gpu`: this worker's plan. */
  gpu?: GpuTaskPlan;
}

/** The seed of the data pattern a run writes and expects (distinct from the offsets' seed). */
export function patternSeed(config: BenchConfig): number {
  return config.seed + 0x5eed;
}

/** Bytes of a worker's IO buffer: the whole io_size (ds_aio), one slot per IO (fio), or a GPU slot. */
function bufferBytes(config: BenchConfig, target: TaskTarget, gpu?: GpuTaskPlan): number {
  if (gpu !== undefined) return gpu.mode === "gds" ? 4096 : gpu.chunkBytes;
  if (!config.slotBuffers) return target.ioSizeBytes;
  return Math.max(1, config.ioParallel ?? 0) * config.queueDepth * config.blockSizeBytes;
}

/**
 * A worker's task description.
 *
 * @example
 * ```ts
 * const spec = taskSpec(config, { worker: 0, workload: "read", path, ioSizeBytes: 1 << 30 }, {
 *   engine: "io_uring",
 *   alignBytes: 4096,
 * });
 * spec.handle.queueDepth; // config.queueDepth
 * ```
 */
export function taskSpec(config: BenchConfig, target: TaskTarget, context: TaskSetup): TaskSpec {
  return {
    ...target,
    direct: !config.buffered,
    handle: {
      blockSize: config.blockSizeBytes,
      queueDepth: config.queueDepth,
      singleSubmit: config.singleSubmit,
      overlapEvents: config.overlapEvents,
      ioParallel: config.ioParallel ?? 0,
      engine: context.engine,
      alignBytes: context.alignBytes,
      fixedbufs: config.fixedbufs,
      registerfiles: config.registerfiles,
      sqthreadPoll: config.sqthreadPoll,
      sqthreadPollCpu: config.sqthreadPollCpu,
      hipri: config.hipri,
      nonvectored: config.nonvectored,
      latency: config.latency,
    },
    buffer: {
      bytes: bufferBytes(config, target, context.gpu),
      lock: config.mlock,
      hugePages: config.hugePages ?? false,
      kernelPageOrder: config.kernelPageOrder ?? false,
    },
    request: {
      rwmixread: config.rwmixread,
      seed: config.seed + target.worker,
      slotBuffers: config.slotBuffers ?? false,
    },
    async: config.ioParallel !== undefined,
    perCall: config.dsEngine === "aio_basic",
    seed: patternSeed(config),
    loops: {
      warmup: config.warmupLoops,
      timed: config.loops,
      includeWarmupTime: config.includeWarmupTime,
      rampTimeS: config.rampTimeS,
      runtimeS: config.runtimeS,
      timeBased: config.timeBased,
    },
    validate: config.validate,
    verbose: config.verbose,
    logIntervalS: config.logIntervalS,
    gpu: context.gpu,
  };
}
