/**
 * The sweep: every grid point runs its warm-up and timed loops; each point's record holds read
 * and write speed with the loop-to-loop spread, latency and errors. Records go to a resume file
 * as they finish; the best point by the objective becomes DeepSpeed's `aio` config section.
 * JSON and CSV forms live here too (the HTML report is lib/sweep/report.ts).
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
import type { SweepObjective } from "./options.ts";
import { CreatedFiles, createReadFile, creationLine, planTargets } from "../run/files.ts";
import { mergeHistograms, summarize } from "../common/histogram.ts";
import { chooseEngine, isUserFacing, runBenchmark, type RunOptions, VERSION } from "../run/run.ts";
import { formatSize, UsageError } from "../common/size.ts";
import type { BenchConfig, BenchResult, LatencySummary, OpResult } from "../common/types.ts";

const GIB = 2 ** 30;
const RESUME_SCHEMA = "aiobench-sweep-resume/1";

/** The five settings a sweep varies (DeepSpeed's `aio` knobs). */
export interface SweepPoint {
  block_size: number;
  queue_depth: number;
  overlap_events: boolean;
  single_submit: boolean;
  /** `null`: the synchronous schedule (io_parallel unset). */
  io_parallel: number | null;
}

/** One op of one point, over its timed loops. */
export interface SweepOpStats {
  /** ds_aio's E2E speed over all timed loops (bytes / E2E seconds / 2^30); what is ranked. */
  e2e_gib_s: number;
  /** The same with task time (inside the IO call only). */
  task_gib_s: number;
  /** E2E GiB/s of each timed loop, in order. */
  loop_e2e_gib_s: number[];
  e2e_gib_s_min: number;
  e2e_gib_s_max: number;
  /** Sample standard deviation of the per-loop speeds (0 with one loop). */
  e2e_gib_s_stddev: number;
  iops: number;
  latency_us: LatencySummary | null;
  /** Merged over the timed loops, sparse `[bucket, count]` (lib/common/histogram.ts). */
  latency_histogram: [number, number][];
  errors: number;
}

/** What the sweep recorded for one point. */
export interface SweepRecord {
  /** Stable name of the point, e.g. `bs=1M qd=32 overlap=on single=off par=4`. */
  key: string;
  point: SweepPoint;
  status: "ok" | "failed";
  /** Why the point failed (one line). */
  error?: string;
  read?: SweepOpStats;
  write?: SweepOpStats;
  /** Wall seconds the point took, set-up and warm-up included. */
  wall_s: number;
}

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

/** The grid point a config stands for. */
export function sweepPoint(config: BenchConfig): SweepPoint {
  return {
    block_size: config.blockSizeBytes,
    queue_depth: config.queueDepth,
    overlap_events: config.overlapEvents,
    single_submit: config.singleSubmit,
    io_parallel: config.ioParallel ?? null,
  };
}

function onOff(value: boolean): string {
  return value ? "on" : "off";
}

/** `bs=1M qd=32 overlap=on single=off par=4` (`par=sync`: io_parallel unset). */
export function pointKey(point: SweepPoint): string {
  return `bs=${formatSize(point.block_size)} qd=${point.queue_depth} overlap=${
    onOff(point.overlap_events)
  } single=${onOff(point.single_submit)} par=${point.io_parallel ?? "sync"}`;
}

/** The settings every record of one sweep shares; a resume file must match them. */
export function sweepSettings(base: BenchConfig): Record<string, unknown> {
  return {
    workloads: base.workloads,
    read_file: base.readFile ?? null,
    write_file: base.writeFile ?? null,
    folders: base.folders,
    default_dir: base.defaultRun ? base.defaultDir ?? null : null,
    io_size_bytes: base.ioSizeBytes ?? null,
    threads: base.threads,
    loops: base.loops,
    warmup_loops: base.warmupLoops,
    engine: base.engine,
    buffered: base.buffered,
    mlock: base.mlock,
    fixedbufs: base.fixedbufs,
    registerfiles: base.registerfiles,
    sqthread_poll: base.sqthreadPoll,
    hipri: base.hipri,
    nonvectored: base.nonvectored,
    latency: base.latency,
    runtime_s: base.runtimeS ?? null,
    time_based: base.timeBased,
    ramp_time_s: base.rampTimeS,
    use_gds: base.useGds,
  };
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((s, v) => s + v, 0) / values.length;
}

