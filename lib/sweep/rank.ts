/**
 * Ranking the recorded points by the objective, the best point as DeepSpeed's `aio` config
 * section, the `aiobench-sweep/1` document and the human summary.
 *
 * @module
 */
import type { MpiJob } from "../common/types.ts";
import { formatSize } from "../common/size.ts";
import { VERSION } from "../run/run.ts";
import type { SweepObjective } from "./options.ts";
import type { SweepOpStats, SweepPoint, SweepRecord } from "./record.ts";
import type { SweepOutcome } from "./run.ts";

const both_ops = ["read", "write"] as const;

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

/** The best point as the JSON document shows it. */
export interface SweepBest {
  key: string;
  point: SweepPoint;
  objective_gib_s: number;
  read_e2e_gib_s: number | null;
  write_e2e_gib_s: number | null;
  deepspeed: DeepSpeedAioConfig;
}

/** The rule that picks among configs whose speeds are within the loop-to-loop spread. */
export const recommend_rule =
  "among the configs within the loop-to-loop spread of the fastest, the one with the fewest " +
  "IOs in flight (queue_depth × io_parallel), then the fewest io_parallel threads, then the faster";

/** The config the sweep recommends: the fastest, or an equal one that uses less (see the rule). */
export interface SweepRecommendation extends SweepBest {
  /** The rule that chose it among equals (`recommend_rule`). */
  rule: string;
  /** The fastest config's key (the same when it is the one recommended). */
  fastest_key: string;
  /** Every config within the loop-to-loop spread of the fastest, the fastest included. */
  within_spread: string[];
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
  /** The fastest config (the argmax of the objective). */
  best: SweepBest | null;
  /** What --config_out writes: the fastest, or an equal within the spread that uses less. */
  recommended: SweepRecommendation | null;
  ranking: Array<{ rank: number; key: string; objective_gib_s: number; below_best_pct: number }>;
  records: SweepRecord[];
  /** Under MPI: the job every point ran across (each point's numbers are the ranks' together). */
  mpi?: MpiJob;
}

/** A record's loop-to-loop spread for the objective: the sum of its ops' std. deviations. */
export function objectiveSpread(record: SweepRecord, objective: SweepObjective): number {
  const ops: readonly ("read" | "write")[] = objective === "sum" ? both_ops : [objective];
  return ops.reduce<number>((s, op) => s + (record[op]?.e2e_gib_s_stddev ?? 0), 0);
}

function asBest(ranked: RankedPoint, useGds: boolean): SweepBest {
  return {
    key: ranked.record.key,
    point: ranked.record.point,
    objective_gib_s: ranked.objective_gib_s,
    read_e2e_gib_s: ranked.record.read?.e2e_gib_s ?? null,
    write_e2e_gib_s: ranked.record.write?.e2e_gib_s ?? null,
    deepspeed: deepSpeedAioConfig(ranked.record.point, useGds),
  };
}

/**
 * The recommendation (see `recommend_rule`): configs are equal to the fastest when the gap is
 * within their combined loop-to-loop spread; among equals, the fewest IOs in flight wins.
 */
export function recommend(
  ranked: RankedPoint[],
  objective: SweepObjective,
  useGds = false,
): SweepRecommendation | null {
  const fastest = ranked[0];
  if (fastest === undefined) return null;
  const spread = (r: RankedPoint) => objectiveSpread(r.record, objective);
  const equals = ranked.filter((r) =>
    fastest.objective_gib_s - r.objective_gib_s <= spread(fastest) + spread(r)
  );
  const lanes = (r: RankedPoint) => Math.max(1, r.record.point.io_parallel ?? 1);
  const inFlight = (r: RankedPoint) => r.record.point.queue_depth * lanes(r);
  const pick =
    [...equals].sort((a, b) =>
      inFlight(a) - inFlight(b) || lanes(a) - lanes(b) || b.objective_gib_s - a.objective_gib_s
    )[0];
  return {
    ...asBest(pick, useGds),
    rule: recommend_rule,
    fastest_key: fastest.record.key,
    within_spread: equals.map((r) => r.record.key),
  };
}

