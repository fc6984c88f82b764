/**
 * The planner: DeepSpeed ZeRO-3's NVMe swap schedule for one rank and one training step, as plain
 * data (files, the order each aio handle moves them in, where the swapper waits, and where compute
 * sits). No IO happens here; `lib/zero/run.ts` replays the result on real files.
 *
 * Every formula below reproduces one in DeepSpeed 0.18 (`deepspeed/runtime/...`); each function
 * names the file and function it follows. The code is ours.
 *
 * @example
 * ```ts
 * const plan = planZero(buildModel(shapeForParams(1.3e9)), { ...defaultSettings(), offloadOptimizer: true, optimizerPaths: ["/mnt/nvme"] });
 * plan.perRank.readBytes; plan.perRank.writeBytes;
 * ```
 *
 * @module
 */
import { UsageError } from "../common/size.ts";
import type { Model } from "./model.ts";
import { paramElementBytes, type ZeroSettings } from "./settings.ts";

/** swap_tensor/utils.py: MIN_AIO_BYTES (1 MiB) and AIO_ALIGNED_BYTES (1024). */
export const min_aio_bytes_floor = 1 << 20;
export const aio_aligned_bytes = 1024;
/** The optimizer's master weights, gradients and Adam states are fp32. */
export const master_element_bytes = 4;
/** Adam keeps two state tensors per parameter (exp_avg, exp_avg_sq) besides the fp32 weights. */
export const optimizer_tensor_kinds = ["fp32", "exp_avg", "exp_avg_sq"] as const;

/** The aio handles a rank's swappers own (one native handle each in the replay). */
export type LaneName =
  | "optimizer"
  | "optimizer_read"
  | "optimizer_write"
  | "param_read"
  | "param_write";

/** Where in a training step an action belongs. */
export type Phase = "forward" | "backward" | "optimizer";
/** What a swap file holds. */
export type FileKind = "fp32" | "exp_avg" | "exp_avg_sq" | "gradient" | "param";

/** One swap file of a rank (the same names in every rank's folders). */
export interface SwapFile {
  /** File name inside the rank's optimizer or parameter folder. */
  name: string;
  /** Which swapper's folder: `<nvme_path>/zero_stage_3/optimizer/rank<r>` or `.../<dtype>params/rank<r>`. */
  root: "optimizer" | "param";
  kind: FileKind;
  bytes: number;
}

/** One request on a lane: read or write a whole file from offset 0. */
export interface LaneOp {
  file: number;
  op: "read" | "write";
  /** Index of the `issue` action that released it. */
  action: number;
}

/** What a rank's driver does, in order. */
export type Action =
  | { kind: "issue"; lane: LaneName; count: number; phase: Phase; label: string }
  | { kind: "wait"; lane: LaneName; phase: Phase }
  | { kind: "compute"; seconds: number; phase: Phase; label: string };

/** A step (or the preparation) as data: each lane's requests in order, and the driver's actions. */
export interface StepSchedule {
  lanes: Partial<Record<LaneName, LaneOp[]>>;
  actions: Action[];
}

/** One optimizer sub-group (stage3.py `_create_fp16_sub_groups`). */
export interface SubGroup {
  index: number;
  /** DeepSpeed's id of the flat fp32 partition: `<first ds_id>_<last ds_id>`. */
  id: string;
  tensors: number[];
  numel: number;
  /** Its optimizer state lives on NVMe (else in CPU memory). */
  swappable: boolean;
  /** Its fp16/bf16 parameters live on NVMe (beyond offload_param.max_in_cpu). */
  paramsOnNvme: boolean;
}

/** Bytes a rank reads and writes. */
export interface ByteCounts {
  read: number;
  write: number;
}

/** The whole plan for one rank (every rank of the world has the same sizes). */
export interface ZeroPlan {
  settings: ZeroSettings;
  model: Model;
  /** Partition numel per tensor (`ds_tensor.ds_numel`). */
  partitionNumel: number[];
  /** Per tensor: its partition is a parameter swap file. */
  paramOnNvme: boolean[];
  subGroups: SubGroup[];
  files: SwapFile[];
  /** Writes that create the files a step reads before it writes them (not timed). */
  prepare: StepSchedule;
  step: StepSchedule;
  perRank: {
    read: number;
    write: number;
    byPhase: Record<Phase, ByteCounts>;
    byKind: Record<FileKind, ByteCounts>;
    /** Bytes of swap files in the optimizer and parameter folders. */
    fileBytes: { optimizer: number; param: number };
  };
  /** Pinned buffers DeepSpeed allocates per rank for swapping, in bytes. */
  deepSpeedBufferBytes: { optimizer: number; param: number };
  /** Optimizer swap buffers this schedule needs at once (a check against buffer_count). */
  optimizerBuffersNeeded: number;
  computeS: number;
  updateS: number;
}

