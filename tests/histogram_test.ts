import assert from "node:assert/strict";
import { native } from "../ffi/native.ts";
import {
  bucketLow,
  bucketWidth,
  mergeHistograms,
  quantileNs,
  type SparseHistogram,
  summarize,
} from "../lib/common/histogram.ts";
import { mergeIntervals } from "../lib/run/intervals.ts";

/** The native bucket of a value, by zig/src/histogram.zig's formula (128 sub-buckets). */
function bucketOf(value: number): number {
  if (value < 128) return value;
  const exponent = Math.floor(Math.log2(value));
  const shift = exponent - 7;
  return 128 + shift * 128 + (Math.floor(value / 2 ** shift) - 128);
}

/** The exact q-quantile (nearest rank) of sorted samples. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("histogram: TypeScript buckets are the native ones", async (t) => {
  const lib = native();
  const n = lib.aiob_histogram_buckets();
  await t.step(
    `bucketLow and bucketWidth equal aiob_histogram_bucket_low/width for all ${n}`,
    () => {
      for (let i = 0; i < n; i++) {
        assert.equal(bucketLow(i), Number(lib.aiob_histogram_bucket_low(i)), `low of ${i}`);
        assert.equal(bucketWidth(i), Number(lib.aiob_histogram_bucket_width(i)), `width of ${i}`);
      }
    },
  );
  await t.step("buckets tile the value range with width <= 1/128 of the value", () => {
    for (let i = 1; i < n; i++) {
      assert.equal(bucketLow(i), bucketLow(i - 1) + bucketWidth(i - 1), `gap before ${i}`);
      if (i >= 128) assert.ok(bucketWidth(i) / bucketLow(i) <= 1 / 128);
    }
  });
});

Deno.test("histogram: percentiles within 1% of exact ones", async (t) => {
  const cases: [string, (r: () => number) => number][] = [
    ["uniform 1 µs .. 1 ms", (r) => 1_000 + Math.floor(r() * 999_000)],
    ["log-uniform 100 ns .. 100 ms", (r) => Math.floor(100 * 10 ** (r() * 6))],
    ["bimodal 20 µs / 5 ms", (r) => (r() < 0.97 ? 20_000 : 5_000_000) + Math.floor(r() * 1000)],
    ["exact region below 128 ns", (r) => Math.floor(r() * 128)],
  ];
  for (const [name, draw] of cases) {
    await t.step(name, () => {
      const r = seeded(name.length * 7919);
      const samples = Array.from({ length: 20_000 }, () => draw(r));
      const counts = new Map<number, number>();
      for (const v of samples) counts.set(bucketOf(v), (counts.get(bucketOf(v)) ?? 0) + 1);
      const h: SparseHistogram = [...counts.entries()];
      const sorted = [...samples].sort((a, b) => a - b);
      const min = sorted[0], max = sorted[sorted.length - 1];
      for (const q of [0.01, 0.5, 0.9, 0.99, 0.999, 1]) {
        const want = exact(sorted, q);
        const got = quantileNs(h, q, min, max);
        const tolerance = want < 128 ? 0 : want * 0.01;
        assert.ok(Math.abs(got - want) <= tolerance, `${name} q=${q}: ${got} vs exact ${want}`);
      }
      const sum = samples.reduce((a, b) => a + b, 0);
      const s = summarize(h, { minNs: min, maxNs: max, sumNs: sum });
      assert.ok(s);
      assert.equal(s.count, samples.length);
      assert.equal(s.min, Math.round(min / 10) / 100);
      assert.equal(s.max, Math.round(max / 10) / 100);
    });
  }
  await t.step("merging split histograms gives the same percentiles", () => {
    const r = seeded(3);
    const samples = Array.from({ length: 5000 }, () => Math.floor(1000 * 10 ** (r() * 3)));
    const part = (xs: number[]): SparseHistogram => {
      const m = new Map<number, number>();
      for (const v of xs) m.set(bucketOf(v), (m.get(bucketOf(v)) ?? 0) + 1);
      return [...m.entries()];
    };
    const whole = part(samples);
    const merged = mergeHistograms([part(samples.slice(0, 1234)), part(samples.slice(1234))]);
    for (const q of [0.5, 0.99]) {
      assert.equal(quantileNs(merged, q, 0, Infinity), quantileNs(whole, q, 0, Infinity));
    }
  });
});

Deno.test("log interval series: lanes merge by interval number", async (t) => {
  await t.step("bytes and IOs add up, p99 is the largest lane's, gaps are zeros", () => {
    const points = mergeIntervals(1, [
      [
        { index: 0, endS: 1.001, bytes: 100, ios: 10, p99Ns: 5000 },
        { index: 2, endS: 3.0, bytes: 300, ios: 30, p99Ns: 7000 },
        { index: 3, endS: 3.5, bytes: 50, ios: 5, p99Ns: 0 },
      ],
      [{ index: 0, endS: 1.002, bytes: 200, ios: 20, p99Ns: 9000 }],
    ]);
    assert.deepEqual(points.map((p) => p.bytes), [300, 0, 300, 50]);
    assert.equal(points[0].p99_us, 9);
    assert.equal(points[1].p99_us, null);
    assert.equal(points[1].iops, 0);
    assert.equal(points[3].iops, 10, "5 IOs over half a second");
    assert.equal(points[0].t_s, 1.002);
  });
  await t.step("a sliver drained after the deadline folds into the interval before", () => {
    const points = mergeIntervals(1, [[
      { index: 0, endS: 1.0, bytes: 1000, ios: 100, p99Ns: 1000 },
      { index: 1, endS: 1.00005, bytes: 10, ios: 1, p99Ns: 3000 },
    ]]);
    assert.equal(points.length, 1);
    assert.equal(points[0].bytes, 1010);
    assert.equal(points[0].p99_us, 3);
  });
  await t.step("no records, no series", () => assert.deepEqual(mergeIntervals(1, []), []));
});
