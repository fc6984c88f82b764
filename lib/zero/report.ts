/**
 * What a ZeRO replay measured, as the `aiobench-zero/1` document and as text: bytes and IO time
 * per step and per rank, medians and spread over the measured steps, the verdict in one
 * sentence, and what would help (each with its effect computed from this run's numbers).
 *
 * @module
 */
import { summarize } from "../common/histogram.ts";
import type { LatencySummary } from "../common/types.ts";
import { formatBytesHuman } from "../common/size.ts";
import { formatParams } from "./model.ts";
import type { Action, LaneName, Phase, ZeroPlan } from "./plan.ts";
import { rankList, type ZeroRunResult } from "./run.ts";
import { paramElementBytes } from "./settings.ts";

const GiB = 2 ** 30;
const phases: readonly Phase[] = ["forward", "backward", "optimizer"];

/** What the replay reproduces of DeepSpeed, for help and the report. */
export const modelled: readonly string[] = [
  "DeepSpeed 0.18's ZeRO-3 NVMe swappers, per rank and step: optimizer state per sub-group (fp32 weights, Adam's exp_avg and exp_avg_sq) read before and written after its update; gradients written during backward through buffer_count pinned buffers and read back in the step; fp16/bf16 parameter partitions read before each module in forward and backward (prefetched into buffer_count buffers, kept within stage3_max_reuse_distance) and written back after each sub-group's update",
  "DeepSpeed's sizes and files: partitions of ceil(numel / ranks), sub-groups closed at sub_group_size, numel aligned to 1024 bytes × intra_op_parallelism, tensors under max(1 MiB, block_size) and parameters within max_in_cpu kept in memory, one file per tensor under <nvme_path>/zero_stage_3/",
  "DeepSpeed's aio handles: the partitioned swapper's one handle, or the pipelined swapper's read and write handles (pipeline_read, pipeline_write), and the parameter swapper's read and write handles; each a native handle with the aio section's block_size, queue_depth, single_submit, overlap_events and intra_op_parallelism, moving one whole file per request with O_DIRECT, in DeepSpeed's order, waited where DeepSpeed waits",
];

/** What the replay does not reproduce. */
export const not_modelled: readonly string[] = [
  "compute: --compute_s (forward and backward, split 1:2 and spread by module size) and --update_s (the CPU optimizer update, spread over sub-groups by size) are sleeps where DeepSpeed computes",
  "GPU copies and collectives: ranks start each step together and meet nowhere else",
  "memory: each handle reuses queue_depth × block_size of buffer instead of DeepSpeed's tensor-sized pinned buffers",
  "DeepSpeed's first step (Adam's states don't exist yet, so it reads less): every replayed step is a later one",
  "the model: a GPT-style decoder (fused qkv, biases, 4× MLP, tied head) of --params, or of --hidden/--layers/--vocab; one parameter group; Adam; no partial offload (ratio), activation offload or checkpointing",
];

/** One measured (or warm-up) step. */
export interface StepRecord {
  step: number;
  warmup: boolean;
  /** Node wall time: first rank's start to last rank's end. */
  step_s: number;
  /** Node IO time: when any lane of any rank had a request in flight. */
  io_s: number;
  read_bytes: number;
  write_bytes: number;
  gib_s: number;
  phases: Record<Phase, { s: number; read_bytes: number; write_bytes: number }>;
  ranks: { rank: number; step_s: number; io_s: number }[];
}

/** One lane's counters over the measured steps. */
export interface LaneRecord {
  lane: LaneName;
  bytes: number;
  ios: number;
  errors: number;
  latency_us: LatencySummary | null;
}

/** One rank over the measured steps. */
export interface RankRecord {
  rank: number;
  optimizer_dir: string;
  param_dir: string;
  read_bytes_per_step: number;
  write_bytes_per_step: number;
  step_s_median: number;
  io_s_median: number;
  io_s_min: number;
  io_s_max: number;
  gib_s: number;
  lanes: LaneRecord[];
}

/** A suggestion and its effect, with how the effect was obtained. */
export interface Suggestion {
  what: string;
  effect: string;
  basis: "computed" | "measured" | "not measured";
}