/** swap_tensor/optimizer_utils.py `OptimizerSwapper.__init__`: max(MIN_AIO_BYTES, block_size). */
export function minAioBytes(blockSizeBytes: number): number {
  return Math.max(min_aio_bytes_floor, blockSizeBytes);
}

/** optimizer_utils.py / partitioned_param_swapper.py: numel_alignment = 1024·intra_op // element size. */
export function numelAlignment(elementBytes: number, intraOpParallelism: number): number {
  return Math.floor((aio_aligned_bytes * intraOpParallelism) / elementBytes);
}

/** `_io_aligned_numel` (optimizer_utils.py, partitioned_param_swapper.py): numel rounded up. */
export function ioAlignedNumel(numel: number, alignment: number): number {
  const remainder = numel % alignment;
  return remainder === 0 ? numel : numel + alignment - remainder;
}

/** zero/partition_parameters.py `_aligned_size` / `_partition_param`: ceil(numel / world). */
export function partitionNumel(numel: number, worldSize: number): number {
  return Math.ceil(numel / worldSize);
}

/**
 * zero/stage3.py `_create_fp16_sub_groups`: parameters in order, a group closes when its
 * partitions reach `subGroupSize` elements (or at the last parameter). Returns tensor indices.
 */
export function subGroupTensors(partitions: number[], subGroupSize: number): number[][] {
  const total = partitions.reduce((a, b) => a + b, 0);
  if (subGroupSize >= total) return [partitions.map((_, i) => i)];
  const groups: number[][] = [];
  let group: number[] = [];
  let size = 0;
  partitions.forEach((numel, i) => {
    group.push(i);
    size += numel;
    if (size >= subGroupSize || i === partitions.length - 1) {
      groups.push(group);
      group = [];
      size = 0;
    }
  });
  return groups;
}

/**
 * optimizer_utils.py `_adjust_for_misaligned_lengths` + `_swap_out_gradients`: a gradient
 * partition of `numel` at `offset` in its sub-group is split into an aligned head and a remainder;
 * each piece of at least `minAio` bytes goes to its own file, the rest stays in memory.
 */
export function gradientPieces(
  numel: number,
  offset: number,
  alignment: number,
  minAio: number,
): { swapped: { offset: number; numel: number }[]; unswappedNumel: number } {
  const swappable = (n: number) => minAio <= n * master_element_bytes;
  if (!swappable(numel)) return { swapped: [], unswappedNumel: numel };
  const remainder = numel % alignment;
  const pieces = remainder === 0 ? [{ offset, numel }] : [{ offset, numel: numel - remainder }, {
    offset: offset + numel - remainder,
    numel: remainder,
  }];
  const swapped = pieces.filter((p) => swappable(p.numel));
  const kept = pieces.filter((p) => !swappable(p.numel)).reduce((a, p) => a + p.numel, 0);
  return { swapped, unswappedNumel: kept };
}

/**
 * zero/stage3.py `_create_param_groups_fp16_flat_cpu_memory` and
 * `_create_fp16_partitions_with_defragmentation`: with parameter offload to NVMe the first
 * `max_in_cpu` elements get a CPU flat buffer; a sub-group that does not fit whole stays on NVMe.
 */
export function subGroupParamsOnNvme(groupNumels: number[], maxInCpu: number): boolean[] {
  const total = groupNumels.reduce((a, b) => a + b, 0);
  // A zero-size flat buffer is a 1-element placeholder in DeepSpeed.
  const flatNumel = total > maxInCpu ? Math.max(1, maxInCpu) : total;
  let offset = 0;
  return groupNumels.map((numel) => {
    const onNvme = offset + numel > flatNumel;
    offset += numel;
    return onNvme;
  });
}

class Builder {
  readonly schedule: StepSchedule = { lanes: {}, actions: [] };

  issue(
    lane: LaneName,
    ops: { file: number; op: "read" | "write" }[],
    phase: Phase,
    label: string,
  ) {
    if (ops.length === 0) return;
    const action = this.schedule.actions.length;
    this.schedule.actions.push({ kind: "issue", lane, count: ops.length, phase, label });
    const list = this.schedule.lanes[lane] ??= [];
    for (const op of ops) list.push({ ...op, action });
  }

  wait(lane: LaneName, phase: Phase) {
    this.schedule.actions.push({ kind: "wait", lane, phase });
  }

