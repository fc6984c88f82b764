/**
 * DeepSpeed's engines and ds_io's per-loop files, seen in the system calls a run makes (strace):
 * aio_handle keeps one io_uring per worker for the whole run; aio_basic opens the file and sets
 * up a fresh ring inside every call; --different_file_each_iteration reads and writes one file
 * per loop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureTool, listing, removeDir, ROOT, tempDir, testUnless } from "./_helpers.ts";

const decoder = new TextDecoder();
const MIB = 1 << 20;

/** Runs benchmark(config) in a child Deno under strace; returns the result and the calls. */
function traced(
  dir: string,
  config: Record<string, unknown>,
): {
  result: { results: { op: string; bytes: number; validate?: { ok: boolean } }[] };
  calls: string[];
} {
  const script = join(dir, "run.ts");
  Deno.writeTextFileSync(
    script,
    `import { benchmark } from ${JSON.stringify(join(ROOT, "mod.ts"))};\n` +
      `const r = await benchmark(JSON.parse(Deno.args[0]));\n` +
      `console.log(JSON.stringify(r));\n`,
  );
  const log = join(dir, "strace.log");
  const out = new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-e",
      "trace=io_uring_setup,open,openat",
      "-o",
      log,
      Deno.execPath(),
      "run",
      "-A",
      script,
      JSON.stringify(config),
    ],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  assert.ok(out.success, decoder.decode(out.stderr));
  const calls = Deno.readTextFileSync(log).split("\n");
  Deno.removeSync(log);
  return { result: JSON.parse(decoder.decode(out.stdout)), calls };
}

function count(calls: string[], pattern: RegExp): number {
  return calls.filter((c) => pattern.test(c) && !/= -1 /.test(c)).length;
}

testUnless(
  ensureTool("strace"),
  "aio_handle, aio_basic and per-loop files, by their system calls",
  async (t) => {
    const dir = tempDir("aiobench_dsengines_");
    const data = join(dir, "data");
    Deno.mkdirSync(data);
    const base = {
      folders: [data],
      ioSizeBytes: 4 * MIB,
      threads: 2,
      warmupLoops: 1,
      loops: 3,
      validate: true,
    };
    try {
      await t.step(
        "aio_basic: a ring and an open per call; aio_handle: the same for any loops",
        () => {
          const rings: Record<string, number> = {};
          const opens: Record<string, number> = {};
          for (const dsEngine of ["aio_handle", "aio_basic"]) {
            for (const loops of [1, 3]) {
              const config = { ...base, loops, workloads: ["write"], dsEngine };
              const { result, calls } = traced(dir, config);
              assert.deepEqual(result.results.map((r) => [r.op, r.bytes, r.validate?.ok]), [
                ["write", 2 * loops * 4 * MIB, true],
              ]);
              rings[`${dsEngine} ${loops}`] = count(calls, /io_uring_setup\(/);
              opens[`${dsEngine} ${loops}`] = count(
                calls,
                /open(at)?\(.*aiobench_0\.dat".*O_DIRECT/,
              );
            }
          }
          const facts = JSON.stringify({ rings, opens });
          // Two more loops: aio_handle sets up nothing more; aio_basic a ring per worker and call,
          // and worker 0 opens its file once per call.
          assert.equal(rings["aio_handle 3"], rings["aio_handle 1"], facts);
          assert.equal(opens["aio_handle 3"], opens["aio_handle 1"], facts);
          assert.equal(rings["aio_basic 3"] - rings["aio_basic 1"], 2 * 2, facts);
          assert.equal(opens["aio_basic 3"] - opens["aio_basic 1"], 2, facts);
          assert.deepEqual(listing(data), [], "created files removed");
        },
      );

      await t.step("--different_file_each_iteration: one file per loop, read and written", () => {
        const { result, calls } = traced(dir, {
          ...base,
          workloads: ["write", "read"],
          differentFileEachIteration: true,
          keep: true,
        });
        assert.deepEqual(result.results.map((r) => [r.op, r.bytes, r.validate?.ok]), [
          ["write", 2 * 3 * 4 * MIB, true],
          ["read", 2 * 3 * 4 * MIB, true],
        ]);
        const names = [0, 1].flatMap((w) => [0, 1, 2, 3].map((l) => `aiobench_${w}_${l}.dat`));
        assert.deepEqual(listing(data), names.sort());
        for (const name of names) {
          assert.equal(Deno.statSync(join(data, name)).size, 4 * MIB, name);
          // Opened by the write workload and again by the read workload (O_DIRECT both times).
          assert.ok(count(calls, new RegExp(`open(at)?\\(.*${name}".*O_DIRECT`)) >= 2, name);
        }
        assert.equal(
          count(calls, /open(at)?\(.*aiobench_\d\.dat"/),
          0,
          "no single file per worker",
        );
      });
    } finally {
      removeDir(dir);
    }
  },
);
