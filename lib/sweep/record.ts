/**
 * What the sweep records for one grid point: the point, each op's speed over its timed loops
 * (with the loop-to-loop spread), latency and errors; its stable key and one-line summary.
 *
 * @module
 */
import { mergeHistograms, summarize } from "../common/histogram.ts";
import { formatSize } from "../common/size.ts";
import type { BenchConfig, LatencySummary, OpResult } from "../common/types.ts";
import { isUserFacing } from "../run/run.ts";

const GIB = 2 ** 30;

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

/** One line for an error: the message's first line, named as internal when it is a bug. */
export function errorText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const line = message.split("\n")[0];
  return isUserFacing(e) || e instanceof Deno.errors.NotFound ? line : `internal error: ${line}`;
}