  compute(seconds: number, phase: Phase, label: string) {
    if (seconds > 0) this.schedule.actions.push({ kind: "compute", seconds, phase, label });
  }
}

interface Context {
  settings: ZeroSettings;
  model: Model;
  partitions: number[];
  paramOnNvme: boolean[];
  subGroups: SubGroup[];
  files: SwapFile[];
  /** Per sub-group: the fp32, exp_avg, exp_avg_sq file ids. */
  stateFiles: number[][];
  /** Per sub-group: its gradient files, in the order the backward pass produces them. */
  gradientFiles: number[][];
  /** Per tensor: its gradient files (with the sub-group they belong to). */
  tensorGradients: { group: number; file: number; numel: number }[][];
  /** Per tensor: its parameter file, or -1. */
  paramFile: number[];
  computeS: number;
  updateS: number;
}

/** Options of `planZero`. */
export interface PlanOptions {
  /** Seconds of forward + backward compute per step (split 1:2, spread by module size). */
  computeS?: number;
  /** Seconds of optimizer update (CPU Adam) per step, spread over sub-groups by size. */
  updateS?: number;
}

/** Plans one rank's swap traffic; throws `UsageError` where DeepSpeed itself would refuse. */
export function planZero(
  model: Model,
  settings: ZeroSettings,
  options: PlanOptions = {},
): ZeroPlan {
  if (!settings.offloadOptimizer && !settings.offloadParam) {
    throw new UsageError(
      'nothing is offloaded to NVMe: set zero_optimization.offload_optimizer or offload_param device to "nvme", or pass --offload optimizer|param|both',
    );
  }
  if (!(settings.worldSize >= 1)) throw new RangeError("worldSize must be >= 1");
  const ctx = layout(model, settings, options);
  if (ctx.files.length === 0) throw new UsageError(nothingSwapped(ctx));
  const step = planStepOrExplain(ctx);
  const prepare = planPrepare(ctx);
  const optimizerBuffersNeeded = settings.offloadOptimizer
    ? optimizer_tensor_kinds.length + 1 +
      (settings.pipelineRead || settings.pipelineWrite
        ? (optimizer_tensor_kinds.length + 1) *
          (Number(settings.pipelineRead) + Number(settings.pipelineWrite))
        : 0)
    : 0;
  if (settings.offloadOptimizer && settings.optimizerBufferCount < optimizerBuffersNeeded) {
    const what = settings.pipelineRead || settings.pipelineWrite
      ? `with ${pipelineText(settings)} DeepSpeed holds ${optimizerBuffersNeeded} at once`
      : `DeepSpeed holds ${optimizerBuffersNeeded} at once (fp32 weights, exp_avg, exp_avg_sq, gradients)`;
    throw new UsageError(
      `offload_optimizer.buffer_count ${settings.optimizerBufferCount} is too few: ${what}; set buffer_count to ${optimizerBuffersNeeded}`,
    );
  }
  return {
    settings,
    model,
    partitionNumel: ctx.partitions,
    paramOnNvme: ctx.paramOnNvme,
    subGroups: ctx.subGroups,
    files: ctx.files,
    prepare,
    step,
    perRank: totals(ctx.files, step),
    deepSpeedBufferBytes: bufferBytes(ctx),
    optimizerBuffersNeeded,
    computeS: ctx.computeS,
    updateS: ctx.updateS,
  };
}

function nothingSwapped(ctx: Context): string {
  const s = ctx.settings;
  const total = ctx.partitions.reduce((a, b) => a + b, 0);
  const why: string[] = [];
  if (s.offloadOptimizer) {
    why.push(
      `no optimizer sub-group reaches ${
        minAioBytes(s.aio.blockSizeBytes)
      } bytes of fp32 (DeepSpeed keeps smaller ones in CPU memory)`,
    );
  }
  if (s.offloadParam) {
    why.push(
      total <= s.maxInCpu
        ? `all ${total} parameter elements per rank fit offload_param.max_in_cpu (${s.maxInCpu}), so DeepSpeed keeps them in CPU memory; lower max_in_cpu`
        : "no parameter partition beyond offload_param.max_in_cpu reaches the aio minimum size",
    );
  }
  return `nothing would be swapped to NVMe: ${why.join("; ")}`;
}

function pipelineText(s: ZeroSettings): string {
  return [s.pipelineRead ? "pipeline_read" : "", s.pipelineWrite ? "pipeline_write" : ""]
    .filter(Boolean).join(" and ");
}

