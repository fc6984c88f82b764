/**
 * DeepSpeed's command lines, as ds_io (deepspeed/nvme) and ds_aio's test_ds_aio.py take them, run
 * unchanged on real files: ds_io's engine names and options, defaults by the tool the command
 * line comes from (explicit flags win), the settings line, ds_aio's read + write pair; what can't
 * be done (torch engines, contradictions, fio's names) is one line with the way out.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listing, makeRandomFile, removeDir, runCli, sha256Sync, tempDir } from "./_helpers.ts";
import type { BenchResult } from "../lib/common/types.ts";

const MIB = 1 << 20;

async function run(args: string[]): Promise<{ doc: BenchResult; human: string }> {
  const r = await runCli([...args, "--json", "-"]);
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return { doc: JSON.parse(r.stdout) as BenchResult, human: r.stderr };
}

async function refused(args: string[], ...parts: string[]): Promise<string> {
  const r = await runCli(args);
  assert.equal(r.code, 2, `${args.join(" ")} should be refused: ${r.stdout}${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith("aiobench: "), lines[0]);
  for (const part of parts) assert.ok(lines[0].includes(part), `${lines[0]} lacks ${part}`);
  return lines[0];
}

function settings(human: string): string {
  const line = human.split("\n").find((l) => l.startsWith("settings: "));
  assert.ok(line, `no settings line in:\n${human}`);
  return line;
}

Deno.test("ds_io command lines: names, options and ds_io's defaults", async (t) => {
  const dir = tempDir("aiobench_dsio_");
  try {
    const a = join(dir, "a"), b = join(dir, "b");
    Deno.mkdirSync(a);
    Deno.mkdirSync(b);

    await t.step("ds_nvme_tune's own command line shape runs as given", async () => {
      // What DeepSpeed's perf_run_sweep.py hands ds_io for one read point.
      const { doc, human } = await run([
        "--read",
        "--engine",
        "aio_handle",
        "--loops",
        "1",
        "--io_size",
        "4M",
        "--folder_to_device_mapping",
        `${a}:0`,
        `${b}:1`,
        "--single_submit",
        "--sequential_requests",
        "--queue_depth",
        "8",
        "--block_size",
        "1M",
        "--io_parallel",
        "2",
      ]);
      const c = doc.config;
      assert.deepEqual(
        [c.loops, c.warmup_loops, c.overlap_events, c.single_submit, c.io_parallel, c.threads],
        [1, 1, false, true, 2, 2],
        "explicit flags win; the rest is ds_io's (one warm-up, one worker per mapped folder)",
      );
      assert.deepEqual(c.folders, [a, b]);
      assert.deepEqual(doc.results.map((r) => [r.op, r.bytes]), [["read", 2 * 4 * MIB]]);
      assert.deepEqual(doc.results[0].workers.map((w) => w.path), [
        join(a, "aiobench_0.dat"),
        join(b, "aiobench_1.dat"),
      ]);
      assert.equal(
        settings(human),
        "settings: block 1M, queue depth 8, submit one at a time, overlap off, io_parallel 2 " +
          "(async pread/pwrite + wait), 2 worker(s), 1 loop(s) + 1 warm-up, buffer of 4.00 MiB " +
          "per worker, engine aio_handle on io_uring; defaults from ds_io (--folder)",
      );
    });

    await t.step("ds_io's defaults: 3 loops, 1 warm-up, overlap, io_parallel 1", async () => {
      const { doc, human } = await run(["--folder", a, "--io_size", "4M", "--read"]);
      const c = doc.config;
      assert.deepEqual(
        [c.loops, c.warmup_loops, c.overlap_events, c.io_parallel, c.ds_engine],
        [3, 1, true, 1, "aio_handle"],
      );
      assert.equal(doc.results[0].bytes, 3 * 4 * MIB, "three timed loops");
      assert.match(settings(human), /overlap on, io_parallel 1 .* 3 loop\(s\) \+ 1 warm-up/);
      assert.match(settings(human), /; defaults from ds_io \(--folder\)$/);
    });

    await t.step("the same flags from a ds_aio command line keep ds_aio's defaults", async () => {
      const { doc, human } = await run(["--write_file", join(a, "w"), "--write_size", "4M"]);
      const c = doc.config;
      assert.deepEqual(
        [c.loops, c.warmup_loops, c.overlap_events, c.io_parallel],
        [1, 0, false, null],
      );
      assert.match(settings(human), /overlap off, io_parallel unset \(sync read\/write\)/);
      assert.match(settings(human), /; defaults from ds_aio \(--read_file\/--write_file\)$/);
    });

    await t.step("--engine aio_basic, --intra_op_parallelism", async () => {
      const basic = await run(["--folder", a, "--io_size", "4M", "--engine", "aio_basic"]);
      assert.equal(basic.doc.config.ds_engine, "aio_basic");
      assert.equal(basic.doc.results[0].bytes, 3 * 4 * MIB);
      assert.match(settings(basic.human), /one context per call, .* engine aio_basic on /);
      const intra = await run(["--folder", a, "--io_size", "4M", "--intra_op_parallelism", "2"]);
      assert.equal(intra.doc.config.io_parallel, 2);
    });

    await t.step("--different_file_each_iteration: a file per loop", async () => {
      const { doc } = await run([
        "--folder",
        a,
        "--io_size",
        "4M",
        "--different_file_each_iteration",
        "--keep",
      ]);
      assert.equal(doc.config.different_file_each_iteration, true);
      assert.deepEqual(listing(a), [0, 1, 2, 3].map((l) => `aiobench_0_${l}.dat`));
      for (const name of listing(a)) Deno.removeSync(join(a, name));
    });

    await t.step("the mapping flag repeated is the same as several values after one", async () => {
      const { doc } = await run([
        "--folder_to_device_mapping",
        `${a}:0`,
        "--folder_to_device_mapping",
        `${b}:1`,
        "--io_size",
        "4M",
        "--loops",
        "1",
      ]);
      assert.deepEqual(doc.config.folders, [a, b]);
      assert.equal(doc.config.threads, 2);
    });
    assert.deepEqual([listing(a), listing(b)], [[], []], "created files removed");
  } finally {
    removeDir(dir);
  }
});

Deno.test("ds_aio's --read_file F --write_file W --write_size S: read, then write", async () => {
  const dir = tempDir("aiobench_dsaio_pair_");
  try {
    const data = join(dir, "in.bin");
    makeRandomFile(data, 8 * MIB);
    const digest = sha256Sync(data);
    const r = await runCli([
      "--read_file",
      data,
      "--write_file",
      join(dir, "out"),
      "--write_size",
      "4M",
      "--threads",
      "2",
      "--handle",
      "--validate",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const titles = r.stdout.split("\n").filter((l) => / (Read|Write) (Latency|Speed) = /.test(l))
      .map((l) => l.split(" = ")[0]);
    assert.deepEqual(titles, [
      "Task Read Latency",
      "Task Read Speed",
      "E2E Read Latency",
      "E2E Read Speed",
      "Task Write Latency",
      "Task Write Speed",
      "E2E Write Latency",
      "E2E Write Speed",
    ]);
    assert.match(r.stdout, /^validate: read 2 × 8\.00 MiB against the file: ok$/m);
    assert.match(r.stdout, /^validate: write 2 × 4\.00 MiB against 2 files: ok$/m);
    assert.match(
      settings(r.stdout),
      /buffer of 8\.00 MiB \(read\), 4\.00 MiB \(write\) per worker/,
    );
    assert.equal(sha256Sync(data), digest);
    assert.deepEqual(listing(dir), ["in.bin"]);
  } finally {
    removeDir(dir);
  }
});

Deno.test("what can't be done is one line with the way out", async (t) => {
  await t.step("ds_io's torch engines and torch-only options", async () => {
    for (const engine of ["torch_io", "torch_fastio"]) {
      await refused(["--folder", "/tmp", "--engine", engine], `--engine ${engine}`, "aio_handle");
    }
    await refused(["--folder", "/tmp", "--fast_io_size", "64M"], "--fast_io_size", "torch");
    await refused(["--folder", "/tmp", "--torch_legacy_save"], "--torch_legacy_save", "torch");
  });
  await t.step("--read_file with --folder_to_device_mapping", async () => {
    await refused(
      ["--read_file", "/etc/hostname", "--folder_to_device_mapping", "/tmp:0"],
      "--folder_to_device_mapping",
      "--read_file",
    );
  });
  await t.step("aio_basic with what needs a handle for the run", async () => {
    await refused(
      ["--folder", "/tmp", "--engine", "aio_basic", "--log_interval", "1s"],
      "--log_interval",
      "aio_basic",
    );
    await refused(["--folder", "/tmp", "--slow_bounce_buffer"], "--slow_bounce_buffer", "--gpu");
    await refused(
      ["--folder", "/tmp", "--engine", "aio_basic", "--io_parallel", "4"],
      "--io_parallel",
      "aio_basic",
    );
  });
  await t.step("fio's names point at aiobench's", async () => {
    const pointers: [string[], string][] = [
      [["--bs", "1M"], "--block_size"],
      [["--iodepth", "32"], "--queue_depth"],
      [["--numjobs", "4"], "--threads"],
      [["--size", "1G"], "--io_size"],
      [["--direct=1"], "--buffered"],
      [["--ioengine", "io_uring"], "--engine"],
    ];
    for (const [argv, ours] of pointers) {
      const line = await refused(["--folder", "/tmp", ...argv], ours, "fio");
      assert.ok(!line.includes("did you mean"), line);
    }
  });
});

Deno.test("doctor --help lists only doctor's options; others are refused", async () => {
  const help = await runCli(["doctor", "--help"]);
  assert.equal(help.code, 0);
  const flags = [...help.stdout.matchAll(/^\s+(--[a-z_]+)/gm)].map((m) => m[1]);
  // Where to look, --json, and --mpi (doctor checks every rank under mpiexec).
  assert.deepEqual(flags, ["--folder", "--json", "--mpi"]);
  const r = await runCli(["doctor", "/tmp", "--block_size", "1M"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--block_size is not an option of aiobench doctor/);
});
