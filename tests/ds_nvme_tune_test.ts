/**
 * DeepSpeed's own NVMe tuner, ds_nvme_tune, drives aiobench: it runs `ds_io` from its own
 * directory, so a `ds_io` next to a copy of it that runs aiobench gets DeepSpeed's exact command
 * lines (`--folder_to_device_mapping DIR:0 --read --engine aio_handle --loops 1 --io_size ...
 * --sequential_requests --queue_depth ...`); DeepSpeed then parses the logs and prints its
 * recommended `aio` config. Needs a Python environment with the `deepspeed` package (and torch):
 * .tools/dsvenv, or AIOBENCH_DEEPSPEED_PYTHON.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { removeDir, ROOT, type SkipReason, tempDir, testUnless } from "./_helpers.ts";

const decoder = new TextDecoder();

/** The Python that has DeepSpeed, and its ds_nvme_tune script, or why there is none. */
function deepspeedPython(): { python: string; tune: string } | { missing: string } {
  const python = Deno.env.get("AIOBENCH_DEEPSPEED_PYTHON") ??
    join(ROOT, ".tools/dsvenv/bin/python");
  if (!existsSync(python)) {
    return { missing: "needs a Python with deepspeed and torch (.tools/dsvenv)" };
  }
  const tune = join(python, "..", "ds_nvme_tune");
  if (!existsSync(tune)) return { missing: `no ds_nvme_tune next to ${python}` };
  return { python, tune };
}

const ds = deepspeedPython();
const missing: SkipReason = "missing" in ds ? ds.missing : undefined;

testUnless(missing, "DeepSpeed's ds_nvme_tune runs aiobench as its ds_io and parses it", () => {
  if ("missing" in ds) return;
  const dir = tempDir("aiobench_dsnvme_");
  try {
    const bin = join(dir, "bin");
    const nvme = join(dir, "nvme");
    const logs = join(dir, "logs");
    // torch (imported by DeepSpeed) keeps its caches under the temp dir (torchinductor_<user>):
    // this test's own, removed with it.
    const tmp = join(dir, "tmp");
    Deno.mkdirSync(bin);
    Deno.mkdirSync(nvme);
    Deno.mkdirSync(tmp);
    Deno.copyFileSync(ds.tune, join(bin, "ds_nvme_tune"));
    Deno.writeTextFileSync(
      join(bin, "ds_io"),
      `#!/bin/sh\nexec ${Deno.execPath()} run -A ${join(ROOT, "main.ts")} "$@"\n`,
    );
    Deno.chmodSync(join(bin, "ds_io"), 0o755);
    const sweep = join(dir, "sweep.json");
    Deno.writeTextFileSync(
      sweep,
      JSON.stringify({
        block_size: ["1M"],
        queue_depth: [4, 8],
        sequential_requests: [true, false],
        single_submit: [false],
        io_parallel: [1],
      }),
    );
    const out = new Deno.Command(ds.python, {
      args: [
        join(bin, "ds_nvme_tune"),
        ...["--nvme_dir", nvme, "--sweep_config", sweep, "--io_size", "4M", "--log_dir", logs],
      ],
      env: { DS_ACCELERATOR: "cpu", NO_COLOR: "1", TMPDIR: tmp },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const stdout = decoder.decode(out.stdout);
    assert.ok(out.success, `${stdout}\n${decoder.decode(out.stderr)}`);
    // Every point ran through aiobench, with ds_io's defaults and DeepSpeed's flags.
    const speeds: Record<string, number> = {};
    for (const op of ["read", "write"]) {
      const folder = join(logs, `_aio_bench_${op}_logs`);
      const names = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      assert.equal(names.length, 4, names.join(" "));
      for (const name of names) {
        const log = Deno.readTextFileSync(join(folder, name));
        assert.match(log, /^aiobench /, `${name} is aiobench's output`);
        assert.match(log, /; defaults from ds_io \(--folder\)$/m);
        assert.match(log, /, 1 loop\(s\) \+ 1 warm-up, /m);
        const title = op === "read" ? "Read" : "Write";
        const speed = log.match(new RegExp(`^E2E ${title} Speed = ([0-9.e-]+) GB/sec$`, "m"));
        assert.ok(speed, `${name}: no E2E speed line`);
        assert.equal(log.includes("overlap on"), name.includes("_overlap_"), name);
        speeds[name] = Number(speed[1]);
      }
    }
    // DeepSpeed picks the best read + write and prints it as its aio config.
    const sums = ["overlap_ftd1_d4", "overlap_ftd1_d8", "sequential_ftd1_d4", "sequential_ftd1_d8"]
      .map((k) => ({
        k,
        sum: speeds[`read_block_${k}_bs1M_p1.txt`] + speeds[`write_block_${k}_bs1M_p1.txt`],
      }))
      .sort((a, b) => b.sum - a.sum);
    const config = JSON.parse(stdout.slice(stdout.indexOf("{")));
    const best = sums[0].k;
    assert.deepEqual(config.aio, {
      single_submit: "false",
      overlap_events: best.startsWith("overlap") ? "true" : "false",
      num_threads: 1,
      queue_depth: Number(best.slice(-1)),
      block_size: 1 << 20,
    });
    assert.deepEqual([...Deno.readDirSync(nvme)], [], "aiobench removed its files");
  } finally {
    removeDir(dir);
  }
});
