/**
 * `aiobench compare`: the fio job that does what an aiobench run does, and the side-by-side
 * table of their medians. Pure functions; lib/compare/command.ts runs the rounds.
 *
 * @module
 */
import type { FioOptions, FioResult } from "./fio.ts";
import { UsageError } from "../common/size.ts";
import type { BenchConfig, OpResult, Workload } from "../common/types.ts";

/** What one side measured in one round (aiobench or fio), in the units of the table. */
export interface Sample {
  gibS: number;
  iops: number;
  /** Completion latency percentiles in µs; null when not measured. */
  p50Us: number | null;
  p99Us: number | null;
  /** CPU seconds (user + system) per IO, in µs; null when unknown. */
  cpuUsPerIo: number | null;
}

/** The table's rows, in order, with whether a larger value is better. */
export const METRICS = [
  { key: "gibS", label: "GiB/s", higherIsBetter: true, digits: 3 },
  { key: "iops", label: "IOPS", higherIsBetter: true, digits: 0 },
  { key: "p50Us", label: "p50 (us)", higherIsBetter: false, digits: 1 },
  { key: "p99Us", label: "p99 (us)", higherIsBetter: false, digits: 1 },
  { key: "cpuUsPerIo", label: "CPU/IO (us)", higherIsBetter: false, digits: 2 },
] as const satisfies readonly {
  key: keyof Sample;
  label: string;
  higherIsBetter: boolean;
  digits: number;
}[];

/** One row of the comparison: medians over rounds and aiobench / fio. */
export interface CompareRow {
  metric: keyof Sample;
  label: string;
  aiobench: number | null;
  fio: number | null;
  /** aiobench / fio; null when either side is missing or fio's is 0. */
  ratio: number | null;
  higherIsBetter: boolean;
}

/** The median of the numbers (nulls ignored); null when there are none. */
export function median(values: (number | null)[]): number | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) =>
    a - b
  );
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** aiobench / fio, or null when it can't be computed. */
export function ratio(aiobench: number | null, fio: number | null): number | null {
  if (aiobench === null || fio === null || fio === 0) return null;
  return aiobench / fio;
}

/** Medians of each metric over the rounds, side by side, with the ratio. */
export function compareRows(aiobench: Sample[], fio: Sample[]): CompareRow[] {
  return METRICS.map((m) => {
    const a = median(aiobench.map((s) => s[m.key]));
    const f = median(fio.map((s) => s[m.key]));
    return {
      metric: m.key,
      label: m.label,
      aiobench: a,
      fio: f,
      ratio: ratio(a, f),
      higherIsBetter: m.higherIsBetter,
    };
  });
}

/** The table as text lines. */
export function compareTable(rows: CompareRow[]): string[] {
  const digits = new Map<string, number>(METRICS.map((m) => [m.key, m.digits]));
  const show = (v: number | null, d: number) => (v === null ? "-" : v.toFixed(d));
  const cells = rows.map((r) => [
    r.label,
    show(r.aiobench, digits.get(r.metric)!),
    show(r.fio, digits.get(r.metric)!),
    r.ratio === null ? "-" : `${r.ratio.toFixed(2)}x`,
    r.higherIsBetter ? "higher is better" : "lower is better",
  ]);
  const head = ["metric", "aiobench", "fio", "aiobench/fio", ""];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 || i === 4 ? x.padEnd(widths[i]) : x.padStart(widths[i])))
      .join("  ").trimEnd();
  return [line(head), ...cells.map(line)];
}

/** aiobench's numbers for one workload. */
export function sampleFromAiobench(r: OpResult): Sample {
  const ios = r.latency_us?.count ?? 0;
  return {
    gibS: r.task_gib_s,
    iops: r.iops,
    p50Us: ios > 0 ? r.latency_us!.p50 : null,
    p99Us: ios > 0 ? r.latency_us!.p99 : null,
    cpuUsPerIo: r.cpu.cpu_us_per_io > 0 ? r.cpu.cpu_us_per_io : null,
  };
}

/** fio's numbers, summed over its jobs (read + write for mixed workloads). */
export function sampleFromFio(r: FioResult): Sample {
  return {
    gibS: r.readGiBs + r.writeGiBs,
    iops: r.iops,
    p50Us: r.latencyUs.p50,
    p99Us: r.latencyUs.p99,
    cpuUsPerIo: r.cpuSecondsPerIo === null ? null : r.cpuSecondsPerIo * 1e6,
  };
}