function layout(model: Model, settings: ZeroSettings, options: PlanOptions): Context {
  const aio = settings.aio;
  const minAio = minAioBytes(aio.blockSizeBytes);
  const optAlign = numelAlignment(master_element_bytes, aio.intraOpParallelism);
  const paramBytes = paramElementBytes(settings.paramDtype);
  const paramAlign = numelAlignment(paramBytes, aio.intraOpParallelism);
  const partitions = model.tensors.map((t) => partitionNumel(t.numel, settings.worldSize));
  const groupsTensors = subGroupTensors(partitions, settings.subGroupSize);
  const groupNumels = groupsTensors.map((g) => g.reduce((a, t) => a + partitions[t], 0));
  const onNvme = settings.offloadParam
    ? subGroupParamsOnNvme(groupNumels, settings.maxInCpu)
    : groupNumels.map(() => false);
  const subGroups: SubGroup[] = groupsTensors.map((tensors, index) => ({
    index,
    id: `${model.tensors[tensors[0]].id}_${model.tensors[tensors[tensors.length - 1]].id}`,
    tensors,
    numel: groupNumels[index],
    // stage3.py `_swappable_optimizer_subgroup` → `is_swappable_tensor(numel=...)`.
    swappable: settings.offloadOptimizer && minAio <= groupNumels[index] * master_element_bytes,
    paramsOnNvme: onNvme[index],
  }));
  const files: SwapFile[] = [];
  const addFile = (file: SwapFile) => files.push(file) - 1;
  const stateFiles: number[][] = [];
  const gradientFiles: number[][] = subGroups.map(() => []);
  const tensorGradients: Context["tensorGradients"] = model.tensors.map(() => []);
  const paramFile = model.tensors.map(() => -1);
  const paramOnNvme = model.tensors.map(() => false);
  for (const g of subGroups) {
    // optimizer_utils.py `OptimizerStateSwapInfo._add_tensors`: `<ds_id>.tensor.swp`, where Adam's
    // states get ds_id `<state name>-<param ds_id>` (`_get_state_tensors`); each file holds the
    // io-aligned numel (`_swap_in_parameter`, `set_swap_buffers`).
    const stateBytes = ioAlignedNumel(g.numel, optAlign) * master_element_bytes;
    stateFiles.push(
      g.swappable
        ? optimizer_tensor_kinds.map((kind) =>
          addFile({
            name: `${kind === "fp32" ? "" : `${kind}-`}${g.id}.tensor.swp`,
            root: "optimizer",
            kind,
            bytes: stateBytes,
          })
        )
        : [],
    );
    let offset = 0;
    for (const t of g.tensors) {
      const n = partitions[t];
      if (g.swappable) {
        // optimizer_utils.py `get_or_create_gradient_paths`: `<id>_gradient_<offset>_<length>`.
        for (const piece of gradientPieces(n, offset, optAlign, minAio).swapped) {
          const file = addFile({
            name: `${g.id}_gradient_${piece.offset}_${piece.numel}.tensor.swp`,
            root: "optimizer",
            kind: "gradient",
            bytes: piece.numel * master_element_bytes,
          });
          tensorGradients[t].push({ group: g.index, file, numel: piece.numel });
        }
      }
      // partition_parameters.py `_partition_param`: a partition goes to NVMe when the swapper
      // finds it swappable (`swappable_tensor(numel=partition_size)`); stage3.py keeps it there
      // when its sub-group has no CPU flat buffer. partitioned_param_swapper.py `_get_swap_paths`.
      if (g.paramsOnNvme && minAio <= n * paramBytes) {
        paramOnNvme[t] = true;
        paramFile[t] = addFile({
          name: `${model.tensors[t].id}_param.tensor.swp`,
          root: "param",
          kind: "param",
          bytes: ioAlignedNumel(n, paramAlign) * paramBytes,
        });
      }
      offset += n;
    }
  }
  if (settings.offloadParam) checkParamBuffers(model, settings, partitions, paramOnNvme);
  return {
    settings,
    model,
    partitions,
    paramOnNvme,
    subGroups,
    files,
    stateFiles,
    gradientFiles,
    tensorGradients,
    paramFile,
    computeS: options.computeS ?? 0,
    updateS: options.updateS ?? 0,
  };
}

/** partitioned_param_swapper.py `get_buffer`: a partition must fit one buffer of buffer_size elements. */
function checkParamBuffers(
  model: Model,
  settings: ZeroSettings,
  partitions: number[],
  paramOnNvme: boolean[],
): void {
  let largest = -1;
  partitions.forEach((n, t) => {
    if (paramOnNvme[t] && (largest < 0 || n > partitions[largest])) largest = t;
  });
  if (largest >= 0 && partitions[largest] > settings.paramBufferSize) {
    throw new UsageError(
      `offload_param.buffer_size ${settings.paramBufferSize} elements is smaller than the largest parameter partition (${
        partitions[largest]
      } elements, ${
        model.tensors[largest].name
      }); DeepSpeed asserts on that: set buffer_size to at least ${partitions[largest]}`,
    );
  }
}

