/**
 * The default {@linkcode BenchConfig}, its pure validation, and its snake_case JSON form.
 * Checks against real files and devices happen later, in the run.
 *
 * @module
 */

import type { BenchConfig, Engine, Workload } from "../common/types.ts";
import { formatSize, showValue, UsageError } from "../common/size.ts";

export { UsageError };

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

/** The flags that map to io_uring-only kernel features. */
const io_uring_only_flags = [
  ["fixedbufs", "--fixedbufs"],
  ["registerfiles", "--registerfiles"],
  ["sqthreadPoll", "--sqthread_poll"],
  ["hipri", "--hipri"],
  ["nonvectored", "--nonvectored"],
] as const;

function currentDirectory(): string {
  try {
    return Deno.cwd();
  } catch {
    return ".";
  }
}

/**
 * The configuration of `aiobench` with no arguments: write then read a temporary file in the
 * current directory with every flag at its default.
 *
 * @example
 * ```ts
 * defaultConfig().blockSizeBytes; // 1048576
 * ```
 */
export function defaultConfig(): BenchConfig {
  return {
    workloads: ["write", "read"],
    folders: [],
    defaultRun: true,
    defaultDir: currentDirectory(),
    blockSizeBytes: 1 << 20,
    queueDepth: 32,
    singleSubmit: false,
    overlapEvents: true,
    threads: 1,
    loops: 1,
    warmupLoops: 0,
    includeWarmupTime: false,
    validate: false,
    force: false,
    keep: false,
    verbose: false,
    engine: "auto",
    buffered: false,
    mlock: false,
    fixedbufs: false,
    registerfiles: false,
    sqthreadPoll: false,
    hipri: false,
    nonvectored: false,
    latency: true,
    rwmixread: 50,
    seed: 0,
    timeBased: false,
    rampTimeS: 0,
    gpu: false,
    gpuId: 0,
    folderToDeviceMapping: {},
    useGds: false,
    useAcceleratorPinMemory: false,
  };
}

/** Throw a UsageError unless `value` is an integer in `range`. */
export function checkRange(flag: string, value: number, range: readonly [number, number]): void {
  const [min, max] = range;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} ${value} is out of range: use ${min}..${max}`);
  }
}

function checkTargets(cfg: BenchConfig): void {
  const given = [
    cfg.readFile !== undefined ? "--read_file" : "",
    cfg.writeFile !== undefined ? "--write_file" : "",
    cfg.folders.length > 0 ? "--folder" : "",
  ].filter((flag) => flag !== "");
  if (given.length > 1) {
    throw new UsageError(`${given[0]} and ${given[1]} can't be combined; run them one at a time`);
  }
  if (given.length === 1 && cfg.defaultRun) {
    throw new UsageError(`${given[0]} can't be used with the default run; drop one of them`);
  }
  if (given.length === 0 && !cfg.defaultRun) {
    throw new UsageError("no target: give --read_file FILE, --write_file FILE or --folder DIR");
  }
  for (const [flag, path] of [["--read_file", cfg.readFile], ["--write_file", cfg.writeFile]]) {
    if (path !== undefined) checkPath(flag as string, path);
  }
  for (const folder of cfg.folders) checkPath("--folder", folder);
  if (cfg.json !== undefined) checkPath("--json", cfg.json);
}

function checkPath(flag: string, path: string): void {
  if (path === "" || path.includes("\0")) {
    throw new UsageError(`${flag} ${showValue(path)} is not a usable path; give a file or folder`);
  }
}

function checkWorkloads(cfg: BenchConfig): void {
  if (cfg.workloads.length === 0) {
    throw new UsageError("no workload: give --rw read|write|randread|randwrite|randrw");
  }
  for (const workload of cfg.workloads) {
    if (!workloads.includes(workload)) {
      throw new UsageError(
        `--rw ${showValue(String(workload))} is unknown; use ${workloads.join("|")}`,
      );
    }
    if (cfg.readFile !== undefined && workload !== "read" && workload !== "randread") {
      throw new UsageError(
        `--rw ${workload} writes, but --read_file is only read; use --write_file or --folder`,
      );
    }
    const random = workload.startsWith("rand");
    if (random && cfg.validate) {
      throw new UsageError(
        `--validate checks sequential read/write only; drop it for --rw ${workload}`,
      );
    }
    if (random && cfg.readFile === undefined && cfg.ioSizeBytes === undefined) {
      throw new UsageError(
        `--rw ${workload} needs a target whose size is known: give --io_size SIZE or --read_file FILE`,
      );
    }
  }
}

