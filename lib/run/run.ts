/**
 * One benchmark run: pick the engine, prepare the files, run each workload through the tasklet
 * pool, aggregate, clean up. Returns the `aiobench/1` result.
 *
 * @module
 */
import { AioError } from "../../ffi/errors.ts";
import { AioFile } from "../../ffi/file.ts";
import { ioUringSetupFlags, type NativeEngine, probeEngine } from "../../ffi/handle.ts";
import { nativeBuildMode, nativeInfo } from "../../ffi/native.ts";
import { configToJson } from "./config.ts";
import { captureEnv, envHeader, envToJson } from "./env.ts";
import {
  checkBlockAlignment,
  CreatedFiles,
  createReadFile,
  creationLine,
  explainOpen,
  planTargets,
  statOrNull,
  type Target,
} from "./files.ts";
import { gpuEnv, gpuPlanFor, prepareGpu } from "../gpu/prepare.ts";
import { attachGpu, gpuLine } from "../gpu/report.ts";
import { runPool } from "../tasklets/pool.ts";
import { aggregate, iosPerCallLine, validationVerdict } from "./report.ts";
import type { TaskSpec } from "../tasklets/schedule.ts";
import { patternSeed, taskSpec } from "./tasks.ts";
import { writes } from "../tasklets/schedule.ts";
import { formatBytesHuman, UsageError } from "../common/size.ts";
import { ioUringOptionsOn } from "../common/limits.ts";
import type {
  BenchConfig,
  BenchResult,
  OpResult,
  WorkerResult,
  Workload,
} from "../common/types.ts";
import type { LiveView } from "../tasklets/live.ts";

/** The program's version (also in deno.json). */
export const VERSION = "0.1.0";

/** A run that failed after it started: the first worker's error, in one line. */
export class RunFailure extends Error {
  /** Whatever was measured before the failure. */
  readonly partialResult?: BenchResult;
  /** `message` is the one-line reason; `partialResult` what was measured before it. */
  constructor(message: string, partialResult?: BenchResult) {
    super(message);
    this.name = "RunFailure";
    this.partialResult = partialResult;
  }
}

/** A workload's tasklets are starting: what they will do, and a live view of them. */
export interface WorkloadStart {
  workload: Workload;
  /** Position of this workload in the run (0-based) and how many the run has. */
  index: number;
  count: number;
  /** Tasklets (workers) and the bytes each moves per loop. */
  workers: number;
  ioSizeBytes: number;
  /** Their phases and counters while they run (sample it from a timer; it never blocks). */
  view: LiveView;
}

/** Options of `runBenchmark`. */
export interface RunOptions {
  /** Progress and --verbose lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Abort to stop the run: in-flight IO drains, partial results come back marked. */
  signal?: AbortSignal;
}

/** What a run across MPI ranks adds to `RunOptions` (lib/mpi/; not part of the module's API). */
export interface RankHooks {
  /** Taken by the main thread at every barrier before the workers go on (MPI: across ranks). */
  globalStep?: () => Promise<void>;
  /** Bound of the workers' barrier waits in ms (default 600 s; longer when a global step may wait). */
  barrierTimeoutMs?: number;
  /** Receives each workload's raw per-worker results (lib/mpi/ merges them across ranks). */
  onWorkers?: (workload: Workload, workers: WorkerResult[]) => void;
}

/** The CLI's options of `runBenchmark`: also a live view of each workload's tasklets. */
export interface WatchedRunOptions extends RunOptions {
  /** Called as each workload's tasklets start (the progress line and interval lines). */
  onWorkload?: (start: WorkloadStart) => void;
}

/** The engine to use and why. */
export interface EngineChoice {
  engine: NativeEngine;
  reason: string;
}

/**
 * Resolves `auto` (io_uring, else libaio, else psync) and checks an explicit engine works.
 * `probe` tells why an engine can't be used here (default: the native library's probe).
 */
