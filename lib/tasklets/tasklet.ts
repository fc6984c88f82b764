/**
 * One tasklet (runs inside a Web Worker): barrier → pre → barrier → (main → barrier) × loops
 * → post, summing task time (main only) and E2E time (main plus the barrier after it).
 *
 * @module
 */
import { AioError } from "../../ffi/errors.ts";
import { processCpuSeconds } from "../../ffi/handle.ts";
import { Barrier, BarrierAbortedError } from "./barrier.ts";
import { exclusive } from "./exclusive.ts";
import { handleCounters } from "./counters.ts";
import { LiveSlot } from "./live.ts";
import { PerCallHandle } from "./basic.ts";
import { gpuSchedule, gpuWorkerResult, isGpuContext } from "../gpu/schedule.ts";
import { GpuValidationError, validateGpu } from "../gpu/validate.ts";
import {
  basicSchedule,
  getSchedule,
  type TaskContext,
  type TaskSpec,
  useLoopFile,
  writes,
} from "./schedule.ts";
import type { WorkerResult } from "../common/types.ts";
import { isZeroSpec, runZeroTask, type ZeroTaskSpec } from "../zero/tasks.ts";

/** Coordinator → tasklet. */
export interface RunMessage {
  type: "run";
  /** A benchmark tasklet's spec, or a ZeRO replay worker's (lib/zero/tasks.ts). */
  spec: TaskSpec | ZeroTaskSpec;
  barrier: SharedArrayBuffer;
  parties: number;
  /** Int32 flag set by the coordinator when the run is being stopped. */
  control: SharedArrayBuffer;
  /** Where this tasklet publishes its phase and guards its handle (lib/tasklets/live.ts). */
  live: SharedArrayBuffer;
  barrierTimeoutMs: number;
}

/** Tasklet → coordinator. */
export type TaskletMessage =
  | { type: "log"; worker: number; line: string }
  /** A ZeRO replay lane's handle (lib/zero/tasks.ts), for the coordinator to cancel on a stop. */
  | { type: "handle"; worker: number; address: string }
  | { type: "done"; worker: number; result: WorkerResult }
  | { type: "error"; worker: number; message: string; code?: string };

/** Thrown by --validate when data differs. */
export class ValidationError extends Error {
  /** File offset of the first byte that differs (or where the file ends early). */
  readonly offset: number | null;
  constructor(message: string, offset: number | null = null) {
    super(message);
    this.name = "ValidationError";
    this.offset = offset;
  }
}

type Post = (message: TaskletMessage) => void;

