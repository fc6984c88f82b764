/**
 * The native library's checked invariants and bounds, through FFI on real files and io_uring:
 * a hung IO ends with ETIMEDOUT after the wait bound, a completion that names no IO in flight
 * fails the request (and the handle recovers on a fresh ring), and the ring setup flags in use
 * are reported.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AioError, AioFile, AioHandle, AlignedBuffer } from "../mod.ts";
import { ioUringSetupFlags } from "../ffi/handle.ts";
import { nativeBuildMode } from "../ffi/native.ts";
import { makeRandomFile, removeDir, sh, tempDir } from "./_helpers.ts";

const KIB = 1024;

Deno.test("a read that never completes fails with ETIMEDOUT after the wait bound; the handle works afterwards", async () => {
  const dir = tempDir();
  const fifo = join(dir, "hung");
  await sh("mkfifo", [fifo]);
  // O_RDWR on a FIFO opens without a writer; a read then waits for data like a hung device.
  const file = AioFile.open(fifo, { write: true, direct: false });
  const buffer = AlignedBuffer.alloc(4 * KIB);
  const handle = new AioHandle({ blockSize: 4 * KIB, queueDepth: 1, waitTimeoutS: 0.3 });
  try {
    const t0 = performance.now();
    assert.throws(
      () => handle.read(buffer, file, { nbytes: 4 * KIB }),
      (e) => e instanceof AioError && e.code === "ETIMEDOUT",
    );
    const waitedMs = performance.now() - t0;
    assert.ok(waitedMs >= 290 && waitedMs < 5000, `waited ${waitedMs} ms`);
    const writer = Deno.openSync(fifo, { write: true });
    writer.writeSync(new Uint8Array(8 * KIB).fill(9));
    writer.close();
    assert.equal(handle.read(buffer, file, { nbytes: 4 * KIB }), 4 * KIB);
    assert.ok(buffer.bytes().subarray(0, 4 * KIB).every((b) => b === 9));
  } finally {
    handle.close();
    buffer.free();
    file.close();
    removeDir(dir);
  }
});

Deno.test("a completion that names no IO in flight (invalid, or an IO's second) fails the request; the next one reads every byte once", async (t) => {
  const dir = tempDir();
  const path = join(dir, "data.bin");
  const size = 1024 * KIB;
  const expected = makeRandomFile(path, size);
  try {
    // cqe@5: the 5th completion names no slot; dup@5: it comes twice (its IO completed twice).
    for (const fault of ["cqe@5", "dup@5"]) {
      for (const engine of ["io_uring", "libaio"] as const) {
        for (const ioParallel of [0, 2]) {
          await t.step(`${fault}, ${engine}, io_parallel ${ioParallel}`, () => {
            Deno.env.set("AIOBENCH_FAULT", fault); // read once, when the handle is created
            const handle = new AioHandle({
              blockSize: 64 * KIB,
              queueDepth: 8,
              overlapEvents: true,
              ioParallel,
              engine,
            });
            Deno.env.delete("AIOBENCH_FAULT");
            const file = AioFile.open(path);
            const buffer = AlignedBuffer.alloc(size);
            const run = () =>
              ioParallel === 0
                ? handle.read(buffer, file)
                : (handle.pread(buffer, file), handle.wait());
            try {
              assert.throws(run, (e) => e instanceof AioError && e.code === "EBADCOMPLETION");
              handle.resetStats();
              buffer.bytes().fill(0);
              assert.equal(run(), size);
              assert.equal(buffer.compare(expected, 0), -1);
              assert.equal(handle.stats().ios, size / (64 * KIB));
            } finally {
              handle.close();
              buffer.free();
              file.close();
            }
          });
        }
      }
    }
  } finally {
    Deno.env.delete("AIOBENCH_FAULT");
    removeDir(dir);
  }
});

Deno.test("a handle reports the io_uring setup flags its rings use, the same the probe finds", () => {
  // Per queue policy: overlap (wait for one completion, resubmit) and sequential (wait for all).
  const overlap = ioUringSetupFlags(true);
  const waitAll = ioUringSetupFlags(false);
  assert.ok(Array.isArray(overlap), String(overlap));
  assert.ok(Array.isArray(waitAll), String(waitAll));
  const sequential = new AioHandle({ blockSize: 4 * KIB, queueDepth: 4, ioParallel: 2 });
  const overlapped = new AioHandle({ blockSize: 4 * KIB, queueDepth: 4, overlapEvents: true });
  const aio = new AioHandle({ blockSize: 4 * KIB, queueDepth: 4, engine: "libaio" });
  try {
    assert.deepEqual(sequential.stats().ringSetupFlags, waitAll);
    assert.deepEqual(overlapped.stats().ringSetupFlags, overlap);
    assert.deepEqual(aio.stats().ringSetupFlags, []);
    const [major, minor] = Deno.osRelease().split(".").map(Number);
    // 6.0+ takes the first step: cooperative task work, one submitting thread; 6.1+ defers
    // completions for a handle that waits for all its IOs, and never for the overlap policy,
    // where deferring shrinks the submit batches (see zig/src/engine/io_uring.zig).
    if (major > 6 || (major === 6 && minor >= 0)) {
      for (const flag of ["COOP_TASKRUN", "SINGLE_ISSUER"]) {
        assert.ok(overlap.includes(flag), `${flag} in ${overlap}`);
        assert.ok(waitAll.includes(flag), `${flag} in ${waitAll}`);
      }
    }
    if (major > 6 || (major === 6 && minor >= 1)) {
      assert.ok(waitAll.includes("DEFER_TASKRUN"), `DEFER_TASKRUN in ${waitAll}`);
    }
    assert.ok(!overlap.includes("DEFER_TASKRUN"), `no DEFER_TASKRUN in ${overlap}`);
  } finally {
    sequential.close();
    overlapped.close();
    aio.close();
  }
});

const expectedBuild = Deno.env.get("AIOBENCH_EXPECT_BUILD");
Deno.test({
  name:
    "the library as built by default (what users and the suite run) has Zig's safety checks on" +
    (expectedBuild ? "" : " [skipped: AIOBENCH_EXPECT_BUILD is set by scripts/test.sh]"),
  ignore: expectedBuild === undefined,
  fn() {
    assert.equal(nativeBuildMode(), expectedBuild);
  },
});
