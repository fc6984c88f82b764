/**
 * Aggregation as ds_aio does it, and the outputs: ds_aio's four lines per op, a table, and the
 * `aiobench/1` JSON document.
 *
 * @module
 */
import { mergeHistograms, summarize } from "../common/histogram.ts";
import { formatBytesHuman, formatSize } from "../common/size.ts";
import { workerIntervals } from "./intervals.ts";
import type {
  BenchConfig,
  BenchResult,
  OpResult,
  WorkerResult,
  Workload,
} from "../common/types.ts";

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
    ios_per_call: iosPerCall(workers, ios),
    ring_setup_flags: workers[0]?.ringSetupFlags ?? [],
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

/**
 * `--validate`'s verdict over one workload's workers: ok only when every worker checked its
 * whole buffer against its file and no byte differed.
 */
export function validationVerdict(workers: WorkerResult[]): NonNullable<OpResult["validate"]> {
  const checked = workers.filter((w) => w.validation !== undefined);
  const bad = checked.find((w) => w.validation!.mismatch !== null);
  return {
    ok: bad === undefined && checked.length === workers.length && checked.length > 0,
    workers: checked.length,
    bytes_per_worker: checked[0]?.validation?.bytes ?? 0,
    files: [...new Set(checked.map((w) => w.path))],
    unchecked_workers: workers.length - checked.length,
    first_mismatch: bad === undefined ? null : {
      worker: bad.worker,
      path: bad.path,
      offset: bad.validation!.mismatch!.offset,
      message: bad.validation!.mismatch!.message,
    },
  };
}

/**
 * The verdict as one line: `validate: read 2 × 1.00 GiB against the file: ok`, or the first
 * mismatch with its worker, file and offset.
 */
export function validationLine(r: OpResult): string | undefined {
  const v = r.validate;
  if (v === undefined) return undefined;
  const against = v.files.length === 1 ? "the file" : `${v.files.length} files`;
  const what = `validate: ${r.op} ${v.workers} × ${formatBytesHuman(v.bytes_per_worker)} ` +
    `against ${against}`;
  if (v.first_mismatch !== null) return `${what}: MISMATCH: ${v.first_mismatch.message}`;
  if (v.workers === 0) return `validate: ${r.op}: not checked (the run was stopped first)`;
  if (v.unchecked_workers > 0) {
    return `${what}: ok, but ${v.unchecked_workers} worker(s) stopped before checking`;
  }
  return `${what}: ok`;
}

/** Engine calls and t/io_uring's IOS/call (submitted and completed IOs per call). */
function iosPerCall(workers: WorkerResult[], ios: number): OpResult["ios_per_call"] {
  const calls = workers.reduce((s, w) => s + w.enterCalls, 0);
  const sqes = workers.reduce((s, w) => s + w.sqesSubmitted, 0);
  return {
    calls,
    submitted: calls > 0 ? sqes / calls : 0,
    completed: calls > 0 ? ios / calls : 0,
  };
}

