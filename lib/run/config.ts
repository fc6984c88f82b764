/**
 * The default {@linkcode BenchConfig}, its pure validation, and its snake_case JSON form.
 * Checks against real files and devices happen later, in the run.
 *
 * @module
 */

import type { BenchConfig } from "../common/types.ts";
import { formatSize, showValue, UsageError } from "../common/size.ts";
import {
  block_alignment_bytes,
  engines,
  io_uring_only,
  limits,
  workloads,
} from "../common/limits.ts";
import { bench_options } from "../cli/options.ts";
import { type AnyOption, type Command, defaultFor, envValue, sourceOf } from "../cli/option.ts";
import { resolveTargets, type TargetChoice } from "./targets.ts";

export { UsageError };

/** How {@linkcode completeConfig} fills in what was not given. */
export interface CompleteOptions extends TargetChoice {
  /** The subcommand whose defaults apply (default `run`). */
  command?: Command;
  /** The options given, by name (default: those whose config field `partial` sets). */
  given?: ReadonlySet<string>;
  /** Reads an environment variable (default: none are read). */
  env?: (name: string) => string | undefined;
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== false;
}

/** Whether an option's `needs` hold in `cfg` (its default and environment apply only then). */
function needsMet(def: AnyOption, cfg: Partial<BenchConfig>): boolean {
  return def.needs === undefined || isSet(cfg[def.needs.key]);
}

/** The options whose config fields `partial` sets, by name. */
export function givenOptions(partial: Partial<BenchConfig>): Set<string> {
  const keys = Object.entries(partial).filter(([, v]) => v !== undefined).map(([k]) => k);
  return new Set(
    bench_options.filter((def) => def.key !== undefined && keys.includes(def.key)).map((def) =>
      def.name
    ),
  );
}

/**
 * Completes a partial config from the option table (lib/cli/options.ts): targets resolved, then
 * each unset field from its environment variable (when `env` is given), then its default for
 * this subcommand and this kind of command line. Not validated.
 *
 * @example
 * ```ts
 * completeConfig({ readFile: "/mnt/nvme/f" }).overlapEvents; // false (ds_aio's default)
 * completeConfig({}).overlapEvents; // true (the default run)
 * ```
 */
export function completeConfig(
  partial: Partial<BenchConfig>,
  options: CompleteOptions = {},
): BenchConfig {
  const cfg: Partial<BenchConfig> = { ...partial };
  const given = options.given ?? givenOptions(partial);
  resolveTargets(cfg, options);
  const env = options.env;
  for (const def of bench_options) {
    if (env === undefined || def.key === undefined || def.env === undefined) continue;
    if (cfg[def.key] !== undefined || !needsMet(def, cfg)) continue;
    if (def.env.when !== undefined && !def.env.when(cfg)) continue;
    const value = envValue(def, env);
    if (value !== undefined) (cfg as Record<string, unknown>)[def.key] = value;
  }
  const source = sourceOf({ options: given, config: cfg });
  const command = options.command ?? "run";
  for (const def of bench_options) {
    if (def.key === undefined || cfg[def.key] !== undefined) continue;
    const value = defaultFor(def, command, source);
    // A default that sets something (gpu_mode's overlap) applies only where the option does.
    if (value === undefined || (isSet(value) && !needsMet(def, cfg))) continue;
    (cfg as Record<string, unknown>)[def.key] = value;
  }
  return cfg as BenchConfig;
}

/** Reads an environment variable; undefined when unset or not permitted. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: no override
  }
}

/**
 * The configuration of `aiobench` with no arguments: write then read a temporary file in the
 * current directory with every flag at its default (environment variables are not read).
 *
 * @example
 * ```ts
 * defaultConfig().blockSizeBytes; // 1048576
 * ```
 */
export function defaultConfig(): BenchConfig {
  return completeConfig({});
}

/**
 * A config for `benchmark()`: what the caller set, everything else as the command line would
 * have it (same defaults, same environment variables), validated.
 *
 * @example
 * ```ts
 * libraryConfig({ readFile: "/mnt/nvme/f" }).workloads; // ["read"]
 * ```
 */
