/**
 * `--gpu` inside a tasklet: each worker's buffer lives in GPU memory. A read goes file →
 * page-locked aligned host slot (our AlignedBuffer, registered with cuMemHostRegister) →
 * cuMemcpyHtoDAsync, in chunks over two slots so the copy of chunk k runs on the GPU's copy engine
 * while chunk k+1 is read (ds_aio copies only after the whole read: that is `bounce` here). Writes
 * mirror it: DtoH of chunk k+1 overlaps the write of chunk k. `--use_gds` reads and writes GPU
 * memory through cuFile instead. IO-only time and the end-to-end (file ⇄ GPU memory) time are kept
 * apart. `--use_accelerator_pin_memory` changes nothing here: the host slots are always page-locked.
 *
 * @module
 */
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { cuda, type CudaDriver } from "../../ffi/cuda.ts";
import { type Cufile, cufile } from "../../ffi/cufile.ts";
import {
  postHandle,
  preHandle,
  type Schedule,
  type TaskContext,
  type TaskSpec,
  writes,
} from "../tasklets/schedule.ts";
import type { WorkerResult } from "../common/types.ts";
import { type GpuStep, type GpuTaskPlan, planGpuSteps } from "./plan.ts";

const MIB = 1 << 20;

/** What a GPU worker holds between pre and post. */
export interface GpuState {
  plan: GpuTaskPlan;
  driver: CudaDriver;
  deviceName: string;
  /** Device memory of io_size bytes. */
  devicePointer: bigint;
  stream: bigint;
  /** One event per host slot: the last copy that used it. */
  events: bigint[];
  /** Registered host slots (`[ctx.buffer]` or two of chunk bytes); empty for gds. */
  slots: AlignedBuffer[];
  steps: GpuStep[];
  gds?: { lib: Cufile; handle: bigint; registered: boolean };
  /** The device's primary context is retained (released in post). */
  context: boolean;
  /** Seconds spent in file IO calls since the last reset. */
  ioSeconds: number;
}

/** A TaskContext whose buffer is in GPU memory. */
export interface GpuTaskContext extends TaskContext {
  gpu: GpuState;
}

/** Whether a tasklet's context is a GPU one. */
export function isGpuContext(ctx: TaskContext): ctx is GpuTaskContext {
  return (ctx as Partial<GpuTaskContext>).gpu !== undefined;
}

/** The tasklet schedule of a GPU worker (pre allocates on the device; main runs the steps). */
export function gpuSchedule(spec: TaskSpec): Schedule {
  const plan = spec.gpu;
  if (!plan) throw new Error(`worker ${spec.worker}: --gpu without a GPU plan`);
  const op = writes(spec.workload) ? "write" : "read";
  const async = spec.async;
  return {
    name: `gpu_${plan.mode}_${async ? "parallel" : "handle"}_${op}`,
    pre: () => preGpu(spec, plan),
    main: (ctx) => mainGpu(ctx as GpuTaskContext, async),
    post: (ctx) => postGpu(ctx as GpuTaskContext),
  };
}

function preGpu(spec: TaskSpec, plan: GpuTaskPlan): GpuTaskContext {
  const host = preHandle(spec);
  const state: GpuState = {
    plan,
    driver: undefined as unknown as CudaDriver,
    deviceName: "",
    context: false,
    devicePointer: 0n,
    stream: 0n,
    events: [],
    slots: [],
    steps: planGpuSteps({
      op: writes(spec.workload) ? "write" : "read",
      totalBytes: spec.ioSizeBytes,
      chunkBytes: plan.chunkBytes,
      mode: plan.mode,
    }),
    ioSeconds: 0,
  };
  const ctx: GpuTaskContext = { ...host, spec, gpu: state };
  try {
    state.driver = cuda();
    state.driver.init();
    const device = state.driver.device(plan.device);
    state.driver.primaryContext(device);
    state.context = true;
    state.deviceName = state.driver.deviceName(device);
    state.devicePointer = state.driver.memAlloc(spec.ioSizeBytes);
    state.stream = state.driver.streamCreate();
    if (plan.mode !== "gds") setUpSlots(ctx);
    fillDevice(ctx);
    if (plan.mode === "gds") {
      const lib = cufile();
      lib.driverOpen();
      state.gds = { lib, handle: lib.handleRegister(ctx.file.fd), registered: false };
      lib.bufRegister(state.devicePointer, spec.ioSizeBytes);
      state.gds.registered = true;
    }
    return ctx;
  } catch (e) {
    try {
      postGpu(ctx);
    } catch {
      // The first error is the one to report.
    }
    throw e;
  }
}

function setUpSlots(ctx: GpuTaskContext): void {
  const g = ctx.gpu;
  const two = g.steps.some((s) => s.kind !== "sync" && s.slot === 1);
  const lock = ctx.spec.buffer.lock;
  for (const slot of two ? [ctx.buffer, null] : [ctx.buffer]) {
    const buffer = slot ?? AlignedBuffer.alloc(ctx.buffer.size, { lock });
    try {
      g.driver.hostRegister(buffer.address, buffer.size);
    } catch (e) {
      if (buffer !== ctx.buffer) buffer.free();
      throw e;
    }
    g.slots.push(buffer);
    g.events.push(g.driver.eventCreate());
  }
}

