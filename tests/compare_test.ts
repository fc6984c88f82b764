import assert from "node:assert/strict";
import { join } from "node:path";
import { parseArgs } from "../lib/cli/parse.ts";
import {
  compareRows,
  compareTable,
  fioCommandArgs,
  fioJobFor,
  median,
  ratio,
  type Sample,
  sampleFromFio,
} from "../lib/compare/compare.ts";
import { FIO_MISSING } from "../lib/compare/command.ts";
import { findFio, fioArgs, parseFioJson } from "../lib/compare/fio.ts";
import type { Workload } from "../lib/common/types.ts";
import {
  makeRandomFile,
  removeDir,
  ROOT,
  runCli,
  type SkipReason,
  stepUnless,
  tempDir,
} from "./_helpers.ts";

const tools_deno = (() => {
  try {
    return [...Deno.readDirSync(join(ROOT, ".tools"))].find((e) => e.name.startsWith("deno-"));
  } catch {
    return undefined;
  }
})();
const fio_missing: SkipReason = findFio() === null
  ? "fio is not installed (scripts/install_fio.sh)"
  : undefined;

const sample = (gibS: number, iops: number, p50: number, p99: number, cpu: number): Sample => ({
  gibS,
  iops,
  p50Us: p50,
  p99Us: p99,
  cpuUsPerIo: cpu,
});

function configFor(args: string[]) {
  return parseArgs(["compare", ...args]).config!;
}

Deno.test("compare: medians and aiobench/fio ratios", async (t) => {
  await t.step("median of odd and even counts, nulls ignored", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([null, 5, null]), 5);
    assert.equal(median([]), null);
    assert.equal(ratio(2, 4), 0.5);
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(null, 1), null);
  });
  await t.step("rows: each metric's median per side, ratio of the medians", () => {
    const rows = compareRows(
      [sample(2, 200, 10, 30, 1), sample(4, 400, 12, 20, 3), sample(3, 300, 11, 25, 2)],
      [sample(3, 250, 9, 40, 4), sample(3, 350, 10, 40, 4), sample(6, 300, 20, 10, 4)],
    );
    const by = Object.fromEntries(rows.map((r) => [r.metric, r]));
    assert.deepEqual([by.gibS.aiobench, by.gibS.fio, by.gibS.ratio], [3, 3, 1]);
    assert.deepEqual([by.iops.aiobench, by.iops.fio, by.iops.ratio], [300, 300, 1]);
    assert.equal(by.p99Us.ratio, 25 / 40);
    assert.equal(by.cpuUsPerIo.ratio, 0.5);
    assert.equal(by.p50Us.higherIsBetter, false);
    const table = compareTable(rows);
    assert.match(table[0], /metric\s+aiobench\s+fio\s+aiobench\/fio/);
    assert.match(table.find((l) => l.startsWith("GiB/s"))!, /3\.000\s+3\.000\s+1\.00x/);
    assert.match(table.find((l) => l.startsWith("CPU/IO"))!, /0\.50x\s+lower is better/);
  });
  await t.step("fio's numbers in the table's units (from a real fio 3.33 run)", () => {
    const text = Deno.readTextFileSync(new URL("./fixtures/fio_randread_4k.json", import.meta.url));
    const r = parseFioJson(text);
    const s = sampleFromFio(r);
    assert.equal(s.gibS, r.readGiBs);
    assert.equal(s.iops, r.iops);
    assert.equal(s.p99Us, r.latencyUs.p99);
    assert.equal(s.cpuUsPerIo, r.cpuSecondsPerIo! * 1e6);
  });
});

