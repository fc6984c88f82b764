/**
 * Every wait the engines make on the kernel is bounded, seen in the system calls of a real run
 * (strace): io_getevents always gets a timeout (never NULL), and an io_uring_enter that waits for
 * completions (min_complete > 0) always carries one (IORING_ENTER_EXT_ARG with its argument).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureTool, makeRandomFile, removeDir, runCli, tempDir, testUnless } from "./_helpers.ts";

const MIB = 1 << 20;

/** The run's io_getevents and io_uring_enter calls, one entry per call (resumed lines joined). */
async function tracedCalls(dir: string, args: string[]): Promise<string[]> {
  const log = join(dir, "strace.log");
  const trace = ["strace", "-f", "-qq", "-e", "trace=io_getevents,io_uring_enter", "-o", log];
  const r = await runCli(args, { prefix: trace });
  assert.equal(r.code, 0, r.stderr);
  const lines = Deno.readTextFileSync(log).split("\n");
  Deno.removeSync(log);
  // With -f a call cut by another thread's is split into "<unfinished ...>" and "resumed>".
  const open = new Map<string, string>();
  const calls: string[] = [];
  for (const line of lines) {
    const pid = line.split(" ")[0];
    if (line.includes("<unfinished ...>")) {
      open.set(pid, line.replace(/\s*<unfinished \.\.\.>$/, ""));
    } else if (line.includes(" resumed>")) {
      calls.push((open.get(pid) ?? "") + line.replace(/^.*resumed>\s*/, ""));
      open.delete(pid);
    } else if (/io_(getevents|uring_enter)\(/.test(line)) calls.push(line);
  }
  return calls;
}

testUnless(
  ensureTool("strace"),
  "reap waits are bounded: no NULL-timeout io_getevents, no io_uring_enter wait without a timeout",
  async (t) => {
    const dir = tempDir("aiobench_waits_");
    const file = join(dir, "data.bin");
    makeRandomFile(file, 8 * MIB);
    // Synchronous and asynchronous handles, batched and overlapped reaps: every way a lane waits.
    const shapes = [
      ["--block_size", "64K", "--queue_depth", "8"],
      ["--block_size", "64K", "--queue_depth", "8", "--overlap_events", "--io_parallel", "2"],
    ];
    try {
      await t.step("libaio: every io_getevents has a timeout", async () => {
        for (const shape of shapes) {
          const calls =
            (await tracedCalls(dir, ["--read_file", file, "--engine", "libaio", ...shape]))
              .filter((c) => c.includes("io_getevents("));
          assert.ok(calls.length >= 4, `${calls.length} io_getevents calls`);
          for (const c of calls) {
            assert.match(c, /\{tv_sec=\d+, tv_nsec=\d+\}\) += /, `a timeout in: ${c}`);
          }
        }
      });
      await t.step("io_uring: every io_uring_enter that waits has a timeout", async () => {
        for (const shape of shapes) {
          const calls =
            (await tracedCalls(dir, ["--read_file", file, "--engine", "io_uring", ...shape]))
              .filter((c) => c.includes("io_uring_enter("));
          let waits = 0;
          for (const c of calls) {
            const m = c.match(/io_uring_enter\((\d+), (\d+), (\d+), ([^,]+), ([^,]+), (\d+)/);
            assert.ok(m, `parsed: ${c}`);
            if (Number(m[3]) === 0) continue;
            waits++;
            assert.match(m[4], /IORING_ENTER_EXT_ARG/, `EXT_ARG in: ${c}`);
            assert.ok(m[5] !== "NULL" && Number(m[6]) > 0, `the argument in: ${c}`);
          }
          assert.ok(waits >= 1, `${waits} waiting io_uring_enter calls of ${calls.length}`);
        }
      });
    } finally {
      removeDir(dir);
    }
  },
);
