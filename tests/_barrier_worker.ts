/**
 * A test worker for tests/barrier_test.ts: passes a shared barrier `generations` times, counting
 * arrivals per generation, and can throw or time out on request (as a failing tasklet would).
 */
import { Barrier, BarrierAbortedError } from "../lib/tasklets/barrier.ts";

/** Test → worker. */
export interface BarrierJob {
  id: number;
  barrier: SharedArrayBuffer;
  parties: number;
  /** Int32 per generation: arrivals counted before the barrier. */
  counts: SharedArrayBuffer;
  generations: number;
  timeoutMs: number;
  /** Throw (after a pause, so the others are already waiting) at this generation. */
  throwAt?: number;
  pauseMs?: number;
}

/** Worker → test. */
export type BarrierReport =
  | { type: "done"; id: number; generations: number }
  | { type: "early"; id: number; generation: number; count: number }
  | { type: "released"; id: number; by: number; message: string; atMs: number; generation: number }
  | { type: "threw"; id: number; atMs: number; message: string };

function run(job: BarrierJob, post: (r: BarrierReport) => void): void {
  const barrier = new Barrier(job.barrier, job.parties);
  const counts = new Int32Array(job.counts);
  let g = 0;
  try {
    for (; g < job.generations; g++) {
      if (g === job.throwAt) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.pauseMs ?? 0);
        throw new Error(`worker ${job.id} fails on purpose at generation ${g}`);
      }
      Atomics.add(counts, g, 1);
      barrier.wait(job.timeoutMs, job.id);
      const count = Atomics.load(counts, g);
      if (count !== job.parties) {
        post({ type: "early", id: job.id, generation: g, count });
        barrier.abort(job.id);
        return;
      }
    }
    post({ type: "done", id: job.id, generations: g });
  } catch (e) {
    const atMs = Date.now();
    if (e instanceof BarrierAbortedError) {
      post({ type: "released", id: job.id, by: e.worker, message: e.message, atMs, generation: g });
      return;
    }
    // What a failing tasklet does: abort the barrier so nobody waits for it.
    barrier.abort(job.id);
    post({ type: "threw", id: job.id, atMs, message: String(e) });
  }
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<BarrierJob>) => void) | null;
  postMessage: (r: BarrierReport) => void;
};
scope.onmessage = (e) => run(e.data, (r) => scope.postMessage(r));
