/**
 * lib/tasklets/barrier.ts with real Web Workers: many generations without a lost or early wake-up, a
 * failing worker releases the others with an error naming it, and a timed-out wait aborts.
 */
import assert from "node:assert/strict";
import { Barrier, BarrierAbortedError } from "../lib/tasklets/barrier.ts";
import type { BarrierJob, BarrierReport } from "./_barrier_worker.ts";

const WORKER_URL = new URL("./_barrier_worker.ts", import.meta.url);

/** Runs one worker per job and collects each one's single report (bounded by `limitMs`). */
async function runWorkers(jobs: BarrierJob[], limitMs: number): Promise<BarrierReport[]> {
  const workers: Worker[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const reports = jobs.map((job) =>
      new Promise<BarrierReport>((resolve, reject) => {
        const w = new Worker(WORKER_URL, { type: "module" });
        workers.push(w);
        w.onmessage = (e: MessageEvent<BarrierReport>) => resolve(e.data);
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`worker ${job.id} crashed: ${e.message}`));
        };
        w.postMessage(job);
      })
    );
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`workers still blocked after ${limitMs} ms: barrier hangs`)),
        limitMs,
      );
    });
    return await Promise.race([Promise.all(reports), limit]);
  } finally {
    clearTimeout(timer);
    for (const w of workers) w.terminate();
  }
}

function jobs(parties: number, generations: number, extra: Partial<BarrierJob> = {}): BarrierJob[] {
  const barrier = Barrier.allocate();
  const counts = new SharedArrayBuffer(4 * generations);
  return [...Array(parties).keys()].map((id) => ({
    id,
    barrier,
    parties,
    counts,
    generations,
    timeoutMs: 20_000,
    ...extra,
  }));
}

Deno.test("barrier: 8 workers × 1000 generations, no lost or early wake-up", async () => {
  const all = jobs(8, 1000);
  const reports = await runWorkers(all, 60_000);
  for (const r of reports) {
    assert.deepEqual(r, { type: "done", id: r.id, generations: 1000 }, JSON.stringify(r));
  }
  const barrier = new Barrier(all[0].barrier, 8);
  assert.equal(barrier.generation, 1000);
  assert.equal(barrier.aborted, false);
  const counts = new Int32Array(all[0].counts);
  assert.ok(counts.every((c) => c === 8), "every generation saw exactly 8 arrivals");
});

Deno.test("barrier: a worker that throws releases the rest with an error naming it", async () => {
  const all = jobs(8, 50);
  const thrower = 5;
  all[thrower] = { ...all[thrower], throwAt: 20, pauseMs: 300 };
  const started = performance.now();
  const reports = await runWorkers(all, 10_000);
  const elapsedMs = performance.now() - started;
  const threw = reports.find((r) => r.type === "threw");
  assert.ok(threw && threw.type === "threw", JSON.stringify(reports));
  assert.equal(threw.id, thrower);
  const released = reports.filter((r) => r.type === "released");
  assert.equal(released.length, 7, JSON.stringify(reports));
  for (const r of released) {
    assert.ok(r.type === "released");
    assert.equal(r.by, thrower);
    assert.match(r.message, new RegExp(`worker ${thrower} failed`));
    assert.equal(r.generation, 20, "the others were waiting at the failing generation");
    const lagMs = r.atMs - threw.atMs;
    assert.ok(lagMs < 2000, `worker ${r.id} released ${lagMs} ms after the abort`);
  }
  assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
  assert.equal(new Barrier(all[0].barrier, 8).aborted, true);
});

Deno.test("barrier: a wait that times out aborts the barrier for everyone", async (t) => {
  await t.step("in workers: the timed-out one is named to the others", async () => {
    // Three parties, two workers: nobody else ever arrives.
    const all = jobs(3, 1).slice(0, 2);
    all[0] = { ...all[0], timeoutMs: 300 };
    const started = performance.now();
    const reports = await runWorkers(all, 10_000);
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 2000, `timeout of 300 ms took ${elapsedMs} ms to release everyone`);
    const [first, second] = reports;
    assert.ok(first.type === "released", JSON.stringify(first));
    assert.equal(first.by, 0);
    assert.match(first.message, /timed out after 300 ms \(1 of 3 arrived\)|\(2 of 3 arrived\)/);
    assert.ok(second.type === "released", JSON.stringify(second));
    assert.equal(second.by, 0);
    assert.match(second.message, /worker 0 failed/);
  });

  await t.step("on the main thread: throws after the timeout, later waits fail at once", () => {
    const barrier = new Barrier(Barrier.allocate(), 2);
    const t0 = performance.now();
    assert.throws(() => barrier.wait(150, 3), (e: unknown) => {
      assert.ok(e instanceof BarrierAbortedError);
      assert.equal(e.worker, 3);
      assert.match(e.message, /timed out after 150 ms \(1 of 2 arrived\)/);
      return true;
    });
    const waitedMs = performance.now() - t0;
    assert.ok(waitedMs >= 140 && waitedMs < 1500, `waited ${waitedMs} ms`);
    assert.equal(barrier.aborted, true);
    const t1 = performance.now();
    assert.throws(() => barrier.wait(10_000, 1), /worker 3 failed/);
    assert.ok(performance.now() - t1 < 100, "an aborted barrier does not block");
  });

  await t.step("the coordinator's abort (-1) says the run was stopped", () => {
    const barrier = new Barrier(Barrier.allocate(), 2);
    barrier.abort(-1);
    assert.throws(() => barrier.wait(10_000, 0), (e: unknown) => {
      assert.ok(e instanceof BarrierAbortedError);
      assert.equal(e.worker, -1);
      assert.match(e.message, /the run was stopped/);
      return true;
    });
  });

  await t.step("a single party never blocks and generations count", () => {
    const barrier = new Barrier(Barrier.allocate(), 1);
    for (let i = 0; i < 5; i++) barrier.wait(10);
    assert.equal(barrier.generation, 5);
    assert.throws(() => new Barrier(Barrier.allocate(), 0), RangeError);
    assert.throws(() => new Barrier(new SharedArrayBuffer(8), 2), RangeError);
  });
});

Deno.test("barrier, coordinated: the main thread steps after every arrival, before any release", async () => {
  const generations = 200;
  const all = jobs(4, generations, { barrier: Barrier.allocate({ coordinated: true }) });
  const barrier = new Barrier(all[0].barrier, 4);
  const counts = new Int32Array(all[0].counts);
  let done = false;
  let steps = 0;
  const seen: number[] = [];
  const coordinator = (async () => {
    while (await barrier.arrivals(() => done) === "arrived") {
      // Every worker has counted itself in, and none has passed: the generation hasn't moved.
      seen.push(Atomics.load(counts, steps));
      assert.equal(barrier.generation, steps);
      await new Promise((resolve) => setTimeout(resolve, 0));
      steps++;
      barrier.release();
    }
  })();
  const reports = await runWorkers(all, 60_000);
  done = true;
  barrier.wake();
  await coordinator;
  for (const r of reports) assert.deepEqual(r, { type: "done", id: r.id, generations });
  assert.equal(steps, generations);
  assert.ok(seen.every((c) => c === 4), "each step saw all 4 workers arrived");
  assert.throws(() => barrier.release(), /not every worker has arrived/);
});
