/**
 * Aggregation as ds_aio does it, through real runs (`benchmark()` and the CLI) and on hand-made
 * worker results: exact bytes, E2E ≥ Task, the four ds_aio lines, and the aiobench/1 JSON.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { benchmark, type OpResult } from "../mod.ts";
import { aggregate, dsAioLines } from "../lib/run/report.ts";
import type { WorkerResult } from "../lib/common/types.ts";
import { lines, makeRandomFile, removeDir, runCli, tempDir } from "./_helpers.ts";

const MIB = 1 << 20;
const GIB = 2 ** 30;

function checkOp(r: OpResult, op: string, threads: number, loops: number, ioSize: number): void {
  const label = `${op} threads=${threads} loops=${loops}`;
  assert.equal(r.op, op, label);
  assert.equal(r.bytes, ioSize * loops * threads, `${label}: bytes`);
  assert.equal(r.errors, 0, label);
  assert.equal(r.partial, false, label);
  assert.equal(r.workers.length, threads, label);
  assert.deepEqual(r.workers.map((w) => w.worker), [...Array(threads).keys()], label);
  for (const w of r.workers) {
    assert.equal(w.bytes, ioSize * loops, `${label}: worker ${w.worker} bytes`);
    assert.equal(w.ios, (ioSize / MIB) * loops, `${label}: worker ${w.worker} ios (1M blocks)`);
    assert.ok(w.task_latency_s > 0, label);
    assert.ok(w.e2e_latency_s >= w.task_latency_s, `${label}: worker ${w.worker} E2E < Task`);
  }
  assert.equal(r.task_latency_s, Math.max(...r.workers.map((w) => w.task_latency_s)), label);
  assert.equal(r.e2e_latency_s, Math.max(...r.workers.map((w) => w.e2e_latency_s)), label);
  assert.ok(r.e2e_latency_s >= r.task_latency_s, `${label}: E2E latency < Task latency`);
  assert.equal(r.task_gib_s, r.bytes / r.task_latency_s / GIB, label);
  assert.equal(r.e2e_gib_s, r.bytes / r.e2e_latency_s / GIB, label);
  assert.ok(r.e2e_gib_s <= r.task_gib_s, label);
  assert.equal(r.iops, (ioSize / MIB) * loops * threads / r.task_latency_s, `${label}: iops`);
  assert.ok(r.latency_us !== null && r.latency_us.count === (ioSize / MIB) * loops * threads);
}

Deno.test("benchmark(): bytes exact for threads {1,2,4} × loops {1,3}; E2E ≥ Task", async (t) => {
  const dir = tempDir("aiobench_agg_");
  try {
    const readFile = join(dir, "data.bin");
    makeRandomFile(readFile, 8 * MIB);
    const ioSize = 4 * MIB;
    for (const threads of [1, 2, 4]) {
      for (const loops of [1, 3]) {
        await t.step(`read and write, threads=${threads} loops=${loops}`, async () => {
          const read = await benchmark({
            readFile,
            ioSizeBytes: ioSize,
            blockSizeBytes: MIB,
            queueDepth: 4,
            threads,
            loops,
          });
          assert.equal(read.schema, "aiobench/1");
          assert.equal(read.results.length, 1);
          checkOp(read.results[0], "read", threads, loops, ioSize);
          const writeFile = join(dir, `w${threads}_${loops}`);
          const write = await benchmark({
            writeFile,
            ioSizeBytes: ioSize,
            blockSizeBytes: MIB,
            queueDepth: 4,
            threads,
            loops,
          });
          checkOp(write.results[0], "write", threads, loops, ioSize);
          assert.deepEqual(
            write.results[0].workers.map((w) => w.path),
            [...Array(threads).keys()].map((i) => `${writeFile}.${i}`),
          );
        });
      }
    }
    // Files benchmark() created for writes are gone; the user's read file stays.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["data.bin"]);
  } finally {
    removeDir(dir);
  }
});

const NUMBER = "(?:[0-9]+(?:\\.[0-9]+)?(?:e[-+][0-9]+)?)";

function dsAioPattern(op: string): RegExp[] {
  return [
    new RegExp(`^Task ${op} Latency = ${NUMBER} sec$`),
    new RegExp(`^Task ${op} Speed = ${NUMBER} GB/sec$`),
    new RegExp(`^E2E ${op} Latency = ${NUMBER} sec$`),
    new RegExp(`^E2E ${op} Speed = ${NUMBER} GB/sec$`),
  ];
}

/** The four ds_aio lines of `op` in `text`: consecutive, exact format; returns their numbers. */
function dsAioValues(text: string, op: string): number[] {
  const all = text.split("\n");
  const start = all.findIndex((l) => l.startsWith(`Task ${op} Latency = `));
  assert.ok(start >= 0, `no "Task ${op} Latency" line in:\n${text}`);
  const four = all.slice(start, start + 4);
  dsAioPattern(op).forEach((re, i) => assert.match(four[i] ?? "", re));
  return four.map((l) => Number(l.split(" = ")[1].split(" ")[0]));
}

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** The aiobench/1 fields DESIGN.md promises (more may be added, none removed). */
function checkSchema(doc: Record<string, unknown>): void {
  assert.equal(doc.schema, "aiobench/1");
  assert.equal(typeof doc.version, "string");
  assert.ok(doc.config && typeof doc.config === "object");
  const env = doc.env as Record<string, unknown>;
  assert.ok(env && typeof env === "object");
  assert.equal(env.engine, "io_uring");
  assert.equal(typeof env.engine_reason, "string");
  assert.ok(Array.isArray(doc.results) && doc.results.length > 0);
  for (const r of doc.results as Record<string, unknown>[]) {
    assert.ok(["read", "write", "randread", "randwrite", "randrw"].includes(r.op as string));
    for (const key of ["bytes", "task_latency_s", "task_gib_s", "e2e_latency_s", "e2e_gib_s"]) {
      assert.ok(isNum(r[key]), `results[].${key} = ${r[key]}`);
    }
    assert.ok(isNum(r.iops) && isNum(r.errors));
    const lat = r.latency_us as Record<string, unknown>;
    for (const key of ["min", "p50", "p90", "p99", "p99_9", "max", "mean"]) {
      assert.ok(isNum(lat[key]), `latency_us.${key} = ${lat[key]}`);
    }
    const ordered = ["min", "p50", "p90", "p99", "p99_9", "max"].map((k) => lat[k] as number);
    for (let i = 1; i < ordered.length; i++) assert.ok(ordered[i - 1] <= ordered[i], "percentiles");
    assert.ok(
      (lat.min as number) <= (lat.mean as number) && (lat.mean as number) <= (lat.max as number),
    );
    assert.ok(Array.isArray(r.workers) && r.workers.length > 0);
    for (const w of r.workers as Record<string, unknown>[]) {
      assert.ok(isNum(w.worker) && isNum(w.bytes) && isNum(w.task_latency_s));
      assert.ok(isNum(w.e2e_latency_s) && typeof w.path === "string");
    }
  }
}