/** "IOS/call 31.5 submitted / 0.97 completed over 1056 engine calls (t/io_uring's IOS/call)" */
export function iosPerCallLine(r: OpResult): string | undefined {
  const c = r.ios_per_call;
  if (!c || c.calls === 0) return undefined;
  const flags = r.ring_setup_flags?.length ? `; ring setup ${r.ring_setup_flags.join("|")}` : "";
  return `${r.op}: IOS/call ${c.submitted.toFixed(2)} submitted / ${
    c.completed.toFixed(2)
  } completed over ${c.calls} engine calls${flags}`;
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

/** The latency unit of the table: ms when any latency shown is 10 ms or more, else us. */
function latencyUnit(values: (number | undefined)[]): "us" | "ms" {
  return values.some((us) => us !== undefined && us >= 10_000) ? "ms" : "us";
}

/** A latency in the table's unit, with about three significant digits. */
function latencyIn(us: number | undefined, unit: "us" | "ms"): string {
  if (us === undefined) return "-";
  const value = unit === "ms" ? us / 1000 : us;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : value >= 1 ? 2 : 3;
  return value.toFixed(digits);
}

/**
 * The human table: op, GiB/s, IOPS, latency percentiles, CPU per IO. Every column has one
 * unit, named in its header; the latency columns share theirs (ms when any of them is ≥ 10 ms).
 */
export function table(results: OpResult[]): string[] {
  const latencyColumns = [
    ["p50", (r: OpResult) => r.latency_us?.p50],
    ["p99", (r: OpResult) => r.latency_us?.p99],
    ["p99.9", (r: OpResult) => r.latency_us?.p99_9],
    ["max", (r: OpResult) => r.latency_us?.max],
  ] as const;
  const unit = latencyUnit(results.flatMap((r) => latencyColumns.map(([, get]) => get(r))));
  const head = [
    "op",
    "GiB/s",
    "IOPS",
    ...latencyColumns.map(([name]) => `${name} ${unit}`),
    "CPU us/IO",
    "errors",
  ];
  const rows = results.map((r) => [
    r.op + (r.partial ? " (partial)" : ""),
    fixed(r.task_gib_s, 3),
    Math.round(r.iops).toString(),
    ...latencyColumns.map(([, get]) => latencyIn(get(r), unit)),
    fixed(r.cpu.cpu_us_per_io, 1),
    r.errors.toString(),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...rows.map(line)];
}

function seconds(s: number): string {
  return Number.isInteger(s) ? `${s}s` : `${s}s`.replace(/(\.\d{3})\d+s$/, "$1s");
}

/**
 * The settings a run used, in one line for under the report's header (the same whether they
 * came from flags or from the defaults of the tool the command line is modelled on).
 *
 * @example
 * ```ts
 * // settings: block 1M, queue depth 32, submit in batches, overlap on, io_parallel 1 (async
 * // pread/pwrite + wait), 3 loops + 1 warm-up, buffer 1.00 GiB per worker, engine aio_handle on io_uring
 * ```
 */
export function settingsLine(
  config: BenchConfig,
  run: {
    engine?: string;
    ioSizeBytes?: number;
    /** Bytes per worker per loop of each op, when they differ (ds_aio's read + write pair). */
    opSizes?: Array<[string, number]>;
    source?: string;
  },
): string {
  const c = config;
  const parallel = c.dsEngine === "aio_basic"
    ? "one context per call"
    : c.ioParallel === undefined
    ? "io_parallel unset (sync read/write)"
    : `io_parallel ${c.ioParallel} (async pread/pwrite + wait)`;
  const timed = c.timeBased && c.runtimeS !== undefined ? ` of ${seconds(c.runtimeS)}` : "";
  const warm = c.warmupLoops > 0 ? ` + ${c.warmupLoops} warm-up` : "";
  const ramp = c.rampTimeS > 0 ? ` + ${seconds(c.rampTimeS)} ramp` : "";
  const size = c.ioSizeBytes ?? run.ioSizeBytes;
  const lanes = Math.max(1, c.ioParallel ?? 0);
  const sizes = new Set((run.opSizes ?? []).map(([, bytes]) => bytes));
  const sizeText = sizes.size > 1
    ? run.opSizes!.map(([op, bytes]) => `${formatBytesHuman(bytes)} (${op})`).join(", ")
    : size === undefined
    ? "io_size"
    : formatBytesHuman(size);
  const buffer = c.gpu
    ? `GPU buffer of ${sizeText} per worker`
    : c.slotBuffers
    ? `buffer of ${formatBytesHuman(lanes * c.queueDepth * c.blockSizeBytes)} per worker (slots)`
    : `buffer of ${sizeText} per worker`;
  const extras = [
    c.mlock ? "mlocked" : "",
    c.hugePages ? "huge pages" : "",
    c.kernelPageOrder ? "kernel page order" : "",
  ].filter((x) => x);
  const engine = `engine ${c.dsEngine ?? "aio_handle"} on ${run.engine ?? c.engine}` +
    (c.buffered ? ", buffered" : "");
  const parts = [
    `block ${formatSize(c.blockSizeBytes)}`,
    `queue depth ${c.queueDepth}`,
    c.singleSubmit ? "submit one at a time" : "submit in batches",
    `overlap ${c.overlapEvents ? "on" : "off"}`,
    parallel,
    `${c.threads} worker(s)`,
    `${c.loops} loop(s)${timed}${warm}${ramp}`,
    buffer + (extras.length > 0 ? ` (${extras.join(", ")})` : ""),
    engine,
  ];
  return `settings: ${parts.join(", ")}${run.source ? `; defaults from ${run.source}` : ""}`;
}

/** The human report: ds_aio lines for each op, then the table. */
export function humanReport(result: BenchResult): string[] {
  const lines: string[] = [];
  for (const r of result.results) lines.push(...dsAioLines(r));
  lines.push("", ...table(result.results));
  for (const r of result.results) {
    const verdict = validationLine(r);
    if (verdict !== undefined) lines.push(verdict);
  }
  if (result.partial) lines.push("(partial: the run was stopped before it finished)");
  return lines;
}
