/**
 * Running fio as a reference next to aiobench: build its command line, run it, read its JSON.
 *
 * ```ts
 * import { runFio } from "./fio.ts";
 * const r = await runFio({ file: "/mnt/x/f", rw: "read", blockSizeBytes: 1 << 20, queueDepth: 8,
 *   numjobs: 1, sizeBytes: 64 << 20, direct: true, engine: "io_uring" });
 * console.log(r.readGiBs, r.latencyUs.p99);
 * ```
 */

import { io_uring_only, workloads } from "../common/limits.ts";
import type { Workload } from "../common/types.ts";

/** One fio job, described the way aiobench describes a run. */
export interface FioOptions {
  file: string;
  rw: Workload;
  blockSizeBytes: number;
  queueDepth: number;
  numjobs: number;
  sizeBytes: number;
  runtimeS?: number;
  timeBased?: boolean;
  direct: boolean;
  engine: "io_uring" | "libaio" | "psync";
  /** Percentage of reads for `randrw` (fio's default is 50). */
  rwmixread?: number;
  fixedbufs?: boolean;
  registerfiles?: boolean;
  sqthreadPoll?: boolean;
  hipri?: boolean;
}

/** Completion latency ("clat") in microseconds; null when the op did no IO. */
export interface FioLatencyUs {
  p50: number | null;
  p99: number | null;
  mean: number | null;
  min: number | null;
  max: number | null;
}

/** What aiobench keeps from one fio run (all jobs summed, as with `group_reporting`). */
export interface FioResult {
  fioVersion: string | null;
  readBytes: number;
  writeBytes: number;
  /** Bandwidth in GiB/s (2^30 bytes per second), fio's `bw_bytes`. */
  readGiBs: number;
  writeGiBs: number;
  /** Read plus write IOPS. */
  iops: number;
  /** Which op `latencyUs` describes: the one with more IOs (read on a tie); null if none. */
  latencyOp: "read" | "write" | null;
  latencyUs: FioLatencyUs;
  /** fio's `usr_cpu`/`sys_cpu`: percent of the job's runtime (runtime-weighted over jobs). */
  cpuUserPct: number;
  cpuSysPct: number;
  /** The longest op runtime over jobs, in seconds. */
  runtimeS: number;
  /** CPU seconds (user + system) spent per completed IO; null when no IO completed. */
  cpuSecondsPerIo: number | null;
}

const GIB = 2 ** 30;

function assertPositiveInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`fio option ${name}=${value} must be a positive integer`);
  }
}

/**
 * The arguments (without the `fio` binary) for one job, with `--output-format=json`.
 *
 * ```ts
 * fioArgs({ file: "f", rw: "read", blockSizeBytes: 4096, queueDepth: 32, numjobs: 1,
 *   sizeBytes: 1 << 26, direct: true, engine: "io_uring" });
 * // ["--name=aiobench", "--filename=f", "--rw=read", "--bs=4096", "--iodepth=32", ...]
 * ```
 */
export function fioArgs(opts: FioOptions): string[] {
  if (!opts.file) {
    throw new TypeError("fio option file is empty; pass the path of the file to test");
  }
  if (!workloads.includes(opts.rw)) {
    throw new RangeError(`fio option rw=${opts.rw} is not one of ${workloads.join(", ")}`);
  }
  assertPositiveInt("blockSizeBytes", opts.blockSizeBytes);
  assertPositiveInt("queueDepth", opts.queueDepth);
  assertPositiveInt("numjobs", opts.numjobs);
  assertPositiveInt("sizeBytes", opts.sizeBytes);
  for (const { key } of io_uring_only) {
    if ((opts as unknown as Record<string, unknown>)[key] && opts.engine !== "io_uring") {
      throw new RangeError(`fio option ${key} needs engine io_uring, not ${opts.engine}`);
    }
  }
  const args = [
    "--name=aiobench",
    `--filename=${opts.file}`,
    `--rw=${opts.rw}`,
    `--bs=${opts.blockSizeBytes}`,
    `--ioengine=${opts.engine}`,
    // psync is synchronous: a deeper queue would only be ignored by fio.
    `--iodepth=${opts.engine === "psync" ? 1 : opts.queueDepth}`,
    `--numjobs=${opts.numjobs}`,
    `--size=${opts.sizeBytes}`,
    `--direct=${opts.direct ? 1 : 0}`,
  ];
  if (opts.runtimeS !== undefined) {
    assertPositiveInt("runtimeS", opts.runtimeS);
    args.push(`--runtime=${opts.runtimeS}`);
  }
  if (opts.timeBased) args.push("--time_based");
  if (opts.rw === "randrw" && opts.rwmixread !== undefined) {
    if (!(opts.rwmixread >= 0 && opts.rwmixread <= 100)) {
      throw new RangeError(`fio option rwmixread=${opts.rwmixread} must be within 0..100`);
    }
    args.push(`--rwmixread=${opts.rwmixread}`);
  }
  if (opts.fixedbufs) args.push("--fixedbufs");
  if (opts.registerfiles) args.push("--registerfiles");
  if (opts.sqthreadPoll) args.push("--sqthread_poll");
  if (opts.hipri) args.push("--hipri");
  args.push("--group_reporting", "--output-format=json");
  return args;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function num(obj: Json, key: string, where: string): number {
  const value = obj[key];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error(`fio JSON: ${where}.${key} is ${JSON.stringify(value)}, expected a number`);
  }
  return value;
}

