/**
 * The order of a GPU worker's steps (pure, no driver): file ⇄ host slot IO, async copies, waits
 * on a slot's last copy, and the final sync; and the default chunk size.
 *
 * @module
 */
import type { BenchConfig } from "../common/types.ts";

/** How data moves between the file and GPU memory. */
export type GpuMode = "overlap" | "bounce" | "gds";

/** The GPU part of one worker's task: its device, how data moves, and the chunk size. */
export interface GpuTaskPlan {
  device: number;
  mode: GpuMode;
  chunkBytes: number;
  /**
   * ds_io's --slow_bounce_buffer: each main step allocates and pins (mlock) its own host buffer
   * and releases it, inside the timing, as DeepSpeed does for a GPU tensor handed to the handle.
   */
  pinPerCall?: boolean;
}

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
