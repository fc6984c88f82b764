/**
 * Work done by every rank together: `acrossRanks` runs one unit of the job on this rank (a run,
 * a sweep point, a doctor check) and brings back every rank's report; `runAcrossRanks` is a
 * benchmark run in such a unit, with the global barrier composed into the tasklets' barrier and
 * every rank's per-worker results merged into one document (lib/mpi/report.ts).
 *
 * A rank's failure becomes its status in the unit: it tells the others at once (a stop notice),
 * they stop their IO, every rank finishes the unit, and the reports say which rank failed and
 * why. Errors that a rank hits only because it was stopped are not counted as its own.
 *
 * @module
 */
import { isUserFacing, type RankHooks, runBenchmark, type RunOptions } from "../run/run.ts";
import type { BenchConfig, BenchResult, WorkerResult, Workload } from "../common/types.ts";
import { MpiWorld, RankStatus, type RankStatusCode } from "./world.ts";
import { mergeRanks } from "./report.ts";

/** The signals a rank stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** What one rank brings to the end of a unit. */
export interface RankReport<T> {
  rank: number;
  host: string;
  status: RankStatusCode;
  /** This rank's own failure, in one line. */
  error?: string;
  /** The signal that stopped this rank. */
  signal?: StopSignal;
  /** The rank leaves the job after this unit (it failed outside any unit's work). */
  leaving?: boolean;
  /** What the work returned (or measured before it stopped). */
  value?: T;
}

/** Every rank's report of one unit, and what they add up to. */
export interface UnitOutcome<T> {
  reports: RankReport<T>[];
  /** The worst status of any rank. */
  worst: RankStatusCode;
  /** The lowest rank that failed on its own, with the other ranks that did. */
  failure: { rank: number; host: string; error: string; others: number[] } | null;
  /** The lowest rank stopped by a signal. */
  stopped: { rank: number; host: string; signal: StopSignal } | null;
  /** Some rank leaves the job: no further unit may begin. */
  ending: boolean;
}

/** What the work of a unit gets. */
export interface UnitContext {
  /** Aborted when this rank is stopped (a signal) or another rank stops or fails. */
  signal: AbortSignal;
  /** The global step for `runPool`: throws when another rank is no longer running. */
  globalStep: () => Promise<void>;
  /** Set by the work to hand partial results out of a failure. */
  partial?: unknown;
}

/** Options of `acrossRanks`. */
export interface UnitOptions {
  /** Aborted on a signal to this rank. */
  signal?: AbortSignal;
  /** Which signal it was (asked once the unit is over). */
  stopSignal?: () => StopSignal | undefined;
}

/** One line for an error: the message of a user-facing one, else marked internal. */
export function errorLine(e: unknown): string {
  if (isUserFacing(e)) return e.message.split("\n")[0];
  const text = e instanceof Error ? e.message : String(e);
  return `internal error: ${text.split("\n")[0]}`;
}

/** Why a step refused to go on: another rank's status. */
function stepRefusal(worst: RankStatusCode): string {
  if (worst === RankStatus.failed) return "another rank failed";
  if (worst === RankStatus.stopped) return "another rank was stopped";
  return "another rank finished its loops first (every rank must run the same workloads and loops)";
}

/**
 * Runs `work` as one unit on this rank; every rank must call it for the same units in the same
 * order. Returns every rank's report (on every rank).
 */
export async function acrossRanks<T>(
  world: MpiWorld,
  work: (ctx: UnitContext) => Promise<T>,
  options: UnitOptions = {},
): Promise<UnitOutcome<T>> {
  world.beginUnit();
  const controller = new AbortController();
  const offRemote = world.onRemoteStop(() => controller.abort());
  // A rank past the deadline ends the job: stopping the work first unlinks this rank's files.
  const offAbort = world.onAbort(() => controller.abort());
  const onSignal = () => controller.abort();
  options.signal?.addEventListener("abort", onSignal);
  if (options.signal?.aborted) controller.abort();
  const ctx: UnitContext = {
    signal: controller.signal,
    globalStep: async () => {
      const { worst } = await world.step(RankStatus.running);
      if (worst !== RankStatus.running) throw new Error(stepRefusal(worst));
    },
  };
  const report: RankReport<T> = { rank: world.rank, host: world.host, status: RankStatus.done };
  try {
    report.value = await work(ctx);
  } catch (e) {
    report.value = ctx.partial as T | undefined;
    // Once stopped (here or elsewhere), what breaks is a consequence, not this rank's failure.
    if (!controller.signal.aborted) {
      report.status = RankStatus.failed;
      report.error = errorLine(e);
    }
  } finally {
    offRemote();
    offAbort();
    options.signal?.removeEventListener("abort", onSignal);
  }
  const signal = options.signal?.aborted ? options.stopSignal?.() ?? "SIGINT" : undefined;
  if (signal && report.status !== RankStatus.failed) {
    report.status = RankStatus.stopped;
    report.signal = signal;
  }
  if (report.status !== RankStatus.done) world.announce(report.status);
  return await endUnit(world, report);
}