function obj(parent: Json, key: string, where: string): Json {
  const value = parent[key];
  if (!isObject(value)) {
    throw new Error(`fio JSON: ${where}.${key} is missing or not an object`);
  }
  return value;
}

/** The percentile whose key ("99.000000") is numerically `pct`, or null. */
function percentile(table: unknown, pct: number): number | null {
  if (!isObject(table)) return null;
  for (const [key, value] of Object.entries(table)) {
    if (Number(key) === pct && typeof value === "number") return value;
  }
  return null;
}

interface OpStats {
  bytes: number;
  bwBytes: number;
  iops: number;
  ios: number;
  runtimeMs: number;
  clat: Json;
}

function opStats(job: Json, op: "read" | "write", where: string): OpStats {
  const stats = obj(job, op, where);
  const at = `${where}.${op}`;
  return {
    bytes: num(stats, "io_bytes", at),
    bwBytes: num(stats, "bw_bytes", at),
    iops: num(stats, "iops", at),
    ios: num(stats, "total_ios", at),
    runtimeMs: num(stats, "runtime", at),
    clat: totalLatency(stats, at),
  };
}

/**
 * fio's total latency (`lat_ns`: submission + completion) when it has percentiles (the job ran
 * with `--lat_percentiles=1`), as aiobench measures from before submission to the reap;
 * otherwise `clat_ns` (completion latency only, fio's default report).
 */
function totalLatency(stats: Json, at: string): Json {
  const lat = stats.lat_ns;
  const hasPercentiles = typeof lat === "object" && lat !== null && !Array.isArray(lat) &&
    typeof (lat as Json).percentile === "object";
  return hasPercentiles ? (lat as Json) : obj(stats, "clat_ns", at);
}

/** Latency of one op over jobs; with several jobs, percentiles are IO-weighted (approximate). */
function latencyUs(ops: OpStats[]): FioLatencyUs {
  let ios = 0, meanSum = 0, p50Sum = 0, p99Sum = 0;
  let min = Infinity, max = -Infinity, havePercentiles = true;
  for (const op of ops) {
    if (op.ios === 0) continue;
    const at = "jobs[].lat_ns or clat_ns";
    const table = op.clat.percentile;
    const p50 = percentile(table, 50), p99 = percentile(table, 99);
    if (p50 === null || p99 === null) havePercentiles = false;
    ios += op.ios;
    meanSum += num(op.clat, "mean", at) * op.ios;
    p50Sum += (p50 ?? 0) * op.ios;
    p99Sum += (p99 ?? 0) * op.ios;
    min = Math.min(min, num(op.clat, "min", at));
    max = Math.max(max, num(op.clat, "max", at));
  }
  if (ios === 0) return { p50: null, p99: null, mean: null, min: null, max: null };
  return {
    p50: havePercentiles ? p50Sum / ios / 1000 : null,
    p99: havePercentiles ? p99Sum / ios / 1000 : null,
    mean: meanSum / ios / 1000,
    min: min / 1000,
    max: max / 1000,
  };
}

