import assert from "node:assert/strict";
import { join } from "node:path";
import { makeRandomFile, removeDir, runCli, tempDir } from "./_helpers.ts";

function jsonOf(stdout: string) {
  return JSON.parse(stdout.slice(stdout.indexOf("{\n")));
}

Deno.test("CPU cost: usr/sys per worker and in total, IOs per CPU-second", async (t) => {
  const dir = tempDir();
  try {
    const path = join(dir, "cpu.bin");
    makeRandomFile(path, 16 << 20);
    await t.step("two workers: per-worker thread CPU, process CPU, consistent ratios", async () => {
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
        "--threads",
        "2",
        "--runtime",
        "300ms",
        "--time_based",
        "--json",
        "-",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const op = jsonOf(r.stdout).results[0];
      const cpu = op.cpu;
      assert.equal(cpu.source, "process");
      assert.equal(op.workers.length, 2);
      for (const w of op.workers) {
        assert.ok(w.cpu_user_s + w.cpu_sys_s > 0.01, `worker ${w.worker} used CPU`);
      }
      const threads = op.workers.reduce(
        (s: number, w: { cpu_user_s: number; cpu_sys_s: number }) => s + w.cpu_user_s + w.cpu_sys_s,
        0,
      );
      assert.ok(Math.abs(threads - (cpu.threads_user_s + cpu.threads_sys_s)) < 1e-9);
      // The process (every thread) used at least what its IO threads did, and not more than
      // two cores over the run.
      const processCpu = cpu.user_s + cpu.sys_s;
      assert.ok(processCpu >= threads * 0.95, `process ${processCpu} < threads ${threads}`);
      assert.ok(processCpu <= 2.2 * op.task_latency_s, `process ${processCpu} over 2 cores`);
      const ios = op.latency_us.count;
      assert.ok(Math.abs(cpu.ios_per_cpu_s - ios / processCpu) / cpu.ios_per_cpu_s < 1e-9);
      assert.ok(Math.abs(cpu.cpu_us_per_io - processCpu * 1e6 / ios) / cpu.cpu_us_per_io < 1e-9);
    });
    await t.step("SQPOLL: the kernel's iou-sqp thread is counted in the process CPU", async () => {
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
        "500ms",
        "--time_based",
        "--sqthread_poll",
        "--json",
        "-",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const op = jsonOf(r.stdout).results[0];
      const threads = op.cpu.threads_user_s + op.cpu.threads_sys_s;
      const processCpu = op.cpu.user_s + op.cpu.sys_s;
      // The polling thread spins while IO is queued: far more CPU than the submitting thread.
      assert.ok(
        processCpu - threads > 0.25 * op.task_latency_s,
        `process ${processCpu} s vs IO thread ${threads} s over ${op.task_latency_s} s`,
      );
    });
  } finally {
    removeDir(dir);
  }
});
