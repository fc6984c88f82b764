/**
 * What `aiobench zero` replays: DeepSpeed's ZeRO-3 offload settings, read from a ds_config.json
 * (the same keys and defaults as DeepSpeed 0.18) and overridden by flags.
 *
 * @example
 * ```ts
 * const s = settingsFromDsConfig(JSON.parse(text), "ds_config.json");
 * s.offloadOptimizer; s.aio.queueDepth; s.subGroupSize;
 * ```
 *
 * @module
 */
import { UsageError } from "../common/size.ts";

/** DeepSpeed's `"aio"` section (deepspeed/runtime/swap_tensor/constants.py defaults). */
export interface AioSettings {
  blockSizeBytes: number;
  queueDepth: number;
  intraOpParallelism: number;
  singleSubmit: boolean;
  overlapEvents: boolean;
}

/** The element type of the model's (low-precision) parameters. */
export type ParamDtype = "float16" | "bfloat16" | "float32";

/** Everything the planner needs besides the model. */
export interface ZeroSettings {
  /** zero_optimization.offload_optimizer.device == "nvme". */
  offloadOptimizer: boolean;
  /** zero_optimization.offload_param.device == "nvme". */
  offloadParam: boolean;
  /** Folders for optimizer swap files; rank r uses `optimizerPaths[r % length]`. */
  optimizerPaths: string[];
  /** Folders for parameter swap files; rank r uses `paramPaths[r % length]`. */
  paramPaths: string[];
  /** offload_optimizer.buffer_count (default 4). */
  optimizerBufferCount: number;
  pipelineRead: boolean;
  pipelineWrite: boolean;
  /** offload_param.buffer_count (default 5). */
  paramBufferCount: number;
  /** offload_param.buffer_size in elements (default 1e8). */
  paramBufferSize: number;
  /** offload_param.max_in_cpu in elements (default 1e9). */
  maxInCpu: number;
  /** zero_optimization.sub_group_size in elements (default 1e9). */
  subGroupSize: number;
  /** zero_optimization.stage3_max_reuse_distance in elements (default 1e9). */
  maxReuseDistance: number;
  /** zero_optimization.stage3_prefetch_bucket_size (default 5e7); 0 turns prefetching off. */
  prefetchBucketSize: number;
  aio: AioSettings;
  paramDtype: ParamDtype;
  gradientAccumulationSteps: number;
  /** Data-parallel ranks that partition the model (all nodes). */
  worldSize: number;
  /** Notes on what was read (e.g. "auto" values replaced by defaults). */
  notes: string[];
}