export function chooseEngine(
  config: BenchConfig,
  probe: (engine: NativeEngine) => AioError | null = probeEngine,
): EngineChoice {
  if (config.engine !== "auto") {
    const problem = probe(config.engine);
    if (problem) {
      throw new UsageError(
        `--engine ${config.engine} can't be used here (${problem.code}${
          config.engine === "io_uring" ? ioUringSysctl() : ""
        }); try --engine auto`,
      );
    }
    return { engine: config.engine, reason: "chosen with --engine" };
  }
  const uring = probe("io_uring");
  if (!uring) return { engine: "io_uring", reason: "io_uring is available" };
  const why = `io_uring unavailable (${uring.code}${ioUringSysctl()})`;
  const wanted = ioUringOptionsOn(config);
  if (wanted.length > 0) {
    throw new UsageError(
      `${why}, so ${wanted.join(", ")} can't be used; drop ${
        wanted.length > 1 ? "them" : "it"
      } or enable io_uring`,
    );
  }
  if (!probe("libaio")) return { engine: "libaio", reason: `${why}; using libaio` };
  return { engine: "psync", reason: `${why} and libaio unavailable; using psync` };
}

function ioUringSysctl(): string {
  try {
    const v = Deno.readTextFileSync("/proc/sys/kernel/io_uring_disabled").trim();
    return v === "0" ? "" : `, kernel.io_uring_disabled=${v}`;
  } catch {
    return "";
  }
}

function firstTargetPath(config: BenchConfig): string {
  if (config.readFile) return config.readFile;
  if (config.writeFile) return config.writeFile;
  if (config.folders.length > 0) return config.folders[0];
  return config.defaultDir ?? Deno.cwd();
}

/** Checks O_DIRECT on a read target before any worker starts (fail fast, clear message). */
function checkOpenable(config: BenchConfig, target: Target): void {
  try {
    AioFile.open(target.path, { direct: !config.buffered }).close();
  } catch (e) {
    throw explainOpen(e, target.path, "read");
  }
}

async function ensureReadData(
  config: BenchConfig,
  targets: Target[],
  created: CreatedFiles,
  engine: NativeEngine,
  options: RunOptions,
): Promise<boolean> {
  const log = options.log ?? (() => {});
  const files = targets.flatMap((t) => (t.loopPaths ?? [t.path]).map((path) => ({ ...t, path })));
  for (const t of new Map(files.map((t) => [t.path, t])).values()) {
    const st = statOrNull(t.path);
    // statx gives a block device size 0; planTargets already checked its real size. Never
    // "create" data on a device: that would overwrite it during a read.
    if (st?.isBlockDevice || (st?.isFile && st.size >= t.ioSizeBytes)) continue;
    if (st && !created.has(t.path) && !config.force) {
      throw new UsageError(
        `${t.path} is shorter than --io_size; add --force to let aiobench rewrite it`,
      );
    }
    let last = 0;
    // Registered first, so a creation that fails (ENOSPC, no O_DIRECT) or is stopped is removed.
    if (!st) created.add(t.path);
    const complete = await createReadFile(t.path, t.ioSizeBytes, {
      engine,
      direct: !config.buffered,
      seed: patternSeed(config),
      signal: options.signal,
      progress: (done, total) => {
        const now = performance.now();
        if (now - last > 1000 || done === total) log(creationLine(t.path, done, total));
        last = now;
      },
    });
    if (!complete) return false;
  }
  return true;
}

