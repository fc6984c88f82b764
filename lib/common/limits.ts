/**
 * The lists and ranges every layer shares: engines, workloads, the io_uring-only options and the
 * numeric limits. Defined once here; the option table, validation and the run use these.
 *
 * @module
 */
import type { BenchConfig, Engine, Workload } from "./types.ts";

/** Alignment every O_DIRECT block must keep. */
export const block_alignment_bytes = 4096;

/** Ranges of the numeric settings: `[min, max]`, both inclusive. */
export const limits = {
  blockSizeBytes: [block_alignment_bytes, 1 << 30],
  queueDepth: [1, 4096],
  threads: [1, 256],
  ioParallel: [1, 64],
  loops: [1, 1_000_000],
  warmupLoops: [0, 1_000_000],
  rwmixread: [0, 100],
  seed: [0, Number.MAX_SAFE_INTEGER],
  sqthreadPollCpu: [0, 4095],
  gpuId: [0, 1023],
} as const satisfies Record<string, readonly [number, number]>;

/** The engines `--engine` accepts. */
export const engines: readonly Engine[] = ["auto", "io_uring", "libaio", "psync"];

/** The workloads `--rw` accepts. */
export const workloads: readonly Workload[] = ["read", "write", "randread", "randwrite", "randrw"];

/** The settings that map to io_uring-only kernel features, with their flags. */
export const io_uring_only = [
  ["fixedbufs", "--fixedbufs"],
  ["registerfiles", "--registerfiles"],
  ["sqthreadPoll", "--sqthread_poll"],
  ["hipri", "--hipri"],
  ["nonvectored", "--nonvectored"],
] as const satisfies readonly (readonly [keyof BenchConfig, string])[];