/** The `aiobench-zero/1` document. */
export interface ZeroDocument {
  schema: "aiobench-zero/1";
  version: string;
  started_at: string;
  partial: boolean;
  verdict: string;
  offload: string;
  model: Record<string, unknown>;
  settings: Record<string, unknown>;
  env: Record<string, unknown>;
  world_size: number;
  ranks_on_node: number;
  /** All ranks of this node. */
  read_bytes_per_step: number;
  write_bytes_per_step: number;
  /** Median over the measured steps of the node's IO time. */
  io_s_per_step: number;
  step_s_per_step: number;
  io_s_spread: { min: number; max: number };
  compute_s: number;
  update_s: number;
  /** Step time over compute time (null without compute). */
  bound_factor: number | null;
  per_rank: {
    read_bytes: number;
    write_bytes: number;
    by_phase: ZeroPlan["perRank"]["byPhase"];
    by_kind: ZeroPlan["perRank"]["byKind"];
    file_bytes: ZeroPlan["perRank"]["fileBytes"];
    sub_groups: { id: string; numel: number; swappable: boolean; params_on_nvme: boolean }[];
    files: number;
    deepspeed_pinned_bytes: ZeroPlan["deepSpeedBufferBytes"];
  };
  steps: StepRecord[];
  ranks: RankRecord[];
  suggestions: Suggestion[];
  /** `--try_aio_config`: the same steps measured again with another aio section. */
  aio_trial?: {
    file: string;
    aio: Record<string, unknown>;
    step_s_per_step: number;
    io_s_per_step: number;
    read_bytes_per_step: number;
    write_bytes_per_step: number;
  };
  modelled: readonly string[];
  not_modelled: readonly string[];
  notes: string[];
  /** The timeline: per rank, per measured step shown, bars relative to the step's start. */
  timeline: TimelineRank[];
}

/** A timeline bar (seconds from the step's start). */
export interface TimelineBar {
  lane: LaneName | "compute";
  start_s: number;
  end_s: number;
  phase: Phase;
  label: string;
  bytes: number;
  op: "read" | "write" | "compute";
}

/** One rank's timeline of one step. */
export interface TimelineRank {
  rank: number;
  step: number;
  step_s: number;
  bars: TimelineBar[];
}