/** Runs the whole benchmark described by `config`. */
export async function runBenchmark(
  config: BenchConfig,
  options: WatchedRunOptions & RankHooks = {},
): Promise<BenchResult> {
  const log = options.log ?? (() => {});
  const gpuRun = prepareGpu(config);
  const engine = chooseEngine(config);
  if (engine.reason !== "io_uring is available" && config.engine === "auto") {
    log(`note: ${engine.reason}`);
  }
  const align = checkBlockAlignment(config, firstTargetPath(config));
  const created = new CreatedFiles();
  const startedAt = new Date().toISOString();
  const results: OpResult[] = [];
  let env: Record<string, unknown> = {};
  const document = (): BenchResult => ({
    schema: "aiobench/1",
    version: VERSION,
    started_at: startedAt,
    config: configToJson(config),
    env,
    results,
    partial: options.signal?.aborted === true || results.some((r) => r.partial),
  });
  // On a stop, unlink at once: the files must not outlive a launcher's kill that follows it.
  const unlinkOnStop = () => {
    if (!config.keep) created.unlinkNow();
  };
  options.signal?.addEventListener("abort", unlinkOnStop);
  try {
    for (const [index, workload] of config.workloads.entries()) {
      if (options.signal?.aborted) break;
      const targets = planTargets(config, workload, created);
      if (!writes(workload)) {
        if (!await ensureReadData(config, targets, created, engine.engine, options)) break;
        checkOpenable(config, targets[0]);
      }
      if (index === 0) env = await describe(config, targets[0].path, engine, align);
      if (index === 0) checkHipri(config, env);
      if (index === 0 && gpuRun) env.gpu = gpuEnv(gpuRun);
      const specs: TaskSpec[] = targets.map((t) =>
        taskSpec(config, { ...t, workload }, {
          engine: engine.engine,
          alignBytes: align,
          gpu: gpuRun
            ? gpuPlanFor(gpuRun, { config, worker: t.worker, ioSizeBytes: t.ioSizeBytes })
            : undefined,
        })
      );
      log(
        `${workload}: ${config.threads} worker(s), ${
          formatBytesHuman(specs[0].ioSizeBytes)
        } each, ${config.loops} loop(s)`,
      );
      const outcome = await runPool(specs, {
        log,
        signal: options.signal,
        globalStep: options.globalStep,
        barrierTimeoutMs: options.barrierTimeoutMs,
        onLive: (view) =>
          options.onWorkload?.({
            workload,
            index,
            count: config.workloads.length,
            workers: specs.length,
            ioSizeBytes: specs[0].ioSizeBytes,
            view,
          }),
      });
      if (outcome.results.length > 0) options.onWorkers?.(workload, outcome.results);
      if (outcome.failures.length > 0 && !outcome.stopped) {
        if (outcome.results.length > 0) results.push(aggregate(workload, outcome.results));
        throw new RunFailure(rootCause(outcome.failures), document());
      }
      if (outcome.results.length > 0) {
        const r = attachGpu(aggregate(workload, outcome.results), outcome.results);
        const gpu = gpuLine(r);
        if (gpu) log(`note: ${gpu}`);
        if (outcome.stopped) r.partial = true;
        if (config.validate) r.validate = validationVerdict(outcome.results);
        results.push(r);
        const calls = iosPerCallLine(r);
        if (calls) log(calls);
        const mismatch = r.validate?.first_mismatch;
        if (mismatch) throw new RunFailure(`--validate: ${mismatch.message}`, document());
      }
      if (outcome.stopped) break;
    }
  } finally {
    options.signal?.removeEventListener("abort", unlinkOnStop);
    if (!config.keep) {
      for (const path of created.removeAll()) log(`warning: could not remove ${path}`);
    }
  }
  return document();
}

/** IOPOLL on a queue without poll queues fails every IO with EOPNOTSUPP: say so up front. */
function checkHipri(config: BenchConfig, env: Record<string, unknown>): void {
  if (!config.hipri || env.io_poll !== false) return;
  const device = env.queue_device ?? env.device;
  throw new UsageError(
    `--hipri needs a device with poll queues (io_poll=1); /dev/${device} has none (drop --hipri, or load the driver with poll queues, e.g. nvme.poll_queues=4)`,
  );
}

function rootCause(failures: { worker: number; message: string }[]): string {
  const cause = failures.find((f) => !f.message.startsWith("barrier released")) ?? failures[0];
  return `worker ${cause.worker}: ${cause.message}`;
}

async function describe(
  config: BenchConfig,
  path: string,
  engine: EngineChoice,
  align: number,
): Promise<Record<string, unknown>> {
  const info = await captureEnv(path, { dioAlign: align });
  const env = envToJson(info);
  // What the handles really use: none of them unless the engine is io_uring.
  const ioUringOptions = engine.engine === "io_uring"
    ? ioUringOptionsOn(config).map((flag) => flag.slice(2))
    : [];
  return {
    ...env,
    engine: engine.engine,
    engine_reason: engine.reason,
    io_uring_options: ioUringOptions,
    o_direct: !config.buffered,
    io_uring_setup_flags: ringFlags(engine.engine, config),
    native_library: { ...nativeInfo(), build: nativeBuildMode() },
    summary: envHeader(info),
  };
}

/**
 * The io_uring setup flags the handles' rings get here (the step-by-step fallback's result, or
 * SQPOLL's own); null when the engine isn't io_uring.
 */
function ringFlags(engine: NativeEngine, config: BenchConfig): string[] | null {
  if (engine !== "io_uring") return null;
  if (config.sqthreadPoll) {
    return config.sqthreadPollCpu !== undefined ? ["SQPOLL", "SQ_AFF"] : ["SQPOLL"];
  }
  const flags = ioUringSetupFlags(config.overlapEvents);
  return Array.isArray(flags) ? flags : null;
}

/** Whether an error is one to show as a single line (no stack). */
export function isUserFacing(e: unknown): e is Error {
  return e instanceof UsageError || e instanceof RunFailure || e instanceof AioError;
}
