/**
 * The two kinds of pool worker a ZeRO replay runs, one set per rank:
 * - a lane owns one native aio handle (one of DeepSpeed's aio handles) and moves its queue of
 *   files in order, each as one request (as DeepSpeed's handle thread does), when the driver
 *   releases them;
 * - the driver follows the rank's actions: it releases requests to lanes, waits for a lane to
 *   drain (DeepSpeed's `handle.wait()`), and sleeps where compute would run.
 * Driver and lanes share one Int32Array per rank; drivers of all ranks meet at a step gate that the
 * main thread opens (and, under MPI, joins across nodes).
 *
 * @module
 */
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioError } from "../../ffi/errors.ts";
import { AioFile } from "../../ffi/file.ts";
import { AioHandle, type NativeEngine } from "../../ffi/handle.ts";
import type { WorkerResult } from "../common/types.ts";
import { Barrier } from "../tasklets/barrier.ts";
import { handleCounters } from "../tasklets/counters.ts";
import type { Action, LaneName } from "./plan.ts";
import type { AioSettings } from "./settings.ts";

/** The lanes of a rank, in slot order. */
export const lane_names: readonly LaneName[] = [
  "optimizer",
  "optimizer_read",
  "optimizer_write",
  "param_read",
  "param_write",
];
const lane_slot_ints = 4;
const RELEASED = 0;
const DONE = 1;
const FAILED = 2;

/** Slots of the node-wide step gate. */
const ARRIVED = 0;
const GENERATION = 1;
/** Seconds between checks of the stop flag while blocked. */
const poll_ms = 100;

/** One request of a lane: the whole file, from offset 0. */
export interface LaneRequest {
  path: string;
  bytes: number;
  op: "read" | "write";
}

/** What a ZeRO pool worker is told (plain data, posted to the worker). */
export interface ZeroTaskSpec {
  worker: number;
  zero: {
    role: "driver" | "lane";
    rank: number;
    /** Lanes only: which one. */
    lane?: LaneName;
    /** The rank's lane counters (see `laneControl`). */
    control: SharedArrayBuffer;
    /** The node's step gate (see `StepGate`). */
    gate: SharedArrayBuffer;
    /** Lanes: requests per phase (phase 0 prepares, then one per step). */
    requests?: LaneRequest[][];
    /** Drivers: actions per phase. */
    actions?: Action[][];
    aio: AioSettings;
    engine: NativeEngine;
    alignBytes: number;
    /** The seed of the data written (non-zero, so no device sees all-zero blocks). */
    seed: number;
  };
}

/** A lane's request times (ms since the epoch) per phase: [start, end] per request. */
export interface LaneTimes {
  rank: number;
  lane: LaneName;
  phases: number[][];
}

/** A driver's times (ms since the epoch) per phase: the phase's bounds and [start, end] per action. */
export interface DriverTimes {
  rank: number;
  phases: { startMs: number; endMs: number; actions: number[] }[];
}

/** What a ZeRO worker returns: a `WorkerResult` (a lane's handle counters) plus its times. */
export type ZeroWorkerResult = WorkerResult & { zeroLane?: LaneTimes; zeroDriver?: DriverTimes };

/** Whether a pool spec is a ZeRO worker's. */
export function isZeroSpec(spec: unknown): spec is ZeroTaskSpec {
  return typeof spec === "object" && spec !== null && "zero" in spec;
}

/** A fresh counter block for one rank's lanes. */
export function laneControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(lane_names.length * lane_slot_ints * 4);
}

