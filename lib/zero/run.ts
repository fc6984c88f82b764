/**
 * Replays a ZeRO plan on real files: checks the folders and their free space, starts one driver
 * and one lane per aio handle for every rank of this node in the worker pool, opens the step gate
 * phase by phase (prepare, one warm-up step, the measured steps), and removes the swap files
 * unless asked to keep them.
 *
 * Under MPI every process calls `runZero` for its own ranks (`ranks`) with the world's size in
 * the plan's settings, and passes `stepBarrier` (an MPI_Barrier on the main thread): every
 * rank of every node then starts each step together.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { AioError } from "../../ffi/errors.ts";
import { AioFile } from "../../ffi/file.ts";
import { type NativeEngine, probeEngine } from "../../ffi/handle.ts";
import { formatBytesHuman, UsageError } from "../common/size.ts";
import { directAlignment } from "../run/files.ts";
import { runPool, type WorkerFailure } from "../tasklets/pool.ts";
import type { LaneName, StepSchedule, ZeroPlan } from "./plan.ts";
import {
  type DriverTimes,
  lane_names,
  laneControl,
  type LaneRequest,
  type LaneTimes,
  StepGate,
  type ZeroTaskSpec,
  type ZeroWorkerResult,
} from "./tasks.ts";

/** The folder the replay creates under each nvme_path (DeepSpeed's layout below it). */
export const run_folder = "aiobench_zero";

/** Options of `runZero`. */
export interface ZeroRunOptions {
  /** Global ranks replayed by this process (default 0 .. worldSize-1). */
  ranks?: number[];
  /** Measured steps after the warm-up step (default 3). */
  steps?: number;
  /** `auto` (io_uring, else libaio, else psync) or one engine. */
  engine?: NativeEngine | "auto";
  /** Keep the swap files (and folders) afterwards. */
  keep?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Abort to stop: IO in flight drains, the swap files are removed, partial results return. */
  signal?: AbortSignal;
  /** Runs on the main thread before each phase starts (MPI: a barrier across nodes). */
  stepBarrier?: (phase: number) => Promise<void> | void;
  /** Seed of the data written. */
  seed?: number;
  /**
   * The caller already ran `checkPaths` (under MPI every process checks before any of them
   * creates the shared folders, then they run together).
   */
  pathsChecked?: boolean;
}

/** One rank's folders. */
export interface RankDirs {
  rank: number;
  optimizer: string;
  param: string;
}

/** A filesystem the swap files go to, with what they need of it. */
export interface SpaceNeed {
  /** The nvme_path folders on it. */
  paths: string[];
  ranks: number[];
  neededBytes: number;
  freeBytes: number | null;
}

/** What a replay measured (raw; lib/zero/report.ts turns it into numbers and words). */
export interface ZeroRunResult {
  plan: ZeroPlan;
  ranks: RankDirs[];
  engine: NativeEngine;
  engineReason: string;
  space: SpaceNeed[];
  /** Phases run: 0 prepare, 1 warm-up, then the measured steps. */
  phasesDone: number;
  steps: number;
  drivers: DriverTimes[];
  lanes: LaneTimes[];
  /** Per rank and lane: the handle's counters over the measured steps. */
  laneResults: ZeroWorkerResult[];
  startedAt: string;
  stopped: boolean;
  kept: boolean;
}

/** A replay that failed after it started (one line; the cause first). */
export class ZeroRunFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZeroRunFailure";
  }
}

/** Each rank's folders: rank r uses `paths[r % paths.length]` (DeepSpeed's layout below). */
export function rankDirs(plan: ZeroPlan, ranks: number[]): RankDirs[] {
  const s = plan.settings;
  return ranks.map((rank) => ({
    rank,
    optimizer: s.offloadOptimizer
      ? join(
        resolve(s.optimizerPaths[rank % s.optimizerPaths.length]),
        run_folder,
        "zero_stage_3",
        "optimizer",
        `rank${rank}`,
      )
      : "",
    param: s.offloadParam
      ? join(
        resolve(s.paramPaths[rank % s.paramPaths.length]),
        run_folder,
        "zero_stage_3",
        `${s.paramDtype}params`,
        `rank${rank}`,
      )
      : "",
  }));
}

function pathOf(dirs: RankDirs, plan: ZeroPlan, file: number): string {
  const f = plan.files[file];
  return join(f.root === "optimizer" ? dirs.optimizer : dirs.param, f.name);
}

