/**
 * What the sweep says before and after measuring: the grid it will run (axes, values, point
 * count), which configs are equals within the loop-to-loop spread and the stated rule that picks
 * among them (printed, in --config_out and in the HTML report), a colour scale from zero, and
 * p50/p99 labels that never overlap.
 */
import assert from "node:assert/strict";
import { parseArgs } from "../lib/cli/parse.ts";
import { defaultAxes, gridLines } from "../lib/sweep/grid.ts";
import {
  configOutJson,
  recommend_rule,
  summaryLines,
  type SweepDocument,
  sweepDocument,
} from "../lib/sweep/rank.ts";
import type { SweepOpStats, SweepPoint, SweepRecord } from "../lib/sweep/record.ts";
import { type HistFrame, placeMarks, renderSweepReport } from "../lib/sweep/report.ts";
import { pointKey } from "../lib/sweep/record.ts";

Deno.test("sweep prints its grid before starting: each axis, its values, the count", async (t) => {
  await t.step("--block_size 1M,4M --queue_depth 8,32 is 64 points, and says why", () => {
    const parsed = parseArgs(["sweep", "--block_size", "1M,4M", "--queue_depth", "8,32"]);
    assert.deepEqual(gridLines(parsed.sweep!), [
      "grid: 64 points = block_size 1M,4M × queue_depth 8,32 × overlap_events on,off (default) " +
      "× single_submit off,on (default) × io_parallel 1,2,4,8 (default)",
      "  the 3 axis(es) marked (default) were not given and sweep their default lists; give one " +
      "value to hold an axis still (e.g. --overlap_events on --io_parallel 1)",
    ]);
  });
  await t.step("every axis given: no note; sync is io_parallel unset", () => {
    const parsed = parseArgs([
      "sweep",
      ...["--block_size", "1M", "--queue_depth", "8", "--overlap_events", "on"],
      ...["--single_submit", "off", "--io_parallel", "sync,2"],
    ]);
    assert.deepEqual(gridLines(parsed.sweep!), [
      "grid: 2 points = block_size 1M × queue_depth 8 × overlap_events on × single_submit off × " +
      "io_parallel sync,2",
    ]);
  });
  await t.step("the default grid", () => {
    assert.match(gridLines(defaultAxes())[0], /^grid: 64 points = block_size 1M,8M \(default\)/);
  });
});

function stats(gib: number, stddev: number): SweepOpStats {
  return {
    e2e_gib_s: gib,
    task_gib_s: gib,
    loop_e2e_gib_s: [gib - stddev, gib + stddev],
    e2e_gib_s_min: gib - stddev,
    e2e_gib_s_max: gib + stddev,
    e2e_gib_s_stddev: stddev,
    iops: 1000,
    latency_us: {
      min: 10,
      p50: 100,
      p90: 200,
      p99: 400,
      p99_9: 500,
      max: 600,
      mean: 120,
      count: 9,
    },
    latency_histogram: [[2000, 9]],
    errors: 0,
  };
}

function record(point: Partial<SweepPoint>, read: [number, number], write: [number, number]) {
  const p: SweepPoint = {
    block_size: 1 << 20,
    queue_depth: 32,
    overlap_events: true,
    single_submit: false,
    io_parallel: 1,
    ...point,
  };
  const r: SweepRecord = {
    key: pointKey(p),
    point: p,
    status: "ok",
    read: stats(...read),
    write: stats(...write),
    wall_s: 1,
  };
  return r;
}

function doc(records: SweepRecord[]): SweepDocument {
  return sweepDocument({
    records,
    grid: records.map((r) => r.point),
    measured: records.length,
    resumed: 0,
    stopped: false,
    settings: { use_gds: false },
    env: null,
    started_at: "2026-11-30T00:00:00Z",
  }, "sum");
}