/** Runs one tasklet to completion (or to the first error) and returns what it measured. */
export function runTasklet(msg: RunMessage & { spec: TaskSpec }, post: Post): WorkerResult {
  const { spec } = msg;
  const c = spec.loops;
  const barrier = new Barrier(msg.barrier, msg.parties);
  const stopped = new Int32Array(msg.control);
  const wait = () => barrier.wait(msg.barrierTimeoutMs, spec.worker);
  const log = (line: string) => {
    if (spec.verbose) {
      post({ type: "log", worker: spec.worker, line: `tid ${spec.worker}: ${line}` });
    }
  };
  const schedule = spec.gpu
    ? gpuSchedule(spec)
    : spec.perCall
    ? basicSchedule(spec.workload)
    : getSchedule(spec.workload, spec.async);
  log(`schedule = ${schedule.name}, file = ${spec.path}, io_size = ${spec.ioSizeBytes}`);
  wait();
  let t = performance.now();
  const live = new LiveSlot(msg.live, spec.worker);
  const ctx = schedule.pre(
    spec,
    exclusive(stopped, 1, () => Atomics.load(stopped, 0) !== 0),
  );
  log(`pre-task done in ${((performance.now() - t) / 1000).toFixed(6)} sec${pageOrderText(ctx)}`);
  // Published before the stop flag is read: a stop either sees the handle or is seen here.
  const handle = ctx.handle;
  if (handle instanceof PerCallHandle) {
    handle.onOpen = (address) => {
      live.handleReady(address);
      if (Atomics.load(stopped, 0) !== 0) handle.cancel();
    };
    handle.onClose = () => live.handleClosing();
  } else live.handleReady(handle.nativeAddress);
  if (Atomics.load(stopped, 0) !== 0) handle.cancel();
  if (spec.logIntervalS) ctx.handle.setLogInterval(spec.logIntervalS);
  const m: LoopTotals = { task: 0, e2e: 0, bytes: 0, loops: 0, partial: false };
  try {
    wait();
    for (let i = 0; i < c.warmup; i++) {
      live.enter("warmup", i + 1);
      useLoopFile(ctx, i);
      schedule.prepare?.(ctx);
      const t0 = performance.now();
      const moved = schedule.main(ctx, c.runtimeS);
      const t1 = performance.now();
      wait();
      if (c.includeWarmupTime) addLoop(m, moved, t0, t1, performance.now());
      log(`warmup loop ${i} done`);
    }
    if (c.rampTimeS > 0) {
      live.enter("ramp");
      schedule.prepare?.(ctx);
      schedule.main(ctx, c.rampTimeS);
      wait();
      log(`ramp of ${c.rampTimeS} sec done`);
    }
    if (!c.includeWarmupTime) {
      ctx.handle.resetStats();
      if (isGpuContext(ctx)) ctx.gpu.ioSeconds = 0;
    }
    // Process CPU (every thread, SQPOLL's included) over the timed region: the loops start
    // together after a barrier and end at one, so one worker's reading covers them all.
    const cpuStart = spec.worker === 0 ? processCpuSeconds() : undefined;
    for (let i = 0; i < c.timed; i++) {
      live.enter("measured", i + 1);
      useLoopFile(ctx, c.warmup + i);
      schedule.prepare?.(ctx);
      t = performance.now();
      let moved = 0;
      try {
        moved = schedule.main(ctx, c.runtimeS);
      } catch (e) {
        if (!(e instanceof AioError && e.code === "ECANCELLED")) throw e;
        m.partial = true;
        m.task += (performance.now() - t) / 1000;
        m.e2e += (performance.now() - t) / 1000;
        break;
      }
      const t1 = performance.now();
      wait();
      addLoop(m, moved, t, t1, performance.now());
      log(`main task ${i} done: task ${((t1 - t) / 1000).toFixed(6)} sec`);
    }
    if (cpuStart) {
      const cpuEnd = processCpuSeconds();
      m.processCpu = { user: cpuEnd.user - cpuStart.user, system: cpuEnd.system - cpuStart.system };
    }
    live.measuredDone();
    if (spec.validate && !m.partial) m.validation = validate(ctx);
    return result(ctx, m);
  } catch (e) {
    if (e instanceof BarrierAbortedError && Atomics.load(stopped, 0) !== 0) {
      m.partial = true;
      return result(ctx, m);
    }
    throw e;
  } finally {
    live.enter("done");
    live.handleClosing();
    schedule.post(ctx);
    log("post-task done");
  }
}

/**
 * For --verbose: how many of the buffer's neighbouring pages follow each other physically (they
 * merge into one segment of an IO), when this process can see it.
 */
function pageOrderText(ctx: TaskContext): string {
  if (!ctx.spec.verbose || isGpuContext(ctx)) return "";
  const order = ctx.buffer.pageOrder();
  if (order === null || order.pairs === 0) return "";
  const pct = (n: number) => (100 * n / order.pairs).toFixed(1);
  return `, buffer pages in physical order ${pct(order.ascending)}% (reversed ${
    pct(order.descending)
  }%)`;
}

/** --validate's verdict for this worker: a mismatch is a result to report, not a crash. */
function validate(ctx: TaskContext): NonNullable<WorkerResult["validation"]> {
  corruptForTest(ctx);
  try {
    if (isGpuContext(ctx)) validateGpu(ctx);
    else validateBuffer(ctx);
    return { bytes: ctx.spec.ioSizeBytes, mismatch: null };
  } catch (e) {
    if (!(e instanceof ValidationError || e instanceof GpuValidationError)) throw e;
    const offset = e instanceof ValidationError ? e.offset : null;
    const message = e.message.replace(/^--validate: /, "");
    return { bytes: ctx.spec.ioSizeBytes, mismatch: { message, offset } };
  }
}

