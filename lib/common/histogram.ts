/**
 * Percentiles from the native log-linear histogram (zig/src/histogram.zig): 128 exact buckets,
 * then 128 linear buckets per power of two. Computed on the cold path, after a run.
 *
 * @module
 */
import type { LatencySummary } from "./types.ts";

const SUB_COUNT = 128;

/** Lowest value (ns) in bucket `i`. */
export function bucketLow(i: number): number {
  if (i < SUB_COUNT) return i;
  const group = Math.floor((i - SUB_COUNT) / SUB_COUNT);
  const sub = (i - SUB_COUNT) % SUB_COUNT;
  return (SUB_COUNT + sub) * 2 ** group;
}

/** Width (ns) of bucket `i`. */
export function bucketWidth(i: number): number {
  return i < SUB_COUNT ? 1 : 2 ** Math.floor((i - SUB_COUNT) / SUB_COUNT);
}

/** Sparse histogram: `[bucketIndex, count]`, any order. */
export type SparseHistogram = [number, number][];

/** Adds histograms bucket by bucket. */
export function mergeHistograms(parts: SparseHistogram[]): SparseHistogram {
  const sum = new Map<number, number>();
  for (const part of parts) for (const [i, n] of part) sum.set(i, (sum.get(i) ?? 0) + n);
  return [...sum.entries()].sort((a, b) => a[0] - b[0]);
}

/** Value (ns) at quantile q: the midpoint of the bucket holding it, clamped to [min, max]. */
export function quantileNs(h: SparseHistogram, q: number, minNs: number, maxNs: number): number {
  const sorted = [...h].sort((a, b) => a[0] - b[0]);
  const count = sorted.reduce((s, [, n]) => s + n, 0);
  if (count === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (const [i, n] of sorted) {
    seen += n;
    if (seen >= rank) {
      const mid = bucketLow(i) + Math.floor(bucketWidth(i) / 2);
      return Math.min(Math.max(mid, minNs), maxNs);
    }
  }
  return maxNs;
}

/** min/mean/p50/p90/p99/p99.9/max in microseconds, or null when nothing was recorded. */
export function summarize(
  h: SparseHistogram,
  stats: { minNs: number; maxNs: number; sumNs: number },
): LatencySummary | null {
  const count = h.reduce((s, [, n]) => s + n, 0);
  if (count === 0) return null;
  const us = (ns: number) => Math.round(ns / 10) / 100;
  const q = (p: number) => us(quantileNs(h, p, stats.minNs, stats.maxNs));
  return {
    min: us(stats.minNs),
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p99_9: q(0.999),
    max: us(stats.maxNs),
    mean: us(stats.sumNs / count),
    count,
  };
}