Deno.test("equals within the spread: the fewest IOs in flight, said everywhere", async (t) => {
  const fastest = record({ queue_depth: 128, io_parallel: 4 }, [2.0, 0.1], [3.0, 0.2]);
  const lean = record({ queue_depth: 8, io_parallel: 1 }, [1.9, 0.1], [2.9, 0.1]);
  const middle = record({ queue_depth: 32, io_parallel: 2 }, [1.95, 0.05], [2.95, 0.05]);
  const slow = record({ queue_depth: 4, io_parallel: 1 }, [1.0, 0.01], [1.5, 0.01]);
  const d = doc([fastest, lean, middle, slow]);

  await t.step("the document: fastest and recommended, and who was within the spread", () => {
    assert.equal(d.best?.key, fastest.key);
    assert.equal(d.recommended?.key, lean.key, "8 × 1 in flight beats 32 × 2 and 128 × 4");
    assert.deepEqual(
      new Set(d.recommended?.within_spread),
      new Set([fastest.key, lean.key, middle.key]),
    );
    assert.equal(d.recommended?.rule, recommend_rule);
  });
  await t.step("the printed answer says they are equals and states the rule", () => {
    const text = summaryLines(d).join("\n");
    assert.match(text, /2 other config\(s\) are within the loop-to-loop spread of the fastest/);
    assert.ok(text.includes(`the recommendation follows a stated rule: ${recommend_rule}`));
    assert.match(
      text,
      /^fastest: block_size 1M, queue_depth 128, .* io_parallel 4 -> 5\.00 GiB\/s sum$/m,
    );
    assert.match(
      text,
      /^recommended: block_size 1M, queue_depth 8, .* io_parallel 1 -> 4\.80 GiB\/s sum/m,
    );
    assert.match(
      text,
      /^DeepSpeed: \{"aio": \{"block_size": 1048576, "queue_depth": 8, "intra_op_parallelism": 1, /m,
    );
  });
  await t.step("--config_out: the recommended aio section and a note on how it was picked", () => {
    const out = JSON.parse(configOutJson(d));
    assert.deepEqual(Object.keys(out), ["aio", "aiobench_sweep"]);
    assert.equal(out.aio.queue_depth, 8);
    assert.deepEqual(out.aiobench_sweep, {
      objective: "sum",
      recommended: lean.key,
      fastest: fastest.key,
      within_spread_of_fastest: 3,
      rule: recommend_rule,
    });
  });
  await t.step("no one within the spread: the fastest, said so", () => {
    const alone = doc([record({ queue_depth: 64 }, [3, 0.01], [3, 0.01]), slow]);
    assert.equal(alone.recommended?.key, alone.best?.key);
    assert.match(summaryLines(alone).join("\n"), /ahead of every other config by more than/);
  });
  await t.step("the HTML report: recommended, the equals marked, the rule, a scale from 0", () => {
    const html = renderSweepReport(d);
    assert.ok(html.includes(`Recommended (sum): ${lean.key}`));
    assert.ok(html.includes("2 other config(s) are within the loop-to-loop spread of the fastest"));
    assert.ok(html.includes(recommend_rule.replace("×", "×")));
    assert.ok(
      html.includes("colours from 0 to this op&#39;s fastest") ||
        html.includes("colours from 0 to this op's fastest"),
    );
    const dashed = html.match(/stroke-dasharray="3 2"\/>/g) ?? [];
    // 2 equals that aren't the pick, in each of the two heatmaps, plus one legend swatch each.
    assert.equal(dashed.length, 2 * 2 + 2, "the equals are marked");
    // A 5% slower config is 95% of the scale, not its bottom: the colour of 0.95 × max.
    const write_fill = (key: string) =>
      html.match(
        new RegExp(
          `<title>${
            key.replaceAll("=", "=")
          }: write [^<]*</title><rect [^>]*fill="(rgb\\([^)]*\\))"`,
        ),
      )?.[1];
    assert.notEqual(write_fill(lean.key), write_fill(slow.key));
    assert.notEqual(write_fill(slow.key), "rgb(68,1,84)", "the slowest is not painted as zero");
  });
});

Deno.test("p50 and p99 labels never overlap, nor cross each other's line", () => {
  const frame = (lo: number, hi: number): HistFrame => ({
    left: 64,
    top: 56,
    plot_w: 476,
    plot_h: 160,
    x: (us) => 64 + ((Math.log10(us) - Math.log10(lo)) / Math.log10(hi / lo)) * 476,
    y: () => 0,
  });
  const cases: [number, number, number, number][] = [
    [100, 100, 10, 10_000], // the same value
    [100, 120, 10, 10_000], // close together
    [9_000, 9_900, 10, 10_000], // both at the right edge
    [11, 12, 10, 10_000], // both at the left edge
    [11, 9_900, 10, 10_000], // far apart
    [3_580, 5_980, 500, 6_500], // the report that showed the overlap
  ];
  for (const [p50, p99, lo, hi] of cases) {
    const f = frame(lo, hi);
    const marks = placeMarks(f, {
      min: lo,
      p50,
      p90: p99,
      p99,
      p99_9: p99,
      max: hi,
      mean: p50,
      count: 9,
    });
    const label = `p50 ${p50} p99 ${p99}`;
    assert.equal(marks.length, 2, label);
    const [a, b] = marks;
    const apart = a.box.x1 <= b.box.x0 || b.box.x1 <= a.box.x0 || a.box.y1 <= b.box.y0 ||
      b.box.y1 <= a.box.y0;
    assert.ok(apart, `${label}: the labels overlap`);
    for (const [line, other] of [[a, b], [b, a]]) {
      // A line runs from the plot's bottom up to just under its own label.
      const top = line.y + 3;
      const crosses = line.x > other.box.x0 && line.x < other.box.x1 && top < other.box.y1;
      assert.ok(!crosses, `${label}: ${line.name}'s line crosses ${other.name}'s label`);
    }
  }
});