/**
 * What --config_out holds: DeepSpeed's `aio` section of the recommended config (one line, as
 * Python's json.dumps writes it), and beside it an `aiobench_sweep` note saying how it was
 * chosen (DeepSpeed reads only the keys it knows).
 */
export function configOutJson(doc: SweepDocument): string {
  const r = doc.recommended!;
  const note = {
    objective: doc.objective,
    recommended: r.key,
    fastest: r.fastest_key,
    within_spread_of_fastest: r.within_spread.length,
    rule: r.rule,
  };
  const aio = deepSpeedAioJson(r.deepspeed);
  return `${aio.slice(0, -1)}, "aiobench_sweep": ${pythonJson(note)}}`;
}

/** JSON with Python's json.dumps spacing (`{"a": 1, "b": "x"}`), for flat objects. */
function pythonJson(value: Record<string, string | number>): string {
  const items = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{${items.join(", ")}}`;
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
    best: top === undefined ? null : asBest(top, useGds),
    recommended: recommend(ranked, objective, useGds),
    ranking: ranked.map((r, i) => ({
      rank: i + 1,
      key: r.record.key,
      objective_gib_s: r.objective_gib_s,
      below_best_pct: r.below_best_pct,
    })),
    records: outcome.records,
  };
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
  const equals = new Set(doc.recommended?.within_spread ?? []);
  for (const entry of doc.ranking.slice(0, top)) {
    const r = byKey.get(entry.key)!;
    const versus = (entry.rank === 1 ? "best" : `-${entry.below_best_pct.toFixed(1)}%`) +
      (entry.key === doc.recommended?.key
        ? " recommended"
        : equals.has(entry.key) && entry.rank > 1
        ? " ="
        : "");
    lines.push(
      `${String(entry.rank).padEnd(4)}  ${entry.key.padEnd(width)}  ${
        spreadText(r.read).padStart(12)
      }  ${spreadText(r.write).padStart(12)}  ${
        entry.objective_gib_s.toFixed(2).padStart(7)
      }  ${versus}`,
    );
  }
  lines.push("", ...noiseLines(doc), ...bestLines(doc));
  return lines;
}

/** Which configs are statistically equal to the fastest, and the rule that picked among them. */
function noiseLines(doc: SweepDocument): string[] {
  const r = doc.recommended;
  if (r === null || doc.ranking.length < 2) return [];
  const others = r.within_spread.length - 1;
  if (others === 0) {
    return ["the fastest is ahead of every other config by more than the loop-to-loop spread"];
  }
  return [
    `${others} other config(s) are within the loop-to-loop spread of the fastest (the gap is ` +
    "under their combined std. deviations): statistically they are equals",
    `the recommendation follows a stated rule: ${r.rule}`,
  ];
}

function pointText(p: SweepPoint): string {
  return `block_size ${formatSize(p.block_size)}, queue_depth ${p.queue_depth}, ` +
    `overlap_events ${p.overlap_events}, single_submit ${p.single_submit}, ` +
    `io_parallel ${p.io_parallel ?? "unset (sync)"}`;
}

function bestLines(doc: SweepDocument): string[] {
  const best = doc.best!;
  const r = doc.recommended!;
  const of = doc.complete ? "" : ` of the ${doc.records.length} measured`;
  const lines = [
    `fastest${of}: ${pointText(best.point)} -> ${best.objective_gib_s.toFixed(2)} GiB/s ` +
    doc.objective,
  ];
  lines.push(
    r.key === best.key
      ? `recommended: the fastest`
      : `recommended: ${pointText(r.point)} -> ${r.objective_gib_s.toFixed(2)} GiB/s ` +
        `${doc.objective} (within the spread of the fastest, with fewer IOs in flight)`,
    `DeepSpeed: ${deepSpeedAioJson(r.deepspeed)}`,
  );
  return lines;
}
