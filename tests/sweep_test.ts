/**
 * `aiobench sweep`: grid parsing, the DeepSpeed fragment, failing points, resume, a tiny real
 * sweep through the CLI (best = argmax of what was recorded), Ctrl-C, and the HTML report.
 * Real files on ext4 (/var/tmp), real io_uring/libaio, real workers; sizes of 8 MiB.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { probeEngine } from "../ffi/handle.ts";
import { parseArgs, UsageError } from "../lib/cli/parse.ts";
import { expandSweep } from "../lib/sweep/grid.ts";
import { runBenchmark } from "../lib/run/run.ts";
import { type BenchmarkRunner, runSweep } from "../lib/sweep/run.ts";
import {
  deepSpeedAioConfig,
  deepSpeedAioJson,
  objectiveGibS,
  recommend_rule,
  type SweepDocument,
  sweepDocument,
} from "../lib/sweep/rank.ts";
import { pointKey, sweepPoint } from "../lib/sweep/record.ts";
import { ResumeLog, sweepSettings } from "../lib/sweep/resume.ts";
import { renderSweepReport } from "../lib/sweep/report.ts";
import { hasCommand, type SkipReason, stepUnless, testUnless } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const decoder = new TextDecoder();

function tempDir(): string {
  return Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_sweep_test_" });
}

function removeDir(dir: string): void {
  Deno.removeSync(dir, { recursive: true });
}

function sweepConfigs(args: string[]) {
  const parsed = parseArgs(["sweep", ...args]);
  return { parsed, configs: expandSweep(parsed.config!, parsed.sweep!) };
}

function cli(args: string[]): Deno.ChildProcess {
  return new Deno.Command(join(ROOT, "scripts/deno"), {
    args: ["run", "-A", join(ROOT, "main.ts"), "sweep", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("sweep: grid expansion and parsing", async (t) => {
  await t.step("the default grid has 64 points, 1 warm-up and 3 timed loops each", () => {
    const { parsed, configs } = sweepConfigs(["--folder", "/var/tmp"]);
    assert.equal(configs.length, 64);
    assert.equal(new Set(configs.map((c) => pointKey(sweepPoint(c)))).size, 64);
    assert.equal(parsed.config!.loops, 3);
    assert.equal(parsed.config!.warmupLoops, 1);
    assert.deepEqual(parsed.config!.workloads, ["write", "read"]);
    assert.equal(parsed.sweepOptions!.objective, "sum");
  });
  await t.step("axes take lists; sync means io_parallel unset; explicit loops stay", () => {
    const { parsed, configs } = sweepConfigs([
      "--folder=/var/tmp",
      "--block_size",
      "128K,1M",
      "--queue_depth",
      "4,32",
      "--io_parallel",
      "sync,2",
      "--overlap_events",
      "on",
      "--single-submit=off,on",
      "--loops",
      "1",
      "--warmup_loops",
      "0",
      "--objective",
      "read",
    ]);
    assert.equal(configs.length, 2 * 2 * 1 * 2 * 2);
    assert.equal(configs[0].blockSizeBytes, 128 << 10);
    assert.equal(configs[0].ioParallel, undefined);
    assert.equal(configs[1].ioParallel, 2);
    assert.equal(configs[configs.length - 1].blockSizeBytes, 1 << 20);
    assert.ok(configs.every((c) => c.overlapEvents && c.loops === 1 && c.warmupLoops === 0));
    assert.equal(parsed.sweepOptions!.objective, "read");
  });
  await t.step("bad axis values are one-line usage errors naming the flag", () => {
    assert.throws(() => parseArgs(["sweep", "--queue_depth", "4,0"]), /--queue_depth 0/);
    assert.throws(() => parseArgs(["sweep", "--block_size", "1M,x"]), /--block_size/);
    assert.throws(() => parseArgs(["sweep", "--objective", "both"]), /--objective/);
    assert.throws(() => parseArgs(["sweep", "--io_parallel", "sync,99"]), /--io_parallel 99/);
  });
});

Deno.test("sweep: the DeepSpeed aio fragment has DeepSpeed's keys, numbers and booleans", () => {
  const point = {
    block_size: 1 << 20,
    queue_depth: 32,
    overlap_events: true,
    single_submit: false,
    io_parallel: 4,
  };
  const text = deepSpeedAioJson(deepSpeedAioConfig(point));
  assert.equal(
    text,
    '{"aio": {"block_size": 1048576, "queue_depth": 32, "intra_op_parallelism": 4, ' +
      '"single_submit": false, "overlap_events": true, "use_gds": false}}',
  );
  const parsed = JSON.parse(text);
  assert.deepEqual(Object.keys(parsed), ["aio"]);
  assert.deepEqual(Object.keys(parsed.aio), [
    "block_size",
    "queue_depth",
    "intra_op_parallelism",
    "single_submit",
    "overlap_events",
    "use_gds",
  ]);
  for (const key of ["block_size", "queue_depth", "intra_op_parallelism"]) {
    assert.equal(typeof parsed.aio[key], "number", key);
  }
  for (const key of ["single_submit", "overlap_events", "use_gds"]) {
    assert.equal(typeof parsed.aio[key], "boolean", key);
  }
  const sync = deepSpeedAioConfig({ ...point, io_parallel: null, single_submit: true });
  assert.equal(sync.aio.intra_op_parallelism, 1);
  assert.equal(sync.aio.single_submit, true);
});

/** The refused-point test needs libaio to run out of aio events: why it can't, if so. */
function aioLimitReason(): SkipReason {
  const max_nr = Number(Deno.readTextFileSync("/proc/sys/fs/aio-max-nr").trim());
  const in_use = Number(Deno.readTextFileSync("/proc/sys/fs/aio-nr").trim());
  // io_setup reserves twice the events asked for; 16 lanes x 2 x 4096 must overflow aio-max-nr.
  const reserved = 16 * 2 * 4096;
  if (probeEngine("libaio") !== null) return "libaio (io_setup) is not available here";
  if (max_nr - in_use >= reserved) {
    return `fs.aio-max-nr ${max_nr} lets libaio take 16 lanes x queue depth 4096`;
  }
  return undefined;
}

