/**
 * Watching a run from the coordinator while it measures: the text of the live progress line
 * (current GiB/s and IOPS, the loop or "time-based", elapsed and remaining time) and the
 * `--log_interval` lines (time, GiB/s, IOPS, p99 per interval), both sampled from the tasklets'
 * live view (lib/tasklets/live.ts) without stopping them.
 *
 * @module
 */
import { quantileNs, type SparseHistogram } from "../common/histogram.ts";
import type { BenchConfig } from "../common/types.ts";
import type { LiveSample } from "../tasklets/live.ts";
import type { WorkloadStart } from "./run.ts";

const GIB = 2 ** 30;
const rate_window_ms = 1000;
const poll_ms = 20;

/** Seconds one workload of a time-based run takes (warm-up, ramp, timed loops), else undefined. */
export function workloadSeconds(config: BenchConfig): number | undefined {
  if (!config.timeBased || config.runtimeS === undefined) return undefined;
  return config.rampTimeS + (config.warmupLoops + config.loops) * config.runtimeS;
}

/** `m:ss` (or `h:mm:ss`) for a number of seconds. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** Options of `RunWatcher`. */
export interface WatchOptions {
  /** Receives each `--log_interval` line as its interval ends. */
  intervalLine?: (line: string) => void;
  /** Milliseconds clock (default `performance.now`). */
  now?: () => number;
}

interface Current {
  start: WorkloadStart;
  startedMs: number;
  history: LiveSample[];
  ticker?: IntervalTicker;
}

/** Follows a run workload by workload; `progressText()` samples the tasklets each call. */
export class RunWatcher {
  readonly #config: BenchConfig;
  readonly #options: WatchOptions;
  readonly #now: () => number;
  readonly #startMs: number;
  #phase = "starting";
  #current: Current | undefined;

  constructor(config: BenchConfig, options: WatchOptions = {}) {
    this.#config = config;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#startMs = this.#now();
  }

  /** What the run does before (or between) measured workloads, e.g. creating a read file. */
  phase(text: string): void {
    this.#phase = text;
    if (this.#current && !text.startsWith(`${this.#current.start.workload}:`)) {
      this.#endWorkload();
    }
  }

  /** A workload's tasklets start: follow them (and start its interval lines). */
  workloadStarted(start: WorkloadStart): void {
    this.#endWorkload();
    const current: Current = { start, startedMs: this.#now(), history: [start.view.sample()] };
    const interval = this.#config.logIntervalS;
    const print = this.#options.intervalLine;
    if (interval !== undefined && print !== undefined) {
      current.ticker = new IntervalTicker(start, interval, print, this.#now);
    }
    this.#current = current;
  }

  /** The progress line as of now. */
  progressText(): string {
    const elapsed = `elapsed ${clock((this.#now() - this.#startMs) / 1000)}`;
    const current = this.#current;
    if (current === undefined) return `${this.#phase}  ${elapsed}`;
    const sample = current.start.view.sample();
    current.history.push(sample);
    while (current.history.length > 2 && sample.atMs - current.history[1].atMs >= rate_window_ms) {
      current.history.shift();
    }
    const { start } = current;
    const first = current.history[0];
    const dt = (sample.atMs - first.atMs) / 1000;
    const rate = dt > 0 ? (sample.bytes - first.bytes) / dt : undefined;
    const iops = dt > 0 ? (sample.ios - first.ios) / dt : undefined;
    const numbers = rate === undefined
      ? "-.--- GiB/s  - IOPS"
      : `${(rate / GIB).toFixed(3)} GiB/s  ${Math.round(iops!)} IOPS`;
    const of = start.count > 1 ? `[${start.index + 1}/${start.count}] ` : "";
    const left = this.#left(current, sample, rate);
    return `${of}${start.workload}: ${this.#where(sample)}  ${numbers}  ${elapsed}  left ${left}`;
  }

  /** Stops the interval lines (the run ended or failed). */
  stop(): void {
    this.#endWorkload();
  }

  #endWorkload(): void {
    this.#current?.ticker?.stop();
    this.#current = undefined;
  }

  #where(sample: LiveSample): string {
    const c = this.#config;
    const lead = sample.workers[0];
    const phase = lead?.phase ?? "setup";
    const loop = Math.min(...sample.workers.filter((w) => w.phase === phase).map((w) => w.loop));
    if (phase === "setup") return "setting up";
    if (phase === "warmup") return `warm-up ${loop}/${c.warmupLoops}`;
    if (phase === "ramp") return "ramp";
    if (phase === "done") return "finishing";
    if (c.timeBased) return c.loops > 1 ? `time-based, loop ${loop}/${c.loops}` : "time-based";
    return `loop ${loop}/${c.loops}`;
  }