/** The fio job for one aiobench workload: FioOptions plus the options fioArgs doesn't know. */
export interface FioJob {
  options: FioOptions;
  /** Extra fio arguments (batching, vectored IO, loops, per-worker files, time). */
  extraArgs: string[];
  /**
   * With io_parallel lanes and several workers: one fio job section per lane, at these offsets,
   * each with `numjobs = threads` (every worker covers every slice, as aiobench's do).
   */
  laneOffsets?: number[];
}

/**
 * The fio job that does what aiobench does with `config` on `paths` (one per worker):
 * each aiobench worker is a fio job (numjobs = threads; several workers on one read file read
 * it in parallel, as fio's jobs do); io_parallel lanes split each request into contiguous
 * slices (fio: one job per slice, offset_increment); overlap_events off (batch submit, then
 * reap them all) is iodepth_batch_submit = iodepth_batch_complete_min = queue_depth; random
 * offsets are uniform with repeats (norandommap); READ vs READV follows --nonvectored.
 */
export function fioJobFor(
  config: BenchConfig,
  target: {
    workload: Workload;
    paths: string[];
    ioSizeBytes: number;
    engine: FioOptions["engine"];
  },
): FioJob {
  const lanes = config.ioParallel ?? 1;
  const sections = lanes > 1 && config.threads > 1;
  const perWorkerFile = new Set(target.paths).size > 1;
  const slice = Math.floor(target.ioSizeBytes / lanes / config.blockSizeBytes) *
    config.blockSizeBytes;
  if (slice === 0) {
    throw new UsageError(
      `compare: --io_size ${target.ioSizeBytes} is smaller than --io_parallel ${lanes} blocks`,
    );
  }
  const options: FioOptions = {
    file: target.paths[0],
    rw: target.workload,
    blockSizeBytes: config.blockSizeBytes,
    queueDepth: config.queueDepth,
    numjobs: sections ? config.threads : config.threads * lanes,
    sizeBytes: lanes > 1 ? slice : target.ioSizeBytes,
    timeBased: config.timeBased && config.runtimeS !== undefined,
    direct: !config.buffered,
    engine: target.engine,
    rwmixread: config.rwmixread,
    fixedbufs: config.fixedbufs,
    registerfiles: config.registerfiles,
    sqthreadPoll: config.sqthreadPoll,
    hipri: config.hipri,
  };
  // Total latency percentiles (submission + completion), as aiobench measures latency.
  const extra: string[] = [`--loops=${config.loops}`, "--lat_percentiles=1"];
  if (lanes > 1 && !sections) extra.push(`--offset_increment=${slice}`);
  if (perWorkerFile) {
    // aiobench worker i writes <write_file>.<i>; fio's $jobnum counts from 0 as well.
    const base = target.paths[0].replace(/\.0$/, "");
    extra.push(`--filename_format=${base}.$jobnum`);
  }
  if (config.runtimeS !== undefined) {
    extra.push(`--runtime=${Math.round(config.runtimeS * 1000)}ms`);
  }
  if (config.rampTimeS > 0) extra.push(`--ramp_time=${Math.round(config.rampTimeS * 1000)}ms`);
  if (target.workload.startsWith("rand")) extra.push("--norandommap", "--randrepeat=0");
  if (target.engine === "io_uring") extra.push(`--nonvectored=${config.nonvectored ? 1 : 0}`);
  if (config.sqthreadPollCpu !== undefined) {
    extra.push(`--sqthread_poll_cpu=${config.sqthreadPollCpu}`);
  }
  if (target.engine !== "psync") {
    if (config.singleSubmit) extra.push("--iodepth_batch_submit=1");
    else if (!config.overlapEvents) extra.push(`--iodepth_batch_submit=${config.queueDepth}`);
    if (!config.overlapEvents) extra.push(`--iodepth_batch_complete_min=${config.queueDepth}`);
  }
  const laneOffsets = sections ? [...Array(lanes).keys()].map((k) => k * slice) : undefined;
  return { options, extraArgs: extra, laneOffsets };
}

/**
 * The fio command line: replaces `--filename=` when a per-worker file pattern is given (fio
 * prefers --filename); with `laneOffsets`, every option becomes global and one job section per
 * lane follows (`--name=aiobench_laneK --offset=...`).
 */
export function fioCommandArgs(base: string[], extra: string[], laneOffsets?: number[]): string[] {
  const perWorker = extra.some((a) => a.startsWith("--filename_format="));
  const args = [...base.filter((a) => !(perWorker && a.startsWith("--filename="))), ...extra];
  if (!laneOffsets) return args;
  const globals = args.filter((a) => !a.startsWith("--name="));
  return [
    ...globals,
    ...laneOffsets.flatMap((o, k) => [`--name=aiobench_lane${k}`, `--offset=${o}`]),
  ];
}
