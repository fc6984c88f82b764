/**
 * One tasklet at a time, across Web Workers: a lock on one cell of a SharedArrayBuffer. The
 * tasklets take it to allocate their IO buffers one after another: each worker's buffer is then
 * faulted in from pages the others aren't taking at the same moment, so its pages stay in
 * physical order (zig/src/buffer.zig; concurrent faulting interleaves two buffers' pages).
 *
 * @module
 */

/** Runs `f` while holding the lock at `cells[index]`. */
export type Exclusive = <T>(f: () => T) => T;

/**
 * The lock at `cells[index]` (0 free, 1 held); waits re-check `stopped` (a stopped run gives up
 * waiting with an error) every second, so a wait can't outlive the run.
 */
export function exclusive(cells: Int32Array, index: number, stopped: () => boolean): Exclusive {
  return <T>(f: () => T): T => {
    while (Atomics.compareExchange(cells, index, 0, 1) !== 0) {
      if (stopped()) throw new Error("the run stopped while this tasklet waited for its turn");
      Atomics.wait(cells, index, 1, 1000);
    }
    try {
      return f();
    } finally {
      Atomics.store(cells, index, 0);
      Atomics.notify(cells, index, 1);
    }
  };
}