  /** Time left in the whole run: known for time-based runs, else bytes left at the current rate. */
  #left(current: Current, sample: LiveSample, rate: number | undefined): string {
    const { start } = current;
    const later = start.count - start.index - 1;
    const perWorkload = workloadSeconds(this.#config);
    if (perWorkload !== undefined) {
      const thisOne = perWorkload - (this.#now() - current.startedMs) / 1000;
      return clock(Math.max(0, thisOne) + later * perWorkload);
    }
    const loops = this.#config.warmupLoops + this.#config.loops;
    const planned = start.workers * start.ioSizeBytes * loops;
    if (rate === undefined || rate <= 0) return "?";
    const bytesLeft = Math.max(0, planned - sample.bytes) + later * planned;
    return `~${clock(bytesLeft / rate)}`;
  }
}

/**
 * One `--log_interval` line per interval of a workload's measured loops, and one for the last,
 * shorter interval (when it is at least a tenth of an interval, as in the JSON series).
 */
class IntervalTicker {
  readonly #start: WorkloadStart;
  readonly #intervalMs: number;
  readonly #print: (line: string) => void;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #origin: LiveSample | undefined;
  #previous: LiveSample | undefined;
  #count = 0;
  #stopped = false;

  constructor(
    start: WorkloadStart,
    intervalS: number,
    print: (line: string) => void,
    now: () => number,
  ) {
    this.#start = start;
    this.#intervalMs = intervalS * 1000;
    this.#print = print;
    this.#now = now;
    start.view.requestFinal();
    this.#poll = setInterval(() => this.#watch(), poll_ms);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    this.#start.view.releaseFinal();
  }

  /** Starts the series when every tasklet measures; ends it when every one is past that. */
  #watch(): void {
    if (this.#stopped) return;
    const phases = this.#start.view.phases();
    if (this.#origin === undefined) {
      if (phases.some((p) => p === "post" || p === "done")) return this.stop();
      if (!phases.every((p) => p === "measured")) return;
      this.#origin = this.#start.view.sample({ histogram: true });
      this.#previous = this.#origin;
      this.#schedule();
      return;
    }
    if (phases.some((p) => p === "done")) return this.stop();
    if (!phases.every((p) => p === "post")) return;
    const last = this.#start.view.sample({ histogram: true });
    if (last.atMs - this.#previous!.atMs >= this.#intervalMs / 10) this.#emit(last);
    this.stop();
  }

  #schedule(): void {
    const due = this.#origin!.atMs + (this.#count + 1) * this.#intervalMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, due - this.#now()));
  }

  #tick(): void {
    if (this.#stopped) return;
    if (!this.#start.view.phases().every((p) => p === "measured")) return;
    this.#emit(this.#start.view.sample({ histogram: true }));
    this.#schedule();
  }

  #emit(sample: LiveSample): void {
    this.#count += 1;
    this.#print(intervalLine(this.#start.workload, this.#origin!, this.#previous!, sample));
    this.#previous = sample;
  }
}

/**
 * `interval write    2.00s   2.310 GiB/s     2365 IOPS  p99    1.331 ms`: the interval that ends
 * at `now`, `t` seconds after the measured loops began.
 */
export function intervalLine(
  workload: string,
  origin: LiveSample,
  previous: LiveSample,
  now: LiveSample,
): string {
  const dt = (now.atMs - previous.atMs) / 1000;
  const gib = dt > 0 ? (now.bytes - previous.bytes) / dt / GIB : 0;
  const iops = dt > 0 ? (now.ios - previous.ios) / dt : 0;
  const p99 = intervalP99Ms(previous.histogram, now.histogram);
  const t = (now.atMs - origin.atMs) / 1000;
  return `interval ${workload.padEnd(9)} ${t.toFixed(2).padStart(7)}s  ${
    gib.toFixed(3).padStart(8)
  } GiB/s  ${String(Math.round(iops)).padStart(8)} IOPS  p99 ${
    p99 === undefined ? "       -" : p99.toFixed(3).padStart(8)
  } ms`;
}

/** p99 of the IOs completed between two cumulative histograms, in ms (undefined: none). */
function intervalP99Ms(
  before: BigUint64Array | undefined,
  after: BigUint64Array | undefined,
): number | undefined {
  if (after === undefined) return undefined;
  const sparse: SparseHistogram = [];
  for (let i = 0; i < after.length; i++) {
    const n = Number(after[i]) - Number(before?.[i] ?? 0n);
    if (n > 0) sparse.push([i, n]);
  }
  if (sparse.length === 0) return undefined;
  return quantileNs(sparse, 0.99, 0, Number.MAX_SAFE_INTEGER) / 1e6;
}
