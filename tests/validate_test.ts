/** --validate says its verdict: one line per op in the report, and `results[].validate` in JSON. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listing, makeRandomFile, removeDir, runCli, sha256Sync, tempDir } from "./_helpers.ts";
import type { BenchResult } from "../lib/common/types.ts";

const MIB = 1 << 20;

Deno.test("--validate prints its verdict and the JSON carries it per op", async (t) => {
  const dir = tempDir("aiobench_validate_cli_");
  try {
    const data = join(dir, "data.bin");
    makeRandomFile(data, 8 * MIB);
    const before = sha256Sync(data);

    await t.step("read: 2 workers checked against the one file: ok", async () => {
      const json = join(dir, "read.json");
      const r = await runCli(
        ["--read_file", data, "--threads", "2", "--loops", "2", "--validate", "--json", json],
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        r.stdout.split("\n").includes("validate: read 2 × 8.00 MiB against the file: ok"),
        r.stdout,
      );
      const doc = JSON.parse(Deno.readTextFileSync(json)) as BenchResult;
      assert.deepEqual(doc.results[0].validate, {
        ok: true,
        workers: 2,
        bytes_per_worker: 8 * MIB,
        files: [data],
        unchecked_workers: 0,
        first_mismatch: null,
      });
    });

    await t.step("write then read of a folder: one verdict per op", async () => {
      const folder = join(dir, "f");
      Deno.mkdirSync(folder);
      const r = await runCli([
        "--folder",
        folder,
        "--io_size",
        "4M",
        "--threads",
        "2",
        "--validate",
        "--keep",
        "--json",
        "-",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^validate: write 2 × 4\.00 MiB against 2 files: ok$/m);
      const doc = JSON.parse(r.stdout) as BenchResult;
      assert.equal(doc.results[0].validate?.ok, true);
      const read = await runCli(["--folder", folder, "--read", "--io_size", "4M", "--validate"]);
      assert.equal(read.code, 0, read.stderr);
      assert.match(read.stdout, /^validate: read 1 × 4\.00 MiB against the file: ok$/m);
    });

    await t.step(
      "a byte that differs: the first mismatch with worker, file and offset",
      async () => {
        const json = join(dir, "bad.json");
        const r = await runCli(
          ["--read_file", data, "--threads", "2", "--validate", "--json", json],
          { env: { AIOBENCH_FAULT: "corrupt@5000" } },
        );
        assert.equal(r.code, 1, r.stderr);
        const line = `validate: read 2 × 8.00 MiB against the file: MISMATCH: worker 0: ` +
          `data read differs from ${data} at offset 5000`;
        assert.ok(r.stdout.split("\n").includes(line), r.stdout);
        assert.deepEqual(r.stderr.trim().split("\n"), [
          `aiobench: --validate: worker 0: data read differs from ${data} at offset 5000`,
        ]);
        assert.ok(r.stdout.includes("Task Read Speed = "), "the measurement is still reported");
        const doc = JSON.parse(Deno.readTextFileSync(json)) as BenchResult;
        const v = doc.results[0].validate!;
        assert.equal(v.ok, false);
        assert.deepEqual(
          { worker: v.first_mismatch?.worker, path: v.first_mismatch?.path },
          { worker: 0, path: data },
        );
        assert.equal(v.first_mismatch?.offset, 5000);
        assert.equal(sha256Sync(data), before, "the user's file is untouched");
      },
    );

    await t.step("without --validate there is no verdict", async () => {
      const r = await runCli(["--read_file", data, "--json", "-"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes("validate:"), r.stderr);
      assert.equal((JSON.parse(r.stdout) as BenchResult).results[0].validate, undefined);
    });
    assert.deepEqual(listing(dir).filter((n) => n.endsWith(".dat")), []);
  } finally {
    removeDir(dir);
  }
});
