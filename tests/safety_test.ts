/**
 * aiobench never destroys what it did not create: existing files need --force, block devices
 * need --force, and the files it made for a run are removed at the end unless --keep.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  makeRandomFile,
  needsRoot,
  removeDir,
  runCli,
  sh,
  sha256File,
  tempDir,
  testUnless,
} from "./_helpers.ts";

const MIB = 1 << 20;

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function oneLine(stderr: string): string {
  const all = stderr.trim().split("\n");
  assert.equal(all.length, 1, `expected one line:\n${stderr}`);
  return all[0];
}

Deno.test("--write_file leaves an existing file of the user's alone without --force", async (t) => {
  const dir = tempDir("aiobench_safety_");
  try {
    const base = join(dir, "target");
    const users = `${base}.0`; // worker 0 writes <write_file>.0, as ds_aio
    makeRandomFile(users, MIB);
    // An old mtime, so a rewrite within the same second still shows.
    Deno.utimeSync(users, new Date("2020-01-02T03:04:05Z"), new Date("2020-01-02T03:04:05Z"));
    const sha = await sha256File(users);
    const mtime = Deno.statSync(users).mtime?.getTime();

    await t.step(
      "refused: exit 2, one line naming the path and --force; file untouched",
      async () => {
        const r = await runCli(["--write_file", base, "--io_size", "2M", "--block_size", "1M"]);
        assert.equal(r.code, 2, r.stderr);
        const line = oneLine(r.stderr);
        assert.ok(line.includes(users), line);
        assert.match(line, /--force/);
        assert.equal(r.stdout, "");
        assert.equal(await sha256File(users), sha);
        assert.equal(Deno.statSync(users).mtime?.getTime(), mtime);
        assert.equal(Deno.statSync(users).size, MIB);
        assert.deepEqual(names(dir), ["target.0"], "nothing else was created or left");
      },
    );

    await t.step("refused with several workers too, before any worker writes", async () => {
      const r = await runCli([
        ...["--write_file", base, "--io_size", "1M", "--threads", "3"],
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(oneLine(r.stderr).includes(users));
      assert.equal(await sha256File(users), sha);
      assert.deepEqual(names(dir), ["target.0"], "no target.1/.2 left behind");
    });

    await t.step("--force: the file is written (and kept: it is the user's)", async () => {
      const r = await runCli([
        ...["--write_file", base, "--io_size", "2M", "--block_size", "1M", "--force"],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Task Write Latency = /m);
      assert.notEqual(await sha256File(users), sha);
      assert.equal(Deno.statSync(users).size, 2 * MIB);
      assert.notEqual(Deno.statSync(users).mtime?.getTime(), mtime);
      assert.deepEqual(names(dir), ["target.0"]);
    });

    await t.step("the --write_file base path itself is never touched", async () => {
      const other = join(dir, "base");
      makeRandomFile(other, MIB);
      const before = await sha256File(other);
      const r = await runCli(["--write_file", other, "--io_size", "1M"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(other), before);
      assert.deepEqual(names(dir), ["base", "target.0"]);
    });
  } finally {
    removeDir(dir);
  }
});

testUnless(
  needsRoot("losetup"),
  "a block device is refused without --force, for reads and writes",
  async (t) => {
    const backing = Deno.makeTempFileSync({
      dir: "/dev/shm",
      prefix: "aiobench_safety_",
      suffix: ".img",
    });
    let device = "";
    try {
      makeRandomFile(backing, 8 * MIB);
      device = await sh("losetup", ["--find", "--show", backing]);
      assert.match(device, /^\/dev\/loop\d+$/);
      const sha = await sha256File(backing);

      await t.step("--read_file DEVICE: exit 2, one line naming it and --force", async () => {
        const r = await runCli(["--read_file", device, "--io_size", "1M"]);
        assert.equal(r.code, 2, r.stderr);
        const line = oneLine(r.stderr);
        assert.ok(line.includes(device), line);
        assert.match(line, /block device/);
        assert.match(line, /--force/);
      });

      await t.step(
        "--write_file DEVICE: exit 2, one line, the device's data untouched",
        async () => {
          const r = await runCli(["--write_file", device, "--io_size", "1M"]);
          assert.equal(r.code, 2, r.stderr);
          const line = oneLine(r.stderr);
          assert.ok(line.includes(device), line);
          assert.match(line, /--force/);
          assert.equal(await sha256File(backing), sha);
        },
      );

      await t.step("--read_file DEVICE --force reads the device itself", async () => {
        const r = await runCli([
          ...["--read_file", device, "--force", "--io_size", "4M", "--validate", "--json", "-"],
        ]);
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.results[0].bytes, 4 * MIB);
        assert.equal(doc.results[0].workers[0].path, device);
        assert.equal(await sha256File(backing), sha);
      });

      await t.step(
        "--write_file DEVICE --force writes the device, which is not removed",
        async () => {
          const r = await runCli(["--write_file", device, "--force", "--io_size", "2M"]);
          assert.equal(r.code, 0, r.stderr);
          assert.notEqual(await sha256File(backing), sha);
          assert.ok(Deno.statSync(device).isBlockDevice, `${device} is gone`);
        },
      );
    } finally {
      if (device) await sh("losetup", ["-d", device]);
      Deno.removeSync(backing);
    }
  },
);

Deno.test("files aiobench created are removed at the end unless --keep", async (t) => {
  const dir = tempDir("aiobench_cleanup_");
  try {
    await t.step("--write_file: F.0 and F.1 are removed", async () => {
      const r = await runCli(["--write_file", join(dir, "w"), "--io_size", "1M", "--threads", "2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(names(dir), []);
    });

    await t.step("--write_file --keep: F.0 and F.1 stay, with the bytes written", async () => {
      const r = await runCli([
        ...["--write_file", join(dir, "w"), "--io_size", "1M", "--threads", "2", "--keep"],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(names(dir), ["w.0", "w.1"]);
      for (const n of names(dir)) assert.equal(Deno.statSync(join(dir, n)).size, MIB);
      for (const n of names(dir)) Deno.removeSync(join(dir, n));
    });

    await t.step("--folder read: creates its file, reads it, removes it", async () => {
      const r = await runCli([
        ...[
          "--folder",
          dir,
          "--read",
          "--io_size",
          "2M",
          "--loops",
          "1",
          "--validate",
          "--json",
          "-",
        ],
      ]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.results[0].op, "read");
      assert.equal(doc.results[0].bytes, 2 * MIB);
      assert.equal(doc.results[0].workers[0].path, join(dir, "aiobench_0.dat"));
      assert.deepEqual(names(dir), []);
    });

    await t.step("--folder read --keep: the file holds random, non-zero data", async () => {
      const r = await runCli([
        ...["--folder", dir, "--read", "--io_size", "2M", "--threads", "2", "--keep"],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(names(dir), ["aiobench_0.dat", "aiobench_1.dat"]);
      const data = Deno.readFileSync(join(dir, "aiobench_0.dat"));
      assert.equal(data.length, 2 * MIB);
      let zeros = 0;
      const seen = new Set<number>();
      for (const b of data) {
        if (b === 0) zeros++;
        seen.add(b);
      }
      assert.ok(zeros < data.length / 100, `${zeros} zero bytes`);
      assert.equal(seen.size, 256, "every byte value occurs: random-looking data");
      // Each 4 KiB block differs from the next (no repeated block pattern).
      for (let at = 0; at + 8192 <= data.length; at += 4096) {
        const a = data.subarray(at, at + 4096);
        const b = data.subarray(at + 4096, at + 8192);
        assert.ok(a.some((v, i) => v !== b[i]), `block at ${at} repeats`);
      }
    });

    await t.step(
      "a kept file is the user's now: read as is, not rewritten, not removed",
      async () => {
        const kept = join(dir, "aiobench_0.dat");
        const before = await sha256File(kept);
        const r = await runCli(["--folder", dir, "--read", "--io_size", "2M"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await sha256File(kept), before);
        assert.deepEqual(names(dir), ["aiobench_0.dat", "aiobench_1.dat"]);
      },
    );
  } finally {
    removeDir(dir);
  }
});
