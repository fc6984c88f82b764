/** lib/run/report.ts: the human table keeps one unit per column; the --validate verdict line. */
import assert from "node:assert/strict";
import { settingsLine, table, validationLine, validationVerdict } from "../lib/run/report.ts";
import type { LatencySummary, OpResult, WorkerResult } from "../lib/common/types.ts";

function op(name: OpResult["op"], latency: Partial<LatencySummary> | null): OpResult {
  return {
    op: name,
    bytes: 1 << 30,
    task_latency_s: 1,
    task_gib_s: 1,
    e2e_latency_s: 1,
    e2e_gib_s: 1,
    iops: 1024,
    latency_us: latency === null
      ? null
      : { min: 1, p50: 1, p90: 1, p99: 1, p99_9: 1, max: 1, mean: 1, count: 1, ...latency },
    cpu: { user_s: 0, sys_s: 0, ios_per_cpu_s: 0, cpu_us_per_io: 12.34 },
    errors: 0,
    partial: false,
    workers: [],
  };
}

function cells(lines: string[]): string[][] {
  return lines.map((l) => l.trim().split(/\s{2,}/));
}

Deno.test("table: one unit per column, named in the header; numbers carry no unit", async (t) => {
  await t.step("a row past 10 ms puts every latency column in ms", () => {
    const rows = cells(table([
      op("write", { p50: 6996, p99: 15_000, p99_9: 15_040, max: 151_000 }),
      op("read", { p50: 87.6, p99: 166.4, p99_9: 301, max: 900 }),
    ]));
    assert.deepEqual(rows[0], [
      "op",
      "GiB/s",
      "IOPS",
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "max ms",
      "CPU us/IO",
      "errors",
    ]);
    assert.deepEqual(rows[1].slice(3, 8), ["7.00", "15.0", "15.0", "151", "12.3"]);
    assert.deepEqual(rows[2].slice(3, 7), ["0.088", "0.166", "0.301", "0.900"]);
  });

  await t.step("all under 10 ms: us", () => {
    const rows = cells(table([op("randread", { p50: 91.9, p99: 166.4, p99_9: 2000, max: 9999 })]));
    assert.deepEqual(rows[0].slice(3, 7), ["p50 us", "p99 us", "p99.9 us", "max us"]);
    assert.deepEqual(rows[1].slice(3, 7), ["91.9", "166", "2000", "9999"]);
  });

  await t.step("no latency recorded: dashes", () => {
    const rows = cells(table([op("read", null)]));
    assert.deepEqual(rows[1].slice(3, 7), ["-", "-", "-", "-"]);
  });

  await t.step("no cell of any table carries a unit suffix", () => {
    const rows = cells(table([op("write", { p50: 6996, max: 20_000 }), op("read", {})]));
    for (const row of rows.slice(1)) {
      for (const cell of row.slice(1)) assert.match(cell, /^(-|[0-9.]+)$/, cell);
    }
  });
});

function worker(w: number, path: string, validation?: WorkerResult["validation"]): WorkerResult {
  return {
    worker: w,
    path,
    bytes: 0,
    ios: 0,
    taskSeconds: 0,
    e2eSeconds: 0,
    errors: 0,
    histogram: [],
    latencyMinNs: 0,
    latencyMaxNs: 0,
    latencySumNs: 0,
    cpuUserSeconds: 0,
    cpuSystemSeconds: 0,
    sqesSubmitted: 0,
    enterCalls: 0,
    shortResubmits: 0,
    partial: validation === undefined,
    loopsDone: 1,
    validation,
  };
}

Deno.test("validate verdict: ok, the first mismatch, and workers stopped before checking", () => {
  const ok = { bytes: 1 << 30, mismatch: null };
  const line = (workers: WorkerResult[]) =>
    validationLine({ ...op("read", null), validate: validationVerdict(workers) });
  assert.equal(
    line([worker(0, "/d/f", ok), worker(1, "/d/f", ok)]),
    "validate: read 2 × 1.00 GiB against the file: ok",
  );
  const bad = {
    bytes: 1 << 30,
    mismatch: { message: "worker 1: data read differs from /d/g at offset 8192", offset: 8192 },
  };
  const verdict = validationVerdict([worker(0, "/d/f", ok), worker(1, "/d/g", bad)]);
  assert.equal(verdict.ok, false);
  assert.deepEqual(verdict.first_mismatch, {
    worker: 1,
    path: "/d/g",
    offset: 8192,
    message: bad.mismatch.message,
  });
  assert.equal(
    line([worker(0, "/d/f", ok), worker(1, "/d/g", bad)]),
    "validate: read 2 × 1.00 GiB against 2 files: MISMATCH: worker 1: data read differs from /d/g at offset 8192",
  );
  assert.equal(
    line([worker(0, "/d/f", ok), worker(1, "/d/f")]),
    "validate: read 1 × 1.00 GiB against the file: ok, but 1 worker(s) stopped before checking",
  );
  assert.equal(validationVerdict([worker(0, "/d/f", ok), worker(1, "/d/f")]).ok, false);
  assert.equal(
    line([worker(0, "/d/f")]),
    "validate: read: not checked (the run was stopped first)",
  );
});

Deno.test("settings line: every setting that shapes the numbers, in one line", async (t) => {
  const { defaultConfig } = await import("../lib/run/config.ts");
  const base = { ...defaultConfig(), defaultRun: false, folders: ["/d"], ioSizeBytes: 1 << 30 };
  await t.step("ds_io-like: async io_parallel, loops + warm-up, one io_size buffer", () => {
    const cfg = { ...base, ioParallel: 1, loops: 3, warmupLoops: 1, overlapEvents: true };
    assert.equal(
      settingsLine(cfg, { engine: "io_uring", source: "ds_io (--folder)" }),
      "settings: block 1M, queue depth 32, submit in batches, overlap on, io_parallel 1 " +
        "(async pread/pwrite + wait), 1 worker(s), 3 loop(s) + 1 warm-up, buffer of 1.00 GiB " +
        "per worker, engine aio_handle on io_uring; defaults from ds_io (--folder)",
    );
  });
  await t.step("ds_aio-like: sync, single submit, time-based, slot buffers, aio_basic", () => {
    const cfg = {
      ...base,
      singleSubmit: true,
      overlapEvents: false,
      blockSizeBytes: 4096,
      queueDepth: 8,
      timeBased: true,
      runtimeS: 2.5,
      slotBuffers: true,
      dsEngine: "aio_basic" as const,
      buffered: true,
    };
    assert.equal(
      settingsLine(cfg, { engine: "libaio" }),
      "settings: block 4K, queue depth 8, submit one at a time, overlap off, one context per " +
        "call, 1 worker(s), 1 loop(s) of 2.5s, buffer of 32.00 KiB per worker (slots), engine " +
        "aio_basic on libaio, buffered",
    );
  });
});