/**
 * Ends this rank's part in the job with a failure that happened outside any unit's work (e.g.
 * preparing a sweep's files): the other ranks see it in their current unit and stop.
 */
export async function leaveWithFailure(
  world: MpiWorld,
  error: unknown,
): Promise<UnitOutcome<unknown>> {
  world.beginUnit();
  const report: RankReport<unknown> = {
    rank: world.rank,
    host: world.host,
    status: RankStatus.failed,
    error: errorLine(error),
    leaving: true,
  };
  world.announce(RankStatus.failed);
  return await endUnit(world, report);
}

async function endUnit<T>(world: MpiWorld, report: RankReport<T>): Promise<UnitOutcome<T>> {
  const worst = await world.finish(report.status);
  const reports = await world.allgather(report);
  const failed = reports.filter((r) => r.status === RankStatus.failed && r.error !== undefined);
  const stopped = reports.find((r) => r.status === RankStatus.stopped && r.signal);
  return {
    reports,
    worst,
    failure: failed.length === 0 ? null : {
      rank: failed[0].rank,
      host: failed[0].host,
      error: failed[0].error!,
      others: failed.slice(1).map((r) => r.rank),
    },
    stopped: stopped ? { rank: stopped.rank, host: stopped.host, signal: stopped.signal! } : null,
    ending: reports.some((r) => r.leaving),
  };
}

/** The one line that names a failed rank: `rank 1 (host): error`, and the others that failed. */
export function failureLine(failure: NonNullable<UnitOutcome<unknown>["failure"]>): string {
  const others = failure.others.length === 0
    ? ""
    : ` (rank${failure.others.length > 1 ? "s" : ""} ${failure.others.join(", ")} failed too)`;
  return `${MpiWorld.label(failure.rank, failure.host)}: ${failure.error}${others}`;
}

/** One rank's run: its own document and its workers' raw results per workload. */
export interface RankRun {
  result: BenchResult | null;
  workloads: Array<{ op: Workload; workers: WorkerResult[] }>;
}

/** A run across every rank, merged. */
export interface RanksRun {
  unit: UnitOutcome<RankRun>;
  /** One document for the whole job (on every rank); null when no rank measured anything. */
  merged: BenchResult | null;
}

/** Options of `runAcrossRanks`. */
export interface RanksRunOptions extends UnitOptions {
  log?: (line: string) => void;
  /** Checks this rank makes before it measures (a throw fails the rank). */
  before?: () => void;
  /** Runs this rank's part (default `runBenchmark`). */
  runner?: (config: BenchConfig, options: RunOptions & RankHooks) => Promise<BenchResult>;
}

/**
 * Runs `config` on every rank at once: this rank's files carry its rank, its barriers are global,
 * and every rank's results come back merged (ds_aio's rules across ranks: bytes summed, latency
 * the slowest worker of any rank).
 */
export async function runAcrossRanks(
  world: MpiWorld,
  config: BenchConfig,
  options: RanksRunOptions = {},
): Promise<RanksRun> {
  const runner = options.runner ?? runBenchmark;
  const rankConfig: BenchConfig = { ...config, rank: world.rank, json: undefined };
  const unit = await acrossRanks<RankRun>(world, async (ctx) => {
    const run: RankRun = { result: null, workloads: [] };
    ctx.partial = run;
    options.before?.();
    run.result = await runner(rankConfig, {
      log: options.log,
      signal: ctx.signal,
      globalStep: ctx.globalStep,
      // The workers wait while the main thread waits for the other ranks: bound them after it.
      barrierTimeoutMs: world.timeoutMs + 60_000,
      onWorkers: (op, workers) => run.workloads.push({ op, workers }),
    }).catch((e) => {
      const partial = (e as { partialResult?: BenchResult }).partialResult;
      if (partial) run.result = partial;
      throw e;
    });
    return run;
  }, options);
  return { unit, merged: mergeRanks(unit, world, config) };
}
