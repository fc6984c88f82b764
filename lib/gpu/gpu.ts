/**
 * `--gpu`: each worker's buffer lives in GPU memory. A read goes file → page-locked aligned host
 * slot (our AlignedBuffer, registered with cuMemHostRegister) → cuMemcpyHtoDAsync, in chunks
 * over two slots so the copy of chunk k runs on the GPU's copy engine while chunk k+1 is read
 * (ds_aio copies only after the whole read: that is `bounce` here). Writes mirror it: DtoH of
 * chunk k+1 overlaps the write of chunk k. `--use_gds` reads and writes GPU memory through
 * cuFile instead. IO-only time and the end-to-end (file ⇄ GPU memory) time are kept apart.
 * `--use_accelerator_pin_memory` changes nothing here: the host slots are always page-locked.
 *
 * @module
 */
import { resolve } from "node:path";
import { AlignedBuffer } from "../../ffi/buffer.ts";
import {
  cuda,
  type CudaDriver,
  CudaError,
  CudaUnavailableError,
  probeCuda,
} from "../../ffi/cuda.ts";
import {
  type Cufile,
  cufile,
  CufileError,
  GdsUnavailableError,
  nvidiaFsVersion,
} from "../../ffi/cufile.ts";
import {
  postHandle,
  preHandle,
  type Schedule,
  type TaskContext,
  type TaskSpec,
  writes,
} from "../tasklets/schedule.ts";
import { UsageError } from "../common/size.ts";
import type { BenchConfig, OpResult, WorkerResult } from "../common/types.ts";

/** How data moves between the file and GPU memory. */
export type GpuMode = "overlap" | "bounce" | "gds";

/** The GPU part of one worker's plan (carried on TaskSpec). */
export type GpuTaskPlan = NonNullable<TaskSpec["gpu"]>;

/** One step of a GPU main: file ⇄ host slot IO, an async copy, a wait on a slot, a final sync. */
export type GpuStep =
  | { kind: "io"; chunk: number; slot: number; offset: number; bytes: number }
  | { kind: "copy"; chunk: number; slot: number; offset: number; bytes: number }
  | { kind: "wait"; chunk: number; slot: number }
  | { kind: "sync" };

/** Inputs of `planGpuSteps`. */
export interface GpuStepOptions {
  op: "read" | "write";
  totalBytes: number;
  chunkBytes: number;
  mode: GpuMode;
}

const MIB = 1 << 20;
const GIB = 2 ** 30;
const CHUNKS_MAX = 1 << 20;

/**
 * The order of IO and copy steps for one main. Reads: io k into slot k%2, async copy k, and before
 * reusing a slot, wait for the copy that last used it. Writes: copy k+1 is issued before the write
 * of chunk k, which first waits for copy k. `bounce` is one io and one copy of everything; `gds`
 * is IO straight into GPU memory.
 */
export function planGpuSteps(options: GpuStepOptions): GpuStep[] {
  const { op, totalBytes, mode } = options;
  if (!Number.isSafeInteger(totalBytes) || totalBytes <= 0) {
    throw new RangeError(`GPU transfer of ${totalBytes} bytes must be positive`);
  }
  const chunkBytes = mode === "overlap" ? options.chunkBytes : totalBytes;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new RangeError(`GPU chunk of ${chunkBytes} bytes must be positive`);
  }
  const count = Math.ceil(totalBytes / chunkBytes);
  if (count > CHUNKS_MAX) throw new RangeError(`${count} GPU chunks is more than ${CHUNKS_MAX}`);
  const chunk = (k: number) => ({
    chunk: k,
    slot: k % 2,
    offset: k * chunkBytes,
    bytes: Math.min(chunkBytes, totalBytes - k * chunkBytes),
  });
  if (mode === "gds") return [{ kind: "io", ...chunk(0) }];
  const steps: GpuStep[] = [];
  if (op === "read") {
    for (let k = 0; k < count; k++) {
      if (k >= 2) steps.push({ kind: "wait", chunk: k - 2, slot: k % 2 });
      steps.push({ kind: "io", ...chunk(k) }, { kind: "copy", ...chunk(k) });
    }
  } else {
    steps.push({ kind: "copy", ...chunk(0) });
    for (let k = 0; k < count; k++) {
      if (k + 1 < count) steps.push({ kind: "copy", ...chunk(k + 1) });
      steps.push({ kind: "wait", chunk: k, slot: k % 2 }, { kind: "io", ...chunk(k) });
    }
  }
  steps.push({ kind: "sync" });
  return steps;
}

/** Default chunk: two queue fills (at least 64 MiB), a block-size multiple, at most io_size. */
export function defaultChunkBytes(config: BenchConfig, ioSizeBytes: number): number {
  const block = config.blockSizeBytes;
  const wanted = Math.max(64 * MIB, 2 * block * config.queueDepth);
  const rounded = Math.ceil(wanted / block) * block;
  return Math.min(rounded, Math.ceil(ioSizeBytes / block) * block);
}

