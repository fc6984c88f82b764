/**
 * The lists and ranges every layer shares: engines, workloads, the io_uring-only options and the
 * numeric limits. Defined once in TypeScript: here, or in ffi/symbols.ts where the native ABI
 * numbers them. The native library has its own copy (zig/src/handle.zig, root.zig);
 * tests/native_tables_test.ts checks that the two agree.
 *
 * @module
 */
import { ENGINE, FLAG, MODE } from "../../ffi/symbols.ts";
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

/** The engines `--engine` accepts: `auto` and the native ones. */
export const engines: readonly Engine[] = [
  "auto",
  ...Object.keys(ENGINE) as (keyof typeof ENGINE)[],
];

/** The workloads `--rw` accepts: the native request modes. */
export const workloads: readonly Workload[] = Object.keys(MODE) as Workload[];

/** A setting that maps to an io_uring-only kernel feature. */
export interface IoUringOnly {
  /** The config field. */
  key:
    & keyof BenchConfig
    & ("fixedbufs" | "registerfiles" | "sqthreadPoll" | "hipri" | "nonvectored");
  /** The flag that sets it, and its JSON name without the dashes. */
  flag: string;
  /** Its bit in the native handle's flags. */
  bit: bigint;
}

/** The settings that only the io_uring engine implements. */
export const io_uring_only: readonly IoUringOnly[] = [
  { key: "fixedbufs", flag: "--fixedbufs", bit: FLAG.fixedBuffers },
  { key: "registerfiles", flag: "--registerfiles", bit: FLAG.fixedFiles },
  { key: "sqthreadPoll", flag: "--sqthread_poll", bit: FLAG.sqpoll },
  { key: "hipri", flag: "--hipri", bit: FLAG.iopoll },
  { key: "nonvectored", flag: "--nonvectored", bit: FLAG.nonvectored },
];

/** The io_uring-only settings `config` turns on, as their flags. */
export function ioUringOptionsOn(config: BenchConfig): string[] {
  return io_uring_only.filter((o) => config[o.key]).map((o) => o.flag);
}

// Type-only check: the config's unions are the native tables' names.
type _Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type _Assert<T extends true> = T;
type _UnionsMatchNative = _Assert<
  _Same<Workload, keyof typeof MODE> | _Same<Exclude<Engine, "auto">, keyof typeof ENGINE>
>;
