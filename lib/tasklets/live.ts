/**
 * What the coordinator can see of a running pool: each tasklet's phase, loop and native handle
 * address, published in a SharedArrayBuffer; through them it reads the handle's counters while
 * IO is in flight, and cancels it on a stop. A small guard per tasklet keeps a handle from being
 * destroyed while the coordinator uses it: the coordinator never blocks (it skips a handle it
 * can't claim), the tasklet waits at most the length of one such use.
 *
 * @module
 */
import { cancelHandleAt, liveCountersAt, liveHistogramAt } from "../../ffi/handle.ts";

/** What a tasklet is doing; `post` is after its measured loops, its handle still open. */
export type LivePhase = "setup" | "warmup" | "ramp" | "measured" | "post" | "done";

const phases: readonly LivePhase[] = ["setup", "warmup", "ramp", "measured", "post", "done"];

// Layout: a header of 4 Int32s, then 4 Int32s per tasklet, then one BigInt64 address each.
const WANT_FINAL = 0; // header: the coordinator wants one last read after the measured loops
const FINAL_TAKEN = 1; // header: ... and has taken it
const HEADER_INTS = 4;
const GUARD = 0;
const PHASE = 1;
const LOOP = 2;
const SLOT_INTS = 4;

const GUARD_NONE = 0;
const GUARD_ALIVE = 1;
const GUARD_CLAIMED = 2;
const close_wait_ms_max = 1000;
const final_wait_ms_max = 250;

