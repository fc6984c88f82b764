/**
 * lib/tasklets/exclusive.ts: the lock tasklets allocate their buffers under, across real Web
 * Workers: one holder at a time, released on a throw, and a waiter gives up when the run stops.
 */
import assert from "node:assert/strict";
import { exclusive } from "../lib/tasklets/exclusive.ts";
import type { ExclusiveReport } from "./_exclusive_worker.ts";

const WORKER_URL = new URL("./_exclusive_worker.ts", import.meta.url);

function runWorkers(cells: SharedArrayBuffer, n: number, rounds: number) {
  return Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ExclusiveReport>((resolve, reject) => {
        const w = new Worker(WORKER_URL, { type: "module" });
        w.onmessage = (e: MessageEvent<ExclusiveReport>) => {
          w.terminate();
          resolve(e.data);
        };
        w.onerror = (e) => {
          w.terminate();
          reject(e);
        };
        w.postMessage({ cells, rounds });
      })),
  );
}

Deno.test("exclusive: four workers, 200 entries each, never two inside at once", async () => {
  const cells = new SharedArrayBuffer(16);
  const reports = await runWorkers(cells, 4, 200);
  assert.deepEqual(reports, Array(4).fill({ type: "done", overlaps: 0 }));
  const view = new Int32Array(cells);
  assert.equal(view[3], 800, "every entry ran");
  assert.equal(view[1], 0, "the lock is free at the end");
});

Deno.test("exclusive: a throw inside releases the lock, and the error comes out", () => {
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const lock = exclusive(cells, 1, () => false);
  assert.throws(() =>
    lock(() => {
      throw new Error("inside");
    }), /inside/);
  assert.equal(cells[1], 0);
  assert.equal(lock(() => 42), 42);
});

Deno.test("exclusive: a worker waiting for a lock held elsewhere gives up when the run stops", async () => {
  const cells = new SharedArrayBuffer(16);
  const view = new Int32Array(cells);
  Atomics.store(view, 1, 1); // held, as by a tasklet that never lets go
  const waiting = runWorkers(cells, 1, 1);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  Atomics.store(view, 0, 1); // the stop flag
  const [report] = await waiting;
  assert.equal(report.type, "threw");
  assert.match((report as { message: string }).message, /stopped while this tasklet waited/);
  assert.ok(performance.now() - t0 < 2500, "gave up within the 1 s re-check");
});
