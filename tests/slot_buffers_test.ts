/** --slot_buffers: each in-flight IO lands in its own block-size piece of a small buffer. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AlignedBuffer } from "../ffi/buffer.ts";
import { AioFile } from "../ffi/file.ts";
import { AioHandle } from "../ffi/handle.ts";
import { makeRandomFile, removeDir, runCli, tempDir } from "./_helpers.ts";

const BLOCK = 64 << 10;

Deno.test("slot buffers: a region larger than the buffer is read, each piece holds a block of the file", async (t) => {
  const dir = tempDir();
  try {
    const path = join(dir, "data.bin");
    const data = makeRandomFile(path, 4 << 20);
    for (const ioParallel of [0, 2]) {
      await t.step(`io_parallel ${ioParallel}`, () => {
        const qd = 4;
        const handle = new AioHandle({
          blockSize: BLOCK,
          queueDepth: qd,
          overlapEvents: true,
          ioParallel,
        });
        const lanes = Math.max(1, ioParallel);
        const buffer = AlignedBuffer.alloc(lanes * qd * BLOCK);
        const file = AioFile.open(path);
        try {
          const moved = handle.submit(
            buffer,
            file,
            { nbytes: data.length, slotBuffers: true },
            ioParallel > 0,
          );
          const total = ioParallel > 0 ? handle.wait() : moved;
          assert.equal(total, data.length);
          assert.equal(handle.stats().ios, data.length / BLOCK);
          const bytes = buffer.bytes();
          const blocks = new Set<number>();
          for (let piece = 0; piece < lanes * qd; piece++) {
            const got = bytes.subarray(piece * BLOCK, (piece + 1) * BLOCK);
            const block = [...Array(data.length / BLOCK).keys()].find((b) =>
              got.every((v, i) => v === data[b * BLOCK + i])
            );
            assert.ok(block !== undefined, `piece ${piece} holds no block of the file`);
            blocks.add(block);
          }
          assert.equal(blocks.size, lanes * qd, "every piece holds a different block");
          assert.throws(
            () =>
              handle.submit(AlignedBuffer.alloc(BLOCK), file, {
                nbytes: BLOCK * 8,
                slotBuffers: true,
              }),
            /needs .* bytes of buffer/,
          );
        } finally {
          handle.close();
          buffer.free();
          file.close();
        }
      });
    }
    await t.step(
      "CLI: --slot_buffers runs; with --validate it is refused in one line",
      async () => {
        const ok = await runCli([
          "--read_file",
          path,
          "--block_size",
          "64K",
          "--slot_buffers",
          "--json",
          "-",
        ]);
        assert.equal(ok.code, 0, ok.stderr);
        const doc = JSON.parse(ok.stdout);
        assert.equal(doc.results[0].bytes, data.length);
        assert.equal(doc.config.slot_buffers, true);
        const bad = await runCli(["--read_file", path, "--slot_buffers", "--validate"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr.trim(), /^aiobench: --validate .*--slot_buffers/);
        assert.equal(bad.stderr.trim().split("\n").length, 1);
      },
    );
  } finally {
    removeDir(dir);
  }
});
