/**
 * A reusable generation barrier for Web Workers on a SharedArrayBuffer (Atomics.wait/notify).
 * Waits are bounded, and an abort flag releases every waiter with an error that names the
 * worker that failed, so a run never hangs on a dead tasklet.
 *
 * A coordinated barrier (`allocate({ coordinated: true })`) has one more party, the main thread:
 * when the last worker arrives it is not released; the coordinator notices (`arrivals`), does
 * its own step (under MPI: the global barrier across ranks) and then `release`s the generation.
 *
 * @module
 */

const COUNT = 0;
const GENERATION = 1;
const ABORTED = 2;
const ABORTED_BY = 3;
/** 1 when the coordinator completes each generation. */
const COORDINATED = 4;
/** Set to generation + 1 by the last worker to arrive in a coordinated barrier. */
const ARRIVED = 5;
const SLOTS = 6;

/** What `Barrier.arrivals` saw. */
export type Arrivals = "arrived" | "aborted" | "ended";

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

  /** A fresh shared buffer for one barrier; `coordinated`: the main thread completes each generation. */
  static allocate(options: { coordinated?: boolean } = {}): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(SLOTS * 4);
    if (options.coordinated) new Int32Array(buffer)[COORDINATED] = 1;
    return buffer;
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
      if (Atomics.load(cells, COORDINATED) === 0) {
        this.#release();
        return;
      }
      Atomics.store(cells, ARRIVED, generation + 1);
      Atomics.notify(cells, ARRIVED);
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
    Atomics.notify(this.#cells, ARRIVED);
  }

  /**
   * Coordinator (main thread, without blocking it): resolves "arrived" once every worker has
   * arrived at the current generation, "aborted" when the barrier is aborted, "ended" when
   * `ended()` turns true (checked at each `wake` and at least once a second).
   */
  async arrivals(ended: () => boolean): Promise<Arrivals> {
    const cells = this.#cells;
    if (Atomics.load(cells, COORDINATED) === 0) {
      throw new Error("arrivals: not a coordinated barrier");
    }
    const target = Atomics.load(cells, GENERATION) + 1;
    for (;;) {
      if (Atomics.load(cells, ABORTED) !== 0) return "aborted";
      const seen = Atomics.load(cells, ARRIVED);
      if (seen === target) return "arrived";
      if (ended()) return "ended";
      const waiting = Atomics.waitAsync(cells, ARRIVED, seen, 1000);
      if (waiting.async) await waiting.value;
    }
  }

  /** Coordinator: lets the workers of the current generation go on. */
  release(): void {
    if (Atomics.load(this.#cells, ARRIVED) !== Atomics.load(this.#cells, GENERATION) + 1) {
      throw new Error("release: not every worker has arrived");
    }
    this.#release();
  }

  /** Coordinator: wakes a pending `arrivals` so it checks `ended()` now. */
  wake(): void {
    Atomics.notify(this.#cells, ARRIVED);
  }

  #release(): void {
    Atomics.store(this.#cells, COUNT, 0);
    Atomics.add(this.#cells, GENERATION, 1);
    Atomics.notify(this.#cells, GENERATION);
  }

  #throwIfAborted(): void {
    if (Atomics.load(this.#cells, ABORTED) === 0) return;
    const by = Atomics.load(this.#cells, ABORTED_BY);
    const who = by < 0 ? "the run was stopped" : `worker ${by} failed`;
    throw new BarrierAbortedError(by, `barrier released: ${who}`);
  }
}