/** Checks that every nvme_path is a folder aiobench may use; one line naming the problem. */
export function checkPaths(plan: ZeroPlan): void {
  const s = plan.settings;
  const check = (path: string, what: string) => {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(path);
    } catch {
      throw new UsageError(`${what} ${path} does not exist; create it or give another folder`);
    }
    if (!st.isDirectory) throw new UsageError(`${what} ${path} is not a folder`);
    try {
      Deno.lstatSync(join(path, run_folder));
      throw new UsageError(
        `${join(path, run_folder)} already exists (a run with --keep?); remove it first`,
      );
    } catch (e) {
      if (e instanceof UsageError) throw e;
    }
  };
  if (s.offloadOptimizer) {
    if (s.optimizerPaths.length === 0) {
      throw new UsageError(
        "zero_optimization.offload_optimizer.nvme_path is missing; set it in the config or pass --nvme_path DIR",
      );
    }
    for (const p of s.optimizerPaths) check(p, "nvme_path");
  }
  if (s.offloadParam) {
    if (s.paramPaths.length === 0) {
      throw new UsageError(
        "zero_optimization.offload_param.nvme_path is missing; set it in the config or pass --nvme_path DIR",
      );
    }
    for (const p of s.paramPaths) check(p, "nvme_path");
  }
}

