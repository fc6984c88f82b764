/**
 * The native handle through FFI on real files and real io_uring: every queue policy × io_parallel
 * × block size, aligned and unaligned file sizes, reads compared with a buffered read, writes
 * read back; the counters; and the typed errors a user meets first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AioError, AioFile, AioHandle, AlignedBuffer } from "../mod.ts";
import {
  makeRandomFile,
  needsRoot,
  randomBytes,
  removeDir,
  runCli,
  sh,
  tempDir,
  testUnless,
  unmount,
} from "./_helpers.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const QUEUE_DEPTH = 8;
/** Block size → file size: small blocks on small files, so every case has several IOs. */
const SIZES: [number, number][] = [[4 * KIB, 1 * MIB], [128 * KIB, 4 * MIB], [
  1 * MIB,
  8 * MIB,
], [8 * MIB, 24 * MIB]];
/** Bytes added for the unaligned-tail case (not a multiple of 4096). */
const TAIL = 1234;

interface Case {
  singleSubmit: boolean;
  overlapEvents: boolean;
  ioParallel: number;
  blockSize: number;
  size: number;
}

function cases(): Case[] {
  const all: Case[] = [];
  for (const singleSubmit of [false, true]) {
    for (const overlapEvents of [false, true]) {
      for (const ioParallel of [1, 2, 4]) {
        for (const [blockSize, base] of SIZES) {
          for (const size of [base, base + TAIL]) {
            all.push({ singleSubmit, overlapEvents, ioParallel, blockSize, size });
          }
        }
      }
    }
  }
  return all;
}

function name(c: Case): string {
  return `ss=${+c.singleSubmit} ov=${+c
    .overlapEvents} par=${c.ioParallel} bs=${c.blockSize} size=${c.size}`;
}

function handleFor(c: Case): AioHandle {
  return new AioHandle({
    blockSize: c.blockSize,
    queueDepth: QUEUE_DEPTH,
    singleSubmit: c.singleSubmit,
    overlapEvents: c.overlapEvents,
    ioParallel: c.ioParallel,
  });
}

/** The counters prove the request went through io_uring as `ceil(size / block)` IOs. */
function checkCounters(h: AioHandle, c: Case, label: string): void {
  const s = h.stats();
  const ios = Math.ceil(c.size / c.blockSize);
  assert.equal(s.ios, ios, `${label}: ios`);
  assert.equal(s.bytes, c.size, `${label}: bytes`);
  assert.equal(s.errors, 0, `${label}: errors`);
  assert.ok(s.sqesSubmitted >= ios, `${label}: ${s.sqesSubmitted} SQEs for ${ios} IOs`);
  assert.ok(s.enterCalls > 0, `${label}: no io_uring_enter call`);
  if (c.singleSubmit) {
    assert.ok(
      s.enterCalls >= ios,
      `${label}: single_submit made ${s.enterCalls} enters for ${ios}`,
    );
  } else {
    // Batched: at most one enter per reap, and each reap collects at least one completion.
    assert.ok(s.enterCalls <= ios, `${label}: ${s.enterCalls} enters for ${ios} IOs`);
    // Without overlap, a whole queue's batch goes in one enter: far fewer enters than IOs.
    if (!c.overlapEvents && ios >= 4 * QUEUE_DEPTH) {
      assert.ok(s.enterCalls * 2 <= ios, `${label}: ${s.enterCalls} enters for ${ios} IOs`);
    }
  }
  assert.equal(s.latencyCount, ios, `${label}: latency samples`);
}

