/**
 * What the run reports about the engine itself: t/io_uring's IOS/call (IOs submitted and
 * completed per engine call) in the JSON and with -v, and the io_uring ring setup flags in use
 * (env and results), measured on real files and real io_uring.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ioUringSetupFlags } from "../ffi/handle.ts";
import { makeRandomFile, removeDir, runCli, tempDir } from "./_helpers.ts";

const MIB = 1 << 20;

interface Op {
  op: string;
  iops: number;
  ios_per_call: { calls: number; submitted: number; completed: number };
  ring_setup_flags: string[];
  workers: { ios: number }[];
}

async function run(
  args: string[],
): Promise<{ doc: { env: Record<string, unknown>; results: Op[] }; stderr: string }> {
  const r = await runCli([...args, "--json", "-"]);
  assert.equal(r.code, 0, r.stderr);
  return { doc: JSON.parse(r.stdout), stderr: r.stderr };
}

Deno.test("IOS/call: batches submit many IOs per call, --single_submit one; completions add up to the IOs", async (t) => {
  const dir = tempDir();
  const file = join(dir, "data.bin");
  makeRandomFile(file, 16 * MIB);
  const base = ["--read_file", file, "--block_size", "256K", "--queue_depth", "16"];
  try {
    await t.step("sequential batches of 16: about 16 IOs per submitting call", async () => {
      const { doc } = await run([...base, "--engine", "io_uring"]);
      const r = doc.results[0];
      const ios = r.workers.reduce((s, w) => s + w.ios, 0);
      assert.equal(ios, 64);
      // Each batch is one enter that submits 16 and waits for them: 4 calls, 16 per call.
      assert.ok(r.ios_per_call.calls >= 4 && r.ios_per_call.calls <= 8, JSON.stringify(r));
      assert.ok(r.ios_per_call.submitted >= 8, JSON.stringify(r));
      assert.ok(Math.abs(r.ios_per_call.completed * r.ios_per_call.calls - ios) < 1e-6);
    });
    await t.step("--single_submit: at most one IO per submitting call", async () => {
      const { doc } = await run([...base, "--engine", "io_uring", "--single_submit"]);
      const r = doc.results[0];
      assert.ok(r.ios_per_call.calls >= 64, JSON.stringify(r.ios_per_call));
      assert.ok(r.ios_per_call.submitted <= 1, JSON.stringify(r.ios_per_call));
    });
    await t.step("libaio counts io_submit and io_getevents; no ring flags", async () => {
      const { doc } = await run([...base, "--engine", "libaio", "--overlap_events"]);
      const r = doc.results[0];
      assert.ok(r.ios_per_call.calls > 0 && r.ios_per_call.submitted > 0);
      assert.deepEqual(r.ring_setup_flags, []);
      assert.equal(doc.env.io_uring_setup_flags, null);
    });
    await t.step("-v prints IOS/call and the ring flags in use", async () => {
      const r = await runCli([...base, "--engine", "io_uring", "-v"]);
      assert.equal(r.code, 0, r.stderr);
      const line = r.stderr.split("\n").find((l) => l.startsWith("read: IOS/call "));
      assert.ok(line, r.stderr);
      assert.match(
        line,
        /^read: IOS\/call [0-9.]+ submitted \/ [0-9.]+ completed over \d+ engine calls/,
      );
      const flags = ioUringSetupFlags(false) as string[]; // base runs the sequential policy
      if (flags.length > 0) assert.ok(line.endsWith(`ring setup ${flags.join("|")}`), line);
    });
  } finally {
    removeDir(dir);
  }
});

Deno.test("env and results name the io_uring ring setup flags in use and the library's build", async () => {
  const dir = tempDir();
  const file = join(dir, "data.bin");
  makeRandomFile(file, 4 * MIB);
  try {
    for (const overlap of [false, true]) {
      const { doc } = await run([
        "--read_file",
        file,
        "--engine",
        "io_uring",
        "--io_parallel",
        "2",
        ...(overlap ? ["--overlap_events"] : []),
      ]);
      const probed = ioUringSetupFlags(overlap);
      assert.ok(Array.isArray(probed));
      assert.deepEqual(doc.env.io_uring_setup_flags, probed);
      assert.deepEqual(doc.results[0].ring_setup_flags, probed);
      const lib = doc.env.native_library as { build: string };
      assert.ok(
        ["Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall"].includes(lib.build),
        lib.build,
      );
    }
  } finally {
    removeDir(dir);
  }
});