export function libraryConfig(partial: Partial<BenchConfig>): BenchConfig {
  const defined = Object.fromEntries(
    Object.entries(partial).filter(([, value]) => value !== undefined),
  ) as Partial<BenchConfig>;
  return validateConfig(completeConfig(defined, { env: readEnv }));
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
  // ds_aio's legacy pair: --read_file F --write_file W reads F, then writes W (as test_ds_aio.py).
  const legacyPair = given.length === 2 && cfg.readFile !== undefined &&
    cfg.writeFile !== undefined;
  if (given.length > 1 && !legacyPair) {
    throw new UsageError(`${given[0]} and ${given[1]} can't be combined; run them one at a time`);
  }
  if (given.length >= 1 && cfg.defaultRun) {
    throw new UsageError(`${given[0]} can't be used with the default run; drop one of them`);
  }
  if (given.length === 0 && !cfg.defaultRun) {
    throw new UsageError("no target: give --read_file FILE, --write_file FILE or --folder DIR");
  }
  for (const [flag, path] of [["--read_file", cfg.readFile], ["--write_file", cfg.writeFile]]) {
    if (path !== undefined) checkPath(flag as string, path);
  }
  for (const folder of cfg.folders) checkPath("--folder", folder);
  if (cfg.differentFileEachIteration && cfg.folders.length === 0) {
    throw new UsageError(
      "--different_file_each_iteration gives each loop its own file in a --folder; " +
        "add --folder DIR (it doesn't apply to --read_file, --write_file or the default run)",
    );
  }
  if (cfg.differentFileEachIteration && cfg.useGds) {
    throw new UsageError(
      "--different_file_each_iteration can't be used with --use_gds (cuFile registers one file); drop one",
    );
  }
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
    const reads = workload === "read" || workload === "randread";
    if (cfg.readFile !== undefined && cfg.writeFile === undefined && !reads) {
      throw new UsageError(
        `--rw ${workload} writes, but --read_file is only read; use --write_file or --folder`,
      );
    }
    if (cfg.readFile !== undefined && cfg.writeFile !== undefined && workload === "randrw") {
      throw new UsageError(
        "--rw randrw needs one file to read and write; drop --read_file or --write_file",
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
}

/** An option set without the one it needs (`--gpu_mode` without `--gpu`): from the table. */
function checkNeeds(cfg: BenchConfig): void {
  for (const def of bench_options) {
    if (def.key === undefined || def.needs === undefined) continue;
    if (!isSet(cfg[def.key]) || isSet(cfg[def.needs.key])) continue;
    const flag = `--${def.name}`;
    throw new UsageError(
      def.needs.message ?? `${flag} needs ${def.needs.flag}; add ${def.needs.flag}`,
    );
  }
}

function checkEngine(cfg: BenchConfig): void {
  if (!engines.includes(cfg.engine)) {
    throw new UsageError(
      `--engine ${showValue(String(cfg.engine))} is unknown; use ${engines.join("|")}`,
    );
  }
  if (cfg.engine !== "auto" && cfg.engine !== "io_uring") {
    for (const { key, flag } of io_uring_only) {
      if (cfg[key]) {
        throw new UsageError(
          `${flag} needs --engine io_uring (or auto), not --engine ${cfg.engine}; drop one of them`,
        );
      }
    }
  }
  if (cfg.sqthreadPollCpu !== undefined) {
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
  checkDsEngine(cfg);
}

/** DeepSpeed's aio_basic builds a context per call: no handle to keep a series or a GPU path. */
function checkDsEngine(cfg: BenchConfig): void {
  const ds = cfg.dsEngine;
  if (ds === undefined || ds === "aio_handle") return;
  if (ds !== "aio_basic") {
    throw new UsageError(`--engine ${showValue(String(ds))} is unknown; use aio_handle|aio_basic`);
  }
  const against: [boolean, string, string][] = [
    [cfg.logIntervalS !== undefined, "--log_interval", "a series needs one handle for the run"],
    [cfg.gpu, "--gpu", "DeepSpeed's aio_basic moves data through host memory only"],
    [cfg.registerfiles || cfg.fixedbufs, "--registerfiles/--fixedbufs", "nothing outlives a call"],
  ];
  for (const [given, flag, why] of against) {
    if (given) {
      throw new UsageError(
        `${flag} can't be used with --engine aio_basic (${why}); use --engine aio_handle`,
      );
    }
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
  if (cfg.gpuMode === "bounce" && cfg.gpuChunkBytes !== undefined) {
    throw new UsageError("--gpu_chunk applies to --gpu_mode overlap; drop one of them");
  }
  const chunk = cfg.gpuChunkBytes;
  if (chunk !== undefined && (chunk <= 0 || chunk % cfg.blockSizeBytes !== 0)) {
    throw new UsageError(
      `--gpu_chunk ${chunk} is not a multiple of --block_size ${cfg.blockSizeBytes}`,
    );
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
  checkNeeds(cfg);
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
    different_file_each_iteration: cfg.differentFileEachIteration ?? false,
    validate: cfg.validate,
    force: cfg.force,
    keep: cfg.keep,
    verbose: cfg.verbose,
    json: cfg.json ?? null,
    engine: cfg.engine,
    ds_engine: cfg.dsEngine ?? "aio_handle",
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
    kernel_page_order: cfg.kernelPageOrder ?? false,
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
    slow_bounce_buffer: cfg.slowBounceBuffer ?? false,
  };
}