const refused_name = "sweep: a point the engine refuses is recorded and the sweep goes on";
testUnless(aioLimitReason(), refused_name, async () => {
  const dir = tempDir();
  try {
    const { configs } = sweepConfigs([
      "--folder",
      dir,
      "--io_size",
      "8M",
      "--engine",
      "libaio",
      "--block_size",
      "1M,2M",
      "--queue_depth",
      "4096",
      "--io_parallel",
      "16,1",
      "--overlap_events",
      "on",
      "--single_submit",
      "off",
      "--loops",
      "1",
      "--warmup_loops",
      "0",
    ]);
    const lines: string[] = [];
    const outcome = await runSweep(configs, { objective: "sum", progress: (l) => lines.push(l) });
    assert.equal(outcome.records.length, 4);
    assert.equal(outcome.stopped, false);
    const failed = outcome.records.filter((r) => r.status === "failed");
    assert.deepEqual(failed.map((r) => r.key), [
      "bs=1M qd=4096 overlap=on single=off par=16",
      "bs=2M qd=4096 overlap=on single=off par=16",
    ]);
    assert.match(failed[0].error!, /EAGAIN/);
    for (const after of [outcome.records[1], outcome.records[3]]) {
      assert.equal(after.status, "ok", "the point after a failure still ran");
      assert.ok(after.read!.e2e_gib_s > 0 && after.write!.e2e_gib_s > 0);
    }
    assert.match(lines[0], /^config 1\/4: .*FAILED: .*EAGAIN/);
    const doc = sweepDocument(outcome, "sum");
    assert.equal(doc.failed, 2);
    assert.ok(!failed.some((r) => r.key === doc.best!.key));
    assert.equal(doc.ranking.length, 2);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the sweep removed the files it made");
  } finally {
    removeDir(dir);
  }
});