/** Options of `zeroDocument`. */
export interface DocumentOptions {
  version: string;
  /** The step whose timeline the report draws (default: the median measured step). */
  timelineStep?: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Seconds covered by the union of [start, end] ms intervals. */
export function unionSeconds(intervals: [number, number][]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let start = -Infinity;
  let end = -Infinity;
  for (const [s, e] of sorted) {
    if (s > end) {
      if (end > start) total += end - start;
      start = s;
      end = e;
    } else end = Math.max(end, e);
  }
  if (end > start) total += end - start;
  return total / 1000;
}

/** "optimizer offload", "parameter offload", "optimizer + parameter offload". */
export function offloadText(plan: ZeroPlan): string {
  const s = plan.settings;
  return s.offloadOptimizer && s.offloadParam
    ? "optimizer + parameter offload"
    : s.offloadOptimizer
    ? "optimizer offload"
    : "parameter offload";
}

function laneIntervals(run: ZeroRunResult, rank: number, phase: number): [number, number][] {
  const out: [number, number][] = [];
  for (const lane of run.lanes) {
    if (lane.rank !== rank) continue;
    const t = lane.phases[phase] ?? [];
    for (let i = 0; i + 1 < t.length; i += 2) out.push([t[i], t[i + 1]]);
  }
  return out;
}

function stepRecord(run: ZeroRunResult, phase: number): StepRecord | null {
  const plan = run.plan;
  const drivers = run.drivers.filter((d) => d.phases[phase]?.endMs > 0);
  if (drivers.length !== run.ranks.length) return null;
  const start = Math.min(...drivers.map((d) => d.phases[phase].startMs));
  const end = Math.max(...drivers.map((d) => d.phases[phase].endMs));
  const all: [number, number][] = [];
  const ranks = drivers.map((d) => {
    const intervals = laneIntervals(run, d.rank, phase);
    all.push(...intervals);
    const p = d.phases[phase];
    return { rank: d.rank, step_s: (p.endMs - p.startMs) / 1000, io_s: unionSeconds(intervals) };
  }).sort((a, b) => a.rank - b.rank);
  const n = run.ranks.length;
  const io = unionSeconds(all);
  const read = plan.perRank.read * n;
  const write = plan.perRank.write * n;
  const phaseTimes = {} as StepRecord["phases"];
  for (const ph of phases) {
    const spans = drivers.map((d) => phaseSpan(plan.step.actions, d.phases[phase].actions, ph));
    const s = Math.max(0, ...spans);
    const bytes = plan.perRank.byPhase[ph];
    phaseTimes[ph] = { s, read_bytes: bytes.read * n, write_bytes: bytes.write * n };
  }
  return {
    step: phase - 1,
    warmup: phase === 1,
    step_s: (end - start) / 1000,
    io_s: io,
    read_bytes: read,
    write_bytes: write,
    gib_s: io > 0 ? (read + write) / io / GiB : 0,
    phases: phaseTimes,
    ranks,
  };
}

/** Seconds from the first action of `phase` to the end of its last (0 when it has none). */
function phaseSpan(actions: Action[], times: number[], phase: Phase): number {
  let first = Infinity;
  let last = -Infinity;
  actions.forEach((a, i) => {
    if (a.phase !== phase || times[2 * i + 1] === undefined) return;
    first = Math.min(first, times[2 * i]);
    last = Math.max(last, times[2 * i + 1]);
  });
  return last > first ? (last - first) / 1000 : 0;
}

function rankRecords(run: ZeroRunResult, measured: StepRecord[]): RankRecord[] {
  const plan = run.plan;
  const bytes = plan.perRank.read + plan.perRank.write;
  return run.ranks.map((d) => {
    const io = measured.map((s) => s.ranks.find((r) => r.rank === d.rank)?.io_s ?? 0);
    const step = measured.map((s) => s.ranks.find((r) => r.rank === d.rank)?.step_s ?? 0);
    const ioMedian = median(io);
    const lanes = run.laneResults.filter((r) => r.zeroLane?.rank === d.rank).map((r) => ({
      lane: r.zeroLane!.lane,
      bytes: r.bytes,
      ios: r.ios,
      errors: r.errors,
      latency_us: summarize(r.histogram, {
        minNs: r.latencyMinNs,
        maxNs: r.latencyMaxNs,
        sumNs: r.latencySumNs,
      }),
    }));
    return {
      rank: d.rank,
      optimizer_dir: d.optimizer,
      param_dir: d.param,
      read_bytes_per_step: plan.perRank.read,
      write_bytes_per_step: plan.perRank.write,
      step_s_median: median(step),
      io_s_median: ioMedian,
      io_s_min: io.length ? Math.min(...io) : 0,
      io_s_max: io.length ? Math.max(...io) : 0,
      gib_s: ioMedian > 0 ? bytes / ioMedian / GiB : 0,
      lanes,
    };
  });
}

function gib(bytes: number): string {
  if (bytes < GiB) return formatBytesHuman(bytes).replace(/\.00 /, " ");
  return `${(bytes / GiB).toFixed(bytes >= 10 * GiB ? 1 : 2)} GiB`;
}

function secs(s: number): string {
  return `${s.toFixed(s >= 10 ? 1 : s >= 1 ? 2 : 3)} s`;
}

function computeText(plan: ZeroPlan): string {
  const parts = [];
  if (plan.computeS > 0) parts.push(`--compute_s ${plan.computeS}`);
  if (plan.updateS > 0) parts.push(`--update_s ${plan.updateS}`);
  return parts.join(" and ");
}

/** The verdict in one sentence. */
export function verdict(
  plan: ZeroPlan,
  ranks: RankRecord[],
  stepS: number,
  nodeGibS: number,
): string {
  const io = Math.max(0, ...ranks.map((r) => r.io_s_median));
  const perRank = (plan.perRank.read + plan.perRank.write) / GiB;
  const rate = io > 0 ? perRank / io : 0;
  const together = ranks.length > 1
    ? ` (${ranks.length} ranks: ${nodeGibS.toFixed(1)} GiB/s together)`
    : "";
  const head = `${offloadText(plan)}: ${gib(plan.perRank.read)} read + ${
    gib(plan.perRank.write)
  } written per rank per step, ${secs(io)} of IO at ${rate.toFixed(1)} GiB/s${together}`;
  const compute = plan.computeS + plan.updateS;
  if (compute <= 0) {
    return `${head}; with no compute given the step is all IO (${
      secs(stepS)
    }): pass --compute_s to learn whether the NVMe bounds the step`;
  }
  const factor = stepS / compute;
  return factor >= 1.05
    ? `${head}; with ${computeText(plan)} the NVMe bounds the step by ${factor.toFixed(1)}× (${
      secs(stepS)
    } instead of ${secs(compute)})`
    : `${head}; with ${computeText(plan)} the NVMe does not bound the step (${secs(stepS)} for ${
      secs(compute)
    } of compute: the IO hides behind it)`;
}

/** Builds the document from a run. */
export function zeroDocument(run: ZeroRunResult, options: DocumentOptions): ZeroDocument {
  const plan = run.plan;
  const records: StepRecord[] = [];
  for (let phase = 1; phase <= run.phasesDone && phase < 2 + run.steps; phase++) {
    const r = stepRecord(run, phase);
    if (r) records.push(r);
  }
  const measured = records.filter((r) => !r.warmup);
  const ranks = rankRecords(run, measured);
  const stepS = median(measured.map((s) => s.step_s));
  const ioS = median(measured.map((s) => s.io_s));
  const n = run.ranks.length;
  const nodeGibS = ioS > 0 ? (plan.perRank.read + plan.perRank.write) * n / ioS / GiB : 0;
  const compute = plan.computeS + plan.updateS;
  const partial = run.stopped || measured.length < run.steps;
  const timelineStep = options.timelineStep ?? medianStep(measured);
  return {
    schema: "aiobench-zero/1",
    version: options.version,
    started_at: run.startedAt,
    partial,
    verdict: measured.length === 0
      ? "stopped before a measured step finished: no verdict"
      : verdict(plan, ranks, stepS, nodeGibS),
    offload: offloadText(plan),
    model: {
      family: "gpt",
      ...plan.model.shape,
      params: plan.model.params,
      tensors: plan.model.tensors.length,
    },
    settings: settingsJson(plan),
    env: {
      engine: run.engine,
      engine_reason: run.engineReason,
      space: run.space.map((s) => ({
        paths: s.paths,
        ranks: s.ranks,
        needed_bytes: s.neededBytes,
        free_bytes: s.freeBytes,
      })),
      kept: run.kept,
    },
    world_size: plan.settings.worldSize,
    ranks_on_node: n,
    read_bytes_per_step: plan.perRank.read * n,
    write_bytes_per_step: plan.perRank.write * n,
    io_s_per_step: ioS,
    step_s_per_step: stepS,
    io_s_spread: {
      min: measured.length ? Math.min(...measured.map((s) => s.io_s)) : 0,
      max: measured.length ? Math.max(...measured.map((s) => s.io_s)) : 0,
    },
    compute_s: plan.computeS,
    update_s: plan.updateS,
    bound_factor: compute > 0 && measured.length > 0 ? stepS / compute : null,
    per_rank: {
      read_bytes: plan.perRank.read,
      write_bytes: plan.perRank.write,
      by_phase: plan.perRank.byPhase,
      by_kind: plan.perRank.byKind,
      file_bytes: plan.perRank.fileBytes,
      sub_groups: plan.subGroups.map((g) => ({
        id: g.id,
        numel: g.numel,
        swappable: g.swappable,
        params_on_nvme: g.paramsOnNvme,
      })),
      files: plan.files.length,
      deepspeed_pinned_bytes: plan.deepSpeedBufferBytes,
    },
    steps: records,
    ranks,
    suggestions: measured.length ? suggestions(run, measured, stepS) : [],
    modelled,
    not_modelled,
    notes: plan.settings.notes,
    timeline: timelineStep === undefined ? [] : timeline(run, timelineStep + 1),
  };
}

function medianStep(measured: StepRecord[]): number | undefined {
  if (measured.length === 0) return undefined;
  const sorted = [...measured].sort((a, b) => a.step_s - b.step_s);
  return sorted[Math.floor((sorted.length - 1) / 2)].step;
}

function settingsJson(plan: ZeroPlan): Record<string, unknown> {
  const s = plan.settings;
  return {
    offload_optimizer: s.offloadOptimizer
      ? {
        nvme_path: s.optimizerPaths,
        buffer_count: s.optimizerBufferCount,
        pipeline_read: s.pipelineRead,
        pipeline_write: s.pipelineWrite,
      }
      : null,
    offload_param: s.offloadParam
      ? {
        nvme_path: s.paramPaths,
        buffer_count: s.paramBufferCount,
        buffer_size: s.paramBufferSize,
        max_in_cpu: s.maxInCpu,
      }
      : null,
    sub_group_size: s.subGroupSize,
    stage3_max_reuse_distance: s.maxReuseDistance,
    stage3_prefetch_bucket_size: s.prefetchBucketSize,
    aio: {
      block_size: s.aio.blockSizeBytes,
      queue_depth: s.aio.queueDepth,
      intra_op_parallelism: s.aio.intraOpParallelism,
      single_submit: s.aio.singleSubmit,
      overlap_events: s.aio.overlapEvents,
    },
    dtype: s.paramDtype,
    gradient_accumulation_steps: s.gradientAccumulationSteps,
  };
}

/** Sums a lane's request seconds in a phase, by the ZeRO phase of their issue action. */
function laneSeconds(run: ZeroRunResult, phase: number, rank: number, lanes: LaneName[]) {
  const plan = run.plan;
  const out = { read: 0, write: 0 };
  for (const lane of run.lanes) {
    if (lane.rank !== rank || !lanes.includes(lane.lane)) continue;
    const ops = plan.step.lanes[lane.lane] ?? [];
    const t = lane.phases[phase] ?? [];
    ops.forEach((op, i) => {
      const action = plan.step.actions[op.action];
      if (action.phase !== "optimizer" || t[2 * i + 1] === undefined) return;
      out[op.op] += (t[2 * i + 1] - t[2 * i]) / 1000;
    });
  }
  return out;
}

function suggestions(run: ZeroRunResult, measured: StepRecord[], stepS: number): Suggestion[] {
  const plan = run.plan;
  const s = plan.settings;
  const out: Suggestion[] = [];
  const compute = plan.computeS + plan.updateS;
  const exposed = Math.max(0, stepS - compute);
  const drives = run.space.length;
  if (exposed > 0) {
    const k = drives + 1;
    const est = compute + (exposed * drives) / k;
    out.push({
      what: `${
        drives === 1 ? "a second NVMe drive" : `a drive more (${k} in all)`
      }: one more --nvme_path on its own device, ranks alternating`,
      effect: `step ≈ ${secs(est)} instead of ${
        secs(stepS)
      } if the drives are the limit (the IO not hidden by compute shrinks ${drives}/${k})`,
      basis: "computed",
    });
  }
  const swappable = plan.subGroups.filter((g) => g.swappable);
  const fullPipeline = s.pipelineRead && s.pipelineWrite;
  if (s.offloadOptimizer && !fullPipeline) {
    if (swappable.length < 2) {
      const rankNumel = plan.subGroups.reduce((a, g) => a + g.numel, 0);
      out.push({
        what:
          `a smaller sub_group_size (now ${s.subGroupSize}; this rank's ${rankNumel} elements make ${swappable.length} sub-group): pipelining needs at least two`,
        effect: `with sub_group_size ${
          Math.ceil(rankNumel / 4)
        } there are 4 sub-groups whose reads and writes can overlap (then turn pipeline_read and pipeline_write on)`,
        basis: "computed",
      });
    } else {
      const optimizerS = median(measured.map((m) => m.phases.optimizer.s));
      const lanes: LaneName[] = ["optimizer", "optimizer_read", "optimizer_write", "param_write"];
      const t = median(
        measured.map((m) => laneSeconds(run, m.step + 1, m.ranks[0].rank, lanes).read),
      );
      const w = median(
        measured.map((m) => laneSeconds(run, m.step + 1, m.ranks[0].rank, lanes).write),
      );
      const g = swappable.length;
      const est = Math.max(t, w, plan.updateS) + (t + w) / g;
      const largest = Math.max(...plan.subGroups.map((x) => x.numel));
      out.push({
        what:
          `pipeline_read and pipeline_write on (offload_optimizer.buffer_count 12; DeepSpeed then pins ${
            formatBytesHuman(12 * Math.ceil(largest / 256) * 256 * 4)
          } per rank)`,
        effect: `optimizer phase ≈ ${secs(est)} instead of ${
          secs(optimizerS)
        } (reads of the next sub-group under the update and writes of the last; assumes reads and writes don't slow each other down on the drive, so a lower bound)`,
        basis: "computed",
      });
    }
  }
  if (s.offloadParam) {
    const onNvme = plan.partitionNumel.reduce((a, n, t) => a + (plan.paramOnNvme[t] ? n : 0), 0);
    const k = plan.perRank.byKind.param;
    if (onNvme > 0) {
      const per = 1e9 / onNvme;
      out.push({
        what:
          `a larger offload_param.max_in_cpu (now ${s.maxInCpu}): every 1e9 more elements kept in CPU memory costs ${
            formatBytesHuman(1e9 * paramElementBytes(s.paramDtype))
          } of host memory per rank`,
        effect: `and saves about ${gib(Math.min(k.read, k.read * per))} read + ${
          gib(Math.min(k.write, k.write * per))
        } written per rank per step (of ${gib(k.read)} + ${gib(k.write)})`,
        basis: "computed",
      });
    }
  }
  out.push({
    what: `aio settings for this drive: run \`aiobench sweep --folder ${
      run.space[0]?.paths[0] ?? "<nvme_path>"
    } --config_out aio.json\` and put its "aio" section in the DeepSpeed config (now block_size ${s.aio.blockSizeBytes}, queue_depth ${s.aio.queueDepth})`,
    effect:
      "then pass it as --try_aio_config aio.json: aiobench zero measures the step with it too",
    basis: "not measured",
  });
  return out;
}

function timeline(run: ZeroRunResult, phase: number): TimelineRank[] {
  const plan = run.plan;
  return run.drivers.filter((d) => d.phases[phase]?.endMs > 0).sort((a, b) => a.rank - b.rank)
    .map((d) => {
      const p = d.phases[phase];
      const bars: TimelineBar[] = [];
      plan.step.actions.forEach((a, i) => {
        if (a.kind !== "compute" || p.actions[2 * i + 1] === undefined) return;
        bars.push({
          lane: "compute",
          start_s: (p.actions[2 * i] - p.startMs) / 1000,
          end_s: (p.actions[2 * i + 1] - p.startMs) / 1000,
          phase: a.phase,
          label: a.label,
          bytes: 0,
          op: "compute",
        });
      });
      for (const lane of run.lanes.filter((l) => l.rank === d.rank)) {
        const ops = plan.step.lanes[lane.lane] ?? [];
        const t = lane.phases[phase] ?? [];
        // One bar per issue action: its requests run back to back on the lane.
        const batches = new Map<number, TimelineBar>();
        ops.forEach((op, i) => {
          if (t[2 * i + 1] === undefined) return;
          const action = plan.step.actions[op.action];
          const bar = batches.get(op.action) ?? {
            lane: lane.lane,
            start_s: (t[2 * i] - p.startMs) / 1000,
            end_s: 0,
            phase: action.phase,
            label: action.kind === "issue" ? action.label : "",
            bytes: 0,
            op: op.op,
          };
          bar.end_s = (t[2 * i + 1] - p.startMs) / 1000;
          bar.bytes += plan.files[op.file].bytes;
          batches.set(op.action, bar);
        });
        bars.push(...batches.values());
      }
      return { rank: d.rank, step: phase - 1, step_s: (p.endMs - p.startMs) / 1000, bars };
    });
}

/**
 * Adds the measured effect of another aio section (`--try_aio_config`) to `doc`: the not-measured
 * aio suggestion becomes a measured one.
 */
export function addAioTrial(doc: ZeroDocument, trial: ZeroDocument, file: string): void {
  const aio = (trial.settings as { aio: Record<string, unknown> }).aio;
  doc.aio_trial = {
    file,
    aio,
    step_s_per_step: trial.step_s_per_step,
    io_s_per_step: trial.io_s_per_step,
    read_bytes_per_step: trial.read_bytes_per_step,
    write_bytes_per_step: trial.write_bytes_per_step,
  };
  const shown = Object.entries(aio).map(([k, v]) => `${k} ${v}`).join(", ");
  doc.suggestions = doc.suggestions.filter((x) => x.basis !== "not measured");
  doc.suggestions.push({
    what: `the aio section of ${file} (${shown})`,
    effect: `step ${secs(trial.step_s_per_step)} instead of ${secs(doc.step_s_per_step)}, IO ${
      secs(trial.io_s_per_step)
    } instead of ${secs(doc.io_s_per_step)} (the same steps, replayed again with it)`,
    basis: "measured",
  });
}

/** The human report. */
export function zeroText(doc: ZeroDocument, plan: ZeroPlan): string[] {
  const lines: string[] = [];
  const n = doc.ranks_on_node;
  lines.push(planSummary(plan, doc.ranks.map((r) => r.rank)));
  if (doc.steps.length > 0) {
    lines.push("");
    lines.push(
      "step   wall s    IO s   GiB/s   forward s  backward s  optimizer s" +
        (n > 1 ? "  IO s per rank" : ""),
    );
    for (const s of doc.steps) {
      const label = s.warmup ? "warm" : String(s.step);
      lines.push(
        `${label.padStart(4)} ${s.step_s.toFixed(3).padStart(8)} ${s.io_s.toFixed(3).padStart(7)} ${
          s.gib_s.toFixed(2).padStart(7)
        } ${s.phases.forward.s.toFixed(3).padStart(11)} ${
          s.phases.backward.s.toFixed(3).padStart(11)
        } ${s.phases.optimizer.s.toFixed(3).padStart(12)}${
          n > 1 ? `  ${s.ranks.map((r) => r.io_s.toFixed(2)).join(" ")}` : ""
        }`,
      );
    }
    const measured = doc.steps.filter((s) => !s.warmup);
    if (measured.length > 1) {
      lines.push(
        `median of ${measured.length} steps: ${secs(doc.step_s_per_step)} wall, ${
          secs(doc.io_s_per_step)
        } of IO (${secs(doc.io_s_spread.min)} to ${secs(doc.io_s_spread.max)})`,
      );
    }
  }
  if (n > 1 && doc.ranks.length > 0) {
    lines.push("");
    lines.push("rank   IO s (median, min-max)   GiB/s   lanes");
    for (const r of doc.ranks) {
      lines.push(
        `${String(r.rank).padStart(4)}   ${r.io_s_median.toFixed(3)} (${r.io_s_min.toFixed(3)}-${
          r.io_s_max.toFixed(3)
        })   ${r.gib_s.toFixed(2).padStart(6)}   ${r.lanes.map((l) => l.lane).join(", ")}`,
      );
    }
  }
  lines.push("");
  lines.push(doc.verdict);
  if (doc.suggestions.length > 0) {
    lines.push("");
    lines.push("what would help:");
    for (const s of doc.suggestions) lines.push(`  - ${s.what}: ${s.effect} [${s.basis}]`);
  }
  for (const note of doc.notes) lines.push(`note: ${note}`);
  if (doc.partial) {
    lines.push("note: the run was stopped; the numbers cover the steps that finished");
  }
  return lines;
}

/** What the plan moves, in a few lines (also `--dry_run`'s output). */
export function planSummary(plan: ZeroPlan, ranks: number[], where = "here"): string {
  const m = plan.model;
  const s = plan.settings;
  const p = plan.perRank;
  const groups = plan.subGroups.filter((g) => g.swappable).length;
  const lines = [
    `model: GPT-style, ${m.shape.layers} layers × hidden ${m.shape.hidden}, vocab ${m.shape.vocab}: ${
      formatParams(m.params)
    } parameters (${s.paramDtype}); ${s.worldSize} rank(s), ${rankList(ranks)} replayed ${where}`,
    `${
      offloadText(plan)
    }: ${plan.subGroups.length} sub-group(s) of up to ${s.subGroupSize} elements (${groups} on NVMe), ${plan.files.length} swap files per rank (${
      formatBytesHuman(p.fileBytes.optimizer + p.fileBytes.param)
    }), aio block ${formatBytesHuman(s.aio.blockSizeBytes)} × queue depth ${s.aio.queueDepth}${
      s.offloadOptimizer
        ? `, ${
          s.pipelineRead || s.pipelineWrite
            ? `pipelined (${
              [s.pipelineRead && "read", s.pipelineWrite && "write"].filter(Boolean).join(" + ")
            })`
            : "not pipelined"
        }`
        : ""
    }`,
    `per rank and step: ${gib(p.read)} read + ${gib(p.write)} written (forward ${
      gib(p.byPhase.forward.read)
    } read; backward ${gib(p.byPhase.backward.read)} read + ${
      gib(p.byPhase.backward.write)
    } written; optimizer ${gib(p.byPhase.optimizer.read)} read + ${
      gib(p.byPhase.optimizer.write)
    } written)`,
  ];
  return lines.join("\n");
}
