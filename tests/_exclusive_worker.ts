/**
 * A test worker for tests/exclusive_test.ts: enters the shared lock `rounds` times; inside, it
 * marks the cell `inside` and holds it a moment, counting every time it found another worker
 * there (which the lock must make impossible).
 */
import { exclusive } from "../lib/tasklets/exclusive.ts";

/** Test → worker: cells[0] the stop flag, [1] the lock, [2] workers inside, [3] entries. */
export interface ExclusiveJob {
  cells: SharedArrayBuffer;
  rounds: number;
}

/** Worker → test. */
export type ExclusiveReport = { type: "done"; overlaps: number } | {
  type: "threw";
  message: string;
};

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ExclusiveJob>) => void) | null;
  postMessage: (r: ExclusiveReport) => void;
};

scope.onmessage = (e) => {
  const cells = new Int32Array(e.data.cells);
  const lock = exclusive(cells, 1, () => Atomics.load(cells, 0) !== 0);
  let overlaps = 0;
  try {
    for (let i = 0; i < e.data.rounds; i++) {
      lock(() => {
        if (Atomics.add(cells, 2, 1) !== 0) overlaps++;
        const until = performance.now() + 0.2;
        while (performance.now() < until) { /* hold the lock a moment */ }
        Atomics.add(cells, 3, 1);
        Atomics.sub(cells, 2, 1);
      });
    }
    scope.postMessage({ type: "done", overlaps });
  } catch (err) {
    scope.postMessage({ type: "threw", message: String(err) });
  }
};