Deno.test("sweep: --resume skips recorded points and never records a stopped one", async (t) => {
  const dir = tempDir();
  const resume = join(dir, "records.jsonl");
  const { configs } = sweepConfigs([
    "--folder",
    dir,
    "--io_size",
    "8M",
    "--block_size",
    "128K,1M,2M",
    "--queue_depth",
    "8",
    "--io_parallel",
    "1",
    "--overlap_events",
    "on",
    "--single_submit",
    "off",
    "--loops",
    "2",
    "--warmup_loops",
    "0",
  ]);
  let runs = 0;
  let stop_after_runs = Infinity;
  const controller = new AbortController();
  const counting: BenchmarkRunner = (config, options) => {
    runs += 1;
    if (runs >= stop_after_runs) controller.abort();
    return runBenchmark(config, options);
  };
  try {
    await t.step("stopped in the second point: only the first is recorded", async () => {
      stop_after_runs = 3; // point 1 = runs 1-2; the abort lands inside point 2's first run
      const outcome = await runSweep(configs, {
        objective: "sum",
        resume,
        runner: counting,
        signal: controller.signal,
      });
      assert.equal(outcome.stopped, true);
      assert.deepEqual(outcome.records.map((r) => r.key), [pointKey(outcome.grid[0])]);
      assert.equal(outcome.records[0].read!.loop_e2e_gib_s.length, 2, "one speed per timed loop");
      const lines = Deno.readTextFileSync(resume).trim().split("\n");
      assert.equal(lines.length, 2, "header + one record");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["records.jsonl"]);
    });
    await t.step("the next sweep runs only the two points not recorded", async () => {
      runs = 0;
      stop_after_runs = Infinity;
      const first = JSON.parse(Deno.readTextFileSync(resume).trim().split("\n")[1]);
      const outcome = await runSweep(configs, { objective: "sum", resume, runner: counting });
      assert.equal(runs, 2 * 2, "2 points x 2 loops");
      assert.equal(outcome.resumed, 1);
      assert.equal(outcome.measured, 2);
      assert.deepEqual(outcome.records[0], first, "the resumed record is the one on file");
      assert.deepEqual(outcome.records.map((r) => r.key), outcome.grid.map(pointKey));
    });
    await t.step("a finished sweep resumes with no runs; a torn last line is dropped", async () => {
      runs = 0;
      Deno.writeTextFileSync(resume, '{"key": "bs=4M qd=8', { append: true });
      const outcome = await runSweep(configs, { objective: "sum", resume, runner: counting });
      assert.equal(runs, 0);
      assert.equal(outcome.resumed, 3);
      assert.equal(Deno.readTextFileSync(resume).trim().split("\n").length, 4);
    });
    await t.step("a record file from other settings is refused, naming the setting", () => {
      const other = { ...configs[0], ioSizeBytes: 16 << 20 };
      assert.throws(
        () => ResumeLog.open(resume, sweepSettings(other)),
        (e: unknown) => e instanceof UsageError && /io_size_bytes/.test(e.message),
      );
      const not_ours = join(dir, "not_ours.json");
      Deno.writeTextFileSync(not_ours, '{"schema": "aiobench/1"}\n');
      assert.throws(() => ResumeLog.open(not_ours, sweepSettings(configs[0])), /not an aiobench/);
    });
  } finally {
    removeDir(dir);
  }
});

