/**
 * aiobench: DeepSpeed ds_aio-style NVMe benchmarks (async file⇄memory transfers through
 * io_uring, with block size, queue depth, submission policy and intra-op parallelism), with
 * fio-grade latency percentiles.
 *
 * Run a whole benchmark from a config object and get the `aiobench/1` result:
 *
 * ```ts
 * import { benchmark } from "@aiobench/aiobench";
 * const result = await benchmark({ writeFile: "/mnt/nvme/probe", ioSizeBytes: 256 << 20 });
 * console.log(result.results[0].e2e_gib_s);
 * ```
 *
 * Or drive a native handle yourself:
 *
 * ```ts
 * import { AioFile, AioHandle, AlignedBuffer } from "@aiobench/aiobench";
 * const handle = new AioHandle({ blockSize: 1 << 20, queueDepth: 32, overlapEvents: true });
 * const file = AioFile.open("/mnt/nvme/data.bin");
 * const buffer = AlignedBuffer.alloc(256 << 20);
 * const bytes = handle.read(buffer, file);
 * handle.close(); file.close(); buffer.free();
 * ```
 *
 * @module
 */
import { libraryConfig } from "./lib/run/config.ts";
import { runBenchmark, type RunOptions } from "./lib/run/run.ts";
import type { BenchConfig, BenchResult } from "./lib/common/types.ts";

export {
  AioHandle,
  type AioHandleOptions,
  type HandleStats,
  type IntervalRecord,
  type NativeEngine,
  type RequestMode,
  type RequestOptions,
} from "./ffi/handle.ts";
export { AioError } from "./ffi/errors.ts";
export { AioFile, type FileStat, type OpenOptions } from "./ffi/file.ts";
export { AlignedBuffer } from "./ffi/buffer.ts";
export type {
  BenchConfig,
  BenchResult,
  Engine,
  HostEntry,
  LatencySummary,
  MpiJob,
  OpResult,
  RankEntry,
  RankOpResult,
  Workload,
} from "./lib/common/types.ts";
export { type RunOptions } from "./lib/run/run.ts";
export { UsageError } from "./lib/common/size.ts";
export { RunFailure, VERSION } from "./lib/run/run.ts";

/**
 * Runs a benchmark. `config` starts from the command line's defaults (block 1M, queue depth
 * 32, one worker, one loop); name a target (`readFile`, `writeFile` or `folders`) or get the
 * default run (write then read ~1 GiB in the current directory). Rejects with `UsageError` for a
 * bad config and `RunFailure` when a worker fails. Files it creates in a run (e.g. by a `write`
 * workload) are its own for the rest of that run, so `workloads: ["write", "read"]` reads back
 * what it wrote.
 *
 * @example
 * ```ts
 * const r = await benchmark({ readFile: "/mnt/nvme/data.bin", ioParallel: 2, threads: 4 });
 * for (const op of r.results) console.log(op.op, op.task_gib_s, op.latency_us?.p99);
 * ```
 */
export async function benchmark(
  config: Partial<BenchConfig>,
  options: RunOptions = {},
): Promise<BenchResult> {
  return await runBenchmark(libraryConfig(config), options);
}