/** A fresh shared buffer for `workers` tasklets. */
export function allocateLive(workers: number): SharedArrayBuffer {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers ${workers} < 1`);
  return new SharedArrayBuffer((HEADER_INTS + workers * SLOT_INTS) * 4 + workers * 8);
}

function workersOf(buffer: SharedArrayBuffer): number {
  return (buffer.byteLength - HEADER_INTS * 4) / (SLOT_INTS * 4 + 8);
}

function header(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer, 0, HEADER_INTS);
}

function slotCells(buffer: SharedArrayBuffer, worker: number): Int32Array {
  return new Int32Array(buffer, (HEADER_INTS + worker * SLOT_INTS) * 4, SLOT_INTS);
}

function addressCell(buffer: SharedArrayBuffer, worker: number): BigInt64Array {
  const start = (HEADER_INTS + workersOf(buffer) * SLOT_INTS) * 4;
  return new BigInt64Array(buffer, start + worker * 8, 1);
}

/** A tasklet's side: announce the phase and loop; publish and guard its native handle. */
export class LiveSlot {
  readonly #buffer: SharedArrayBuffer;
  readonly #cells: Int32Array;
  readonly #address: BigInt64Array;

  /** Slot `worker` of `buffer` (from `allocateLive`). */
  constructor(buffer: SharedArrayBuffer, worker: number) {
    if (!(worker >= 0 && worker < workersOf(buffer))) throw new RangeError(`no slot ${worker}`);
    this.#buffer = buffer;
    this.#cells = slotCells(buffer, worker);
    this.#address = addressCell(buffer, worker);
  }

  /** Now in `phase`, at `loop` (1-based; 0 when the phase has no loops). */
  enter(phase: LivePhase, loop = 0): void {
    Atomics.store(this.#cells, LOOP, loop);
    Atomics.store(this.#cells, PHASE, phases.indexOf(phase));
  }

  /** The handle at `address` exists: the coordinator may read and cancel it from now on. */
  handleReady(address: bigint): void {
    Atomics.store(this.#address, 0, BigInt.asIntN(64, address));
    Atomics.store(this.#cells, GUARD, GUARD_ALIVE);
  }

  /** The handle is about to be destroyed: waits out a use in progress, then forbids new ones. */
  handleClosing(): void {
    const deadline = Date.now() + close_wait_ms_max;
    while (true) {
      const was = Atomics.compareExchange(this.#cells, GUARD, GUARD_ALIVE, GUARD_NONE);
      if (was !== GUARD_CLAIMED) break;
      // The coordinator's use is a few native reads; a second means it is gone.
      if (Date.now() > deadline) break;
      Atomics.wait(this.#cells, GUARD, GUARD_CLAIMED, 10);
    }
    Atomics.store(this.#cells, GUARD, GUARD_NONE);
    Atomics.store(this.#address, 0, 0n);
  }

  /**
   * The measured loops are over: when the coordinator asked for a last read of the counters
   * (--log_interval's final interval), wait for it, at most 250 ms, before going on.
   */
  measuredDone(): void {
    this.enter("post");
    const cells = header(this.#buffer);
    if (Atomics.load(cells, WANT_FINAL) === 0) return;
    const deadline = Date.now() + final_wait_ms_max;
    while (Atomics.load(cells, FINAL_TAKEN) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      Atomics.wait(cells, FINAL_TAKEN, 0, left);
    }
  }
}

/** One tasklet as the coordinator last saw it. */
export interface LiveWorker {
  phase: LivePhase;
  loop: number;
  /** Bytes and IOs moved since the pool started (warm-up included), across stat resets. */
  bytes: number;
  ios: number;
}

/** What `LiveView.sample` returns: every tasklet, and their sums. */
export interface LiveSample {
  /** `performance.now()` when it was taken. */
  atMs: number;
  workers: LiveWorker[];
  bytes: number;
  ios: number;
  /** With `histogram: true`: the merged latency histogram of the handles read (dense). */
  histogram?: BigUint64Array;
}

/** The coordinator's side: samples or cancels every tasklet without ever blocking on one. */
export class LiveView {
  readonly #buffer: SharedArrayBuffer;
  readonly #workers: number;
  readonly #last: {
    address: bigint;
    bytes: number;
    ios: number;
    totalBytes: number;
    totalIos: number;
  }[];
  readonly #stats = new BigUint64Array(32);

  /** The view of `buffer` (from `allocateLive`). */
  constructor(buffer: SharedArrayBuffer) {
    this.#buffer = buffer;
    this.#workers = workersOf(buffer);
    this.#last = Array.from({ length: this.#workers }, () => ({
      address: 0n,
      bytes: 0,
      ios: 0,
      totalBytes: 0,
      totalIos: 0,
    }));
  }

  /** Runs `use(address)` on worker `w`'s handle if it is alive and claimable right now. */
  #withHandle(w: number, use: (address: bigint) => void): boolean {
    const cells = slotCells(this.#buffer, w);
    if (Atomics.compareExchange(cells, GUARD, GUARD_ALIVE, GUARD_CLAIMED) !== GUARD_ALIVE) {
      return false;
    }
    try {
      const address = BigInt.asUintN(64, Atomics.load(addressCell(this.#buffer, w), 0));
      if (address !== 0n) use(address);
    } finally {
      Atomics.store(cells, GUARD, GUARD_ALIVE);
      Atomics.notify(cells, GUARD);
    }
    return true;
  }

  /** Cancels worker `w`'s request in flight, if it has a handle now (in-flight IO drains). */
  cancel(w: number): void {
    this.#withHandle(w, (address) => cancelHandleAt(address));
  }

  /** Every tasklet's phase, without touching any handle. */
  phases(): LivePhase[] {
    return Array.from(
      { length: this.#workers },
      (_, w) => phases[Atomics.load(slotCells(this.#buffer, w), PHASE)] ?? "setup",
    );
  }

  /** Asks the tasklets to wait (briefly) after their measured loops until `releaseFinal()`. */
  requestFinal(): void {
    Atomics.store(header(this.#buffer), WANT_FINAL, 1);
  }

  /** The last read is taken (or no longer wanted): tasklets waiting in `measuredDone` go on. */
  releaseFinal(): void {
    const cells = header(this.#buffer);
    Atomics.store(cells, FINAL_TAKEN, 1);
    Atomics.notify(cells, FINAL_TAKEN);
  }

  /** Reads every tasklet's phase and the counters of each handle it can claim right now. */
  sample(options: { histogram?: boolean } = {}): LiveSample {
    const workers: LiveWorker[] = [];
    let histogram: BigUint64Array | undefined;
    for (let w = 0; w < this.#workers; w++) {
      const last = this.#last[w];
      this.#withHandle(w, (address) => {
        const now = liveCountersAt(address, this.#stats);
        // Counters restart at a stat reset (after the warm-up) and with a new handle (a fresh
        // context per call): count what came after.
        const restarted = address !== last.address || now.bytes < last.bytes || now.ios < last.ios;
        last.totalBytes += restarted ? now.bytes : now.bytes - last.bytes;
        last.totalIos += restarted ? now.ios : now.ios - last.ios;
        last.address = address;
        last.bytes = now.bytes;
        last.ios = now.ios;
        if (options.histogram) {
          const h = liveHistogramAt(address);
          if (histogram === undefined) histogram = h;
          else for (let i = 0; i < h.length; i++) histogram[i] += h[i];
        }
      });
      const cells = slotCells(this.#buffer, w);
      workers.push({
        phase: phases[Atomics.load(cells, PHASE)] ?? "setup",
        loop: Atomics.load(cells, LOOP),
        bytes: last.totalBytes,
        ios: last.totalIos,
      });
    }
    return {
      atMs: performance.now(),
      workers,
      bytes: workers.reduce((s, w) => s + w.bytes, 0),
      ios: workers.reduce((s, w) => s + w.ios, 0),
      histogram,
    };
  }
}