/** Puts the seeded pattern in device memory (writes), or another one (reads: a no-op read fails). */
function fillDevice(ctx: GpuTaskContext): void {
  const g = ctx.gpu;
  const seed = writes(ctx.spec.workload) ? ctx.spec.seed : ctx.spec.seed ^ 0x5eed;
  withStaging(ctx, (staging) => {
    for (let offset = 0; offset < ctx.spec.ioSizeBytes; offset += staging.size) {
      const bytes = Math.min(staging.size, ctx.spec.ioSizeBytes - offset);
      staging.fillPattern(seed, offset, bytes);
      g.driver.copyHtoD(g.devicePointer + BigInt(offset), staging.address, bytes);
    }
  });
}

/** Runs `use` with host slot 0, or (gds: no slots) a temporary host buffer of up to 64 MiB. */
export function withStaging(ctx: GpuTaskContext, use: (staging: AlignedBuffer) => void): void {
  const slot = ctx.gpu.slots[0];
  const staging = slot ?? AlignedBuffer.alloc(Math.min(ctx.spec.ioSizeBytes, 64 * MIB));
  try {
    use(staging);
  } finally {
    if (staging !== slot) staging.free();
  }
}

function mainGpu(ctx: GpuTaskContext, async: boolean): number {
  if (!ctx.gpu.plan.pinPerCall) return runGpuSteps(ctx, async);
  // --slow_bounce_buffer: this call's own page-locked host buffer, made and released in the
  // timed step; the copies then go from memory CUDA didn't register (as DeepSpeed's do).
  const g = ctx.gpu;
  const registered = g.slots[0];
  const fresh = AlignedBuffer.alloc(registered.size, { lock: true });
  try {
    g.slots[0] = fresh;
    return runGpuSteps(ctx, async);
  } finally {
    g.slots[0] = registered;
    fresh.free();
  }
}

function runGpuSteps(ctx: GpuTaskContext, async: boolean): number {
  const g = ctx.gpu;
  const read = !writes(ctx.spec.workload);
  let moved = 0;
  for (const step of g.steps) {
    if (step.kind === "io") {
      const t0 = performance.now();
      moved += ioStep(ctx, step, read, async);
      g.ioSeconds += (performance.now() - t0) / 1000;
    } else if (step.kind === "copy") {
      const device = g.devicePointer + BigInt(step.offset);
      const host = g.slots[step.slot].address;
      if (g.plan.pinPerCall) {
        // Memory CUDA didn't register: a plain (synchronous) copy, as from pageable memory.
        if (read) g.driver.copyHtoD(device, host, step.bytes);
        else g.driver.copyDtoH(host, device, step.bytes);
      } else if (read) g.driver.copyHtoDAsync(device, host, step.bytes, g.stream);
      else g.driver.copyDtoHAsync(host, device, step.bytes, g.stream);
      g.driver.eventRecord(g.events[step.slot], g.stream);
    } else if (step.kind === "wait") {
      g.driver.eventSynchronize(g.events[step.slot]);
    } else {
      g.driver.streamSynchronize(g.stream);
    }
  }
  return moved;
}

function ioStep(
  ctx: GpuTaskContext,
  step: Extract<GpuStep, { kind: "io" }>,
  read: boolean,
  async: boolean,
): number {
  const g = ctx.gpu;
  if (g.gds) {
    const pointer = g.devicePointer + BigInt(step.offset);
    if (read) g.gds.lib.read(g.gds.handle, pointer, step.bytes, step.offset);
    else g.gds.lib.write(g.gds.handle, pointer, step.bytes, step.offset);
    return step.bytes;
  }
  const request = {
    mode: read ? "read" as const : "write" as const,
    nbytes: step.bytes,
    offset: step.offset,
  };
  const moved = ctx.handle.submit(g.slots[step.slot], ctx.file, request, async);
  return async ? ctx.handle.wait() : moved;
}

function postGpu(ctx: GpuTaskContext): void {
  const g = ctx.gpu;
  const d = g.driver;
  const undo: Array<() => void> = [];
  if (g.stream !== 0n) undo.push(() => d.streamSynchronize(g.stream));
  if (g.gds) {
    const { lib, handle, registered } = g.gds;
    if (registered) undo.push(() => lib.bufDeregister(g.devicePointer));
    undo.push(() => lib.handleDeregister(handle));
  }
  for (const event of g.events) undo.push(() => d.eventDestroy(event));
  for (const slot of g.slots) undo.push(() => d.hostUnregister(slot.address));
  for (const slot of g.slots.slice(1)) undo.push(() => slot.free());
  if (g.stream !== 0n) undo.push(() => d.streamDestroy(g.stream));
  if (g.devicePointer !== 0n) undo.push(() => d.memFree(g.devicePointer));
  if (g.context) undo.push(() => d.releasePrimaryContext(d.device(g.plan.device)));
  undo.push(() => postHandle(ctx));
  let first: unknown;
  for (const step of undo) {
    try {
      step();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/** The `gpu` part of a WorkerResult. */
export function gpuWorkerResult(ctx: GpuTaskContext): NonNullable<WorkerResult["gpu"]> {
  return {
    device: ctx.gpu.plan.device,
    deviceName: ctx.gpu.deviceName,
    mode: ctx.gpu.plan.mode,
    chunkBytes: ctx.gpu.plan.chunkBytes,
    ioSeconds: ctx.gpu.ioSeconds,
  };
}
