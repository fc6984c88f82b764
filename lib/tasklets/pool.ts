/**
 * The tasklet pool: N Web Workers behind one barrier. Collects each worker's result; when one
 * fails (or the run is stopped) it aborts the barrier and cancels every handle in flight, so
 * the others are released promptly and the run never hangs.
 *
 * @module
 */
import { cancelHandleAt } from "../../ffi/handle.ts";
import { Barrier } from "./barrier.ts";
import { allocateLive, LiveView } from "./live.ts";
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
  /** Why `globalStep` stopped the run, when it did. */
  stopReason?: string;
}

/** Options of `runPool`. */
export interface PoolOptions {
  /** Receives --verbose lines, whole, one at a time. */
  log?: (line: string) => void;
  /** Aborting it stops the run: barrier aborted, handles cancelled, partial results kept. */
  signal?: AbortSignal;
  barrierTimeoutMs?: number;
  /**
   * A step the main thread takes each time every worker has arrived at the barrier, before it
   * releases them (under MPI: the barrier across ranks). When it throws, the run stops as if
   * `signal` were aborted, and `stopReason` says why.
   */
  globalStep?: () => Promise<void>;
  /** Receives, as the pool starts, a view of its tasklets' phases and counters while they run. */
  onLive?: (view: LiveView) => void;
}

/** Runs one tasklet per spec, all behind one barrier, and waits for every one to finish. */
export function runPool(
  specs: (TaskSpec | ZeroTaskSpec)[],
  options: PoolOptions = {},
): Promise<PoolOutcome> {
  const parties = specs.length;
  const barrierBuffer = Barrier.allocate({ coordinated: options.globalStep !== undefined });
  const barrier = new Barrier(barrierBuffer, parties);
  // [0] the stop flag, [1] the lock tasklets allocate their buffers under (exclusive.ts).
  const control = new SharedArrayBuffer(8);
  const stopFlag = new Int32Array(control);
  // Handles reported by message (ZeRO replay lanes); benchmark tasklets publish theirs in `live`.
  const reported = new Map<number, bigint>();
  const results: WorkerResult[] = [];
  const failures: WorkerFailure[] = [];
  let stopped = false;
  let stopReason: string | undefined;
  const live = allocateLive(parties);
  const view = new LiveView(live);
  const cancelOthers = (except: number) => {
    for (const spec of specs) if (spec.worker !== except) view.cancel(spec.worker);
    for (const [w, address] of reported) if (w !== except) cancelHandleAt(address);
  };
  options.onLive?.(view);

  // The stop flag first: a tasklet publishing its handle after this sees it and cancels itself.
  const cancelAll = () => {
    Atomics.store(stopFlag, 0, 1);
    barrier.abort(-1);
    cancelOthers(-1);
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
        reported.delete(spec.worker);
        worker.terminate();
        resolve();
      };
      const fail = (failure: WorkerFailure) => {
        failures.push(failure);
        barrier.abort(spec.worker);
        Atomics.store(stopFlag, 0, 1);
        cancelOthers(spec.worker);
        finish();
      };
      worker.onmessage = (e: MessageEvent<TaskletMessage>) => {
        const m = e.data;
        if (m.type === "log") options.log?.(m.line);
        else if (m.type === "handle") {
          reported.set(m.worker, BigInt(m.address));
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
        live,
        barrierTimeoutMs: options.barrierTimeoutMs ?? 600_000,
      };
      worker.postMessage(msg);
    })
  );
  let ended = false;
  const coordinator = options.globalStep === undefined
    ? Promise.resolve()
    : coordinate(barrier, options.globalStep, () => ended, (reason) => {
      stopReason = reason;
      onAbort();
    });
  return Promise.all(runs).then(async () => {
    ended = true;
    barrier.wake();
    // A step in progress finishes first: the next collective call must not overtake it.
    await coordinator;
    options.signal?.removeEventListener("abort", onAbort);
    results.sort((a, b) => a.worker - b.worker);
    return { results, failures, stopped, stopReason };
  });
}

/** The main thread's part of a coordinated barrier: each generation, step, then release. */
async function coordinate(
  barrier: Barrier,
  step: () => Promise<void>,
  ended: () => boolean,
  stop: (reason: string) => void,
): Promise<void> {
  while (await barrier.arrivals(ended) === "arrived") {
    try {
      await step();
    } catch (e) {
      stop(e instanceof Error ? e.message : String(e));
      return;
    }
    barrier.release();
  }
}