/** fio may print warnings ("fio: ...") before the JSON document on stdout. */
function parseDocument(text: string): Json {
  const start = text.search(/^\{/m);
  if (start < 0) {
    const head = JSON.stringify(text.slice(0, 80));
    throw new Error(`fio output is not JSON (no '{' at the start of a line): ${head}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text.slice(start));
  } catch (e) {
    throw new Error(
      `fio output is not valid JSON (${(e as Error).message}); ran fio with --output-format=json?`,
    );
  }
  if (!isObject(doc)) throw new Error("fio output is JSON but not an object");
  return doc;
}

/**
 * Reads fio's `--output-format=json` output (any number of jobs, with or without
 * `group_reporting`). Throws an Error naming the missing or malformed field.
 */
export function parseFioJson(text: string): FioResult {
  const doc = parseDocument(text);
  const jobs = doc.jobs;
  if (!Array.isArray(jobs) || jobs.length === 0) {
    throw new Error(
      "fio JSON: 'jobs' is missing or empty; is this fio --output-format=json output?",
    );
  }
  const reads: OpStats[] = [], writes: OpStats[] = [];
  let cpuSeconds = 0, jobRuntimeMs = 0, userWeighted = 0, sysWeighted = 0;
  jobs.forEach((job: unknown, i) => {
    const where = `jobs[${i}]`;
    if (!isObject(job)) throw new Error(`fio JSON: ${where} is not an object`);
    const error = num(job, "error", where);
    if (error !== 0) throw new Error(`fio job ${job.jobname ?? i} failed with error ${error}`);
    reads.push(opStats(job, "read", where));
    writes.push(opStats(job, "write", where));
    const runtimeMs = num(job, "job_runtime", where);
    const user = num(job, "usr_cpu", where), sys = num(job, "sys_cpu", where);
    // usr_cpu/sys_cpu are percent of job_runtime (summed over the group's jobs).
    cpuSeconds += (user + sys) / 100 * runtimeMs / 1000;
    userWeighted += user * runtimeMs;
    sysWeighted += sys * runtimeMs;
    jobRuntimeMs += runtimeMs;
  });
  const sum = (ops: OpStats[], f: (op: OpStats) => number) => ops.reduce((a, op) => a + f(op), 0);
  const readIos = sum(reads, (op) => op.ios), writeIos = sum(writes, (op) => op.ios);
  const latencyOp = readIos + writeIos === 0 ? null : readIos >= writeIos ? "read" : "write";
  const runtimeMs = Math.max(
    ...reads.map((op) => op.runtimeMs),
    ...writes.map((op) => op.runtimeMs),
  );
  const version = doc["fio version"];
  return {
    fioVersion: typeof version === "string" ? version : null,
    readBytes: sum(reads, (op) => op.bytes),
    writeBytes: sum(writes, (op) => op.bytes),
    readGiBs: sum(reads, (op) => op.bwBytes) / GIB,
    writeGiBs: sum(writes, (op) => op.bwBytes) / GIB,
    iops: sum(reads, (op) => op.iops) + sum(writes, (op) => op.iops),
    latencyOp,
    latencyUs: latencyUs(latencyOp === "write" ? writes : reads),
    cpuUserPct: jobRuntimeMs > 0 ? userWeighted / jobRuntimeMs : 0,
    cpuSysPct: jobRuntimeMs > 0 ? sysWeighted / jobRuntimeMs : 0,
    runtimeS: runtimeMs / 1000,
    cpuSecondsPerIo: readIos + writeIos > 0 ? cpuSeconds / (readIos + writeIos) : null,
  };
}

/** The path of an executable `fio` on PATH, or null. */
export function findFio(): string | null {
  const dirs = (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":");
  for (const dir of dirs) {
    if (!dir) continue;
    const path = `${dir}/fio`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // Not in this directory.
    }
  }
  return null;
}

/** Where fio is and how long it may run. */
export interface RunFioOptions {
  /** The fio binary; default `findFio()`. */
  fioPath?: string;
  /** Kill fio after this long; default runtime + 60 s, or 600 s. */
  timeoutMs?: number;
}

/** A fio run that failed: fio's own error, or it ran past its time bound and was killed. */
export class FioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FioError";
  }
}

/** How long a fio job may run: its runtime and ramp plus a minute, or 600 s without a runtime. */
export function fioTimeoutMs(runtimeS: number | undefined, rampTimeS = 0): number {
  return ((runtimeS ?? 540) + rampTimeS + 60) * 1000;
}

/**
 * Runs fio with `args` (which must ask for `--output-format=json`) and returns its parsed result;
 * the one way aiobench runs fio. Killed after `timeoutMs`; throws `FioError` with fio's stderr.
 */
export async function runFioArgs(
  fio: string,
  args: string[],
  timeoutMs: number,
): Promise<FioResult> {
  const bound = AbortSignal.timeout(timeoutMs);
  const output = await new Deno.Command(fio, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: bound,
  }).output();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  const command = `${fio} ${args.join(" ")}`;
  if (bound.aborted) {
    throw new FioError(
      `fio ran longer than ${
        (timeoutMs / 1000).toFixed(timeoutMs < 10_000 ? 1 : 0)
      } s, its bound, and was stopped (${command})`,
    );
  }
  if (!output.success) {
    const why = output.signal ? `was killed by ${output.signal}` : `exited with ${output.code}`;
    throw new FioError(`fio ${why} (${command}): ${stderr.slice(-500) || "no stderr"}`);
  }
  return parseFioJson(new TextDecoder().decode(output.stdout));
}

/** Runs fio for one job and returns its parsed result; throws with fio's stderr on failure. */
export function runFio(opts: FioOptions, run: RunFioOptions = {}): Promise<FioResult> {
  const fio = run.fioPath ?? findFio();
  if (fio === null) {
    throw new Error("fio not found on PATH; install it with scripts/install_fio.sh");
  }
  return runFioArgs(fio, fioArgs(opts), run.timeoutMs ?? fioTimeoutMs(opts.runtimeS));
}
