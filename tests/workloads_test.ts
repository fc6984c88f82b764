import assert from "node:assert/strict";
import { join } from "node:path";
import { AlignedBuffer } from "../ffi/buffer.ts";
import { AioFile } from "../ffi/file.ts";
import { AioHandle } from "../ffi/handle.ts";
import { removeDir, runCli, tempDir } from "./_helpers.ts";

const BLOCK = 4096;

/** Bytes whose every 4K block starts with its own offset (u64) and a marker, zeros after. */
function selfDescribing(size: number, marker: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  for (let at = 0; at < size; at += BLOCK) {
    view.setBigUint64(at, BigInt(at), true);
    view.setUint32(at + 8, marker, true);
    bytes.fill(0xa5, at + 12, at + BLOCK);
  }
  return bytes;
}

/** Checks each block of `bytes`: its own offset (written/read at the right place) or untouched. */
function blocksInPlace(bytes: Uint8Array, marker: number): { placed: number; untouched: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let placed = 0, untouched = 0;
  for (let at = 0; at < bytes.length; at += BLOCK) {
    if (bytes.subarray(at, at + BLOCK).every((b) => b === 0)) {
      untouched++;
      continue;
    }
    assert.equal(view.getBigUint64(at, true), BigInt(at), `block at ${at} holds another block`);
    assert.equal(view.getUint32(at + 8, true), marker, `block at ${at} has a foreign marker`);
    placed++;
  }
  return { placed, untouched };
}

Deno.test("random workloads: offsets in range, block-aligned, covering the region", async (t) => {
  const dir = tempDir();
  const size = 1 << 20;
  try {
    const path = join(dir, "blocks.bin");
    Deno.writeFileSync(path, selfDescribing(size, 0x1234));
    for (const engine of ["io_uring", "libaio", "psync"] as const) {
      await t.step(`${engine}: randread puts every block at its own offset`, () => {
        const file = AioFile.open(path, { direct: true });
        const buf = AlignedBuffer.alloc(size);
        const h = new AioHandle({ blockSize: BLOCK, queueDepth: 16, overlapEvents: true, engine });
        try {
          buf.bytes().fill(0);
          const n = h.submit(buf, file, { mode: "randread", seed: 7 });
          assert.equal(n, size, "one request moves io_size bytes");
          assert.equal(h.stats().ios, size / BLOCK);
          const once = blocksInPlace(buf.bytes(), 0x1234);
          // 256 uniform draws with repeats over 256 blocks cover ~63% of them.
          assert.ok(once.placed > 100 && once.untouched > 30, JSON.stringify(once));
          buf.bytes().fill(0);
          // ~1,400 draws cover all 256 blocks; on a loaded machine one 0.15 s pass may not get
          // that far, so passes repeat (bounded) until the region is covered.
          let looped = { placed: 0, untouched: size / BLOCK };
          for (let seed = 8; seed < 16 && looped.untouched > 0; seed++) {
            h.submit(buf, file, { mode: "randread", seed, runtimeS: 0.15, timeBased: true });
            looped = blocksInPlace(buf.bytes(), 0x1234);
          }
          assert.equal(looped.untouched, 0, "time-based random reads cover the whole region");
        } finally {
          h.close();
          buf.free();
          file.close();
        }
      });
    }
    await t.step("randwrite at an offset writes only inside [offset, offset + nbytes)", () => {
      const target = join(dir, "written.bin");
      Deno.writeFileSync(target, new Uint8Array(3 * size));
      const file = AioFile.open(target, { write: true, direct: true });
      const buf = AlignedBuffer.alloc(size);
      const h = new AioHandle({
        blockSize: BLOCK,
        queueDepth: 8,
        overlapEvents: true,
        ioParallel: 2,
      });
      try {
        // The buffer maps the file's [size, 2 * size): block i of it describes file offset size + i*4K.
        const want = selfDescribing(2 * size, 0x77).subarray(size);
        buf.bytes().set(want);
        h.submit(
          buf,
          file,
          { mode: "randwrite", offset: size, runtimeS: 0.15, timeBased: true },
          true,
        );
        h.wait();
        file.fsync();
      } finally {
        h.close();
        buf.free();
        file.close();
      }
      const data = Deno.readFileSync(target);
      assert.ok(data.subarray(0, size).every((b) => b === 0), "nothing written before the region");
      assert.ok(data.subarray(2 * size).every((b) => b === 0), "nothing written after it");
      const region = new Uint8Array(2 * size);
      region.set(data.subarray(size, 2 * size), size);
      const r = blocksInPlace(region.subarray(0, 2 * size), 0x77);
      assert.equal(r.placed, size / BLOCK, "every block of the region written in place");
    });
  } finally {
    removeDir(dir);
  }
});

Deno.test("workloads through the CLI: --rw, --runtime/--time_based, --log_interval", async (t) => {
  const dir = tempDir();
  try {
    const path = join(dir, "data.bin");
    Deno.writeFileSync(path, selfDescribing(8 << 20, 1));
    await t.step("randread for 400ms at 100ms intervals: a series that adds up", async () => {
      const r = await runCli([
        "--read_file",
        path,
        "--block_size",
        "4K",
        "--queue_depth",
        "8",
        "--overlap_events",
        "--rw",
        "randread",
        "--runtime",
        "400ms",
        "--time_based",
        "--log_interval",
        "100ms",
        "--json",
        "-",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n")));
      const op = result.results[0];
      assert.equal(op.op, "randread");
      assert.ok(op.task_latency_s >= 0.39 && op.task_latency_s < 1.5, `${op.task_latency_s}`);
      assert.ok(op.latency_us.p99 >= op.latency_us.p50 && op.latency_us.p50 > 0);
      const series = op.intervals as { t_s: number; bytes: number; iops: number; p99_us: number }[];
      assert.ok(series.length >= 3 && series.length <= 5, JSON.stringify(series));
      assert.equal(series.reduce((s, p) => s + p.bytes, 0), op.bytes, "intervals sum to the total");
      for (const p of series.slice(0, -1)) assert.ok(p.iops > 0 && p.p99_us > 0);
      for (let i = 1; i < series.length; i++) assert.ok(series[i].t_s > series[i - 1].t_s);
    });
    await t.step(
      "--ramp_time is excluded: ios counted equal the bytes of the timed part",
      async () => {
        const r = await runCli([
          "--read_file",
          path,
          "--block_size",
          "4K",
          "--queue_depth",
          "4",
          "--overlap_events",
          "--rw",
          "randread",
          "--runtime",
          "200ms",
          "--time_based",
          "--ramp_time",
          "200ms",
          "--json",
          "-",
        ]);
        assert.equal(r.code, 0, r.stderr);
        const op = JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n"))).results[0];
        assert.equal(op.bytes, op.latency_us.count * 4096, "every counted IO is a timed one");
        assert.ok(op.task_latency_s < 0.35, `ramp not timed: ${op.task_latency_s}`);
      },
    );
  } finally {
    removeDir(dir);
  }
});
