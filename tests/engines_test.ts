import assert from "node:assert/strict";
import { join } from "node:path";
import { AlignedBuffer } from "../ffi/buffer.ts";
import { AioFile } from "../ffi/file.ts";
import { AioHandle } from "../ffi/handle.ts";
import {
  makeRandomFile,
  removeDir,
  runCli,
  type SkipReason,
  stepUnless,
  tempDir,
} from "./_helpers.ts";

const ENGINES = ["io_uring", "libaio", "psync"] as const;
const MIB = 1 << 20;

/** The --hipri step needs the test directory's disk (/dev/vda here) without poll queues. */
const no_vda_poll: SkipReason = (() => {
  try {
    const poll = Deno.readTextFileSync("/sys/block/vda/queue/io_poll").trim();
    return poll === "0" ? undefined : "/dev/vda has poll queues here";
  } catch {
    return "no /dev/vda here (the step expects its name in the message)";
  }
})();

function jsonOf(stdout: string) {
  return JSON.parse(stdout.slice(stdout.indexOf("{\n")));
}

Deno.test("each engine writes and reads exact data through AioHandle", async (t) => {
  const dir = tempDir();
  try {
    for (const engine of ENGINES) {
      for (const ioParallel of [0, 2]) {
        await t.step(`${engine}, io_parallel ${ioParallel}`, () => {
          const path = join(dir, `${engine}-${ioParallel}.bin`);
          const size = 3 * MIB + 4096; // a tail shorter than the block
          const out = AlignedBuffer.alloc(size);
          const back = AlignedBuffer.alloc(size);
          const w = AioFile.open(path, { write: true, create: true, direct: true });
          const h = new AioHandle({ blockSize: 256 << 10, queueDepth: 4, engine, ioParallel });
          try {
            out.fillPattern(engine.length * 31 + ioParallel, 0);
            back.fillPattern(99, 0);
            if (ioParallel > 0) {
              h.pwrite(out, w);
              assert.equal(h.wait(), size);
            } else assert.equal(h.write(out, w), size);
            w.fsync();
            assert.equal(h.read(back, w), size);
            assert.equal(back.checkPattern(engine.length * 31 + ioParallel, 0), -1);
            assert.equal(Deno.statSync(path).size, size);
            assert.equal(h.stats().errors, 0);
          } finally {
            h.close();
            w.close();
            out.free();
            back.free();
          }
        });
      }
    }
  } finally {
    removeDir(dir);
  }
});

Deno.test("each engine through the CLI: --engine is used, --validate passes", async (t) => {
  const dir = tempDir();
  try {
    for (const engine of ENGINES) {
      await t.step(engine, async () => {
        const base = join(dir, `cli-${engine}`);
        const wr = await runCli([
          "--write_file",
          base,
          "--io_size",
          "8M",
          "--block_size",
          "1M",
          "--queue_depth",
          "4",
          "--engine",
          engine,
          "--validate",
          "--keep",
          "--json",
          "-",
        ]);
        assert.equal(wr.code, 0, wr.stderr);
        const written = jsonOf(wr.stdout);
        assert.equal(written.env.engine, engine);
        assert.equal(written.env.engine_reason, "chosen with --engine");
        assert.equal(written.results[0].bytes, 8 * MIB);
        const rd = await runCli([
          "--read_file",
          `${base}.0`,
          "--block_size",
          "1M",
          "--queue_depth",
          "4",
          "--io_parallel",
          "2",
          "--engine",
          engine,
          "--validate",
          "--json",
          "-",
        ]);
        assert.equal(rd.code, 0, rd.stderr);
        const read = jsonOf(rd.stdout);
        assert.equal(read.env.engine, engine);
        assert.equal(read.results[0].bytes, 8 * MIB);
        assert.ok(read.results[0].latency_us.count === 8);
      });
    }
  } finally {
    removeDir(dir);
  }
});

Deno.test("io_uring options run, show up in env, and keep the data right", async (t) => {
  const dir = tempDir();
  try {
    const path = join(dir, "opts.bin");
    makeRandomFile(path, 8 * MIB);
    const combos = [
      ["--fixedbufs"],
      ["--registerfiles"],
      ["--sqthread_poll"],
      ["--nonvectored"],
      ["--fixedbufs", "--registerfiles", "--nonvectored", "--io_parallel", "2"],
    ];
    for (const flags of combos) {
      await t.step(flags.join(" "), async () => {
        const r = await runCli([
          "--read_file",
          path,
          "--block_size",
          "256K",
          "--queue_depth",
          "8",
          "--engine",
          "io_uring",
          "--validate",
          "--json",
          "-",
          ...flags,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const result = jsonOf(r.stdout);
        const names = flags.filter((f) => f.startsWith("--") && f !== "--io_parallel")
          .map((f) => f.slice(2));
        assert.deepEqual(result.env.io_uring_options, names);
        assert.equal(result.results[0].bytes, 8 * MIB);
      });
    }
    await stepUnless(
      t,
      no_vda_poll,
      "--hipri without poll queues: one clear line, exit 2",
      async () => {
        const r = await runCli(["--read_file", path, "--hipri", "--engine", "io_uring"]);
        assert.equal(r.code, 2);
        assert.match(
          r.stderr,
          /--hipri needs a device with poll queues \(io_poll=1\); \/dev\/vda has none/,
        );
        assert.equal(r.stderr.trim().split("\n").length, 1);
      },
    );
    await t.step("io_uring options with another engine: a clear error", async () => {
      const r = await runCli(["--read_file", path, "--fixedbufs", "--engine", "libaio"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--fixedbufs/);
      assert.ok(!r.stderr.includes("    at "), "no stack trace");
    });
  } finally {
    removeDir(dir);
  }
});
