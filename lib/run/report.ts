/**
 * Aggregation as ds_aio does it, and the outputs: ds_aio's four lines per op, a table, and the
 * `aiobench/1` JSON document.
 *
 * @module
 */
import { mergeHistograms, summarize } from "../common/histogram.ts";
import { workerIntervals } from "./intervals.ts";
import type { BenchResult, OpResult, WorkerResult, Workload } from "../common/types.ts";

const GIB = 2 ** 30;

/** The whole run's process CPU over the timed region, when the caller measured it. */
export interface ProcessCpu {
  user_s: number;
  sys_s: number;
}

/**
 * ds_aio's aggregation: bytes = Σ over workers, Task (E2E) latency = the largest per-worker
 * task (E2E) time, speed = bytes / latency / 2^30.
 */
export function aggregate(op: Workload, workers: WorkerResult[], cpu?: ProcessCpu): OpResult {
  const bytes = workers.reduce((s, w) => s + w.bytes, 0);
  const ios = workers.reduce((s, w) => s + w.ios, 0);
  const task = Math.max(0, ...workers.map((w) => w.taskSeconds));
  const e2e = Math.max(0, ...workers.map((w) => w.e2eSeconds));
  const histogram = mergeHistograms(workers.map((w) => w.histogram));
  const withLatency = workers.filter((w) => w.histogram.length > 0);
  const latency = summarize(histogram, {
    minNs: Math.min(...withLatency.map((w) => w.latencyMinNs)),
    maxNs: Math.max(0, ...withLatency.map((w) => w.latencyMaxNs)),
    sumNs: withLatency.reduce((s, w) => s + w.latencySumNs, 0),
  });
  const threadsUser = workers.reduce((s, w) => s + w.cpuUserSeconds, 0);
  const threadsSys = workers.reduce((s, w) => s + w.cpuSystemSeconds, 0);
  const process = cpu ?? processCpuOf(workers);
  const user = process?.user_s ?? threadsUser;
  const sys = process?.sys_s ?? threadsSys;
  const cpuSeconds = user + sys;
  return {
    op,
    bytes,
    task_latency_s: task,
    task_gib_s: task > 0 ? bytes / task / GIB : 0,
    e2e_latency_s: e2e,
    e2e_gib_s: e2e > 0 ? bytes / e2e / GIB : 0,
    iops: task > 0 ? ios / task : 0,
    latency_us: latency,
    cpu: {
      user_s: user,
      sys_s: sys,
      ios_per_cpu_s: cpuSeconds > 0 ? ios / cpuSeconds : 0,
      cpu_us_per_io: ios > 0 ? (cpuSeconds * 1e6) / ios : 0,
      source: process ? "process" : "threads",
      threads_user_s: threadsUser,
      threads_sys_s: threadsSys,
    },
    errors: workers.reduce((s, w) => s + w.errors, 0),
    latency_histogram: histogram,
    partial: workers.some((w) => w.partial),
    workers: workers.map((w) => ({
      worker: w.worker,
      path: w.path,
      bytes: w.bytes,
      ios: w.ios,
      task_latency_s: w.taskSeconds,
      e2e_latency_s: w.e2eSeconds,
      errors: w.errors,
      cpu_user_s: w.cpuUserSeconds,
      cpu_sys_s: w.cpuSystemSeconds,
    })),
    intervals: workerIntervals(workers),
  };
}

/** Worker 0's reading of the process CPU over the timed region, when it took one. */
function processCpuOf(workers: WorkerResult[]): ProcessCpu | undefined {
  const w = workers.find((w) => w.processCpuUserSeconds !== undefined);
  if (!w || w.partial) return undefined;
  return { user_s: w.processCpuUserSeconds!, sys_s: w.processCpuSystemSeconds ?? 0 };
}

/** "Read" or "Write", as ds_aio names the op in its lines (random workloads keep their name). */
export function opTitle(op: Workload): string {
  const names: Record<Workload, string> = {
    read: "Read",
    write: "Write",
    randread: "RandRead",
    randwrite: "RandWrite",
    randrw: "RandRW",
  };
  return names[op];
}

/** ds_aio's four lines, exactly (scripts parse them). */
export function dsAioLines(r: OpResult): string[] {
  const op = opTitle(r.op);
  return [
    `Task ${op} Latency = ${r.task_latency_s} sec`,
    `Task ${op} Speed = ${r.task_gib_s} GB/sec`,
    `E2E ${op} Latency = ${r.e2e_latency_s} sec`,
    `E2E ${op} Speed = ${r.e2e_gib_s} GB/sec`,
  ];
}

function fixed(n: number | undefined | null, digits: number): string {
  return n === undefined || n === null ? "-" : n.toFixed(digits);
}

function latencyText(us: number | undefined): string {
  if (us === undefined) return "-";
  return us >= 10_000 ? `${(us / 1000).toFixed(1)}ms` : `${us.toFixed(us >= 100 ? 0 : 1)}us`;
}

/** The human table: op, GiB/s, IOPS, latency percentiles, CPU per IO. */
export function table(results: OpResult[]): string[] {
  const head = ["op", "GiB/s", "IOPS", "p50", "p99", "p99.9", "max", "CPU/IO", "errors"];
  const rows = results.map((r) => [
    r.op + (r.partial ? " (partial)" : ""),
    fixed(r.task_gib_s, 3),
    Math.round(r.iops).toString(),
    latencyText(r.latency_us?.p50),
    latencyText(r.latency_us?.p99),
    latencyText(r.latency_us?.p99_9),
    latencyText(r.latency_us?.max),
    `${fixed(r.cpu.cpu_us_per_io, 1)}us`,
    r.errors.toString(),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...rows.map(line)];
}

/** The human report: ds_aio lines for each op, then the table. */
export function humanReport(result: BenchResult): string[] {
  const lines: string[] = [];
  for (const r of result.results) lines.push(...dsAioLines(r));
  lines.push("", ...table(result.results));
  if (result.partial) lines.push("(partial: the run was stopped before it finished)");
  return lines;
}