Deno.test("AioHandle moves exact bytes under every queue policy, io_parallel and block size", async (t) => {
  const dir = tempDir("aiobench_ffi_");
  try {
    const sources = new Map<number, { path: string; bytes: Uint8Array }>();
    for (const [, base] of SIZES) {
      for (const size of [base, base + TAIL]) {
        const path = join(dir, `src_${size}.bin`);
        makeRandomFile(path, size);
        // The reference is what a buffered read returns.
        sources.set(size, { path, bytes: await Deno.readFile(path) });
      }
    }
    const all = cases();
    assert.equal(all.length, 96);

    await t.step(
      "read: pread+wait over the io_parallel lanes, and sync read on the caller's thread",
      () => {
        for (const c of all) {
          const src = sources.get(c.size)!;
          assert.equal(src.bytes.length, c.size);
          const file = AioFile.open(src.path);
          const buf = AlignedBuffer.alloc(c.size);
          const h = handleFor(c);
          try {
            buf.fillPattern(7, 0); // not the file's content, so a read that moved nothing fails
            h.pread(buf, file);
            assert.equal(h.wait(), c.size, `${name(c)}: pread bytes`);
            assert.equal(buf.compare(src.bytes), -1, `${name(c)}: pread data differs`);
            checkCounters(h, c, `${name(c)} pread`);

            // The sync path runs on the caller's thread whatever io_parallel is: once is enough.
            if (c.ioParallel !== 1) continue;
            h.resetStats();
            buf.fillPattern(8, 0);
            assert.equal(h.read(buf, file), c.size, `${name(c)}: read bytes`);
            assert.equal(buf.compare(src.bytes), -1, `${name(c)}: sync read data differs`);
            checkCounters(h, c, `${name(c)} read`);
          } finally {
            h.close();
            buf.free();
            file.close();
          }
        }
      },
    );

    await t.step("write then read back: pwrite+wait and sync write", async () => {
      const out = join(dir, "out.bin");
      for (const c of all) {
        const data = randomBytes(c.size);
        const buf = AlignedBuffer.alloc(c.size);
        const h = handleFor(c);
        try {
          buf.bytes().set(data);
          const modes = c.ioParallel === 1 ? ["pwrite", "write"] as const : ["pwrite"] as const;
          for (const mode of modes) {
            const file = AioFile.open(out, { write: true, create: true, truncate: true });
            try {
              h.resetStats();
              if (mode === "pwrite") {
                h.pwrite(buf, file);
                assert.equal(h.wait(), c.size, `${name(c)}: ${mode} bytes`);
              } else {
                assert.equal(h.write(buf, file), c.size, `${name(c)}: ${mode} bytes`);
              }
              checkCounters(h, c, `${name(c)} ${mode}`);
            } finally {
              file.close();
            }
            const back = await Deno.readFile(out);
            // The padded O_DIRECT tail is truncated away: the file is exactly the request.
            assert.equal(back.length, c.size, `${name(c)}: ${mode} file size`);
            assert.equal(buf.compare(back), -1, `${name(c)}: ${mode} read back differs`);
          }
        } finally {
          h.close();
          buf.free();
        }
      }
    });

    await t.step(
      "a read past the end of the file is a short-transfer error, not a fast number",
      () => {
        const src = sources.get(1 * MIB)!;
        const file = AioFile.open(src.path);
        const buf = AlignedBuffer.alloc(2 * MIB);
        const h = new AioHandle({ blockSize: 256 * KIB, queueDepth: 4 });
        try {
          const e = thrown(() => h.read(buf, file));
          assert.ok(e instanceof AioError, String(e));
          assert.equal(e.code, "ESHORT");
          assert.equal(e.path, src.path);
          assert.ok(e.offset !== undefined && e.offset >= 1 * MIB, e.message);
          assert.match(e.message, /short transfer/);
          assert.ok(h.stats().errors > 0);
        } finally {
          h.close();
          buf.free();
          file.close();
        }
      },
    );
  } finally {
    removeDir(dir);
  }
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail("expected an error");
}

Deno.test("AioHandle errors are typed and say what is wrong", async (t) => {
  const dir = tempDir("aiobench_ffi_err_");
  try {
    await t.step("missing file: AioError ENOENT naming the path", () => {
      const path = join(dir, "missing.bin");
      const e = thrown(() => AioFile.open(path));
      assert.ok(e instanceof AioError, String(e));
      assert.equal(e.code, "ENOENT");
      assert.equal(e.errno, 2);
      assert.equal(e.path, path);
      assert.ok(e.message.includes(path), e.message);
      assert.match(e.message, /no such file or directory/);
    });

    await t.step("block size not a multiple of the alignment: EINVAL naming the block size", () => {
      for (const blockSize of [1000, 4096 + 512, 0]) {
        const e = thrown(() => new AioHandle({ blockSize, queueDepth: 4 }));
        assert.ok(e instanceof AioError, String(e));
        assert.equal(e.code, "EINVAL");
        assert.ok(e.message.includes(`block ${blockSize}`), e.message);
      }
    });

    await t.step("CLI --block_size 1000: exit 2 and one line naming the flag", async () => {
      const path = join(dir, "small.bin");
      makeRandomFile(path, 64 * KIB);
      const r = await runCli(["--read_file", path, "--block_size", "1000"]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /--block_size 1000/);
      assert.match(lines[0], /multiple of 4096/);
      assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
    });
  } finally {
    removeDir(dir);
  }
});

testUnless(
  needsRoot(),
  "a filesystem that refuses O_DIRECT (ramfs): EINVAL with the --buffered hint",
  async (t) => {
    const dir = tempDir("aiobench_ramfs_");
    let mounted = false;
    try {
      await sh("mount", ["-t", "ramfs", "ramfs", dir]);
      mounted = true;
      const path = join(dir, "data.bin");
      makeRandomFile(path, 256 * KIB);

      await t.step("AioFile.open(direct) throws EINVAL naming the path and --buffered", () => {
        const e = thrown(() => AioFile.open(path, { direct: true }));
        assert.ok(e instanceof AioError, String(e));
        assert.equal(e.code, "EINVAL");
        assert.equal(e.path, path);
        assert.match(e.message, /refuses O_DIRECT/);
        assert.match(e.message, /--buffered/);
        // Without O_DIRECT the same file opens.
        AioFile.open(path, { direct: false }).close();
      });

      await t.step("the CLI says so in one line", async () => {
        const r = await runCli(["--read_file", path, "--block_size", "64K"]);
        assert.notEqual(r.code, 0);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.ok(lines[0].includes(path), lines[0]);
        assert.match(lines[0], /--buffered/);
      });

      await t.step("and --buffered then reads it", async () => {
        const r = await runCli(["--read_file", path, "--block_size", "64K", "--buffered"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^Task Read Latency = /m);
      });
    } finally {
      if (mounted) await unmount(dir);
      removeDir(dir);
    }
  },
);
