/**
 * Running a sweep: the files are made once, then every grid point runs its warm-up and timed
 * loops (one run per timed loop, so the spread comes from real loops); each finished point goes
 * to the resume file before the next starts. A failing point is recorded and the sweep goes on.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(["sweep", "--folder", "/mnt/nvme0", "--io_size", "1G"]);
 * const outcome = await runSweep(expandSweep(parsed.config!, parsed.sweep!), { objective: "sum" });
 * const doc = sweepDocument(outcome, "sum");
 * doc.best?.deepspeed; // {aio: {block_size: 1048576, queue_depth: 32, ...}}
 * ```
 *
 * @module
 */
import { CreatedFiles, createReadFile, creationLine, planTargets } from "../run/files.ts";
import { chooseEngine, runBenchmark, type RunOptions } from "../run/run.ts";
import { patternSeed } from "../run/tasks.ts";
import type { BenchConfig, BenchResult } from "../common/types.ts";
import type { SweepObjective } from "./options.ts";
import { rankRecords } from "./rank.ts";
import {
  errorText,
  loopStats,
  pointKey,
  recordSummary,
  type SweepPoint,
  sweepPoint,
  type SweepRecord,
} from "./record.ts";
import { ResumeLog, sweepSettings } from "./resume.ts";

/** Runs one benchmark; `runBenchmark` unless a caller wraps it (e.g. to count runs). */
export type BenchmarkRunner = (config: BenchConfig, options: RunOptions) => Promise<BenchResult>;

/** Options of {@linkcode runSweep}. */
export interface SweepRunOptions {
  objective: SweepObjective;
  /** Record file: points already in it are skipped, new ones are appended as they finish. */
  resume?: string;
  /** Abort to stop after the point in progress is drained (that point is not recorded). */
  signal?: AbortSignal;
  /** Notes, warnings and file creation lines. */
  log?: (line: string) => void;
  /** One line per point: `config i/n: <summary>  ETA mm:ss  best so far: ...`. */
  progress?: (line: string) => void;
  /** Called once the targets are checked and the data files are ready, before measuring. */
  onStart?: () => void;
  runner?: BenchmarkRunner;
}

/** What {@linkcode runSweep} found. */
export interface SweepOutcome {
  /** Recorded points of this grid, in grid order (resumed ones included). */
  records: SweepRecord[];
  /** Every point of the grid, in grid order. */
  grid: SweepPoint[];
  /** Points run by this call. */
  measured: number;
  /** Points taken from the resume file. */
  resumed: number;
  /** Stopped by the signal before the grid was done. */
  stopped: boolean;
  settings: Record<string, unknown>;
  /** The environment of the first run of this call (null when nothing ran). */
  env: Record<string, unknown> | null;
  started_at: string;
}

/** The files the sweep made once for all its points. */
interface SweepFiles {
  created: CreatedFiles;
  /** Runs may overwrite the sweep's own files (never files that were there before). */
  forceRuns: boolean;
}

/**
 * Claims and fills the write/read files once, so every point reads the same data and no point
 * pays for first-time block allocation. Files that were there before need --force, as in a run.
 * Returns null when `signal` stopped it (what it made is removed then, and on any error).
 */
