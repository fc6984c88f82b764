/**
 * A reusable generation barrier for Web Workers on a SharedArrayBuffer (Atomics.wait/notify).
 * Waits are bounded, and an abort flag releases every waiter with an error that names the
 * worker that failed, so a run never hangs on a dead tasklet.
 *
 * @module
 */

const COUNT = 0;
const GENERATION = 1;
const ABORTED = 2;
const ABORTED_BY = 3;
const SLOTS = 4;

/** Thrown from `wait` when another party aborted the barrier (or the wait timed out). */
export class BarrierAbortedError extends Error {
  /** The worker that aborted, or -1 for the coordinator. */
  readonly worker: number;
  constructor(worker: number, message: string) {
    super(message);
    this.name = "BarrierAbortedError";
    this.worker = worker;
  }
}

/** One party's view of a barrier shared by `parties` workers. */
export class Barrier {
  readonly parties: number;
  readonly #cells: Int32Array;

  /** Wraps `buffer` (from `Barrier.allocate`) for `parties` participants. */
  constructor(buffer: SharedArrayBuffer, parties: number) {
    if (!Number.isInteger(parties) || parties < 1) throw new RangeError(`parties ${parties} < 1`);
    if (buffer.byteLength < SLOTS * 4) throw new RangeError("barrier buffer too small");
    this.parties = parties;
    this.#cells = new Int32Array(buffer, 0, SLOTS);
  }

  /** A fresh shared buffer for one barrier. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * 4);
  }

  /** How many times every party has passed. */
  get generation(): number {
    return Atomics.load(this.#cells, GENERATION);
  }

  get aborted(): boolean {
    return Atomics.load(this.#cells, ABORTED) !== 0;
  }

  /**
   * Blocks until all parties arrive. Throws `BarrierAbortedError` when the barrier is (or
   * becomes) aborted, or after `timeoutMs` (then it aborts the barrier for everyone too).
   */
  wait(timeoutMs = 600_000, self = -1): void {
    const cells = this.#cells;
    const generation = Atomics.load(cells, GENERATION);
    this.#throwIfAborted();
    const arrived = Atomics.add(cells, COUNT, 1) + 1;
    if (arrived === this.parties) {
      Atomics.store(cells, COUNT, 0);
      Atomics.add(cells, GENERATION, 1);
      Atomics.notify(cells, GENERATION);
      return;
    }
    const deadline = performance.now() + timeoutMs;
    while (Atomics.load(cells, GENERATION) === generation) {
      this.#throwIfAborted();
      const left = deadline - performance.now();
      if (left <= 0) {
        this.abort(self);
        throw new BarrierAbortedError(
          self,
          `barrier wait timed out after ${timeoutMs} ms (${arrived} of ${this.parties} arrived)`,
        );
      }
      Atomics.wait(cells, GENERATION, generation, Math.min(left, 1000));
    }
  }

  /** Releases every waiter, now and later, with an error naming `worker` (-1: coordinator). */
  abort(worker: number): void {
    if (Atomics.compareExchange(this.#cells, ABORTED, 0, 1) === 0) {
      Atomics.store(this.#cells, ABORTED_BY, worker);
    }
    Atomics.notify(this.#cells, GENERATION);
  }

  #throwIfAborted(): void {
    if (Atomics.load(this.#cells, ABORTED) === 0) return;
    const by = Atomics.load(this.#cells, ABORTED_BY);
    const who = by < 0 ? "the run was stopped" : `worker ${by} failed`;
    throw new BarrierAbortedError(by, `barrier released: ${who}`);
  }
}