Deno.test("CLI output: ds_aio lines, --json -, --json FILE", async (t) => {
  const dir = tempDir("aiobench_agg_cli_");
  try {
    const readFile = join(dir, "data.bin");
    makeRandomFile(readFile, 4 * MIB);
    const args = ["--block_size", "1M", "--queue_depth", "4", "--threads", "2", "--loops", "2"];

    await t.step("read: the four ds_aio lines, exact, and consistent with the bytes", async () => {
      const r = await runCli(["--read_file", readFile, ...args]);
      assert.equal(r.code, 0, r.stderr);
      const [taskLat, taskSpeed, e2eLat, e2eSpeed] = dsAioValues(r.stdout, "Read");
      const bytes = 4 * MIB * 2 * 2;
      assert.ok(e2eLat >= taskLat);
      assert.ok(Math.abs(taskSpeed - bytes / taskLat / GIB) <= 1e-9 * taskSpeed);
      assert.ok(Math.abs(e2eSpeed - bytes / e2eLat / GIB) <= 1e-9 * e2eSpeed);
      assert.doesNotMatch(r.stdout, /Write/);
    });

    await t.step("write: the four Write lines", async () => {
      const r = await runCli(["--write_file", join(dir, "out"), "--io_size", "2M", ...args]);
      assert.equal(r.code, 0, r.stderr);
      const [taskLat, taskSpeed] = dsAioValues(r.stdout, "Write");
      assert.ok(Math.abs(taskSpeed - (2 * MIB * 2 * 2) / taskLat / GIB) <= 1e-9 * taskSpeed);
    });

    await t.step(
      "--json -: stdout is the JSON document, the human report goes to stderr",
      async () => {
        const r = await runCli(["--read_file", readFile, ...args, "--json", "-"]);
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        checkSchema(doc);
        assert.equal(doc.results[0].op, "read");
        assert.equal(doc.results[0].bytes, 4 * MIB * 2 * 2);
        assert.equal(doc.results[0].workers.length, 2);
        assert.equal(doc.config.threads, 2);
        assert.equal(doc.config.read_file, readFile);
        const [taskLat] = dsAioValues(r.stderr, "Read");
        assert.equal(taskLat, doc.results[0].task_latency_s);
      },
    );

    await t.step("--json FILE: writes the document, the report stays on stdout", async () => {
      const out = join(dir, "result.json");
      const r = await runCli(["--read_file", readFile, ...args, "--json", out]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(Deno.readTextFileSync(out));
      checkSchema(doc);
      const [taskLat, , e2eLat] = dsAioValues(r.stdout, "Read");
      assert.equal(taskLat, doc.results[0].task_latency_s);
      assert.equal(e2eLat, doc.results[0].e2e_latency_s);
      assert.ok(!lines(r.stdout).some((l) => l.startsWith("{")));
    });
  } finally {
    removeDir(dir);
  }
});

function worker(w: number, over: Partial<WorkerResult>): WorkerResult {
  return {
    worker: w,
    path: `/data/f.${w}`,
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
    partial: false,
    loopsDone: 1,
    ...over,
  };
}

Deno.test("aggregate(): max over workers, Σ bytes, speed = bytes / latency / 2^30", async (t) => {
  await t.step("two workers with different times", () => {
    const r = aggregate("read", [
      worker(0, { bytes: GIB, ios: 1024, taskSeconds: 0.5, e2eSeconds: 0.75, errors: 1 }),
      worker(1, { bytes: GIB, ios: 1024, taskSeconds: 0.8, e2eSeconds: 0.9 }),
    ]);
    assert.equal(r.bytes, 2 * GIB);
    assert.equal(r.task_latency_s, 0.8);
    assert.equal(r.e2e_latency_s, 0.9);
    assert.equal(r.task_gib_s, 2 / 0.8);
    assert.equal(r.e2e_gib_s, 2 / 0.9);
    assert.equal(r.iops, 2048 / 0.8);
    assert.equal(r.errors, 1);
    assert.equal(r.latency_us, null, "no histogram, no latency");
    assert.deepEqual(r.workers.map((w) => [w.worker, w.task_latency_s, w.e2e_latency_s]), [
      [0, 0.5, 0.75],
      [1, 0.8, 0.9],
    ]);
    // The slowest Task and the slowest E2E may come from different workers.
    const mixed = aggregate("write", [
      worker(0, { bytes: 3 * MIB, taskSeconds: 0.3, e2eSeconds: 0.31 }),
      worker(1, { bytes: 3 * MIB, taskSeconds: 0.2, e2eSeconds: 0.4 }),
    ]);
    assert.equal(mixed.task_latency_s, 0.3);
    assert.equal(mixed.e2e_latency_s, 0.4);
    assert.equal(mixed.task_gib_s, (6 * MIB) / 0.3 / GIB);
    assert.deepEqual(dsAioLines(mixed), [
      `Task Write Latency = 0.3 sec`,
      `Task Write Speed = ${(6 * MIB) / 0.3 / GIB} GB/sec`,
      `E2E Write Latency = 0.4 sec`,
      `E2E Write Speed = ${(6 * MIB) / 0.4 / GIB} GB/sec`,
    ]);
  });

  await t.step("latency merges the workers' histograms", () => {
    const r = aggregate("read", [
      worker(0, {
        bytes: MIB,
        ios: 2,
        taskSeconds: 1,
        e2eSeconds: 1,
        histogram: [[100, 2]],
        latencyMinNs: 100,
        latencyMaxNs: 100,
        latencySumNs: 200,
      }),
      worker(1, {
        bytes: MIB,
        ios: 2,
        taskSeconds: 1,
        e2eSeconds: 1,
        histogram: [[120, 2]],
        latencyMinNs: 120,
        latencyMaxNs: 120,
        latencySumNs: 240,
      }),
    ]);
    assert.ok(r.latency_us);
    assert.equal(r.latency_us.count, 4);
    assert.equal(r.latency_us.min, 0.1);
    assert.equal(r.latency_us.max, 0.12);
    assert.equal(r.latency_us.mean, 0.11);
    assert.equal(r.latency_us.p50, 0.1);
    assert.equal(r.latency_us.p99, 0.12);
  });

  await t.step("no time measured: speeds are 0, not Infinity or NaN", () => {
    const r = aggregate("read", [worker(0, { bytes: 0 })]);
    assert.equal(r.task_gib_s, 0);
    assert.equal(r.e2e_gib_s, 0);
    assert.equal(r.iops, 0);
  });
});