function stddev(values: number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
}

/** One op's stats over its timed loops (one `OpResult` per loop, ds_aio aggregation). */
export function loopStats(loops: OpResult[]): SweepOpStats {
  if (loops.length === 0) throw new RangeError("loopStats needs at least one loop");
  const bytes = loops.reduce((s, r) => s + r.bytes, 0);
  const e2e_s = loops.reduce((s, r) => s + r.e2e_latency_s, 0);
  const task_s = loops.reduce((s, r) => s + r.task_latency_s, 0);
  const ios = loops.reduce((s, r) => s + r.iops * r.task_latency_s, 0);
  const per_loop = loops.map((r) => r.e2e_gib_s);
  const histogram = mergeHistograms(loops.map((r) => r.latency_histogram ?? []));
  const timed = loops.filter((r) => r.latency_us !== null && r.latency_us.count > 0);
  const latency = timed.length === 0 ? null : summarize(histogram, {
    minNs: Math.min(...timed.map((r) => r.latency_us!.min * 1000)),
    maxNs: Math.max(...timed.map((r) => r.latency_us!.max * 1000)),
    sumNs: timed.reduce((s, r) => s + r.latency_us!.mean * r.latency_us!.count * 1000, 0),
  });
  return {
    e2e_gib_s: e2e_s > 0 ? bytes / e2e_s / GIB : 0,
    task_gib_s: task_s > 0 ? bytes / task_s / GIB : 0,
    loop_e2e_gib_s: per_loop,
    e2e_gib_s_min: Math.min(...per_loop),
    e2e_gib_s_max: Math.max(...per_loop),
    e2e_gib_s_stddev: stddev(per_loop),
    iops: task_s > 0 ? ios / task_s : 0,
    latency_us: latency,
    latency_histogram: histogram,
    errors: loops.reduce((s, r) => s + r.errors, 0),
  };
}

/** The objective's GiB/s for a record, or null when it failed or lacks the op. */
export function objectiveGibS(record: SweepRecord, objective: SweepObjective): number | null {
  if (record.status !== "ok") return null;
  const read = record.read?.e2e_gib_s;
  const write = record.write?.e2e_gib_s;
  if (objective === "read") return read ?? null;
  if (objective === "write") return write ?? null;
  if (read === undefined && write === undefined) return null;
  return (read ?? 0) + (write ?? 0);
}

/** A ranked point: its objective value and how far below the best it is. */
export interface RankedPoint {
  record: SweepRecord;
  objective_gib_s: number;
  /** 0 for the best; (best − this) / best × 100 otherwise. */
  below_best_pct: number;
}

/** The successful records, best first (ties keep grid order). */
export function rankRecords(records: SweepRecord[], objective: SweepObjective): RankedPoint[] {
  const scored = records
    .map((record, index) => ({ record, index, value: objectiveGibS(record, objective) }))
    .filter((s): s is { record: SweepRecord; index: number; value: number } => s.value !== null)
    .sort((a, b) => b.value - a.value || a.index - b.index);
  const best = scored[0]?.value ?? 0;
  return scored.map((s) => ({
    record: s.record,
    objective_gib_s: s.value,
    below_best_pct: best > 0 ? ((best - s.value) / best) * 100 : 0,
  }));
}

/** DeepSpeed's `aio` config section. */
export interface DeepSpeedAioConfig {
  aio: {
    block_size: number;
    queue_depth: number;
    intra_op_parallelism: number;
    single_submit: boolean;
    overlap_events: boolean;
    use_gds: boolean;
  };
}

/** The point as DeepSpeed's `aio` section (io_parallel unset → intra_op_parallelism 1). */
export function deepSpeedAioConfig(point: SweepPoint, useGds = false): DeepSpeedAioConfig {
  return {
    aio: {
      block_size: point.block_size,
      queue_depth: point.queue_depth,
      intra_op_parallelism: point.io_parallel ?? 1,
      single_submit: point.single_submit,
      overlap_events: point.overlap_events,
      use_gds: useGds,
    },
  };
}

/** One line, as Python's json.dumps writes it: `{"aio": {"block_size": 1048576, ...}}`. */
export function deepSpeedAioJson(config: DeepSpeedAioConfig): string {
  const inner = Object.entries(config.aio).map(([k, v]) => `${JSON.stringify(k)}: ${v}`);
  return `{"aio": {${inner.join(", ")}}}`;
}