/** Free bytes of the filesystem holding `path` (df), or null when df can't say. */
export function freeBytes(path: string): number | null {
  try {
    const out = new Deno.Command("df", { args: ["-B1", "--output=avail", path] }).outputSync();
    const value = Number(new TextDecoder().decode(out.stdout).trim().split("\n").pop());
    return out.success && Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** What the swap files need on each filesystem, from the plan (files rounded up to 4 KiB). */
export function spaceNeeds(plan: ZeroPlan, ranks: number[]): SpaceNeed[] {
  const s = plan.settings;
  const byDevice = new Map<string, SpaceNeed>();
  const rounded = (root: "optimizer" | "param") =>
    plan.files.filter((f) => f.root === root).reduce(
      (a, f) => a + Math.ceil(f.bytes / 4096) * 4096,
      0,
    );
  const add = (path: string, rank: number, bytes: number) => {
    if (bytes === 0) return;
    const dev = String(Deno.statSync(path).dev);
    const need = byDevice.get(dev) ??
      { paths: [], ranks: [], neededBytes: 0, freeBytes: freeBytes(path) };
    byDevice.set(dev, need);
    if (!need.paths.includes(path)) need.paths.push(path);
    if (!need.ranks.includes(rank)) need.ranks.push(rank);
    need.neededBytes += bytes;
  };
  for (const rank of ranks) {
    if (s.offloadOptimizer) {
      add(s.optimizerPaths[rank % s.optimizerPaths.length], rank, rounded("optimizer"));
    }
    if (s.offloadParam) add(s.paramPaths[rank % s.paramPaths.length], rank, rounded("param"));
  }
  return [...byDevice.values()];
}

/** Refuses to start when a filesystem can't hold its swap files (one line: need and free). */
export function checkSpace(needs: SpaceNeed[]): void {
  for (const need of needs) {
    if (need.freeBytes === null || need.freeBytes >= need.neededBytes) continue;
    throw new UsageError(
      `not enough space on ${need.paths.join(", ")}: the swap files of ${
        rankList(need.ranks)
      } need ${formatBytesHuman(need.neededBytes)}, ${
        formatBytesHuman(need.freeBytes)
      } is free; free some, add an --nvme_path on another drive, or lower --params or --ranks`,
    );
  }
}

/** "rank 3", "ranks 0-7", "ranks 0, 2, 4". */
export function rankList(ranks: number[]): string {
  const sorted = [...ranks].sort((a, b) => a - b);
  if (sorted.length === 1) return `rank ${sorted[0]}`;
  const contiguous = sorted.every((r, i) => i === 0 || r === sorted[i - 1] + 1);
  return contiguous
    ? `ranks ${sorted[0]}-${sorted[sorted.length - 1]}`
    : `ranks ${sorted.join(", ")}`;
}

function chooseEngine(engine: NativeEngine | "auto"): { engine: NativeEngine; reason: string } {
  if (engine !== "auto") {
    const problem = probeEngine(engine);
    if (problem) throw new UsageError(`--engine ${engine} can't be used here (${problem.code})`);
    return { engine, reason: "chosen with --engine" };
  }
  const uring = probeEngine("io_uring");
  if (!uring) return { engine: "io_uring", reason: "io_uring is available" };
  if (!probeEngine("libaio")) {
    return { engine: "libaio", reason: `io_uring unavailable (${uring.code}); using libaio` };
  }
  return { engine: "psync", reason: `io_uring and libaio unavailable; using psync` };
}

/** Creates the rank folders (recording what it made) and checks O_DIRECT in each. */
function makeFolders(dirs: RankDirs[], made: string[]): void {
  for (const d of dirs) {
    for (const dir of [d.optimizer, d.param]) {
      if (dir === "" || made.includes(dir)) continue;
      const parts: string[] = [];
      for (let p = dir; !exists(p); p = resolve(p, "..")) parts.unshift(p);
      for (const p of parts) {
        try {
          Deno.mkdirSync(p);
          made.push(p);
        } catch (e) {
          // Another process of the job made the shared part first.
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
      }
      const probe = join(dir, ".o_direct_probe");
      try {
        AioFile.open(probe, { write: true, create: true, direct: true }).close();
      } catch (e) {
        if (e instanceof AioError && e.code === "EINVAL") {
          throw new UsageError(
            `${dir}: the filesystem refuses O_DIRECT, which DeepSpeed's aio needs; use a folder on an NVMe filesystem (ext4, xfs)`,
          );
        }
        throw e;
      } finally {
        try {
          Deno.removeSync(probe);
        } catch {
          // never created
        }
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes the swap files and the folders the run made; returns what could not be removed. */
function cleanUp(plan: ZeroPlan, dirs: RankDirs[], made: string[]): string[] {
  const failed: string[] = [];
  for (const d of dirs) {
    for (let f = 0; f < plan.files.length; f++) {
      const path = pathOf(d, plan, f);
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) failed.push(path);
      }
    }
  }
  for (const dir of [...made].reverse()) {
    try {
      Deno.removeSync(dir);
    } catch (e) {
      // A shared folder still holding another process's rank folder: that process removes it.
      if (!(e instanceof Deno.errors.NotFound || isNotEmpty(e))) failed.push(dir);
    }
  }
  return failed;
}

function isNotEmpty(e: unknown): boolean {
  return e instanceof Error && /not empty|ENOTEMPTY|os error 39/i.test(e.message);
}

/**
 * Removes the run folder under every nvme_path when it is empty (best effort): under MPI the
 * processes share it, and the last one out finds it empty.
 */
export function removeRunFolders(plan: ZeroPlan): void {
  const s = plan.settings;
  const roots = new Set(
    [...s.optimizerPaths, ...s.paramPaths].map((p) => join(resolve(p), run_folder)),
  );
  for (const root of roots) {
    const inner = [
      join(root, "zero_stage_3", "optimizer"),
      join(root, "zero_stage_3", `${s.paramDtype}params`),
      join(root, "zero_stage_3"),
      root,
    ];
    for (const dir of inner) {
      try {
        Deno.removeSync(dir);
      } catch {
        // gone already, or another process's files are still there
      }
    }
  }
}

function lanesOf(plan: ZeroPlan): LaneName[] {
  return lane_names.filter((lane) =>
    (plan.prepare.lanes[lane]?.length ?? 0) + (plan.step.lanes[lane]?.length ?? 0) > 0
  );
}

function requestsOf(plan: ZeroPlan, d: RankDirs, schedule: StepSchedule, lane: LaneName) {
  return (schedule.lanes[lane] ?? []).map((op): LaneRequest => ({
    path: pathOf(d, plan, op.file),
    bytes: plan.files[op.file].bytes,
    op: op.op,
  }));
}

/** Replays `plan` on this node's ranks; see the module doc. */
export async function runZero(
  plan: ZeroPlan,
  options: ZeroRunOptions = {},
): Promise<ZeroRunResult> {
  const log = options.log ?? (() => {});
  const ranks = options.ranks ?? [...Array(plan.settings.worldSize).keys()];
  const steps = options.steps ?? 3;
  if (!(Number.isSafeInteger(steps) && steps >= 1)) throw new RangeError("steps must be >= 1");
  if (!options.pathsChecked) checkPaths(plan);
  const space = spaceNeeds(plan, ranks);
  if (!options.pathsChecked) checkSpace(space);
  const engine = chooseEngine(options.engine ?? "auto");
  const dirs = rankDirs(plan, ranks);
  const made: string[] = [];
  const startedAt = new Date().toISOString();
  const phases = 2 + steps;
  const result: ZeroRunResult = {
    plan,
    ranks: dirs,
    engine: engine.engine,
    engineReason: engine.reason,
    space,
    phasesDone: 0,
    steps,
    drivers: [],
    lanes: [],
    laneResults: [],
    startedAt,
    stopped: false,
    kept: options.keep === true,
  };
  // On a stop, unlink at once: the swap files must not outlive a kill that may follow (Open MPI's
  // SIGKILL after SIGTERM, MPI_Abort); the clean-up at the end runs again for anything made later.
  const unlinkOnStop = () => {
    if (!options.keep) cleanUp(plan, dirs, made);
  };
  options.signal?.addEventListener("abort", unlinkOnStop);
  try {
    makeFolders(dirs, made);
    const specs = buildSpecs(plan, dirs, phases, engine.engine, options.seed ?? 0x2e70);
    const gate = new StepGate(specs.gate);
    let poolDone = false;
    const pool = runPool(specs.workers, { signal: options.signal }).finally(() => {
      poolDone = true;
    });
    const stopped = () => poolDone || options.signal?.aborted === true;
    for (let phase = 0; phase <= phases; phase++) {
      if (!await gate.arrivals(dirs.length, stopped)) break;
      await options.stepBarrier?.(phase);
      if (phase > 0) {
        result.phasesDone = phase;
        log(phaseDoneLine(phase, steps));
      }
      if (phase < phases) log(phaseStartLine(plan, phase, steps, dirs.length));
      gate.open();
    }
    const outcome = await pool;
    result.stopped = outcome.stopped;
    if (outcome.failures.length > 0 && !outcome.stopped) {
      throw new ZeroRunFailure(rootCause(outcome.failures));
    }
    for (const r of outcome.results as ZeroWorkerResult[]) {
      if (r.zeroDriver) result.drivers.push(r.zeroDriver);
      if (r.zeroLane) {
        result.lanes.push(r.zeroLane);
        result.laneResults.push(r);
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", unlinkOnStop);
    if (!options.keep) {
      for (const path of cleanUp(plan, dirs, made)) log(`warning: could not remove ${path}`);
    }
  }
  return result;
}

function rootCause(failures: WorkerFailure[]): string {
  const cause =
    failures.find((f) =>
      !f.message.startsWith("barrier released") && !f.message.startsWith("lane ")
    ) ?? failures[0];
  return cause.message;
}

function phaseStartLine(plan: ZeroPlan, phase: number, steps: number, ranks: number): string {
  if (phase === 0) {
    const bytes = plan.files.filter((f) => f.kind !== "gradient").reduce((a, f) => a + f.bytes, 0);
    return `preparing: writing ${formatBytesHuman(bytes * ranks)} of swap files (${ranks} rank(s))`;
  }
  return phase === 1 ? "warm-up step" : `step ${phase - 1} of ${steps}`;
}

function phaseDoneLine(phase: number, steps: number): string {
  if (phase === 1) return "prepared";
  return phase === 2 ? "warm-up step done" : `step ${phase - 2} of ${steps} done`;
}

function buildSpecs(
  plan: ZeroPlan,
  dirs: RankDirs[],
  phases: number,
  engine: NativeEngine,
  seed: number,
): { workers: ZeroTaskSpec[]; gate: SharedArrayBuffer } {
  const gate = StepGate.allocate();
  const workers: ZeroTaskSpec[] = [];
  const lanes = lanesOf(plan);
  const steps = phases - 1;
  for (const d of dirs) {
    const control = laneControl();
    const alignBytes = Math.max(
      ...[d.optimizer, d.param].filter((p) => p !== "").map((p) => directAlignment(p)),
    );
    const common = {
      rank: d.rank,
      control,
      gate,
      aio: plan.settings.aio,
      engine,
      alignBytes,
      seed,
    };
    workers.push({
      worker: workers.length,
      zero: {
        ...common,
        role: "driver",
        actions: [plan.prepare.actions, ...Array(steps).fill(plan.step.actions)],
      },
    });
    for (const lane of lanes) {
      const step = requestsOf(plan, d, plan.step, lane);
      workers.push({
        worker: workers.length,
        zero: {
          ...common,
          role: "lane",
          lane,
          requests: [requestsOf(plan, d, plan.prepare, lane), ...Array(steps).fill(step)],
        },
      });
    }
  }
  return { workers, gate };
}