Deno.test("compare: the fio job matches aiobench's semantics", async (t) => {
  const job = (args: string[], paths = ["/d/f"], workload: Workload = "read") => {
    const config = configFor(["--read_file", "/dev/null", ...args]);
    const j = fioJobFor(config, { workload, paths, ioSizeBytes: 64 << 20, engine: "io_uring" });
    return fioCommandArgs(fioArgs(j.options), j.extraArgs, j.laneOffsets);
  };
  await t.step("threads are fio jobs on the same file; batch policy without overlap", () => {
    const args = job(["--threads", "2", "--queue_depth", "16", "--block_size", "1M"]);
    for (
      const want of [
        "--filename=/d/f",
        "--numjobs=2",
        "--iodepth=16",
        "--bs=1048576",
        "--size=67108864",
        "--direct=1",
        "--nonvectored=0",
        "--iodepth_batch_submit=16",
        "--iodepth_batch_complete_min=16",
      ]
    ) assert.ok(args.includes(want), `${want} missing: ${args.join(" ")}`);
  });
  await t.step("overlap_events keeps fio's defaults; nonvectored and random map follow", () => {
    const args = job(
      ["--overlap_events", "--nonvectored", "--rw", "randread"],
      ["/d/f"],
      "randread",
    );
    assert.ok(!args.some((a) => a.startsWith("--iodepth_batch")), args.join(" "));
    assert.ok(args.includes("--nonvectored=1") && args.includes("--norandommap"));
  });
  await t.step("io_parallel lanes are contiguous slices: one job each", () => {
    const args = job(["--io_parallel", "4"]);
    assert.ok(args.includes("--numjobs=4") && args.includes(`--size=${16 << 20}`));
    assert.ok(args.includes(`--offset_increment=${16 << 20}`));
  });
  await t.step("threads × io_parallel: one global job, a section per lane at its offset", () => {
    const args = job(["--threads", "3", "--io_parallel", "2"]);
    const firstSection = args.findIndex((a) => a.startsWith("--name="));
    const globals = args.slice(0, firstSection);
    assert.ok(globals.includes("--numjobs=3") && globals.includes(`--size=${32 << 20}`));
    assert.ok(!args.some((a) => a.startsWith("--offset_increment")));
    assert.deepEqual(args.slice(firstSection), [
      "--name=aiobench_lane0",
      "--offset=0",
      "--name=aiobench_lane1",
      `--offset=${32 << 20}`,
    ]);
  });
  await t.step("one file per writer: fio's $jobnum pattern instead of --filename", () => {
    const args = job(["--threads", "2"], ["/d/w.0", "/d/w.1"], "write");
    assert.ok(args.includes("--filename_format=/d/w.$jobnum"));
    assert.ok(!args.some((a) => a.startsWith("--filename=")));
  });
  await t.step("--runtime and --ramp_time in milliseconds", () => {
    const args = job(["--runtime", "1500ms", "--time_based", "--ramp_time", "1s"]);
    assert.ok(args.includes("--runtime=1500ms") && args.includes("--time_based"));
    assert.ok(args.includes("--ramp_time=1000ms"));
  });
});

Deno.test("compare: live run against fio", async (t) => {
  const no_deno = tools_deno === undefined ? "no deno under .tools to run without PATH" : undefined;
  await stepUnless(t, no_deno, "without fio: one line on how to install it", async () => {
    const deno = tools_deno!;
    const out = await new Deno.Command(join(ROOT, ".tools", deno.name, "deno"), {
      args: ["run", "-A", join(ROOT, "main.ts"), "compare", "--read_file", "/dev/null"],
      env: { PATH: "/nonexistent" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.equal(new TextDecoder().decode(out.stderr).trim(), FIO_MISSING);
  });
  const name = "2 rounds of 4K randread: both sides measured, table and JSON agree";
  await stepUnless(t, fio_missing, name, async () => {
    const dir = tempDir();
    try {
      const path = join(dir, "cmp.bin");
      makeRandomFile(path, 16 << 20);
      const r = await runCli([
        "compare",
        "--read_file",
        path,
        "--block_size",
        "4K",
        "--queue_depth",
        "8",
        "--overlap_events",
        "--rw",
        "randread",
        "--runtime",
        "300ms",
        "--time_based",
        "--rounds",
        "2",
        "--json",
        "-",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n")));
      assert.equal(doc.schema, "aiobench-compare/1");
      assert.match(doc.fio_version, /^fio-/);
      const c = doc.comparisons[0];
      assert.equal(c.workload, "randread");
      assert.equal(c.rounds.length, 2);
      for (const round of c.rounds) {
        for (const side of [round.aiobench, round.fio]) {
          assert.ok(side.iops > 1000 && side.gibS > 0, JSON.stringify(side));
          assert.ok(side.p99Us >= side.p50Us && side.p50Us > 0);
          assert.ok(side.cpuUsPerIo > 0);
        }
      }
      const iops = c.rows.find((row: { metric: string }) => row.metric === "iops");
      assert.equal(iops.ratio, iops.aiobench / iops.fio);
      assert.ok(
        c.fio_command.includes("--runtime=300ms") && c.fio_command.includes("--norandommap"),
      );
      assert.match(r.stderr, /round 2\/2 randread: aiobench .* fio /);
      assert.match(r.stderr, /^compare randread: bs 4K, qd 8, io_size 16M, threads 1, /m);
      assert.match(r.stderr, /IOPS\s+\d+\s+\d+\s+[\d.]+x/);
    } finally {
      removeDir(dir);
    }
  });
});