/** Points already recorded in a `--resume` file; appends new ones as they finish. */
export class ResumeLog {
  readonly path: string;
  /** Recorded points by key (the last record of a key wins). */
  readonly done: Map<string, SweepRecord>;

  private constructor(path: string, done: Map<string, SweepRecord>) {
    this.path = path;
    this.done = done;
  }

  /** Opens (or creates) `path`; a file made with other settings is a UsageError. */
  static open(path: string, settings: Record<string, unknown>): ResumeLog {
    let text: string | null = null;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new UsageError(`--resume ${path}: can't read it (${errorText(e)})`);
      }
    }
    if (text === null || text.trim() === "") {
      const header = { schema: RESUME_SCHEMA, version: VERSION, settings };
      writeText(path, JSON.stringify(header) + "\n", "--resume");
      return new ResumeLog(path, new Map());
    }
    const { records, torn } = parseResume(text, path, settings);
    if (torn) {
      const lines = [JSON.stringify({ schema: RESUME_SCHEMA, version: VERSION, settings })];
      for (const r of records.values()) lines.push(JSON.stringify(r));
      writeText(path, lines.join("\n") + "\n", "--resume");
    }
    return new ResumeLog(path, records);
  }

  /** Appends one finished point (one line, written before the next point starts). */
  append(record: SweepRecord): void {
    Deno.writeTextFileSync(this.path, JSON.stringify(record) + "\n", { append: true });
    this.done.set(record.key, record);
  }
}

function parseResume(
  text: string,
  path: string,
  settings: Record<string, unknown>,
): { records: Map<string, SweepRecord>; torn: boolean } {
  const lines = text.split("\n");
  const last = lines.length - 1;
  const not_ours = `--resume ${path} is not an aiobench sweep record file; give a new path`;
  let header: { schema?: unknown; settings?: Record<string, unknown> };
  try {
    header = JSON.parse(lines[0]);
  } catch {
    throw new UsageError(not_ours);
  }
  if (header?.schema !== RESUME_SCHEMA || typeof header.settings !== "object") {
    throw new UsageError(not_ours);
  }
  checkSettings(path, header.settings, settings);
  const records = new Map<string, SweepRecord>();
  let torn = false;
  for (let i = 1; i <= last; i++) {
    if (lines[i].trim() === "") continue;
    try {
      const record = JSON.parse(lines[i]) as SweepRecord;
      if (typeof record.key !== "string" || typeof record.point !== "object") throw new Error();
      records.set(record.key, record);
    } catch {
      // Only the last line may be cut short (a sweep killed mid-write); anything else is damage.
      if (i !== last) throw new UsageError(`--resume ${path}: line ${i + 1} is damaged; fix it`);
      torn = true;
    }
  }
  return { records, torn };
}

function checkSettings(
  path: string,
  recorded: Record<string, unknown> | undefined,
  current: Record<string, unknown>,
): void {
  for (const [name, value] of Object.entries(current)) {
    const was = JSON.stringify(recorded?.[name] ?? null);
    const now = JSON.stringify(value);
    if (was !== now) {
      throw new UsageError(
        `--resume ${path} was recorded with ${name} ${was}, this sweep has ${now}; ` +
          "use the same settings or another --resume file",
      );
    }
  }
}

function writeText(path: string, text: string, flag: string): void {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: can't write it (${errorText(e)})`);
  }
}

/** One line for an error: the message's first line, named as internal when it is a bug. */
export function errorText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const line = message.split("\n")[0];
  return isUserFacing(e) || e instanceof Deno.errors.NotFound ? line : `internal error: ${line}`;
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
 */
