/**
 * The tasklet pool: N Web Workers behind one barrier. Collects each worker's result; when one
 * fails (or the run is stopped) it aborts the barrier and cancels every handle in flight, so
 * the others are released promptly and the run never hangs.
 *
 * @module
 */
import { cancelHandleAt } from "../../ffi/handle.ts";
import { Barrier } from "./barrier.ts";
import type { TaskSpec } from "./schedule.ts";
import type { ZeroTaskSpec } from "../zero/tasks.ts";
import type { RunMessage, TaskletMessage } from "./tasklet.ts";
import type { WorkerResult } from "../common/types.ts";
import { WORKER_NAME, workerUrl } from "./worker_url.ts";

/** A worker's failure. */
export interface WorkerFailure {
  worker: number;
  message: string;
  code?: string;
}

/** What the pool brings back. */
export interface PoolOutcome {
  results: WorkerResult[];
  /** The first failure is the cause; later ones are usually "barrier released". */
  failures: WorkerFailure[];
  stopped: boolean;
}

/** Options of `runPool`. */
export interface PoolOptions {
  /** Receives --verbose lines, whole, one at a time. */
  log?: (line: string) => void;
  /** Aborting it stops the run: barrier aborted, handles cancelled, partial results kept. */
  signal?: AbortSignal;
  barrierTimeoutMs?: number;
}

/** Runs one tasklet per spec, all behind one barrier, and waits for every one to finish. */
export function runPool(
  specs: (TaskSpec | ZeroTaskSpec)[],
  options: PoolOptions = {},
): Promise<PoolOutcome> {
  const parties = specs.length;
  const barrierBuffer = Barrier.allocate();
  const barrier = new Barrier(barrierBuffer, parties);
  const control = new SharedArrayBuffer(4);
  const stopFlag = new Int32Array(control);
  const handles = new Map<number, bigint>();
  const results: WorkerResult[] = [];
  const failures: WorkerFailure[] = [];
  let stopped = false;

  const cancelAll = () => {
    Atomics.store(stopFlag, 0, 1);
    barrier.abort(-1);
    for (const address of handles.values()) cancelHandleAt(address);
  };
  const onAbort = () => {
    stopped = true;
    cancelAll();
  };
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort);

  const runs = specs.map((spec) =>
    new Promise<void>((resolve) => {
      const worker = new Worker(workerUrl(), { type: "module", name: WORKER_NAME });
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        handles.delete(spec.worker);
        worker.terminate();
        resolve();
      };
      const fail = (failure: WorkerFailure) => {
        failures.push(failure);
        barrier.abort(spec.worker);
        Atomics.store(stopFlag, 0, 1);
        for (const [w, address] of handles) if (w !== spec.worker) cancelHandleAt(address);
        finish();
      };
      worker.onmessage = (e: MessageEvent<TaskletMessage>) => {
        const m = e.data;
        if (m.type === "log") options.log?.(m.line);
        else if (m.type === "handle") {
          handles.set(m.worker, BigInt(m.address));
          if (Atomics.load(stopFlag, 0) !== 0) cancelHandleAt(BigInt(m.address));
        } else if (m.type === "done") {
          results.push(m.result);
          finish();
        } else fail({ worker: m.worker, message: m.message, code: m.code });
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        fail({ worker: spec.worker, message: e.message || "worker crashed" });
      };
      const msg: RunMessage = {
        type: "run",
        spec,
        barrier: barrierBuffer,
        parties,
        control,
        barrierTimeoutMs: options.barrierTimeoutMs ?? 600_000,
      };
      worker.postMessage(msg);
    })
  );
  return Promise.all(runs).then(() => {
    options.signal?.removeEventListener("abort", onAbort);
    results.sort((a, b) => a.worker - b.worker);
    return { results, failures, stopped };
  });
}