/** DeepSpeed's defaults (runtime/zero/config.py, offload_config.py, swap_tensor/constants.py). */
export function defaultSettings(): ZeroSettings {
  return {
    offloadOptimizer: false,
    offloadParam: false,
    optimizerPaths: [],
    paramPaths: [],
    optimizerBufferCount: 4,
    pipelineRead: false,
    pipelineWrite: false,
    paramBufferCount: 5,
    paramBufferSize: 100_000_000,
    maxInCpu: 1_000_000_000,
    subGroupSize: 1_000_000_000,
    maxReuseDistance: 1_000_000_000,
    prefetchBucketSize: 50_000_000,
    aio: {
      blockSizeBytes: 1 << 20,
      queueDepth: 8,
      intraOpParallelism: 1,
      singleSubmit: false,
      overlapEvents: true,
    },
    paramDtype: "bfloat16",
    gradientAccumulationSteps: 1,
    worldSize: 1,
    notes: [],
  };
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class Reader {
  constructor(readonly source: string, readonly settings: ZeroSettings) {}

  section(parent: Json, key: string, where: string): Json | undefined {
    const value = parent[key];
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) {
      throw new UsageError(`${this.source}: ${where}${key} must be an object, not ${show(value)}`);
    }
    return value;
  }

  /** A count or element number: DeepSpeed takes ints and floats such as 1e9; "auto" → default. */
  count(parent: Json, key: string, where: string, fallback: number, min = 0): number {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (value === "auto") {
      this.settings.notes.push(`${where}${key} is "auto": using ${fallback}`);
      return fallback;
    }
    const n = typeof value === "string" && /^\s*[\d.e+]+\s*$/i.test(value) ? Number(value) : value;
    if (
      typeof n !== "number" || !Number.isFinite(n) || n < min ||
      !Number.isSafeInteger(Math.trunc(n))
    ) {
      throw new UsageError(
        `${this.source}: ${where}${key} is ${show(value)}; it must be a number >= ${min}`,
      );
    }
    return Math.trunc(n);
  }

  flag(parent: Json, key: string, where: string, fallback: boolean): boolean {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") {
      throw new UsageError(`${this.source}: ${where}${key} is ${show(value)}; use true or false`);
    }
    return value;
  }

  device(section: Json | undefined, where: string): "none" | "cpu" | "nvme" {
    const value = section?.device ?? "none";
    if (value === "none" || value === "cpu" || value === "nvme") return value;
    throw new UsageError(
      `${this.source}: ${where}device is ${show(value)}; DeepSpeed takes "none", "cpu" or "nvme"`,
    );
  }

  path(section: Json | undefined, where: string): string[] {
    const value = section?.nvme_path;
    if (value === undefined || value === null) return [];
    if (typeof value !== "string" || value === "") {
      throw new UsageError(`${this.source}: ${where}nvme_path is ${show(value)}; give a folder`);
    }
    return [value];
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Reads a DeepSpeed config object. Throws `UsageError` naming the key for a value DeepSpeed would
 * refuse; a config without NVMe offload is accepted here (flags may add it) and refused by
 * `checkSettings`.
 */
export function settingsFromDsConfig(config: unknown, source: string): ZeroSettings {
  const s = defaultSettings();
  if (!isObject(config)) {
    throw new UsageError(`${source}: a DeepSpeed config must be a JSON object`);
  }
  const r = new Reader(source, s);
  const zero = r.section(config, "zero_optimization", "");
  const zw = "zero_optimization.";
  if (zero) {
    const stage = r.count(zero, "stage", zw, 0);
    const opt = r.section(zero, "offload_optimizer", zw);
    const param = r.section(zero, "offload_param", zw);
    const ow = `${zw}offload_optimizer.`;
    const pw = `${zw}offload_param.`;
    const optDevice = r.device(opt, ow);
    const paramDevice = r.device(param, pw);
    if ((optDevice === "nvme" || paramDevice === "nvme") && stage !== 3) {
      throw new UsageError(
        `${source}: NVMe offload needs ZeRO stage 3 (zero_optimization.stage is ${stage}); DeepSpeed swaps to NVMe only in stage 3`,
      );
    }
    s.offloadOptimizer = optDevice === "nvme";
    s.offloadParam = paramDevice === "nvme";
    if (opt) {
      s.optimizerPaths = r.path(opt, ow);
      s.optimizerBufferCount = r.count(opt, "buffer_count", ow, s.optimizerBufferCount);
      s.pipelineRead = r.flag(opt, "pipeline_read", ow, false);
      s.pipelineWrite = r.flag(opt, "pipeline_write", ow, false);
      if (opt.ratio !== undefined && opt.ratio !== 1 && opt.ratio !== 1.0) {
        s.notes.push(
          `${ow}ratio ${show(opt.ratio)} (partial offload) is not modelled: all of it is`,
        );
      }
    }
    if (param) {
      s.paramPaths = r.path(param, pw);
      s.paramBufferCount = r.count(param, "buffer_count", pw, s.paramBufferCount, 1);
      s.paramBufferSize = r.count(param, "buffer_size", pw, s.paramBufferSize, 1);
      s.maxInCpu = r.count(param, "max_in_cpu", pw, s.maxInCpu);
    }
    s.subGroupSize = r.count(zero, "sub_group_size", zw, s.subGroupSize, 1);
    s.maxReuseDistance = r.count(zero, "stage3_max_reuse_distance", zw, s.maxReuseDistance);
    s.prefetchBucketSize = r.count(zero, "stage3_prefetch_bucket_size", zw, s.prefetchBucketSize);
  }
  const aio = r.section(config, "aio", "");
  if (aio) {
    const aw = "aio.";
    s.aio.blockSizeBytes = r.count(aio, "block_size", aw, s.aio.blockSizeBytes, 1);
    s.aio.queueDepth = r.count(aio, "queue_depth", aw, s.aio.queueDepth, 1);
    s.aio.intraOpParallelism = r.count(aio, "intra_op_parallelism", aw, 1, 1);
    s.aio.singleSubmit = r.flag(aio, "single_submit", aw, s.aio.singleSubmit);
    s.aio.overlapEvents = r.flag(aio, "overlap_events", aw, s.aio.overlapEvents);
    if (r.flag(aio, "use_gds", aw, false)) {
      s.notes.push("aio.use_gds is on: GPUDirect Storage is not replayed; host buffers are used");
    }
  }
  const fp16 = r.section(config, "fp16", "");
  const bf16 = r.section(config, "bf16", "") ?? r.section(config, "bfloat16", "");
  const fp16On = fp16 ? r.flag(fp16, "enabled", "fp16.", false) : false;
  const bf16On = bf16 ? r.flag(bf16, "enabled", "bf16.", false) : false;
  if (fp16On && bf16On) {
    throw new UsageError(
      `${source}: fp16.enabled and bf16.enabled are both true; DeepSpeed refuses that`,
    );
  }
  s.paramDtype = fp16On ? "float16" : bf16On ? "bfloat16" : "float32";
  s.gradientAccumulationSteps = r.count(config, "gradient_accumulation_steps", "", 1, 1);
  return s;
}

/** Bytes per element of the parameter dtype. */
export function paramElementBytes(dtype: ParamDtype): number {
  return dtype === "float32" ? 4 : 2;
}
