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
  /** Under MPI: the job every point ran across (each point's numbers are the ranks' together). */
  mpi?: MpiJob;
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
    const ops: readonly ("read" | "write")[] = doc.objective === "sum" ? both_ops : [doc.objective];
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