function laneNames(s: ZeroSettings): { read: LaneName; write: LaneName } {
  // stage3.py `_configure_tensor_swapping`: the pipelined swapper (pipeline_read or _write) has a
  // read and a write aio handle; the partitioned one a single handle for both.
  const pipelined = s.pipelineRead || s.pipelineWrite;
  return pipelined
    ? { read: "optimizer_read", write: "optimizer_write" }
    : { read: "optimizer", write: "optimizer" };
}

function planPrepare(ctx: Context): StepSchedule {
  const b = new Builder();
  const { write } = laneNames(ctx.settings);
  const stateWrites = ctx.stateFiles.flat().map((file) => ({ file, op: "write" as const }));
  b.issue(write, stateWrites, "optimizer", "create optimizer swap files");
  const paramWrites = ctx.paramFile.filter((f) => f >= 0).map((file) => ({
    file,
    op: "write" as const,
  }));
  b.issue("param_write", paramWrites, "optimizer", "create parameter swap files");
  if (stateWrites.length > 0) b.wait(write, "optimizer");
  if (paramWrites.length > 0) b.wait("param_write", "optimizer");
  return b.schedule;
}

/** DeepSpeed would run out of parameter swap buffers (its "Not enough buffers" assertion). */
class ParamBufferShortage extends Error {
  constructor(readonly module: string, readonly needed: number, readonly kept: number) {
    super(`module ${module} needs ${needed} buffer(s) while ${kept} hold kept partitions`);
  }
}

const param_buffer_count_search_max = 256;

function planStepOrExplain(ctx: Context): StepSchedule {
  try {
    return planStep(ctx);
  } catch (e) {
    if (!(e instanceof ParamBufferShortage)) throw e;
    const s = ctx.settings;
    let enough: number | undefined;
    for (let count = s.paramBufferCount + 1; count <= param_buffer_count_search_max; count++) {
      try {
        planStep({ ...ctx, settings: { ...s, paramBufferCount: count } });
        enough = count;
        break;
      } catch (again) {
        if (!(again instanceof ParamBufferShortage)) throw again;
      }
    }
    const fix = enough === undefined
      ? "lower stage3_max_reuse_distance"
      : `raise offload_param.buffer_count to ${enough} or lower stage3_max_reuse_distance`;
    throw new UsageError(
      `offload_param.buffer_count ${s.paramBufferCount} is too few: DeepSpeed would stop from the second step with "Not enough buffers" at module ${e.module}, because stage3_max_reuse_distance ${s.maxReuseDistance} keeps ${e.kept} parameter partition(s) in the buffers; ${fix}`,
    );
  }
}

function planStep(ctx: Context): StepSchedule {
  const b = new Builder();
  const s = ctx.settings;
  const gradients = s.offloadOptimizer ? new GradientSwapper(ctx, b) : undefined;
  for (let micro = 0; micro < s.gradientAccumulationSteps; micro++) {
    const last = micro === s.gradientAccumulationSteps - 1;
    passes(ctx, b, last ? gradients : undefined, micro);
  }
  b.schedule.actions.forEach((a, i) => {
    if (a.kind === "issue" && a.lane === "param_read") {
      const waited = b.schedule.actions.slice(i + 1).some((w) =>
        w.kind === "wait" && w.lane === "param_read"
      );
      if (!waited) throw new Error("planner: a parameter read is never waited for");
    }
  });
  optimizerStep(ctx, b, gradients);
  return b.schedule;
}

/** One forward and backward pass over the module trace. */
function passes(ctx: Context, b: Builder, gradients: GradientSwapper | undefined, micro: number) {
  const model = ctx.model;
  const forward = model.modules.map((_, i) => i);
  const trace = [...forward, ...forward.slice().reverse()];
  const moduleNumel = model.modules.map((m) =>
    m.tensors.reduce((a, t) => a + model.tensors[t].numel, 0)
  );
  const passNumel = forward.reduce((a, m) => a + moduleNumel[m], 0);
  const perMicro = ctx.computeS / ctx.settings.gradientAccumulationSteps;
  // A tensor's gradient is complete at its last use in the backward pass.
  const lastUse = new Map<number, number>();
  trace.forEach((m, k) => {
    if (k >= forward.length) { for (const t of model.modules[m].tensors) lastUse.set(t, k); }
  });
  const params = ctx.settings.offloadParam ? new ParamFetcher(ctx, b, trace) : null;
  const tag = ctx.settings.gradientAccumulationSteps > 1 ? ` (micro-step ${micro + 1})` : "";
  trace.forEach((m, k) => {
    const phase: Phase = k < forward.length ? "forward" : "backward";
    params?.fetch(k, phase);
    const share = (phase === "forward" ? 1 : 2) / 3;
    b.compute(
      (perMicro * share * moduleNumel[m]) / passNumel,
      phase,
      `${phase} ${model.modules[m].name}${tag}`,
    );
    params?.release(k);
    if (phase === "backward" && gradients) {
      for (const t of model.modules[m].tensors) if (lastUse.get(t) === k) gradients.swapOut(t);
    }
  });
}

