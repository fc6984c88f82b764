/**
 * `--csv FILE`: one row per recorded point, in grid order.
 *
 * @module
 */
import { objectiveGibS, type SweepDocument } from "./rank.ts";
import type { SweepOpStats } from "./record.ts";

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
