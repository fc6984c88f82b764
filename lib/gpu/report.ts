/**
 * `--gpu` results on the main thread: IO-only and file ⇄ GPU memory speeds per op, and their line.
 *
 * @module
 */
import type { OpResult, WorkerResult } from "../common/types.ts";

const MIB = 1 << 20;

const GIB = 2 ** 30;

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
