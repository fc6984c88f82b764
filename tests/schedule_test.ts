/**
 * DeepSpeed's schedules (lib/tasklets/schedule.ts) end to end: read/write × io_parallel unset/set each move
 * the right bytes and pass --validate, --verbose names the schedule per tasklet, and the
 * validation itself catches data that differs, naming worker, file and offset.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AioFile, AioHandle, AlignedBuffer } from "../mod.ts";
import { defaultConfig } from "../lib/run/config.ts";
import { getSchedule, mainHandle, mainParallel, type TaskSpec } from "../lib/tasklets/schedule.ts";
import { taskSpec } from "../lib/run/tasks.ts";
import { validateBuffer, ValidationError } from "../lib/tasklets/tasklet.ts";
import type { Workload } from "../lib/common/types.ts";
import { makeRandomFile, removeDir, runCli, tempDir } from "./_helpers.ts";

const MIB = 1 << 20;

Deno.test("getSchedule picks ds_aio's main step from the op and io_parallel", () => {
  const cases: [Workload, number | undefined, string, typeof mainHandle][] = [
    ["read", undefined, "main_handle_read", mainHandle],
    ["write", undefined, "main_handle_write", mainHandle],
    ["read", 1, "main_parallel_read", mainParallel],
    ["write", 4, "main_parallel_write", mainParallel],
    ["randread", undefined, "main_handle_read", mainHandle],
    ["randwrite", 2, "main_parallel_write", mainParallel],
  ];
  for (const [workload, ioParallel, name, main] of cases) {
    const config = { ...defaultConfig(), ioParallel };
    if (ioParallel === undefined) delete config.ioParallel;
    const target = { worker: 0, workload, path: "/f", ioSizeBytes: MIB };
    const task = taskSpec(config, target, { engine: "io_uring", alignBytes: 4096 });
    assert.equal(task.handle.ioParallel, ioParallel ?? 0, "the handle's lanes (0: none)");
    const s = getSchedule(workload, task.async);
    assert.equal(s.name, name, `${workload} io_parallel=${ioParallel}`);
    assert.equal(s.main, main, `${workload} io_parallel=${ioParallel}`);
  }
});

Deno.test("every schedule path moves the right bytes and passes --validate", async (t) => {
  const dir = tempDir("aiobench_sched_");
  try {
    const readFile = join(dir, "data.bin");
    makeRandomFile(readFile, 6 * MIB);
    const threads = 2;
    const loops = 2;
    const ioSize = 3 * MIB;
    for (const op of ["read", "write"] as const) {
      for (const ioParallel of [undefined, 1, 2]) {
        const schedule = `main_${ioParallel === undefined ? "handle" : "parallel"}_${op}`;
        await t.step(`${op}, io_parallel ${ioParallel ?? "unset"}: ${schedule}`, async () => {
          const target = op === "read" ? ["--read_file", readFile] : [
            "--write_file",
            join(dir, "out"),
          ];
          const r = await runCli([
            ...target,
            ...(ioParallel === undefined ? [] : ["--io_parallel", String(ioParallel)]),
            ...["--io_size", "3M", "--block_size", "256K", "--queue_depth", "4"],
            ...["--threads", String(threads), "--loops", String(loops)],
            ...["--validate", "--verbose", "--json", "-"],
          ]);
          assert.equal(r.code, 0, r.stderr);
          const doc = JSON.parse(r.stdout);
          const result = doc.results[0];
          assert.equal(result.op, op);
          assert.equal(result.bytes, ioSize * loops * threads);
          assert.equal(result.errors, 0);
          for (const w of result.workers) {
            assert.equal(w.bytes, ioSize * loops);
            assert.equal(w.ios, (ioSize / (256 * 1024)) * loops);
          }
          assert.equal(doc.config.validate, true);
          assert.equal(doc.config.io_parallel, ioParallel ?? null);
          const log = r.stderr.split("\n").filter((l) => l.startsWith("tid "));
          for (let tid = 0; tid < threads; tid++) {
            assert.ok(
              log.some((l) => l.startsWith(`tid ${tid}: schedule = ${schedule}, file = `)),
              `no schedule line for tid ${tid} in:\n${r.stderr}`,
            );
            for (let i = 0; i < loops; i++) {
              assert.ok(log.some((l) => l.startsWith(`tid ${tid}: main task ${i} done: task `)));
            }
          }
          // Lines from different workers never interleave mid-line.
          for (const l of log) assert.match(l, /^tid \d+: [a-z]/, l);
          assert.ok(!r.stderr.includes("main_handle_") || ioParallel === undefined);
        });
      }
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["data.bin"]);
  } finally {
    removeDir(dir);
  }
});

function spec(workload: Workload, path: string, ioSizeBytes: number, worker: number): TaskSpec {
  const config = { ...defaultConfig(), defaultRun: false, validate: true };
  const target = { worker, workload, path, ioSizeBytes };
  return { ...taskSpec(config, target, { engine: "io_uring", alignBytes: 4096 }), seed: 99 };
}

function caught(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail("expected an error");
}

Deno.test("--validate catches data that differs, naming worker, file and offset", async (t) => {
  const dir = tempDir("aiobench_validate_");
  const handle = new AioHandle({ blockSize: MIB, queueDepth: 4 });
  try {
    const path = join(dir, "data.bin");
    const size = 4 * MIB;
    makeRandomFile(path, size);

    await t.step("read: a buffer byte that differs from the file", () => {
      const file = AioFile.open(path);
      const buffer = AlignedBuffer.alloc(size);
      try {
        assert.equal(handle.read(buffer, file), size);
        const ctx = { spec: spec("read", path, size, 3), file, buffer, handle };
        validateBuffer(ctx); // what was read is the file
        const bad = 3 * MIB + 17;
        buffer.bytes()[bad] ^= 0xff;
        const e = caught(() => validateBuffer(ctx));
        assert.ok(e instanceof ValidationError, String(e));
        assert.equal(
          e.message,
          `--validate: worker 3: data read differs from ${path} at offset ${bad}`,
        );
      } finally {
        buffer.free();
        file.close();
      }
    });

    await t.step("read: a buffer that never received the data (pattern, not zeros)", () => {
      const file = AioFile.open(path);
      const buffer = AlignedBuffer.alloc(size);
      try {
        buffer.fillPattern(99 ^ 0x5eed, 0); // what preHandle leaves in a read buffer
        const ctx = { spec: spec("read", path, size, 0), file, buffer, handle };
        const e = caught(() => validateBuffer(ctx));
        assert.ok(e instanceof ValidationError, String(e));
        assert.match(e.message, /^--validate: worker 0: data read differs from .* at offset \d+$/);
      } finally {
        buffer.free();
        file.close();
      }
    });

    await t.step("write: the file changed on disk after the write", () => {
      const out = join(dir, "written.bin");
      const file = AioFile.open(out, { write: true, create: true });
      const buffer = AlignedBuffer.alloc(size);
      try {
        buffer.fillPattern(99, 0);
        assert.equal(handle.write(buffer, file), size);
        const ctx = { spec: spec("write", out, size, 1), file, buffer, handle };
        validateBuffer(ctx);
        const bad = 2 * MIB + 4095;
        const f = Deno.openSync(out, { write: true });
        f.seekSync(bad, Deno.SeekMode.Start);
        f.writeSync(new Uint8Array([buffer.bytes()[bad] ^ 1]));
        f.close();
        const e = caught(() => validateBuffer(ctx));
        assert.ok(e instanceof ValidationError, String(e));
        assert.equal(
          e.message,
          `--validate: worker 1: written data differs from ${out} at offset ${bad}`,
        );
      } finally {
        buffer.free();
        file.close();
      }
    });

    await t.step("write: a file shorter than what was written", () => {
      const out = join(dir, "short.bin");
      const file = AioFile.open(out, { write: true, create: true });
      const buffer = AlignedBuffer.alloc(size);
      try {
        buffer.fillPattern(99, 0);
        handle.write(buffer, file);
        Deno.truncateSync(out, MIB);
        const ctx = { spec: spec("write", out, size, 2), file, buffer, handle };
        const e = caught(() => validateBuffer(ctx));
        assert.ok(e instanceof ValidationError, String(e));
        assert.equal(
          e.message,
          `--validate: worker 2: ${out} ends at ${MIB}, expected ${size} bytes`,
        );
      } finally {
        buffer.free();
        file.close();
      }
    });
  } finally {
    handle.close();
    removeDir(dir);
  }
});

Deno.test("--validate is refused for random workloads, with the reason", async () => {
  const dir = tempDir("aiobench_validate_rand_");
  try {
    const path = join(dir, "data.bin");
    makeRandomFile(path, MIB);
    const r = await runCli(["--read_file", path, "--rw", "randread", "--validate"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /--validate checks sequential read\/write only/);
  } finally {
    removeDir(dir);
  }
});
