/**
 * `--gpu` on the main thread, before any file is touched: the option checks, the driver and
 * every worker's device (cuFile and nvidia-fs with `--use_gds`), each worker's plan, and the
 * `env.gpu` entry of the report.
 *
 * @module
 */
import { resolve } from "node:path";
import { CudaError, CudaUnavailableError, probeCuda } from "../../ffi/cuda.ts";
import {
  type Cufile,
  cufile,
  CufileError,
  GdsUnavailableError,
  nvidiaFsVersion,
} from "../../ffi/cufile.ts";
import { UsageError } from "../common/size.ts";
import type { BenchConfig } from "../common/types.ts";
import { defaultChunkBytes, type GpuMode, type GpuTaskPlan } from "./plan.ts";

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
  if (config.useGds) return "gds";
  // ds_io's slow bounce buffer is the bounce path, its buffer pinned per call.
  return config.slowBounceBuffer ? "bounce" : config.gpuMode ?? "overlap";
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
  if (config.slowBounceBuffer && (config.useGds || config.gpuChunkBytes !== undefined)) {
    throw new UsageError(
      "--slow_bounce_buffer is the bounce path (a host buffer pinned per call); drop " +
        (config.useGds ? "--use_gds" : "--gpu_chunk") + " or --slow_bounce_buffer",
    );
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
  return {
    device: deviceForWorker(spec.config, spec.worker),
    mode: run.mode,
    chunkBytes,
    pinPerCall: spec.config.slowBounceBuffer === true,
  };
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