async function prepareFiles(
  base: BenchConfig,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<SweepFiles | null> {
  const created = new CreatedFiles();
  if (base.readFile !== undefined) return { created, forceRuns: false };
  const removeAll = () => {
    for (const path of created.removeAll()) log(`warning: could not remove ${path}`);
  };
  try {
    const targets = planTargets(base, "write", created);
    const engine = chooseEngine(base).engine;
    for (const target of targets) {
      if (!created.has(target.path)) continue;
      let shown = 0;
      const complete = await createReadFile(target.path, target.ioSizeBytes, {
        engine,
        direct: !base.buffered,
        seed: patternSeed(base),
        signal,
        progress: (done, total) => {
          if (performance.now() - shown < 1000 && done !== total) return;
          shown = performance.now();
          log(creationLine(target.path, done, total));
        },
      });
      if (!complete || signal?.aborted) {
        removeAll();
        return null;
      }
    }
  } catch (e) {
    removeAll();
    throw e;
  }
  return { created, forceRuns: created.paths.size > 0 };
}

interface PointContext {
  runner: BenchmarkRunner;
  signal?: AbortSignal;
  log: (line: string) => void;
  forceRuns: boolean;
  onEnv: (env: Record<string, unknown>) => void;
}

/**
 * Runs one point as `loops` runs of one timed loop each (the warm-up in the first), so every
 * timed loop has its own speed: the spread comes from real loops, not from repeated sweeps.
 * Returns null when stopped by the signal.
 */
async function measurePoint(config: BenchConfig, ctx: PointContext): Promise<SweepRecord | null> {
  const started_ms = performance.now();
  const point = sweepPoint(config);
  const runs: BenchResult[] = [];
  const wall = () => (performance.now() - started_ms) / 1000;
  for (let loop = 0; loop < config.loops; loop++) {
    const run: BenchConfig = {
      ...config,
      loops: 1,
      warmupLoops: loop === 0 ? config.warmupLoops : 0,
      includeWarmupTime: false,
      keep: true,
      force: config.force || ctx.forceRuns,
      json: undefined,
    };
    let result: BenchResult;
    try {
      result = await ctx.runner(run, { log: ctx.log, signal: ctx.signal });
    } catch (e) {
      if (ctx.signal?.aborted) return null;
      return { key: pointKey(point), point, status: "failed", error: errorText(e), wall_s: wall() };
    }
    if (ctx.signal?.aborted || result.partial) return null;
    if (runs.length === 0) ctx.onEnv(result.env);
    runs.push(result);
  }
  return okRecord(point, runs, wall());
}

function okRecord(point: SweepPoint, runs: BenchResult[], wall_s: number): SweepRecord {
  const record: SweepRecord = { key: pointKey(point), point, status: "ok", wall_s };
  for (const op of ["read", "write"] as const) {
    const loops = runs.flatMap((r) => r.results.filter((x) => x.op === op));
    if (loops.length > 0) record[op] = loopStats(loops);
  }
  const errors = (record.read?.errors ?? 0) + (record.write?.errors ?? 0);
  if (errors > 0) {
    record.status = "failed";
    record.error = `${errors} IO error(s)`;
  }
  return record;
}

/** "mm:ss", or "h:mm:ss" from an hour up. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

function bestSoFar(records: SweepRecord[], objective: SweepObjective): string {
  const best = rankRecords(records, objective)[0];
  if (best === undefined) return "none yet";
  return `${best.objective_gib_s.toFixed(2)} GiB/s ${objective} (${best.record.key})`;
}

/**
 * Runs every point of the grid (skipping those in the resume file), one after another, and
 * returns what was recorded. A failing point is recorded and the sweep goes on.
 */
export async function runSweep(
  configs: BenchConfig[],
  options: SweepRunOptions,
): Promise<SweepOutcome> {
  if (configs.length === 0) throw new RangeError("runSweep needs at least one point");
  const log = options.log ?? (() => {});
  const settings = sweepSettings(configs[0]);
  const resume = options.resume === undefined ? null : ResumeLog.open(options.resume, settings);
  const outcome: SweepOutcome = {
    records: [],
    grid: configs.map(sweepPoint),
    measured: 0,
    resumed: 0,
    stopped: false,
    settings,
    env: null,
    started_at: new Date().toISOString(),
  };
  const todo = configs.filter((c) => !resume?.done.has(pointKey(sweepPoint(c)))).length;
  if (todo === 0) {
    outcome.records = configs.map((c) => resume!.done.get(pointKey(sweepPoint(c)))!);
    outcome.resumed = configs.length;
    return outcome;
  }
  const files = await prepareFiles(configs[0], log, options.signal);
  if (files === null) {
    outcome.stopped = true;
    return outcome;
  }
  options.onStart?.();
  try {
    await runPoints(configs, outcome, { options, resume, files, todo });
  } finally {
    for (const path of files.created.removeAll()) log(`warning: could not remove ${path}`);
  }
  return outcome;
}

async function runPoints(
  configs: BenchConfig[],
  outcome: SweepOutcome,
  state: { options: SweepRunOptions; resume: ResumeLog | null; files: SweepFiles; todo: number },
): Promise<void> {
  const { options, resume } = state;
  const ctx: PointContext = {
    runner: options.runner ?? runBenchmark,
    signal: options.signal,
    log: options.log ?? (() => {}),
    forceRuns: state.files.forceRuns,
    onEnv: (env) => {
      outcome.env ??= env;
    },
  };
  let measured_s = 0;
  for (const [index, config] of configs.entries()) {
    const previous = resume?.done.get(pointKey(sweepPoint(config)));
    if (previous !== undefined) {
      outcome.records.push(previous);
      outcome.resumed += 1;
      continue;
    }
    if (options.signal?.aborted) break;
    const record = await measurePoint(config, ctx);
    if (record === null) break;
    resume?.append(record);
    outcome.records.push(record);
    outcome.measured += 1;
    measured_s += record.wall_s;
    const eta_s = (measured_s / outcome.measured) * (state.todo - outcome.measured);
    options.progress?.(
      `config ${index + 1}/${configs.length}: ${recordSummary(record)}  ETA ${
        formatDuration(eta_s)
      }  best so far: ${bestSoFar(outcome.records, options.objective)}`,
    );
  }
  outcome.stopped = outcome.records.length < configs.length;
}
