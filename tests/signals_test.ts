// SIGINT / SIGTERM in the middle of a real run (a 30 s time-based run, a million loops, a large
// read file being created): in-flight IO drains, workers stop, aiobench's files are removed
// (unless --keep), the results so far are printed marked partial, exit 130 / 143, and all of it
// within 2 s of the signal (measured).
import assert from "node:assert/strict";
import { listing, sha256Sync as sha256, stepUnless } from "./_helpers.ts";

const main_ts = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
const stop_bound_ms = 2000;

interface Stopped {
  code: number;
  stdout: string;
  stderr: string;
  /** From the signal to the process's exit. */
  stop_ms: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return -1;
  }
}

/** Starts aiobench, waits until `ready()` (bounded), sends `signal`, waits for the exit. */
async function runAndSignal(
  args: string[],
  signal: "SIGINT" | "SIGTERM",
  ready: () => boolean,
  settle_ms = 300,
): Promise<Stopped> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main_ts, ...args],
    cwd: "/",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  output.finally(() => (exited = true));
  const t_ready = performance.now();
  while (!ready() && !exited && performance.now() - t_ready < 15_000) await sleep(10);
  if (!exited) await sleep(settle_ms);
  if (exited) {
    const o = await output;
    throw new Error(
      `aiobench ended before the signal (exit ${o.code}): ${decoder.decode(o.stderr)}`,
    );
  }
  const t0 = performance.now();
  child.kill(signal);
  const o = await output;
  console.log(`  ${signal}: exited ${(performance.now() - t0).toFixed(0)} ms after the signal`);
  return {
    code: o.code,
    stdout: decoder.decode(o.stdout),
    stderr: decoder.decode(o.stderr),
    stop_ms: performance.now() - t0,
  };
}

function freeBytes(dir: string): number {
  const out = new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).outputSync();
  return Number(decoder.decode(out.stdout).trim().split("\n").pop());
}

function checkStopped(r: Stopped, signal: "SIGINT" | "SIGTERM"): void {
  const context = `exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
  assert.equal(r.code, signal === "SIGINT" ? 130 : 143, context);
  assert.ok(r.stop_ms < stop_bound_ms, `stopped ${r.stop_ms.toFixed(0)} ms after ${signal}`);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.deepEqual(lines, [`aiobench: stopping (${signal}): draining IO, cleaning up`], context);
  assert.doesNotMatch(r.stdout, /^\s+at |ECANCEL/m, context);
  assert.match(r.stdout, /\(partial/, `the printed results are not marked partial\n${context}`);
}

/** The JSON report of a stopped run: partial, bytes adding up over workers. */
function checkPartialJson(path: string, op: string, workers: number): Record<string, unknown> {
  const doc = JSON.parse(Deno.readTextFileSync(path));
  assert.equal(doc.partial, true);
  assert.equal(doc.results.length, 1);
  const r = doc.results[0];
  assert.equal(r.op, op);
  assert.equal(r.partial, true);
  assert.equal(r.workers.length, workers);
  assert.ok(r.bytes > 0, "no bytes measured before the signal");
  assert.equal(r.bytes, r.workers.reduce((s: number, w: { bytes: number }) => s + w.bytes, 0));
  assert.ok(r.task_gib_s > 0 && Number.isFinite(r.task_gib_s), String(r.task_gib_s));
  return r;
}

Deno.test("signals in the middle of a run: drained, cleaned, partial, 130/143 in < 2 s", async (t) => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_signals_" });
  const json = `${dir}/r.json`;
  const files = [`${dir}/aiobench_0.dat`, `${dir}/aiobench_1.dat`];
  const writing = () => files.every((f) => sizeOf(f) > 0);
  // No warm-up (ds_io's default has one): the signal lands in the measured loop.
  const timed = [
    ...["--folder", dir, "--threads", "2", "--io_size", "8M", "--block_size", "256K"],
    ...["--warmup_loops", "0"],
  ];
  const forever = ["--runtime", "30s", "--time_based", "--json", json];
  try {
    await t.step("SIGINT, time-based write, sync schedule", async () => {
      const r = await runAndSignal([...timed, ...forever], "SIGINT", writing);
      checkStopped(r, "SIGINT");
      checkPartialJson(json, "write", 2);
      assert.deepEqual(listing(dir), ["r.json"], "aiobench's files were not removed");
      Deno.removeSync(json);
    });
    await t.step("SIGTERM, time-based write, --io_parallel 2", async () => {
      const r = await runAndSignal(
        [...timed, ...forever, "--io_parallel", "2"],
        "SIGTERM",
        writing,
      );
      checkStopped(r, "SIGTERM");
      checkPartialJson(json, "write", 2);
      assert.deepEqual(listing(dir), ["r.json"], "aiobench's files were not removed");
      Deno.removeSync(json);
    });
    await t.step("SIGINT with --keep keeps the files", async () => {
      const r = await runAndSignal([...timed, ...forever, "--keep"], "SIGINT", writing);
      checkStopped(r, "SIGINT");
      assert.deepEqual(listing(dir), ["aiobench_0.dat", "aiobench_1.dat", "r.json"]);
      for (const f of [...files, json]) Deno.removeSync(f);
    });
    await t.step("SIGTERM during a million read loops of the user's file", async () => {
      const data = `${dir}/data.bin`;
      const bytes = new Uint8Array(4 << 20);
      for (let i = 0; i < bytes.length; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, i + 65536));
      }
      Deno.writeFileSync(data, bytes);
      const hash = sha256(data);
      const args = ["--read_file", data, "--loops", "1000000", "--json", json];
      const r = await runAndSignal(args, "SIGTERM", () => true, 800);
      checkStopped(r, "SIGTERM");
      const op = checkPartialJson(json, "read", 1) as { bytes: number };
      assert.ok(op.bytes < 1_000_000 * (4 << 20));
      assert.equal(sha256(data), hash, "the user's file changed");
      assert.deepEqual(listing(dir), ["data.bin", "r.json"]);
      Deno.removeSync(data);
      Deno.removeSync(json);
    });
    const short = freeBytes(dir) < 24 * 2 ** 30 ? `less than 24 GiB free in ${dir}` : undefined;
    // Big enough that finishing the file first (the old behaviour) takes well over 2 s.
    await stepUnless(t, short, "SIGINT while aiobench creates a 16 GiB read file", async () => {
      const made = `${dir}/aiobench_0.dat`;
      const args = ["--folder", dir, "--read", "--io_size", "16G"];
      const r = await runAndSignal(args, "SIGINT", () => sizeOf(made) > 0, 0);
      assert.equal(r.code, 130, r.stderr);
      assert.ok(r.stop_ms < stop_bound_ms, `stopped ${r.stop_ms.toFixed(0)} ms after SIGINT`);
      assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m);
      assert.match(r.stdout, /\(partial/, r.stdout);
      assert.deepEqual(listing(dir), [], "the half-made read file was not removed");
    });
    await stepUnless(t, short, "SIGINT while a sweep creates its 16 GiB file", async () => {
      const made = `${dir}/aiobench_0.dat`;
      const args = ["sweep", "--folder", dir, "--io_size", "16G"];
      const r = await runAndSignal(args, "SIGINT", () => sizeOf(made) > 0, 0);
      assert.equal(r.code, 130, r.stderr);
      assert.ok(r.stop_ms < stop_bound_ms, `stopped ${r.stop_ms.toFixed(0)} ms after SIGINT`);
      assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m);
      assert.match(r.stdout, /\(stopped: 64 configs were not measured\)/, r.stdout);
      assert.deepEqual(listing(dir), [], "the half-made sweep file was not removed");
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
