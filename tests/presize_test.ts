/**
 * pre_handle gives a write target its final size before the timed region (as fio lays out its
 * files), so no timed write extends the file: on ext4 with io_uring that decides whether a
 * write is issued by the submitting thread or handed to a kernel worker (measured in
 * docs/performance.md, "aiobench vs DeepSpeed"). A file that is already long enough is untouched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig } from "../lib/run/config.ts";
import { taskSpec } from "../lib/run/tasks.ts";
import { postHandle, preHandle } from "../lib/tasklets/schedule.ts";
import type { Workload } from "../lib/common/types.ts";
import { removeDir, tempDir } from "./_helpers.ts";

const MIB = 1 << 20;

function pre(workload: Workload, path: string, ioSizeBytes: number) {
  const config = { ...defaultConfig(), defaultRun: false };
  const target = { worker: 0, workload, path, ioSizeBytes };
  return preHandle(taskSpec(config, target, { engine: "io_uring", alignBytes: 4096 }));
}

Deno.test("a write target has its final size before the first timed write; reads and long files are left alone", () => {
  const dir = tempDir();
  try {
    for (const workload of ["write", "randwrite", "randrw"] as const) {
      const path = join(dir, `new.${workload}`);
      Deno.writeFileSync(path, new Uint8Array(0));
      const ctx = pre(workload, path, 3 * MIB + 4096);
      try {
        assert.equal(Deno.statSync(path).size, 3 * MIB + 4096, workload);
      } finally {
        postHandle(ctx);
      }
    }
    const long = join(dir, "long");
    Deno.writeFileSync(long, new Uint8Array(5 * MIB).fill(7));
    postHandle(pre("write", long, 2 * MIB));
    assert.equal(Deno.statSync(long).size, 5 * MIB, "a longer file keeps its size and bytes");
    assert.ok(Deno.readFileSync(long).every((b) => b === 7));
    const short = join(dir, "short-read");
    Deno.writeFileSync(short, new Uint8Array(MIB));
    postHandle(pre("read", short, MIB));
    assert.equal(Deno.statSync(short).size, MIB);
  } finally {
    removeDir(dir);
  }
});