function checkShape(cfg: BenchConfig): void {
  const block = cfg.blockSizeBytes;
  if (!Number.isSafeInteger(block) || block < 1 || block > limits.blockSizeBytes[1]) {
    throw new UsageError(`--block_size ${block} is out of range: use 4K..1G`);
  }
  if (!cfg.buffered && block % block_alignment_bytes !== 0) {
    throw new UsageError(
      `--block_size ${block} is not a multiple of ${block_alignment_bytes}; try 4K, 1M or 8M`,
    );
  }
  if (cfg.ioSizeBytes !== undefined) {
    const io = cfg.ioSizeBytes;
    if (!Number.isSafeInteger(io) || io < 1) {
      throw new UsageError(`--io_size ${io} is out of range: use 1..${Number.MAX_SAFE_INTEGER}`);
    }
  }
  checkRange("--queue_depth", cfg.queueDepth, limits.queueDepth);
  checkRange("--threads", cfg.threads, limits.threads);
  if (cfg.ioParallel !== undefined) checkRange("--io_parallel", cfg.ioParallel, limits.ioParallel);
  checkRange("--loops", cfg.loops, limits.loops);
  checkRange("--warmup_loops", cfg.warmupLoops, limits.warmupLoops);
  checkRange("--rwmixread", cfg.rwmixread, limits.rwmixread);
  checkRange("--seed", cfg.seed, limits.seed);
}

function checkTime(cfg: BenchConfig): void {
  const durations = [
    ["--runtime", cfg.runtimeS, false],
    ["--ramp_time", cfg.rampTimeS, true],
    ["--log_interval", cfg.logIntervalS, false],
  ] as const;
  for (const [flag, seconds, zero_ok] of durations) {
    if (seconds === undefined) continue;
    if (!Number.isFinite(seconds) || seconds < 0 || (seconds === 0 && !zero_ok)) {
      throw new UsageError(`${flag} ${seconds} is out of range: give a duration such as 30s`);
    }
  }
  if (cfg.timeBased && cfg.runtimeS === undefined) {
    throw new UsageError("--time_based needs --runtime, e.g. --time_based --runtime 30s");
  }
}

function checkEngine(cfg: BenchConfig): void {
  if (!engines.includes(cfg.engine)) {
    throw new UsageError(
      `--engine ${showValue(String(cfg.engine))} is unknown; use ${engines.join("|")}`,
    );
  }
  if (cfg.engine !== "auto" && cfg.engine !== "io_uring") {
    for (const [key, flag] of io_uring_only_flags) {
      if (cfg[key]) {
        throw new UsageError(
          `${flag} needs --engine io_uring (or auto), not --engine ${cfg.engine}; drop one of them`,
        );
      }
    }
  }
  if (cfg.sqthreadPollCpu !== undefined) {
    if (!cfg.sqthreadPoll) {
      throw new UsageError("--sqthread_poll_cpu needs --sqthread_poll; add --sqthread_poll");
    }
    checkRange("--sqthread_poll_cpu", cfg.sqthreadPollCpu, limits.sqthreadPollCpu);
  }
  if (cfg.slotBuffers && cfg.validate) {
    throw new UsageError(
      "--validate needs the whole --io_size in memory; drop --slot_buffers or --validate",
    );
  }
  if (cfg.slotBuffers && cfg.gpu) {
    throw new UsageError("--gpu moves whole --io_size buffers; drop --slot_buffers or --gpu");
  }
  if (cfg.hipri && cfg.buffered) {
    throw new UsageError("--hipri (polled IO) needs O_DIRECT; drop --buffered or --hipri");
  }
}