Deno.test("sweep: a tiny real sweep through the CLI picks the measured best", async (t) => {
  const dir = tempDir();
  const data = join(dir, "data");
  Deno.mkdirSync(data);
  const out = (name: string) => join(dir, name);
  try {
    const child = cli([
      "--folder",
      data,
      "--io_size",
      "8M",
      "--block_size",
      "128K,1M",
      "--queue_depth",
      "4,32",
      "--overlap_events",
      "on",
      "--single_submit",
      "off",
      "--io_parallel",
      "1",
      "--loops",
      "2",
      "--warmup_loops",
      "0",
      "--json",
      out("s.json"),
      "--csv",
      out("s.csv"),
      "--config_out",
      out("aio.json"),
      "--report",
      out("s.html"),
    ]);
    const result = await child.output();
    const stdout = decoder.decode(result.stdout);
    const stderr = decoder.decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    const doc: SweepDocument = JSON.parse(Deno.readTextFileSync(out("s.json")));
    await t.step("every point is recorded with read, write and their loop spread", () => {
      assert.equal(doc.schema, "aiobench-sweep/1");
      assert.equal(doc.records.length, 4);
      for (const r of doc.records) {
        assert.equal(r.status, "ok", r.error);
        for (const op of [r.read!, r.write!]) {
          assert.equal(op.loop_e2e_gib_s.length, 2);
          assert.ok(op.e2e_gib_s_min <= op.e2e_gib_s_max && op.e2e_gib_s_min > 0);
          assert.ok(op.latency_us!.p50 > 0 && op.latency_us!.p99 >= op.latency_us!.p50);
        }
      }
    });
    await t.step("the best is the argmax of the recorded read + write", () => {
      const values = doc.records.map((r) => r.read!.e2e_gib_s + r.write!.e2e_gib_s);
      const argmax = values.indexOf(Math.max(...values));
      assert.equal(doc.best!.key, doc.records[argmax].key);
      assert.equal(doc.best!.objective_gib_s, objectiveGibS(doc.records[argmax], "sum"));
      // --config_out holds the recommended config and says how it was picked.
      const fragment = JSON.parse(Deno.readTextFileSync(out("aio.json")));
      const picked = doc.records.find((r) => r.key === doc.recommended!.key)!;
      assert.deepEqual(fragment.aio, deepSpeedAioConfig(picked.point).aio);
      assert.equal(typeof fragment.aio.overlap_events, "boolean");
      assert.deepEqual(fragment.aiobench_sweep, {
        objective: "sum",
        recommended: doc.recommended!.key,
        fastest: doc.best!.key,
        within_spread_of_fastest: doc.recommended!.within_spread.length,
        rule: recommend_rule,
      });
      assert.ok(doc.recommended!.within_spread.includes(doc.best!.key));
    });
    await t.step("stdout ranks the points; stderr shows progress with ETA and best", () => {
      assert.match(stdout, /vs best/);
      assert.match(stdout, new RegExp(`^1 +${escape(doc.best!.key)} .* best( recommended)?$`, "m"));
      assert.match(stdout, /^2 +bs=.* -\d+\.\d%( recommended| =)?$/m);
      assert.match(stdout, /^DeepSpeed: \{"aio": \{"block_size": \d+, /m);
      assert.match(stdout, /^fastest: block_size /m);
      assert.match(stdout, /^recommended: /m);
      // Before measuring: the grid, each axis with its values, and the point count.
      assert.match(
        stderr,
        /^grid: 4 points = block_size 128K,1M × queue_depth 4,32 × overlap_events on × single_submit off × io_parallel 1$/m,
      );
      for (let i = 1; i <= 4; i++) {
        assert.match(
          stderr,
          new RegExp(`^config ${i}/4: bs=.*  ETA \\d\\d:\\d\\d  best so far: `, "m"),
        );
      }
    });
    await t.step("the CSV has one row per point and the objective column", () => {
      const rows = Deno.readTextFileSync(out("s.csv")).trim().split("\n");
      assert.equal(rows.length, 5);
      const head = rows[0].split(",");
      const column = head.indexOf("objective_sum_gib_s");
      assert.ok(column > 0 && head.includes("read_e2e_gib_s_stddev"));
      for (const [i, row] of rows.slice(1).entries()) {
        assert.equal(Number(row.split(",")[column]), objectiveGibS(doc.records[i], "sum"));
      }
    });
    await t.step("the sweep removed the data file it made", () => {
      assert.deepEqual([...Deno.readDirSync(data)], []);
    });
  } finally {
    removeDir(dir);
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("sweep: a file of the user's in the folder is never overwritten", async () => {
  const dir = tempDir();
  try {
    const mine = join(dir, "aiobench_0.dat");
    Deno.writeTextFileSync(mine, "my data\n");
    const result = await cli([
      "--folder",
      dir,
      "--io_size",
      "8M",
      "--block_size",
      "1M",
      "--queue_depth",
      "8",
      "--io_parallel",
      "1",
    ]).output();
    assert.equal(result.code, 2);
    assert.match(decoder.decode(result.stderr), /aiobench_0\.dat already exists.*--force/);
    assert.equal(Deno.readTextFileSync(mine), "my data\n");
  } finally {
    removeDir(dir);
  }
});

Deno.test("sweep: Ctrl-C stops cleanly, reports what was measured, exits 130", async () => {
  const dir = tempDir();
  const json = join(dir, "s.json");
  try {
    const child = cli([
      "--folder",
      dir,
      "--io_size",
      "8M",
      "--block_size",
      "128K,256K,512K,1M",
      "--queue_depth",
      "4,8,16,32",
      "--io_parallel",
      "1,2",
      "--loops",
      "1",
      "--warmup_loops",
      "0",
      "--json",
      json,
    ]);
    const stdout = new Response(child.stdout).text();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    while (!/^config 1\//m.test(stderr)) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += value;
    }
    child.kill("SIGINT");
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
    const { code } = await child.status;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /stopping \(SIGINT\)/);
    const doc: SweepDocument = JSON.parse(Deno.readTextFileSync(json));
    assert.equal(doc.complete, false);
    assert.ok(doc.records.length >= 1 && doc.records.length < 64);
    assert.match(await stdout, /stopped: \d+ configs were not measured/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["s.json"]);
  } finally {
    removeDir(dir);
  }
});

Deno.test("sweep: the HTML report is offline and renders in headless Chromium", async (t) => {
  const dir = tempDir();
  try {
    const { configs } = sweepConfigs([
      "--folder",
      dir,
      "--io_size",
      "8M",
      "--block_size",
      "128K,1M",
      "--queue_depth",
      "8",
      "--io_parallel",
      "sync,1",
      "--single_submit",
      "off",
      "--loops",
      "1",
      "--warmup_loops",
      "0",
    ]);
    const doc = sweepDocument(await runSweep(configs, { objective: "sum" }), "sum");
    const html = renderSweepReport(doc);
    const path = join(dir, "sweep.html");
    Deno.writeTextFileSync(path, html);
    await t.step("one file: inline SVG, no scripts, links, fonts or URLs to fetch", () => {
      assert.equal((html.match(/<svg /g) ?? []).length, 2 + 2, "2 heatmaps + 2 histograms");
      assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(|src=|href=/i);
      const urls = html.match(/https?:\/\/[^"'\s<]*/g) ?? [];
      assert.deepEqual(
        new Set(urls),
        new Set(["http://www.w3.org/2000/svg"]),
        "only the SVG xmlns",
      );
      assert.ok(html.includes(doc.best!.key));
      assert.match(html, /write GiB\/s by block_size × queue_depth/);
      assert.match(html, /read GiB\/s by block_size × queue_depth/);
    });
    const no_chromium = hasCommand("chromium")
      ? undefined
      : "chromium is not installed (apt-get install -y chromium)";
    await stepUnless(t, no_chromium, "scripts/render_report.sh turns it into a PNG", async () => {
      const png = join(dir, "sweep.png");
      const render = await new Deno.Command(join(ROOT, "scripts/render_report.sh"), {
        args: [path, png, "1200"],
        env: { RENDER_HEIGHT: "1600" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(render.code, 0, decoder.decode(render.stderr));
      const bytes = Deno.readFileSync(png);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "PNG signature");
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      assert.deepEqual([view.getUint32(16), view.getUint32(20)], [1200, 1600]);
      assert.ok(bytes.length > 20_000, `a PNG of ${bytes.length} bytes is too small to hold it`);
    });
  } finally {
    removeDir(dir);
  }
});
