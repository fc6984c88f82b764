/**
 * The no-argument run (the README's first command): in an empty directory it writes then reads a
 * temporary file, prints the ds_aio lines for both, and leaves the directory as it found it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRunSize } from "../lib/run/files.ts";
import {
  makeRandomFile,
  needsRoot,
  removeDir,
  runCli,
  sh,
  sha256File,
  stepUnless,
  tempDir,
  unmount,
} from "./_helpers.ts";

const MIB = 1 << 20;
const OPS = ["Write", "Read"];

/** The eight ds_aio lines in order: Write's four, then Read's four. */
function checkDsAioLines(stdout: string): void {
  const found = stdout.split("\n").filter((l) => /^(Task|E2E) (Write|Read) /.test(l));
  const expected = OPS.flatMap((op) => [
    new RegExp(`^Task ${op} Latency = [0-9.e-]+ sec$`),
    new RegExp(`^Task ${op} Speed = [0-9.e+-]+ GB/sec$`),
    new RegExp(`^E2E ${op} Latency = [0-9.e-]+ sec$`),
    new RegExp(`^E2E ${op} Speed = [0-9.e+-]+ GB/sec$`),
  ]);
  assert.equal(found.length, expected.length, stdout);
  expected.forEach((re, i) => assert.match(found[i], re));
}

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("default run: no arguments in an empty directory, which stays empty", async () => {
  const dir = tempDir("aiobench_default_");
  try {
    const r = await runCli([], { cwd: dir, env: { AIOBENCH_DEFAULT_SIZE: "16M" } });
    assert.equal(r.code, 0, r.stderr);
    checkDsAioLines(r.stdout);
    assert.match(r.stdout, /^write\s/m, "the table has a write row");
    assert.match(r.stdout, /^read\s/m, "the table has a read row");
    assert.deepEqual(entries(dir), [], "the temporary file was removed");
  } finally {
    removeDir(dir);
  }
});

Deno.test("default run: writes then reads the size asked, and leaves the user's files alone", async () => {
  const dir = tempDir("aiobench_default_json_");
  try {
    const mine = join(dir, "notes.bin");
    makeRandomFile(mine, 64 * 1024);
    const sha = await sha256File(mine);
    const r = await runCli(["--json", "-"], { cwd: dir, env: { AIOBENCH_DEFAULT_SIZE: "8M" } });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.config.default_run, true);
    assert.equal(doc.config.block_size, MIB, "DeepSpeed's default block size");
    assert.equal(doc.config.queue_depth, 32);
    assert.equal(doc.config.overlap_events, true);
    assert.deepEqual(doc.results.map((x: { op: string }) => x.op), ["write", "read"]);
    for (const x of doc.results) {
      assert.equal(x.bytes, 8 * MIB);
      assert.equal(x.errors, 0);
      assert.equal(x.workers[0].path, doc.results[0].workers[0].path, "reads what it wrote");
      assert.ok(x.workers[0].path.startsWith(`${dir}/`), x.workers[0].path);
    }
    assert.deepEqual(entries(dir), ["notes.bin"]);
    assert.equal(await sha256File(mine), sha);
  } finally {
    removeDir(dir);
  }
});

Deno.test("defaultRunSize: about 1 GiB, a quarter of free space when short, at least 64 MiB", async (t) => {
  await t.step("on the root disk: min(1 GiB, a quarter of what df says is free)", async () => {
    const dir = tempDir("aiobench_default_size_");
    try {
      const free = Number((await sh("df", ["-B1", "--output=avail", dir])).split("\n").pop());
      const quarter = Math.floor(free / 4 / MIB) * MIB;
      assert.equal(defaultRunSize(dir), Math.max(64 * MIB, Math.min(1 << 30, quarter)));
    } finally {
      removeDir(dir);
    }
  });

  await t.step(
    "AIOBENCH_DEFAULT_SIZE overrides it (tests only); a bad value is one clear line",
    async () => {
      const dir = tempDir("aiobench_default_env_");
      try {
        const r = await runCli([], { cwd: dir, env: { AIOBENCH_DEFAULT_SIZE: "lots" } });
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, /AIOBENCH_DEFAULT_SIZE lots is not a size/);
        assert.deepEqual(entries(dir), []);
      } finally {
        removeDir(dir);
      }
    },
  );

  await stepUnless(
    t,
    needsRoot(),
    "on a 256 MiB filesystem the real sizing picks 64 MiB",
    async () => {
      const dir = tempDir("aiobench_default_small_");
      let mounted = false;
      try {
        await sh("mount", ["-t", "tmpfs", "-o", "size=256M", "tmpfs", dir]);
        mounted = true;
        assert.equal(defaultRunSize(dir), 64 * MIB);
        const r = await runCli(["--json", "-"], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.deepEqual(doc.results.map((x: { bytes: number }) => x.bytes), [64 * MIB, 64 * MIB]);
        assert.deepEqual(entries(dir), []);
      } finally {
        if (mounted) await unmount(dir);
        removeDir(dir);
      }
    },
  );
});