function prepareFiles(base: BenchConfig, log: (line: string) => void): SweepFiles {
  const created = new CreatedFiles();
  if (base.readFile !== undefined) return { created, forceRuns: false };
  try {
    const targets = planTargets(base, "write", created);
    const engine = chooseEngine(base).engine;
    for (const target of targets) {
      if (!created.has(target.path)) continue;
      let shown = 0;
      createReadFile(target.path, target.ioSizeBytes, {
        engine,
        direct: !base.buffered,
        seed: base.seed + 0x5eed,
        progress: (done, total) => {
          if (performance.now() - shown < 1000 && done !== total) return;
          shown = performance.now();
          log(creationLine(target.path, done, total));
        },
      });
    }
  } catch (e) {
    created.removeAll();
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

/** `read 1.23 GiB/s ±0.02, write 0.98 GiB/s ±0.01` or `FAILED: why`. */
export function recordSummary(record: SweepRecord): string {
  if (record.status === "failed") return `${record.key}: FAILED: ${record.error}`;
  const parts = (["read", "write"] as const)
    .filter((op) => record[op] !== undefined)
    .map((op) =>
      `${op} ${record[op]!.e2e_gib_s.toFixed(2)} GiB/s ±${record[op]!.e2e_gib_s_stddev.toFixed(2)}`
    );
  return `${record.key}: ${parts.join(", ")}`;
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
  const files = prepareFiles(configs[0], log);
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

/** The best point as the JSON document shows it. */
export interface SweepBest {
  key: string;
  point: SweepPoint;
  objective_gib_s: number;
  read_e2e_gib_s: number | null;
  write_e2e_gib_s: number | null;
  deepspeed: DeepSpeedAioConfig;
}

/** The `--json` document of a sweep (schema `aiobench-sweep/1`; fields are only added). */
export interface SweepDocument {
  schema: "aiobench-sweep/1";
  version: string;
  started_at: string;
  objective: SweepObjective;
  settings: Record<string, unknown>;
  env: Record<string, unknown> | null;
  /** Every grid point, in grid order (a point without a record was not measured). */
  grid: SweepPoint[];
  /** True when every grid point has a record. */
  complete: boolean;
  stopped: boolean;
  measured: number;
  resumed: number;
  failed: number;
  best: SweepBest | null;
  ranking: Array<{ rank: number; key: string; objective_gib_s: number; below_best_pct: number }>;
  records: SweepRecord[];
}

/** The whole result of a sweep as one JSON-ready document. */
export function sweepDocument(outcome: SweepOutcome, objective: SweepObjective): SweepDocument {
  const ranked = rankRecords(outcome.records, objective);
  const top = ranked[0];
  const useGds = outcome.settings.use_gds === true;
  return {
    schema: "aiobench-sweep/1",
    version: VERSION,
    started_at: outcome.started_at,
    objective,
    settings: outcome.settings,
    env: outcome.env,
    grid: outcome.grid,
    complete: outcome.records.length === outcome.grid.length,
    stopped: outcome.stopped,
    measured: outcome.measured,
    resumed: outcome.resumed,
    failed: outcome.records.filter((r) => r.status === "failed").length,
    best: top === undefined ? null : {
      key: top.record.key,
      point: top.record.point,
      objective_gib_s: top.objective_gib_s,
      read_e2e_gib_s: top.record.read?.e2e_gib_s ?? null,
      write_e2e_gib_s: top.record.write?.e2e_gib_s ?? null,
      deepspeed: deepSpeedAioConfig(top.record.point, useGds),
    },
    ranking: ranked.map((r, i) => ({
      rank: i + 1,
      key: r.record.key,
      objective_gib_s: r.objective_gib_s,
      below_best_pct: r.below_best_pct,
    })),
    records: outcome.records,
  };
}

const csv_ops = ["read", "write"] as const;
const csv_op_columns = [
  "e2e_gib_s",
  "task_gib_s",
  "e2e_gib_s_min",
  "e2e_gib_s_max",
  "e2e_gib_s_stddev",
  "iops",
  "p50_us",
  "p99_us",
  "errors",
] as const;

function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function opCells(stats: SweepOpStats | undefined): Array<number | null> {
  if (stats === undefined) return csv_op_columns.map(() => null);
  return [
    stats.e2e_gib_s,
    stats.task_gib_s,
    stats.e2e_gib_s_min,
    stats.e2e_gib_s_max,
    stats.e2e_gib_s_stddev,
    stats.iops,
    stats.latency_us?.p50 ?? null,
    stats.latency_us?.p99 ?? null,
    stats.errors,
  ];
}

/** One CSV row per recorded point, in grid order, with a header row. */
export function sweepCsv(doc: SweepDocument): string {
  const head = [
    "key",
    "block_size",
    "queue_depth",
    "overlap_events",
    "single_submit",
    "io_parallel",
    "status",
    "error",
    ...csv_ops.flatMap((op) => csv_op_columns.map((c) => `${op}_${c}`)),
    `objective_${doc.objective}_gib_s`,
    "wall_s",
  ];
  const rows = doc.records.map((r) => [
    r.key,
    r.point.block_size,
    r.point.queue_depth,
    r.point.overlap_events,
    r.point.single_submit,
    r.point.io_parallel ?? "sync",
    r.status,
    r.error ?? null,
    ...csv_ops.flatMap((op) => opCells(r[op])),
    objectiveGibS(r, doc.objective),
    r.wall_s,
  ]);
  return [head, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

function spreadText(stats: SweepOpStats | undefined): string {
  if (stats === undefined) return "-";
  return `${stats.e2e_gib_s.toFixed(2)} ±${stats.e2e_gib_s_stddev.toFixed(2)}`;
}

/**
 * The human summary: the top points with how far each is below the best, the best point in
 * words, and the DeepSpeed section.
 */
export function summaryLines(doc: SweepDocument, top = 5): string[] {
  const total = doc.grid.length;
  const recorded = doc.records.length;
  const lines = [
    `aiobench sweep: ${recorded} of ${total} configs recorded` +
    (doc.resumed > 0 ? ` (${doc.resumed} from --resume)` : "") +
    (doc.failed > 0 ? `, ${doc.failed} failed` : "") +
    `; objective ${doc.objective} (E2E GiB/s${doc.objective === "sum" ? ", read + write" : ""})`,
  ];
  if (doc.stopped) lines.push(`(stopped: ${total - recorded} configs were not measured)`);
  const ranked = doc.records
    .map((r) => ({ r, value: objectiveGibS(r, doc.objective) }))
    .filter((x) => x.value !== null);
  if (doc.best === null || ranked.length === 0) {
    lines.push("no config succeeded: nothing to recommend");
    return lines;
  }
  const width = Math.max(...doc.ranking.slice(0, top).map((r) => r.key.length), 6);
  lines.push(
    "",
    `rank  ${"config".padEnd(width)}  ${"read GiB/s".padStart(12)}  ${
      "write GiB/s".padStart(12)
    }  ${doc.objective.padStart(7)}  vs best`,
  );
  const byKey = new Map(doc.records.map((r) => [r.key, r]));
  for (const entry of doc.ranking.slice(0, top)) {
    const r = byKey.get(entry.key)!;
    const versus = entry.rank === 1 ? "best" : `-${entry.below_best_pct.toFixed(1)}%`;
    lines.push(
      `${String(entry.rank).padEnd(4)}  ${entry.key.padEnd(width)}  ${
        spreadText(r.read).padStart(12)
      }  ${spreadText(r.write).padStart(12)}  ${
        entry.objective_gib_s.toFixed(2).padStart(7)
      }  ${versus}`,
    );
  }
  lines.push("", ...noiseLines(doc, byKey), ...bestLines(doc));
  return lines;
}

/** Says whether the runner-up is within the loop-to-loop spread of the best. */
function noiseLines(doc: SweepDocument, byKey: Map<string, SweepRecord>): string[] {
  if (doc.ranking.length < 2) return [];
  const spread = (key: string) => {
    const r = byKey.get(key)!;
    const ops: readonly ("read" | "write")[] = doc.objective === "sum" ? csv_ops : [doc.objective];
    return ops.reduce<number>((s, op) => s + (r[op]?.e2e_gib_s_stddev ?? 0), 0);
  };
  const best = doc.ranking[0];
  const close = doc.ranking.slice(1).filter((r) =>
    best.objective_gib_s - r.objective_gib_s <= spread(best.key) + spread(r.key)
  );
  if (close.length === 0) {
    return [`the best is ahead of every other config by more than the loop-to-loop spread`];
  }
  return [
    `${close.length} other config(s) are within the loop-to-loop spread of the best: ` +
    "the choice among them matters little (re-measure on a quiet machine with more --loops)",
  ];
}

function bestLines(doc: SweepDocument): string[] {
  const best = doc.best!;
  const p = best.point;
  const label = doc.complete ? "best" : `best of the ${doc.records.length} measured`;
  return [
    `${label}: block_size ${formatSize(p.block_size)}, queue_depth ${p.queue_depth}, ` +
    `overlap_events ${p.overlap_events}, single_submit ${p.single_submit}, ` +
    `io_parallel ${p.io_parallel ?? "unset (sync)"} -> ${
      best.objective_gib_s.toFixed(2)
    } GiB/s ${doc.objective}`,
    `DeepSpeed: ${deepSpeedAioJson(best.deepspeed)}`,
  ];
}