function checkGpu(cfg: BenchConfig): void {
  checkRange("--gpu_id", cfg.gpuId, limits.gpuId);
  for (const [folder, gpu] of Object.entries(cfg.folderToDeviceMapping)) {
    checkPath("--folder_to_device_mapping", folder);
    const [min, max] = limits.gpuId;
    if (!Number.isSafeInteger(gpu) || gpu < min || gpu > max) {
      throw new UsageError(
        `--folder_to_device_mapping ${showValue(folder)}:${gpu} names no GPU: use ${min}..${max}`,
      );
    }
  }
  if (cfg.useGds && !cfg.gpu) {
    throw new UsageError("--use_gds reads into GPU memory and needs --gpu; add --gpu");
  }
  for (const [set, flag] of [[cfg.gpuMode, "--gpu_mode"], [cfg.gpuChunkBytes, "--gpu_chunk"]]) {
    if (set !== undefined && !cfg.gpu) throw new UsageError(`${flag} needs --gpu; add --gpu`);
  }
  if (cfg.gpuMode === "bounce" && cfg.gpuChunkBytes !== undefined) {
    throw new UsageError("--gpu_chunk applies to --gpu_mode overlap; drop one of them");
  }
}

/**
 * Check a configuration without touching the system; throws {@linkcode UsageError} naming the
 * flag at fault.
 *
 * @example
 * ```ts
 * validateConfig({ ...defaultConfig(), queueDepth: 0 }); // throws "--queue_depth 0 is out of range: use 1..4096"
 * ```
 */
export function validateConfig(cfg: BenchConfig): BenchConfig {
  checkTargets(cfg);
  checkWorkloads(cfg);
  checkShape(cfg);
  checkTime(cfg);
  checkEngine(cfg);
  checkGpu(cfg);
  return cfg;
}

/**
 * The snake_case plain object for the report's `config`: every key present, `null` when unset,
 * sizes in bytes.
 *
 * @example
 * ```ts
 * configToJson(defaultConfig()).io_parallel; // null
 * ```
 */
export function configToJson(cfg: BenchConfig): Record<string, unknown> {
  return {
    workloads: [...cfg.workloads],
    read_file: cfg.readFile ?? null,
    write_file: cfg.writeFile ?? null,
    folders: [...cfg.folders],
    default_run: cfg.defaultRun,
    default_dir: cfg.defaultDir ?? null,
    io_size: cfg.ioSizeBytes ?? null,
    block_size: cfg.blockSizeBytes,
    block_size_text: formatSize(cfg.blockSizeBytes),
    queue_depth: cfg.queueDepth,
    single_submit: cfg.singleSubmit,
    overlap_events: cfg.overlapEvents,
    io_parallel: cfg.ioParallel ?? null,
    threads: cfg.threads,
    loops: cfg.loops,
    warmup_loops: cfg.warmupLoops,
    include_warmup_time: cfg.includeWarmupTime,
    validate: cfg.validate,
    force: cfg.force,
    keep: cfg.keep,
    verbose: cfg.verbose,
    json: cfg.json ?? null,
    engine: cfg.engine,
    buffered: cfg.buffered,
    mlock: cfg.mlock,
    fixedbufs: cfg.fixedbufs,
    registerfiles: cfg.registerfiles,
    sqthread_poll: cfg.sqthreadPoll,
    sqthread_poll_cpu: cfg.sqthreadPollCpu ?? null,
    hipri: cfg.hipri,
    nonvectored: cfg.nonvectored,
    slot_buffers: cfg.slotBuffers ?? false,
    hugepages: cfg.hugePages ?? false,
    latency: cfg.latency,
    rwmixread: cfg.rwmixread,
    seed: cfg.seed,
    runtime_s: cfg.runtimeS ?? null,
    time_based: cfg.timeBased,
    ramp_time_s: cfg.rampTimeS,
    log_interval_s: cfg.logIntervalS ?? null,
    gpu: cfg.gpu,
    gpu_id: cfg.gpuId,
    folder_to_device_mapping: { ...cfg.folderToDeviceMapping },
    use_gds: cfg.useGds,
    gpu_mode: cfg.gpuMode ?? null,
    gpu_chunk: cfg.gpuChunkBytes ?? null,
    use_accelerator_pin_memory: cfg.useAcceleratorPinMemory,
  };
}
