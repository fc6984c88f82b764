/**
 * `aiobench zero` end to end: real replays on real files (ext4 under /var/tmp, and a loop device
 * when root) with the native handles; the document's byte counts against the plan; the swap files
 * gone afterwards; one-line refusals; SIGINT in the middle of a replay removes the swap files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  lines,
  listing,
  needsRoot,
  removeDir,
  runCli,
  sh,
  tempDir,
  testUnless,
} from "./_helpers.ts";

const main_ts = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
const tiny = ["--hidden", "520", "--layers", "2", "--vocab", "3001", "--sub_group_size", "1000000"];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Files and folders left under `dir`, recursively. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    out.push(e.name);
    if (e.isDirectory) out.push(...leftovers(join(dir, e.name)).map((n) => `${e.name}/${n}`));
  }
  return out;
}

interface ZeroDoc {
  schema: string;
  read_bytes_per_step: number;
  write_bytes_per_step: number;
  io_s_per_step: number;
  steps: { warmup: boolean; io_s: number; read_bytes: number; write_bytes: number }[];
  ranks: { rank: number; read_bytes_per_step: number; lanes: { lane: string; bytes: number }[] }[];
  per_rank: { read_bytes: number; write_bytes: number };
  verdict: string;
  suggestions: unknown[];
  timeline: { rank: number; bars: unknown[] }[];
  partial: boolean;
}

Deno.test("zero: a replay on ext4 moves the planned bytes and removes its files", async (t) => {
  const dir = tempDir();
  try {
    for (
      const [name, extra] of [
        ["optimizer + parameters, 2 ranks", ["--ranks", "2", "--max_in_cpu", "0"]],
        ["pipelined optimizer", [
          "--offload",
          "optimizer",
          "--pipeline_read",
          "--pipeline_write",
          "--buffer_count",
          "12",
        ]],
        ["parameters only", ["--offload", "param", "--max_in_cpu", "0"]],
      ] as const
    ) {
      await t.step(name, async () => {
        const json = join(dir, "zero.json");
        const report = join(dir, "zero.html");
        const r = await runCli([
          "zero",
          ...tiny,
          "--max_reuse_distance",
          "0",
          "--nvme_path",
          dir,
          "--steps",
          "2",
          "--compute_s",
          "0.02",
          "--json",
          json,
          "--report",
          report,
          ...extra,
        ]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const doc = JSON.parse(Deno.readTextFileSync(json)) as ZeroDoc;
        assert.equal(doc.schema, "aiobench-zero/1");
        const ranks = doc.ranks.length;
        assert.equal(doc.read_bytes_per_step, doc.per_rank.read_bytes * ranks);
        assert.equal(doc.write_bytes_per_step, doc.per_rank.write_bytes * ranks);
        assert.deepEqual(doc.steps.map((s) => s.warmup), [true, false, false]);
        assert.ok(doc.io_s_per_step > 0 && doc.steps.every((s) => s.io_s > 0));
        // The handles moved at least the planned bytes over the measured steps (O_DIRECT rounds
        // the last block of a file up to the device's alignment).
        for (const rank of doc.ranks) {
          const moved = rank.lanes.reduce((a, l) => a + l.bytes, 0);
          const planned = 2 * (doc.per_rank.read_bytes + doc.per_rank.write_bytes);
          assert.ok(moved >= planned && moved < planned * 1.01, `${moved} vs ${planned}`);
        }
        assert.match(doc.verdict, /GiB|MiB/);
        assert.match(doc.verdict, /NVMe (bounds|does not bound) the step/);
        // What would help: each suggestion has its effect and says how it was obtained.
        const suggestions = doc.suggestions as { what: string; effect: string; basis: string }[];
        assert.ok(suggestions.length > 0);
        for (const s of suggestions) {
          assert.ok(s.what.length > 0 && s.effect.length > 0, JSON.stringify(s));
          assert.ok(["computed", "measured", "not measured"].includes(s.basis), s.basis);
          // The one suggestion nothing here measured says how to measure it.
          if (s.basis === "not measured") assert.match(s.effect, /--try_aio_config/);
        }
        const pipelining = suggestions.filter((s) => s.what.startsWith("pipeline_read and"));
        assert.deepEqual(
          pipelining.map((s) => s.basis),
          name.startsWith("optimizer") ? ["computed"] : [],
          "pipelining is suggested, with a computed effect, only where the optimizer swaps without it",
        );
        const html = Deno.readTextFileSync(report);
        assert.equal((html.match(/<svg /g) ?? []).length, ranks);
        assert.ok(!/<script/i.test(html));
        // Offline: nothing to fetch (the SVG namespace is a name, not a request).
        const urls = html.match(/https?:\/\/[^\s"']+/g) ?? [];
        assert.deepEqual(urls.filter((u) => u !== "http://www.w3.org/2000/svg"), []);
        assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
        assert.deepEqual(listing(dir), ["zero.html", "zero.json"], "swap files left behind");
        assert.match(r.stdout, /^swap files: .* removed afterwards$/m);
      });
    }
  } finally {
    removeDir(dir);
  }
});

Deno.test("zero: --try_aio_config measures the step again with sweep's aio section", async () => {
  const dir = tempDir();
  try {
    const aio = join(dir, "aio.json");
    // The shape of aiobench sweep --config_out.
    Deno.writeTextFileSync(aio, '{"aio": {"block_size": 262144, "queue_depth": 16}}');
    const json = join(dir, "zero.json");
    const r = await runCli([
      "zero",
      ...tiny,
      "--offload",
      "optimizer",
      "--nvme_path",
      dir,
      "--steps",
      "1",
      "--try_aio_config",
      aio,
      "--json",
      json,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(Deno.readTextFileSync(json));
    assert.equal(doc.aio_trial.aio.block_size, 262144);
    assert.equal(doc.aio_trial.aio.queue_depth, 16);
    assert.ok(doc.aio_trial.step_s_per_step > 0);
    assert.equal(doc.aio_trial.read_bytes_per_step, doc.read_bytes_per_step);
    const measured = doc.suggestions.filter((x: { basis: string }) => x.basis === "measured");
    assert.equal(measured.length, 1);
    assert.match(
      measured[0].what,
      /aio section of .*aio\.json \(block_size 262144, queue_depth 16,/,
    );
    assert.match(r.stdout, /\[measured\]$/m);
    assert.deepEqual(listing(dir), ["aio.json", "zero.json"]);
  } finally {
    removeDir(dir);
  }
});

Deno.test("zero: --keep leaves DeepSpeed's layout, a second run refuses it", async () => {
  const dir = tempDir();
  try {
    const args = ["zero", ...tiny, "--offload", "optimizer", "--nvme_path", dir, "--steps", "1"];
    const r = await runCli([...args, "--keep"]);
    assert.equal(r.code, 0, r.stderr);
    const files = leftovers(dir);
    const rank0 = "aiobench_zero/zero_stage_3/optimizer/rank0/";
    // One rank: the embedding alone fills the first sub-group (ds_id 0).
    assert.ok(files.includes(`${rank0}0_0.tensor.swp`), files.join());
    assert.ok(files.includes(`${rank0}exp_avg-0_0.tensor.swp`));
    assert.ok(files.includes(`${rank0}exp_avg_sq-0_0.tensor.swp`));
    assert.ok(files.includes(`${rank0}0_0_gradient_0_1560320.tensor.swp`));
    const again = await runCli(args);
    assert.equal(again.code, 2);
    assert.deepEqual(lines(again.stderr), [
      `aiobench: ${
        join(dir, "aiobench_zero")
      } already exists (a run with --keep?); remove it first`,
    ]);
  } finally {
    removeDir(dir);
  }
});

Deno.test("zero: problems are one line naming them", async (t) => {
  const dir = tempDir();
  try {
    await t.step("a config without NVMe offload", async () => {
      const config = join(dir, "cpu.json");
      Deno.writeTextFileSync(
        config,
        JSON.stringify({ zero_optimization: { stage: 3, offload_optimizer: { device: "cpu" } } }),
      );
      const r = await runCli(["zero", "--params", "1B", "--ds_config", config]);
      assert.equal(r.code, 2);
      const out = lines(r.stderr);
      assert.equal(out.length, 1, r.stderr);
      assert.match(out[0], /^aiobench: nothing is offloaded to NVMe: .*"nvme"/);
    });
    await t.step("a config with NVMe offload but no nvme_path", async () => {
      const config = join(dir, "nopath.json");
      Deno.writeTextFileSync(
        config,
        JSON.stringify({ zero_optimization: { stage: 3, offload_optimizer: { device: "nvme" } } }),
      );
      const r = await runCli(["zero", "--params", "1B", "--ds_config", config]);
      assert.equal(r.code, 2);
      assert.deepEqual(lines(r.stderr), [
        "aiobench: zero_optimization.offload_optimizer.nvme_path is missing; set it in the config or pass --nvme_path DIR",
      ]);
    });
    await t.step("an nvme_path that does not exist", async () => {
      const r = await runCli([
        "zero",
        "--params",
        "1B",
        "--offload",
        "optimizer",
        "--nvme_path",
        join(dir, "nope"),
      ]);
      assert.equal(r.code, 2);
      assert.deepEqual(lines(r.stderr), [
        `aiobench: nvme_path ${join(dir, "nope")} does not exist; create it or give another folder`,
      ]);
    });
    await t.step("too little space: what is needed and what is free", async () => {
      const r = await runCli(["zero", "--params", "70B", "--ranks", "8", "--nvme_path", dir]);
      assert.equal(r.code, 2);
      const out = lines(r.stderr);
      assert.equal(out.length, 1, r.stderr);
      assert.match(
        out[0],
        /^aiobench: not enough space on .*: the swap files of ranks 0-7 need [\d.]+ TiB, [\d.]+ [GMT]iB is free; /,
      );
      assert.deepEqual(listing(dir), ["cpu.json", "nopath.json"]);
    });
    await t.step("no model", async () => {
      const r = await runCli(["zero", "--nvme_path", dir]);
      assert.equal(r.code, 2);
      assert.match(lines(r.stderr)[0], /^aiobench: aiobench zero needs a model: --params COUNT/);
    });
  } finally {
    removeDir(dir);
  }
});

Deno.test("zero: help says what is and is not modelled", async () => {
  const r = await runCli(["help", "zero"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: aiobench zero /);
  for (const heading of ["Model:", "Replay:", "IO shape:", "Modelled:", "Not modelled:"]) {
    assert.ok(r.stdout.includes(`\n${heading}\n`), `no ${heading} section`);
  }
  assert.match(r.stdout, /--queue_depth N .*\(default: 8\)/);
  assert.match(r.stdout, /- compute: --compute_s /);
  const wrong = await runCli(["zero", "--loops", "2"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--loops is not an option of aiobench zero/);
});

Deno.test("zero: --dry_run plans without IO", async () => {
  const dir = tempDir();
  try {
    const r = await runCli([
      "zero",
      "--params",
      "1B",
      "--offload",
      "optimizer",
      "--ranks",
      "4",
      "--nvme_path",
      dir,
      "--dry_run",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^model: GPT-style, \d+ layers × hidden \d+/m);
    assert.match(r.stdout, /per rank and step: [\d.]+ GiB read \+ [\d.]+ GiB written/);
    assert.deepEqual(listing(dir), []);
  } finally {
    removeDir(dir);
  }
});

Deno.test("zero: SIGINT during a replay removes the swap files", async () => {
  const dir = tempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main_ts,
        "zero",
        ...tiny,
        "--nvme_path",
        dir,
        "--steps",
        "50",
        "--compute_s",
        "1",
      ],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let exited = false;
    output.finally(() => (exited = true));
    const swap = join(dir, "aiobench_zero");
    const t0 = performance.now();
    const started = () => leftovers(dir).some((f) => /_gradient_\d+_\d+\.tensor\.swp$/.test(f));
    while (!exited && !started() && performance.now() - t0 < 20_000) await sleep(20);
    assert.ok(!exited && started(), "the replay never wrote a gradient file");
    child.kill("SIGINT");
    const o = await output;
    const stderr = decoder.decode(o.stderr);
    assert.equal(o.code, 130, stderr);
    assert.match(stderr, /stopping \(SIGINT\): removing swap files/);
    assert.ok(!leftovers(dir).length, `left behind: ${leftovers(dir).join(", ")} (${swap})`);
  } finally {
    removeDir(dir);
  }
});

const loop_name = "zero: a replay on a loop device (ext4 over /dev/shm)";
testUnless(needsRoot("losetup", "mkfs.ext4"), loop_name, async () => {
  const script = new URL("../scripts/loopdev.sh", import.meta.url).pathname;
  const name = `zero_test_${Deno.pid}`;
  let mnt = "";
  try {
    mnt = (await sh(script, ["up", "--size", "512M", "--name", name])).split("\n").pop()!;
    const r = await runCli([
      "zero",
      ...tiny,
      "--max_in_cpu",
      "0",
      "--max_reuse_distance",
      "0",
      "--ranks",
      "2",
      "--nvme_path",
      mnt,
      "--steps",
      "2",
      "--json",
      "-",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ZeroDoc;
    assert.equal(doc.steps.filter((s) => !s.warmup).length, 2);
    assert.ok(doc.io_s_per_step > 0);
    assert.ok(doc.read_bytes_per_step > 0 && doc.write_bytes_per_step > 0);
    assert.deepEqual(leftovers(mnt).filter((f) => f !== "lost+found"), []);
  } finally {
    if (mnt) await sh(script, ["down", "--name", name]);
  }
});

Deno.test("zero: flags override --ds_config, the rest comes from it", async () => {
  const dir = tempDir();
  try {
    const config = join(dir, "ds.json");
    const elsewhere = join(dir, "from_config");
    Deno.writeTextFileSync(
      config,
      JSON.stringify({
        fp16: { enabled: true },
        zero_optimization: {
          stage: 3,
          sub_group_size: 1e6,
          offload_optimizer: {
            device: "nvme",
            nvme_path: elsewhere,
            buffer_count: 8,
            pipeline_read: true,
          },
          offload_param: { device: "nvme", nvme_path: elsewhere },
        },
        aio: { block_size: 262144, queue_depth: 32 },
      }),
    );
    const model = ["--hidden", "520", "--layers", "2", "--vocab", "3001", "--ds_config", config];
    const r = await runCli([
      "zero",
      ...model,
      "--nvme_path",
      dir,
      "--buffer_count",
      "12",
      "--pipeline_write",
      "--queue_depth",
      "4",
      "--dry_run",
    ]);
    assert.equal(r.code, 0, r.stderr);
    // From the config: fp16, sub_group_size, pipeline_read, the block size. From the flags: the
    // folder, pipeline_write, buffer_count and the queue depth.
    assert.match(r.stdout, /parameters \(float16\)/);
    assert.match(r.stdout, /sub-group\(s\) of up to 1000000 elements/);
    assert.match(r.stdout, /aio block 256\.00 KiB × queue depth 4, pipelined \(read \+ write\)$/m);
    assert.match(r.stdout, new RegExp(`^swap files: .* on ${dir} \\(`, "m"));
    // The config's buffer_count holds where no flag replaces it: 8 is too few for both pipelines.
    const few = await runCli([
      "zero",
      ...model,
      "--nvme_path",
      dir,
      "--pipeline_write",
      "--dry_run",
    ]);
    assert.equal(few.code, 2);
    assert.match(lines(few.stderr)[0], /offload_optimizer\.buffer_count 8 is too few: /);
    assert.deepEqual(listing(dir), ["ds.json"]);
  } finally {
    removeDir(dir);
  }
});