/** The GPU setup of a run, found on the main thread before any file is touched. */
export interface GpuRun {
  mode: GpuMode;
  /** Chunk size asked for (--gpu_chunk or AIOBENCH_GPU_CHUNK), or undefined for the default. */
  chunkBytes?: number;
  driverVersion: string;
  devices: Array<{ index: number; name: string; totalMemBytes: number }>;
  nvidiaFs?: string;
}

/** Worker i's GPU: its folder's --folder_to_device_mapping entry, else --gpu_id. */
export function deviceForWorker(config: BenchConfig, worker: number): number {
  const mapping = Object.entries(config.folderToDeviceMapping);
  if (mapping.length === 0 || config.folders.length === 0) return config.gpuId;
  const folder = resolve(config.folders[worker % config.folders.length]);
  const hit = mapping.find(([dir]) => resolve(dir) === folder);
  return hit ? hit[1] : config.gpuId;
}

function modeOf(config: BenchConfig): GpuMode {
  return config.useGds ? "gds" : config.gpuMode ?? "overlap";
}

function checkOptions(config: BenchConfig): void {
  const random = config.workloads.find((w) => w !== "read" && w !== "write");
  if (random) {
    throw new UsageError(
      `--gpu moves sequential reads and writes, not ${random}; drop --gpu or the random workload`,
    );
  }
  if (config.runtimeS !== undefined || config.rampTimeS > 0) {
    throw new UsageError("--gpu runs whole loops; drop --runtime/--ramp_time and use --loops");
  }
  if (config.useGds && config.buffered) {
    throw new UsageError("--use_gds needs O_DIRECT; drop --buffered");
  }
}

/**
 * Checks that `--gpu` can work here, on the main thread, before any file is created: the driver
 * loads, every worker's device exists, and with `--use_gds` cuFile and nvidia-fs are present.
 * Throws a one-line UsageError naming the flag otherwise.
 */
export function prepareGpu(config: BenchConfig): GpuRun | null {
  if (!config.gpu) return null;
  checkOptions(config);
  const mode = modeOf(config);
  const chunkBytes = config.gpuChunkBytes;
  let found;
  try {
    found = probeCuda();
  } catch (e) {
    if (e instanceof CudaUnavailableError) {
      throw new UsageError(
        `--gpu: ${e.message}; run on a machine with an NVIDIA driver, or drop --gpu`,
      );
    }
    if (e instanceof CudaError) {
      throw new UsageError(`--gpu: ${e.message}; check nvidia-smi, or drop --gpu`);
    }
    throw e;
  }
  const count = found.devices.length;
  for (let worker = 0; worker < config.threads; worker++) {
    const device = deviceForWorker(config, worker);
    if (device < count) continue;
    const mapped = Object.entries(config.folderToDeviceMapping).find(([, g]) => g === device);
    const flag = mapped && device !== config.gpuId
      ? `--folder_to_device_mapping ${mapped[0]}:${device}`
      : `--gpu_id ${device}`;
    const visible = Deno.env.get("CUDA_VISIBLE_DEVICES");
    throw new UsageError(
      `${flag}: only ${count} GPU(s) visible${
        visible !== undefined ? ` (CUDA_VISIBLE_DEVICES=${visible})` : ""
      }; use ${count > 0 ? `0..${count - 1}` : "a machine with a GPU"}`,
    );
  }
  const run: GpuRun = {
    mode,
    chunkBytes,
    driverVersion: found.driverVersion,
    devices: found.devices,
  };
  if (config.useGds) run.nvidiaFs = prepareGds();
  return run;
}

function prepareGds(): string {
  let lib: Cufile;
  try {
    lib = cufile();
  } catch (e) {
    if (!(e instanceof GdsUnavailableError)) throw e;
    throw new UsageError(
      `--use_gds: ${e.message}; install GPUDirect Storage (nvidia-gds), or drop --use_gds`,
    );
  }
  const nvfs = nvidiaFsVersion();
  if (nvfs === null) {
    throw new UsageError(
      "--use_gds: the nvidia-fs driver is not loaded (no /proc/driver/nvidia-fs), so cuFile " +
        "would fall back to POSIX IO; load it (modprobe nvidia-fs), or drop --use_gds",
    );
  }
  try {
    lib.driverOpen();
  } catch (e) {
    if (e instanceof CufileError) {
      throw new UsageError(`--use_gds: ${e.message}; or drop --use_gds`);
    }
    throw e;
  }
  return nvfs;
}

/** Worker i's GPU plan for a target of `ioSizeBytes`. */
export function gpuPlanFor(
  run: GpuRun,
  spec: { config: BenchConfig; worker: number; ioSizeBytes: number },
): GpuTaskPlan {
  const chunkBytes = run.mode === "overlap"
    ? Math.min(run.chunkBytes ?? defaultChunkBytes(spec.config, spec.ioSizeBytes), spec.ioSizeBytes)
    : spec.ioSizeBytes;
  return { device: deviceForWorker(spec.config, spec.worker), mode: run.mode, chunkBytes };
}

