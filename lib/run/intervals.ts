/**
 * The `--log_interval` series: each lane of each worker records (bytes, IOs, p99) per
 * interval in the native library; here they are merged by interval number.
 *
 * @module
 */
import type { IntervalSample, OpResult, WorkerResult } from "../common/types.ts";

/** One entry of `results[].intervals`. */
export type IntervalPoint = NonNullable<OpResult["intervals"]>[number];

/**
 * Merges every worker's lanes by interval number: bytes and IOs are summed; p99 is the largest
 * lane p99 (an upper bound of the true merged p99: lanes keep no per-interval histogram).
 * Intervals in which no lane completed an IO appear with zeros, so the series has no gaps.
 *
 * @example
 * ```ts
 * mergeIntervals(1, [[{ index: 0, endS: 1, bytes: 4096, ios: 1, p99Ns: 50_000 }]]);
 * // [{ t_s: 1, bytes: 4096, iops: 1, p99_us: 50 }]
 * ```
 */
export function mergeIntervals(intervalS: number, lanes: IntervalSample[][]): IntervalPoint[] {
  if (!(intervalS > 0)) throw new RangeError(`interval ${intervalS} s must be > 0`);
  const byIndex = new Map<number, { endS: number; bytes: number; ios: number; p99Ns: number }>();
  for (const s of lanes.flat()) {
    const m = byIndex.get(s.index) ?? { endS: 0, bytes: 0, ios: 0, p99Ns: 0 };
    m.endS = Math.max(m.endS, s.endS);
    m.bytes += s.bytes;
    m.ios += s.ios;
    m.p99Ns = Math.max(m.p99Ns, s.p99Ns);
    byIndex.set(s.index, m);
  }
  if (byIndex.size === 0) return [];
  const last = Math.max(...byIndex.keys());
  const spans: { start: number; end: number; bytes: number; ios: number; p99Ns: number }[] = [];
  for (let index = 0; index <= last; index++) {
    const m = byIndex.get(index) ?? { endS: 0, bytes: 0, ios: 0, p99Ns: 0 };
    const start = index * intervalS;
    // A lane notices a boundary at its next completion, so an interval ends at the latest
    // lane's notice; the run's last interval is usually shorter than intervalS.
    spans.push({ ...m, start, end: m.endS > start ? m.endS : start + intervalS });
  }
  // IOs drained just after the run's deadline would make a sliver of an interval with a
  // meaningless rate: fold a last interval under a tenth of the interval into the one before.
  const tail = spans[spans.length - 1];
  if (spans.length > 1 && tail.end - tail.start < intervalS / 10) {
    spans.pop();
    const before = spans[spans.length - 1];
    before.end = tail.end;
    before.bytes += tail.bytes;
    before.ios += tail.ios;
    before.p99Ns = Math.max(before.p99Ns, tail.p99Ns);
  }
  return spans.map((s) => ({
    t_s: round(s.end, 6),
    bytes: s.bytes,
    iops: round(s.ios / (s.end - s.start), 1),
    p99_us: s.p99Ns > 0 ? round(s.p99Ns / 1000, 2) : null,
  }));
}

/** The merged series of one workload's workers, or undefined without --log_interval. */
export function workerIntervals(workers: WorkerResult[]): IntervalPoint[] | undefined {
  const logged = workers.filter((w) => w.intervals !== undefined);
  if (logged.length === 0) return undefined;
  return mergeIntervals(
    logged[0].intervals!.intervalS,
    logged.map((w) => w.intervals!.samples),
  );
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