/**
 * Test-only: `AIOBENCH_FAULT=corrupt@N` flips byte N of each worker's buffer after the timed
 * loops, so a test can see --validate catch data that differs (never set it for a measurement).
 */
function corruptForTest(ctx: TaskContext): void {
  let fault: string | undefined;
  try {
    fault = Deno.env.get("AIOBENCH_FAULT");
  } catch {
    return; // no --allow-env: no fault
  }
  const offset = Number(/^corrupt@([0-9]+)$/.exec(fault ?? "")?.[1] ?? NaN);
  if (isGpuContext(ctx) || !Number.isSafeInteger(offset) || offset >= ctx.spec.ioSizeBytes) return;
  ctx.buffer.bytes()[offset] ^= 0xff;
}

function addLoop(
  m: { task: number; e2e: number; bytes: number; loops: number },
  moved: number,
  t0: number,
  t1: number,
  t2: number,
): void {
  m.task += (t1 - t0) / 1000;
  m.e2e += (t2 - t0) / 1000;
  m.bytes += moved;
  m.loops += 1;
}

interface LoopTotals {
  task: number;
  e2e: number;
  bytes: number;
  loops: number;
  partial: boolean;
  processCpu?: { user: number; system: number };
  validation?: WorkerResult["validation"];
}

function result(ctx: TaskContext, m: LoopTotals): WorkerResult {
  const counters = handleCounters(ctx.handle);
  return {
    worker: ctx.spec.worker,
    path: ctx.spec.path,
    ...counters,
    bytes: m.partial ? counters.bytes : m.bytes,
    taskSeconds: m.task,
    e2eSeconds: m.e2e,
    partial: m.partial,
    loopsDone: m.loops,
    gpu: isGpuContext(ctx) ? gpuWorkerResult(ctx) : undefined,
    intervals: ctx.spec.logIntervalS
      ? { intervalS: ctx.spec.logIntervalS, samples: ctx.handle.intervals() }
      : undefined,
    processCpuUserSeconds: m.processCpu?.user,
    processCpuSystemSeconds: m.processCpu?.system,
    validation: m.validation,
  };
}

/**
 * --validate: compares what the buffer holds with the file read back through buffered IO;
 * throws `ValidationError` naming the worker, the file and the first differing offset.
 */
export function validateBuffer(ctx: TaskContext): void {
  const { spec, buffer } = ctx;
  if (writes(spec.workload)) ctx.file.fsync();
  const file = Deno.openSync(spec.path, { read: true });
  try {
    const chunk = new Uint8Array(8 << 20);
    let offset = 0;
    while (offset < spec.ioSizeBytes) {
      const want = Math.min(chunk.length, spec.ioSizeBytes - offset);
      const n = file.readSync(chunk.subarray(0, want));
      if (n === null || n === 0) {
        throw new ValidationError(
          `--validate: worker ${spec.worker}: ${spec.path} ends at ${offset}, expected ${spec.ioSizeBytes} bytes`,
          offset,
        );
      }
      const at = buffer.compare(chunk.subarray(0, n), offset);
      if (at >= 0) {
        const what = writes(spec.workload) ? "written data" : "data read";
        throw new ValidationError(
          `--validate: worker ${spec.worker}: ${what} differs from ${spec.path} at offset ${
            offset + at
          }`,
          offset + at,
        );
      }
      offset += n;
    }
  } finally {
    file.close();
  }
}

/** Wires `runTasklet` to the worker's message port. */
export function startTasklet(): void {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<RunMessage>) => void) | null;
    postMessage: (m: TaskletMessage) => void;
  };
  const post: Post = (m) => scope.postMessage(m);
  scope.onmessage = (e) => {
    const msg = e.data;
    try {
      const spec = msg.spec;
      const result = isZeroSpec(spec)
        ? runZeroTask({ ...msg, spec }, post)
        : runTasklet({ ...msg, spec }, post);
      post({ type: "done", worker: msg.spec.worker, result });
    } catch (err) {
      new Barrier(msg.barrier, msg.parties).abort(msg.spec.worker);
      const message = err instanceof Error ? err.message : String(err);
      const code = err instanceof AioError ? err.code : undefined;
      post({ type: "error", worker: msg.spec.worker, message, code });
    }
  };
}