/**
 * partitioned_param_coordinator.py `_fetch_sub_module_impl` / `release_sub_module` with
 * partition_parameters.py `_ensure_availability_of_partitioned_params`, once the trace is complete
 * (every step after the first):
 * - a module's partitions not in memory are swapped in synchronously (`swap_in(...,
 *   async_op=False)` waits for every read in flight); if some are in flight, `synchronize_reads`;
 * - the all-gather prefetch then walks the upcoming parameters (up to stage3_prefetch_bucket_size
 *   elements, stopping at the first partition still on NVMe); gathering one whose read is in
 *   flight waits for the reads (`synchronize_reads` again);
 * - `__prefetch_nvme_param_partitions` starts reads of the next partitions on NVMe into free
 *   buffers, considering at most twice the elements being gathered ahead;
 * - after the module, partitions not used again within stage3_max_reuse_distance elements of
 *   the trace are released (`__params_to_release`).
 */
class ParamFetcher {
  #resident = new Set<number>();
  #inflight = new Set<number>();

  constructor(
    readonly ctx: Context,
    readonly b: Builder,
    readonly trace: number[],
  ) {}

  #tensors(k: number): number[] {
    return this.ctx.model.modules[this.trace[k]].tensors;
  }

  #onNvme(t: number): boolean {
    return this.ctx.paramOnNvme[t] && !this.#resident.has(t) && !this.#inflight.has(t);
  }

  #free(): number {
    return this.ctx.settings.paramBufferCount - this.#resident.size - this.#inflight.size;
  }

  #read(tensors: number[], phase: Phase, label: string) {
    const ops = tensors.map((t) => ({ file: this.ctx.paramFile[t], op: "read" as const }));
    this.b.issue("param_read", ops, phase, label);
    for (const t of tensors) this.#inflight.add(t);
  }

  #synchronize(phase: Phase) {
    this.b.wait("param_read", phase);
    for (const t of this.#inflight) this.#resident.add(t);
    this.#inflight.clear();
  }

  fetch(k: number, phase: Phase) {
    const name = this.ctx.model.modules[this.trace[k]].name;
    const tensors = this.#tensors(k).filter((t) => this.ctx.paramOnNvme[t]);
    const missing = tensors.filter((t) => this.#onNvme(t));
    if (missing.length > this.#free()) {
      throw new ParamBufferShortage(name, missing.length, this.#resident.size);
    }
    if (missing.length > 0) {
      this.#read(missing, phase, `${phase} ${name}: parameters`);
      this.#synchronize(phase);
    } else if (tensors.some((t) => this.#inflight.has(t))) {
      this.#synchronize(phase);
    }
    if (this.ctx.settings.prefetchBucketSize > 0) this.#prefetch(k, phase, name);
  }

  #prefetch(k: number, phase: Phase, name: string) {
    const model = this.ctx.model;
    const upcoming: number[] = [];
    for (let j = k + 1; j < this.trace.length; j++) upcoming.push(...this.#tensors(j));
    let at = 0;
    let gathering = 0;
    let waits = false;
    while (at < upcoming.length && gathering < this.ctx.settings.prefetchBucketSize) {
      const t = upcoming[at];
      if (this.#onNvme(t)) break;
      if (this.#inflight.has(t)) waits = true;
      gathering += model.tensors[t].numel;
      at += 1;
    }
    if (waits) this.#synchronize(phase);
    let considered = 0;
    const start: number[] = [];
    for (; at < upcoming.length; at++) {
      if (considered > 2 * gathering || start.length >= this.#free()) break;
      const t = upcoming[at];
      if (this.#onNvme(t) && !start.includes(t)) start.push(t);
      considered += model.tensors[t].numel;
    }
    if (start.length > 0) this.#read(start, phase, `${phase} prefetch after ${name}`);
  }

  release(k: number) {
    const model = this.ctx.model;
    const keep = new Set<number>();
    let traversed = 0;
    for (let j = k + 1; j < this.trace.length; j++) {
      if (traversed >= this.ctx.settings.maxReuseDistance) break;
      for (const t of this.#tensors(j)) {
        keep.add(t);
        traversed += model.tensors[t].numel;
      }
    }
    for (const t of this.#tensors(k)) if (!keep.has(t)) this.#resident.delete(t);
  }
}

/**
 * async_swapper.py `AsyncTensorSwapper` as the optimizer swapper drives it during backward
 * (optimizer_utils.py `_swap_out_gradients`): gradients are packed into the swapper's pinned
 * buffers (all buffer_count of them, each the io-aligned largest sub-group); a full buffer's files
 * are written asynchronously; when no buffer is free, every write in flight is waited for.
 */
class GradientSwapper {
  #free: number;
  #capacity: number;
  #current: { used: number; files: number[] } | null = null;
  #swapping = 0;
  #lane: LaneName;

  constructor(readonly ctx: Context, readonly b: Builder) {
    this.#free = ctx.settings.optimizerBufferCount;
    const align = numelAlignment(master_element_bytes, ctx.settings.aio.intraOpParallelism);
    this.#capacity = ioAlignedNumel(Math.max(...ctx.subGroups.map((g) => g.numel)), align);
    this.#lane = laneNames(ctx.settings).write;
  }

  swapOut(tensor: number) {
    for (const piece of this.ctx.tensorGradients[tensor]) {
      this.#makeSpace(piece.numel);
      this.#current!.used += piece.numel;
      this.#current!.files.push(piece.file);
    }
  }

  #makeSpace(numel: number) {
    if (this.#current === null) return this.#allocate();
    if (this.#current.used + numel <= this.#capacity) return;
    if (this.#free > 0) this.#flushReady();
    else this.#flushUntilComplete();
    this.#allocate();
  }

  #allocate() {
    if (this.#free <= 0) throw new Error("gradient swapper: no free buffer");
    this.#free -= 1;
    this.#current = { used: 0, files: [] };
  }

  #flushReady() {
    if (this.#current === null) return;
    const ops = this.#current.files.map((file) => ({ file, op: "write" as const }));
    this.b.issue(this.#lane, ops, "backward", "gradients swapped out");
    this.#swapping += 1;
    this.#current = null;
  }

  #flushUntilComplete() {
    this.#flushReady();
    if (this.#swapping > 0) this.b.wait(this.#lane, "backward");
    this.#free += this.#swapping;
    this.#swapping = 0;
  }

  /** optimizer_utils.py `_flush_gradient_swapper` (the first swap-in of the optimizer step). */
  flush() {
    if (this.#current === null && this.#swapping === 0) return;
    this.#flushReady();
    this.b.wait(this.#lane, "optimizer");
    this.#free += this.#swapping;
    this.#swapping = 0;
  }
}

/**
 * zero/stage3.py `step`: per sub-group `_prepare_sub_group` (swap in), the update,
 * `_reassign_or_swap_out_partitioned_parameters` (fp16/bf16 parameters back to NVMe) and
 * `_release_sub_group` (swap out), with partitioned_optimizer_swapper.py or
 * pipelined_optimizer_swapper.py doing the IO.
 */
function optimizerStep(ctx: Context, b: Builder, gradients: GradientSwapper | undefined) {
  const s = ctx.settings;
  const pipelined = s.pipelineRead || s.pipelineWrite;
  const lanes = laneNames(s);
  const totalNumel = ctx.subGroups.reduce((a, g) => a + g.numel, 0);
  const swappable = ctx.subGroups.filter((g) => g.swappable).map((g) => g.index);
  // stage3.py `_create_next_swappable_fp32_groups`.
  const nextSwappable = (i: number) => swappable.find((j) => j > i);
  let asyncIn: number | undefined;
  let asyncOutPending = false;
  const reads = (g: number) => {
    const files = [...ctx.stateFiles[g], ...gradientFilesOf(ctx, g)];
    return files.map((file) => ({ file, op: "read" as const }));
  };
  for (const g of ctx.subGroups) {
    const label = `sub-group ${g.index}`;
    if (g.swappable) {
      gradients?.flush();
      if (!pipelined) {
        // partitioned_optimizer_swapper.py `swap_in_optimizer_state`: the state tensors, waited,
        // then `_swap_in_gradients`, waited.
        const state = ctx.stateFiles[g.index].map((file) => ({ file, op: "read" as const }));
        b.issue(lanes.read, state, "optimizer", `${label}: swap in fp32 + Adam states`);
        b.wait(lanes.read, "optimizer");
        const grads = gradientFilesOf(ctx, g.index).map((file) => ({ file, op: "read" as const }));
        b.issue(lanes.read, grads, "optimizer", `${label}: swap in gradients`);
        if (grads.length > 0) b.wait(lanes.read, "optimizer");
      } else {
        // pipelined_optimizer_swapper.py `swap_in_optimizer_state`.
        if (asyncIn !== g.index) {
          b.issue(lanes.read, reads(g.index), "optimizer", `${label}: swap in`);
        }
        b.wait(lanes.read, "optimizer");
        asyncIn = undefined;
        const next = nextSwappable(g.index);
        if (s.pipelineRead && next !== undefined) {
          b.issue(lanes.read, reads(next), "optimizer", `sub-group ${next}: swap in (pipelined)`);
          asyncIn = next;
        }
      }
    }
    b.compute((ctx.updateS * g.numel) / totalNumel, "optimizer", `${label}: update`);
    if (g.paramsOnNvme) writeBackParams(ctx, b, g);
    if (!g.swappable) continue;
    const writes = ctx.stateFiles[g.index].map((file) => ({ file, op: "write" as const }));
    if (!pipelined) {
      b.issue(lanes.write, writes, "optimizer", `${label}: swap out fp32 + Adam states`);
      b.wait(lanes.write, "optimizer");
      continue;
    }
    // pipelined_optimizer_swapper.py `swap_out_optimizer_state`.
    if (asyncOutPending) b.wait(lanes.write, "optimizer");
    b.issue(lanes.write, writes, "optimizer", `${label}: swap out`);
    asyncOutPending = s.pipelineWrite && nextSwappable(g.index) !== undefined;
    if (!asyncOutPending) b.wait(lanes.write, "optimizer");
  }
}

function gradientFilesOf(ctx: Context, group: number): number[] {
  return ctx.subGroups[group].tensors.flatMap((t) =>
    ctx.tensorGradients[t].filter((p) => p.group === group).map((p) => p.file)
  );
}

/** partitioned_param_swapper.py `swap_out_partitioned_params`: all of a sub-group's, then waited. */
function writeBackParams(ctx: Context, b: Builder, g: SubGroup) {
  const ops = g.tensors.filter((t) => ctx.paramFile[t] >= 0)
    .map((t) => ({ file: ctx.paramFile[t], op: "write" as const }));
  b.issue("param_write", ops, "optimizer", `sub-group ${g.index}: parameters swapped out`);
  if (ops.length > 0) b.wait("param_write", "optimizer");
}

function totals(files: SwapFile[], step: StepSchedule): ZeroPlan["perRank"] {
  const zero = () => ({ read: 0, write: 0 });
  const byPhase: Record<Phase, ByteCounts> = {
    forward: zero(),
    backward: zero(),
    optimizer: zero(),
  };
  const byKind: Record<FileKind, ByteCounts> = {
    fp32: zero(),
    exp_avg: zero(),
    exp_avg_sq: zero(),
    gradient: zero(),
    param: zero(),
  };
  let read = 0;
  let write = 0;
  for (const ops of Object.values(step.lanes)) {
    for (const op of ops ?? []) {
      const action = step.actions[op.action];
      const bytes = files[op.file].bytes;
      if (action.kind !== "issue") throw new Error("lane op without an issue action");
      byPhase[action.phase][op.op] += bytes;
      byKind[files[op.file].kind][op.op] += bytes;
      if (op.op === "read") read += bytes;
      else write += bytes;
    }
  }
  const fileBytes = { optimizer: 0, param: 0 };
  for (const f of files) fileBytes[f.root] += f.bytes;
  return { read, write, byPhase, byKind, fileBytes };
}

function bufferBytes(ctx: Context): ZeroPlan["deepSpeedBufferBytes"] {
  const s = ctx.settings;
  const optAlign = numelAlignment(master_element_bytes, s.aio.intraOpParallelism);
  const largest = Math.max(...ctx.subGroups.map((g) => g.numel));
  const paramBytes = paramElementBytes(s.paramDtype);
  const paramAlign = numelAlignment(paramBytes, s.aio.intraOpParallelism);
  return {
    // optimizer_utils.py: SwapBufferManager(num_elems=io-aligned largest numel, count=buffer_count).
    optimizer: s.offloadOptimizer
      ? s.optimizerBufferCount * ioAlignedNumel(largest, optAlign) * master_element_bytes
      : 0,
    // partitioned_param_swapper.py `_configure_aio`: buffer_count × aligned buffer_size.
    param: s.offloadParam
      ? s.paramBufferCount * ioAlignedNumel(s.paramBufferSize, paramAlign) * paramBytes
      : 0,
  };
}