/** The `env.gpu` entry of the JSON document. */
export function gpuEnv(run: GpuRun): Record<string, unknown> {
  return {
    driver_version: run.driverVersion,
    devices: run.devices.map((d) => ({
      index: d.index,
      name: d.name,
      memory_bytes: d.totalMemBytes,
    })),
    mode: run.mode,
    ...(run.nvidiaFs ? { nvidia_fs: run.nvidiaFs } : {}),
  };
}

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
  const async = spec.config.ioParallel !== undefined;
  return {
    name: `gpu_${plan.mode}_${async ? "parallel" : "handle"}_${op}`,
    pre: () => preGpu(spec, plan),
    main: (ctx) => mainGpu(ctx as GpuTaskContext, async),
    post: (ctx) => postGpu(ctx as GpuTaskContext),
  };
}

function preGpu(spec: TaskSpec, plan: GpuTaskPlan): GpuTaskContext {
  const host = preHandle({ ...spec, ioSizeBytes: plan.mode === "gds" ? 4096 : plan.chunkBytes });
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
  const lock = ctx.spec.config.mlock;
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
function withStaging(ctx: GpuTaskContext, use: (staging: AlignedBuffer) => void): void {
  const slot = ctx.gpu.slots[0];
  const staging = slot ?? AlignedBuffer.alloc(Math.min(ctx.spec.ioSizeBytes, 64 * MIB));
  try {
    use(staging);
  } finally {
    if (staging !== slot) staging.free();
  }
}

function mainGpu(ctx: GpuTaskContext, async: boolean): number {
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
      if (read) g.driver.copyHtoDAsync(device, host, step.bytes, g.stream);
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

/** --validate for a GPU worker: copies device memory back chunk by chunk and compares with the file. */
export function validateGpu(ctx: GpuTaskContext): void {
  const { spec } = ctx;
  const g = ctx.gpu;
  if (writes(spec.workload)) ctx.file.fsync();
  const file = Deno.openSync(spec.path, { read: true });
  try {
    withStaging(ctx, (staging) => {
      const fileBytes = new Uint8Array(staging.size);
      for (let offset = 0; offset < spec.ioSizeBytes; offset += staging.size) {
        const want = Math.min(staging.size, spec.ioSizeBytes - offset);
        g.driver.copyDtoH(staging.address, g.devicePointer + BigInt(offset), want);
        const got = readFully(file, fileBytes.subarray(0, want));
        if (got < want) {
          throw new GpuValidationError(
            `--validate: worker ${spec.worker}: ${spec.path} ends at ${
              offset + got
            }, expected ${spec.ioSizeBytes} bytes`,
          );
        }
        const at = staging.compare(fileBytes.subarray(0, want), 0);
        if (at >= 0) {
          const what = writes(spec.workload) ? "GPU data written" : "GPU data read";
          throw new GpuValidationError(
            `--validate: worker ${spec.worker}: ${what} differs from ${spec.path} at offset ${
              offset + at
            }`,
          );
        }
      }
    });
  } finally {
    file.close();
  }
}

function readFully(file: Deno.FsFile, into: Uint8Array): number {
  let done = 0;
  while (done < into.length) {
    const n = file.readSync(into.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
  return done;
}

/** --validate found GPU memory and the file differ. */
export class GpuValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpuValidationError";
  }
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

/**
 * Adds `gpu` to an op's result: IO-only speed (bytes / the largest per-worker IO time) and the
 * end-to-end file ⇄ GPU memory speed (bytes / the largest per-worker task time), as ds_aio
 * aggregates.
 */
export function attachGpu(result: OpResult, workers: WorkerResult[]): OpResult {
  const gpu = workers.filter((w) => w.gpu !== undefined);
  if (gpu.length === 0) return result;
  const io = Math.max(0, ...gpu.map((w) => w.gpu!.ioSeconds));
  const e2e = Math.max(0, ...gpu.map((w) => w.taskSeconds));
  result.gpu = {
    devices: [...new Set(gpu.map((w) => w.gpu!.device))],
    device_names: [...new Set(gpu.map((w) => w.gpu!.deviceName))],
    mode: gpu[0].gpu!.mode,
    chunk_bytes: gpu[0].gpu!.chunkBytes,
    io_latency_s: io,
    io_gib_s: io > 0 ? result.bytes / io / GIB : 0,
    e2e_latency_s: e2e,
    e2e_gib_s: e2e > 0 ? result.bytes / e2e / GIB : 0,
  };
  return result;
}

/** One human line about an op's GPU speeds. */
export function gpuLine(result: OpResult): string | null {
  const g = result.gpu;
  if (!g) return null;
  const how = g.mode === "overlap" ? `overlapped ${g.chunk_bytes / MIB} MiB chunks` : g.mode;
  return `gpu ${result.op} on GPU ${g.devices.join(",")} (${g.device_names.join(", ")}), ${how}: ` +
    `IO ${g.io_gib_s.toFixed(3)} GiB/s, file⇄GPU ${g.e2e_gib_s.toFixed(3)} GiB/s`;
}