function slot(lane: LaneName): number {
  const index = lane_names.indexOf(lane);
  if (index < 0) throw new RangeError(`unknown lane ${lane}`);
  return index * lane_slot_ints;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The message a pool worker gets (the subset of lib/tasklets/tasklet.ts's RunMessage used here). */
export interface ZeroRunMessage {
  spec: ZeroTaskSpec;
  barrier: SharedArrayBuffer;
  parties: number;
  control: SharedArrayBuffer;
  barrierTimeoutMs: number;
}

/** Stopped by the user or by another worker's failure: the worker returns what it has. */
class Stopped extends Error {}

/** Runs one ZeRO worker to completion; returns its result (partial when the run was stopped). */
export function runZeroTask(
  msg: ZeroRunMessage,
  post: (m: { type: "handle"; worker: number; address: string }) => void,
): ZeroWorkerResult {
  const z = msg.spec.zero;
  const stop = new Int32Array(msg.control);
  const barrier = new Barrier(msg.barrier, msg.parties);
  if (z.role === "lane") return runLane(msg, stop, barrier, post);
  return runDriver(msg, stop, barrier);
}

function emptyResult(worker: number, path: string): ZeroWorkerResult {
  return {
    worker,
    path,
    bytes: 0,
    ios: 0,
    taskSeconds: 0,
    e2eSeconds: 0,
    errors: 0,
    histogram: [],
    latencyMinNs: 0,
    latencyMaxNs: 0,
    latencySumNs: 0,
    cpuUserSeconds: 0,
    cpuSystemSeconds: 0,
    sqesSubmitted: 0,
    enterCalls: 0,
    shortResubmits: 0,
    partial: false,
    loopsDone: 0,
  };
}

function runLane(
  msg: ZeroRunMessage,
  stop: Int32Array,
  barrier: Barrier,
  post: (m: { type: "handle"; worker: number; address: string }) => void,
): ZeroWorkerResult {
  const z = msg.spec.zero;
  const lane = z.lane!;
  const cells = new Int32Array(z.control);
  const base = slot(lane);
  const requests = z.requests ?? [];
  const times: LaneTimes = { rank: z.rank, lane, phases: requests.map(() => []) };
  const handle = new AioHandle({
    blockSize: z.aio.blockSizeBytes,
    queueDepth: z.aio.queueDepth,
    singleSubmit: z.aio.singleSubmit,
    overlapEvents: z.aio.overlapEvents,
    ioParallel: z.aio.intraOpParallelism,
    engine: z.engine,
    alignBytes: z.alignBytes,
  });
  // Each in-flight IO has its own block of this buffer (slot buffers): the requests' sizes, order
  // and concurrency are DeepSpeed's; the memory is not its tensor-sized pinned buffers.
  const buffer = AlignedBuffer.alloc(
    z.aio.intraOpParallelism * z.aio.queueDepth * z.aio.blockSizeBytes,
  );
  const result = emptyResult(msg.spec.worker, `rank ${z.rank} ${lane}`);
  try {
    buffer.fillPattern(z.seed + z.rank, 0);
    post({ type: "handle", worker: msg.spec.worker, address: handle.nativeAddress.toString() });
    barrier.wait(msg.barrierTimeoutMs, msg.spec.worker);
    let index = 0;
    for (const [phase, list] of requests.entries()) {
      if (phase === 2) handle.resetStats(); // counters over the measured steps only
      for (const request of list) {
        waitReleased(cells, base, index, stop);
        const start = nowMs();
        move(handle, buffer, request);
        times.phases[phase].push(start, nowMs());
        index += 1;
        Atomics.store(cells, base + DONE, index);
        Atomics.notify(cells, base + DONE);
      }
    }
  } catch (e) {
    Atomics.store(cells, base + FAILED, 1);
    Atomics.notify(cells, base + DONE);
    if (!(e instanceof Stopped || isCancelled(e, stop))) throw e;
    result.partial = true;
  } finally {
    Object.assign(result, handleCounters(handle));
    handle.close();
    buffer.free();
  }
  result.zeroLane = times;
  return result;
}

function isCancelled(e: unknown, stop: Int32Array): boolean {
  return e instanceof AioError && e.code === "ECANCELLED" && Atomics.load(stop, 0) !== 0;
}

/** One of DeepSpeed's `async_pread`/`async_pwrite` of a whole tensor file, then its wait. */
function move(handle: AioHandle, buffer: AlignedBuffer, request: LaneRequest): void {
  const write = request.op === "write";
  const file = AioFile.open(request.path, { write, create: write, direct: true });
  try {
    handle.submit(buffer, file, {
      mode: request.op,
      nbytes: request.bytes,
      offset: 0,
      slotBuffers: true,
    }, true);
    const moved = handle.wait();
    if (moved !== request.bytes) {
      throw new Error(`${request.path}: moved ${moved} of ${request.bytes} bytes`);
    }
  } finally {
    file.close();
  }
}

function waitReleased(cells: Int32Array, base: number, index: number, stop: Int32Array): void {
  for (;;) {
    const released = Atomics.load(cells, base + RELEASED);
    if (released > index) return;
    if (Atomics.load(stop, 0) !== 0) throw new Stopped();
    Atomics.wait(cells, base + RELEASED, released, poll_ms);
  }
}

function runDriver(msg: ZeroRunMessage, stop: Int32Array, barrier: Barrier): ZeroWorkerResult {
  const z = msg.spec.zero;
  const cells = new Int32Array(z.control);
  const gate = new StepGate(z.gate);
  const times: DriverTimes = { rank: z.rank, phases: [] };
  const result = emptyResult(msg.spec.worker, `rank ${z.rank} driver`);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  try {
    barrier.wait(msg.barrierTimeoutMs, msg.spec.worker);
    gate.arrive(stop);
    for (const actions of z.actions ?? []) {
      const phase = { startMs: nowMs(), endMs: 0, actions: [] as number[] };
      times.phases.push(phase);
      for (const action of actions) {
        const start = nowMs();
        perform(action, cells, stop, pause);
        phase.actions.push(start, nowMs());
      }
      for (const lane of lane_names) drain(cells, slot(lane), stop, lane);
      phase.endMs = nowMs();
      result.loopsDone += 1;
      gate.arrive(stop);
    }
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
    result.partial = true;
  }
  result.zeroDriver = times;
  return result;
}

function perform(action: Action, cells: Int32Array, stop: Int32Array, pause: Int32Array): void {
  if (action.kind === "issue") {
    const base = slot(action.lane);
    Atomics.add(cells, base + RELEASED, action.count);
    Atomics.notify(cells, base + RELEASED);
  } else if (action.kind === "wait") {
    drain(cells, slot(action.lane), stop, action.lane);
  } else {
    const until = performance.now() + action.seconds * 1000;
    for (let left = action.seconds * 1000; left > 0; left = until - performance.now()) {
      if (Atomics.load(stop, 0) !== 0) throw new Stopped();
      Atomics.wait(pause, 0, 0, Math.min(left, poll_ms));
    }
  }
}

/** DeepSpeed's `handle.wait()`: until every request released to the lane is done. */
function drain(cells: Int32Array, base: number, stop: Int32Array, lane: LaneName): void {
  for (;;) {
    const done = Atomics.load(cells, base + DONE);
    if (done === Atomics.load(cells, base + RELEASED)) return;
    if (Atomics.load(cells, base + FAILED) !== 0) {
      if (Atomics.load(stop, 0) !== 0) throw new Stopped();
      throw new Error(`lane ${lane} stopped before its requests were done`);
    }
    if (Atomics.load(stop, 0) !== 0) throw new Stopped();
    Atomics.wait(cells, base + DONE, done, poll_ms);
  }
}

/**
 * The node's step gate: every driver arrives after each phase (and once before the first);
 * the main thread opens the gate when all have arrived, after whatever cross-node step
 * (MPI_Barrier) it runs.
 */
export class StepGate {
  readonly #cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#cells = new Int32Array(buffer);
  }

  /** A fresh gate. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * 4);
  }

  /** Driver side: arrive and block until the main thread opens the gate (or the run stops). */
  arrive(stop: Int32Array): void {
    const cells = this.#cells;
    const generation = Atomics.load(cells, GENERATION);
    Atomics.add(cells, ARRIVED, 1);
    Atomics.notify(cells, ARRIVED);
    while (Atomics.load(cells, GENERATION) === generation) {
      if (Atomics.load(stop, 0) !== 0) throw new Stopped();
      Atomics.wait(cells, GENERATION, generation, poll_ms);
    }
  }

  /** Main-thread side: resolves once `parties` drivers have arrived (without blocking the thread). */
  async arrivals(parties: number, stopped: () => boolean): Promise<boolean> {
    const cells = this.#cells;
    for (;;) {
      const arrived = Atomics.load(cells, ARRIVED);
      if (arrived >= parties) return true;
      if (stopped()) return false;
      const waiter = Atomics.waitAsync(cells, ARRIVED, arrived, poll_ms);
      if (waiter.async) await waiter.value;
    }
  }

  /** Main-thread side: opens the gate for the next phase. */
  open(): void {
    Atomics.store(this.#cells, ARRIVED, 0);
    Atomics.add(this.#cells, GENERATION, 1);
    Atomics.notify(this.#cells, GENERATION);
  }
}
