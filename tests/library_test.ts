/**
 * mod.ts as a library user calls it: write then read in one benchmark() for every target kind.
 * Files aiobench created earlier in a run are its own for the rest of that run; files it did not
 * create are still refused and left unchanged.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { benchmark, type BenchResult, UsageError } from "../mod.ts";
import {
  listing,
  makeRandomFile,
  needsRoot,
  removeDir,
  sh,
  sha256Sync,
  stepUnless,
  tempDir,
} from "./_helpers.ts";

const MIB = 1 << 20;

function assertWriteThenRead(result: BenchResult, bytes: number): void {
  assert.deepEqual(result.results.map((r) => r.op), ["write", "read"]);
  for (const r of result.results) {
    assert.equal(r.bytes, bytes, `${r.op} bytes`);
    assert.equal(r.errors, 0);
    assert.ok(r.e2e_gib_s > 0, `${r.op} measured`);
    assert.equal(r.validate?.ok, true, `${r.op} validated`);
  }
}

Deno.test("benchmark(): write then read through mod.ts for every target kind", async (t) => {
  const dir = tempDir("aiobench_library_");
  try {
    await t.step("writeFile, 2 workers: the read step reads the files the write made", async () => {
      const base = join(dir, "probe");
      const result = await benchmark({
        writeFile: base,
        ioSizeBytes: 4 * MIB,
        threads: 2,
        workloads: ["write", "read"],
        validate: true,
      });
      assertWriteThenRead(result, 2 * 4 * MIB);
      assert.deepEqual(result.results[1].workers.map((w) => w.path), [`${base}.0`, `${base}.1`]);
      assert.deepEqual(listing(dir), [], "created files removed");
    });

    await t.step("folders: two folders, a file per worker", async () => {
      const a = join(dir, "a"), b = join(dir, "b");
      Deno.mkdirSync(a);
      Deno.mkdirSync(b);
      const result = await benchmark({
        folders: [a, b],
        ioSizeBytes: 4 * MIB,
        threads: 2,
        workloads: ["write", "read"],
        validate: true,
      });
      // ds_io's defaults, as on the command line: 3 timed loops after a warm-up.
      assertWriteThenRead(result, 2 * 4 * MIB * 3);
      assert.equal(result.config.warmup_loops, 1);
      assert.deepEqual(listing(a), []);
      assert.deepEqual(listing(b), []);
      Deno.removeSync(a);
      Deno.removeSync(b);
    });

    await t.step("no target: the default run writes then reads in defaultDir", async () => {
      const result = await benchmark({ defaultDir: dir, ioSizeBytes: 4 * MIB, validate: true });
      assertWriteThenRead(result, 4 * MIB);
      assert.deepEqual(listing(dir), []);
    });

    await t.step(
      "keep: true leaves the files, and the next run refuses them without force",
      async () => {
        const base = join(dir, "kept");
        await benchmark({
          writeFile: base,
          ioSizeBytes: 4 * MIB,
          workloads: ["write"],
          keep: true,
        });
        const digest = sha256Sync(`${base}.0`);
        await assert.rejects(
          () => benchmark({ writeFile: base, ioSizeBytes: 4 * MIB, workloads: ["write", "read"] }),
          (e: unknown) =>
            e instanceof UsageError &&
            e.message.startsWith(`${base}.0 already exists and aiobench did not create it`),
        );
        assert.equal(sha256Sync(`${base}.0`), digest, "a file from another run is untouched");
        const forced = await benchmark({
          writeFile: base,
          ioSizeBytes: 4 * MIB,
          workloads: ["write", "read"],
          force: true,
          validate: true,
        });
        assertWriteThenRead(forced, 4 * MIB);
        Deno.removeSync(`${base}.0`);
      },
    );

    await t.step("readFile: read only; asking it to write is refused in one line", async () => {
      const data = join(dir, "data.bin");
      makeRandomFile(data, 4 * MIB);
      const digest = sha256Sync(data);
      const read = await benchmark({ readFile: data, validate: true });
      assert.deepEqual(read.results.map((r) => r.op), ["read"]);
      assert.equal(read.results[0].validate?.ok, true);
      await assert.rejects(
        () => benchmark({ readFile: data, workloads: ["write", "read"] }),
        (e: unknown) =>
          e instanceof UsageError && /--read_file is only read/.test(e.message) &&
          !e.message.includes("\n"),
      );
      assert.equal(sha256Sync(data), digest);
      Deno.removeSync(data);
    });

    await t.step(
      "readFile + writeFile: read the one, then write the other (ds_aio's pair)",
      async () => {
        const data = join(dir, "in.bin");
        makeRandomFile(data, 8 * MIB);
        const digest = sha256Sync(data);
        const result = await benchmark({
          readFile: data,
          writeFile: join(dir, "out"),
          ioSizeBytes: 4 * MIB,
          threads: 2,
          workloads: ["read", "write"],
          validate: true,
        });
        assert.deepEqual(
          result.results.map((r) => [r.op, r.bytes, r.validate?.ok]),
          [["read", 2 * 8 * MIB, true], ["write", 2 * 4 * MIB, true]],
          "the read moves the whole file, the write --io_size",
        );
        assert.equal(sha256Sync(data), digest);
        assert.deepEqual(listing(dir), ["in.bin"]);
        Deno.removeSync(data);
      },
    );

    const name = "a block device (loop over /dev/shm) with force";
    await stepUnless(t, needsRoot("losetup"), name, async () => {
      const backing = `/dev/shm/aiobench-library-${Deno.pid}.img`;
      Deno.writeFileSync(backing, new Uint8Array(0));
      Deno.truncateSync(backing, 16 * MIB);
      const device = await sh("losetup", ["-f", "--show", backing]);
      try {
        await assert.rejects(
          () => benchmark({ writeFile: device, ioSizeBytes: 8 * MIB, workloads: ["write"] }),
          (e: unknown) => e instanceof UsageError && /is a block device/.test(e.message),
        );
        const result = await benchmark({
          writeFile: device,
          ioSizeBytes: 8 * MIB,
          workloads: ["write", "read"],
          force: true,
          validate: true,
        });
        assertWriteThenRead(result, 8 * MIB);
      } finally {
        await sh("losetup", ["-d", device]);
        Deno.removeSync(backing);
      }
    });
  } finally {
    removeDir(dir);
  }
});
