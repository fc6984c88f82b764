/**
 * `aiobench sweep` under MPI: every point of the grid runs on all ranks at once (each point one
 * unit of the job), so the sweep tunes what the ranks see together: a shared file system, or a
 * full node. Every rank gets every point's merged result, so all of them take the same path
 * through the grid; rank 0 alone prints and writes the outputs.
 *
 * @module
 */
import type { ParsedCommand } from "../cli/parse.ts";
import { EXIT } from "../common/exit.ts";
import { errLine, writeLines } from "../common/output.ts";
import { UsageError } from "../common/size.ts";
import type { BenchConfig, BenchResult } from "../common/types.ts";
import { RunFailure } from "../run/run.ts";
import { checkOutputs, headerLines, writeOutputs } from "../sweep/command.ts";
import { expandSweep } from "../sweep/grid.ts";
import { summaryLines, sweepDocument } from "../sweep/rank.ts";
import { runSweep } from "../sweep/run.ts";
import { failureLine, leaveWithFailure, runAcrossRanks, type UnitOutcome } from "./run.ts";
import { mpiLine } from "./report.ts";
import type { MpiWorld } from "./world.ts";
import type { StopSignal } from "./run.ts";

const err = errLine;

/** Options of `runMpiSweep`. */
export interface MpiSweepOptions {
  signal: AbortSignal;
  stopSignal: () => StopSignal | undefined;
}

/** The sweep on every rank; returns the job's exit code (the same on every rank). */
export async function runMpiSweep(
  world: MpiWorld,
  parsed: ParsedCommand,
  options: MpiSweepOptions,
): Promise<number> {
  const root = world.rank === 0;
  const base = parsed.config!;
  const sweepOptions = parsed.sweepOptions!;
  if (sweepOptions.resume !== undefined) {
    throw new UsageError("--resume is not supported across MPI ranks yet; run the sweep again");
  }
  // Every rank's files carry its rank, the ones prepared for the whole sweep included.
  const configs = expandSweep(base, parsed.sweep!).map((c) => ({ ...c, rank: world.rank }));
  const jobEnd = new AbortController();
  const sweepSignal = AbortSignal.any([options.signal, jobEnd.signal]);
  let ended: UnitOutcome<unknown> | null = null;
  let stoppedElsewhere: UnitOutcome<unknown>["stopped"] = null;
  let lastMerged: BenchResult | null = null;
  const runner = async (config: BenchConfig) => {
    const { unit, merged } = await runAcrossRanks(world, config, {
      signal: options.signal,
      stopSignal: options.stopSignal,
      log: (line) => {
        if (root && (line.startsWith("note:") || line.startsWith("warning:"))) err(line);
      },
    });
    if (unit.ending) {
      ended = unit;
      jobEnd.abort();
    }
    if (unit.stopped) {
      stoppedElsewhere = unit.stopped;
      jobEnd.abort();
    }
    if (unit.failure) throw new RunFailure(failureLine(unit.failure));
    if (!merged) throw new RunFailure("no rank measured anything");
    lastMerged = merged;
    return merged;
  };
  try {
    if (root) checkOutputs(base, sweepOptions);
    const outcome = await runSweep(configs, {
      objective: sweepOptions.objective,
      signal: sweepSignal,
      progress: root ? err : undefined,
      onStart: () => {
        if (root) {
          for (const line of headerLines(base, configs.length, sweepOptions, parsed.sweep!)) {
            err(line);
          }
        }
      },
      runner,
      log: (line) => {
        if (root && line.startsWith("warning:")) err(line);
      },
    });
    const doc = sweepDocument(outcome, sweepOptions.objective);
    const merged = lastMerged as BenchResult | null;
    if (merged?.mpi) doc.mpi = merged.mpi;
    const code = exitCode(doc.best !== null, ended, stoppedElsewhere);
    if (!root) return code;
    const lines = merged ? [mpiLine(merged), ...summaryLines(doc)] : summaryLines(doc);
    const written = writeOutputs(doc, base, sweepOptions);
    writeLines(base.json === "-" ? Deno.stderr : Deno.stdout, [
      ...lines,
      ...written.map((w) => `wrote ${w}`),
    ]);
    if (base.json === "-") writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
    if (ended) err(`aiobench: ${failureLine((ended as UnitOutcome<unknown>).failure!)}`);
    return code;
  } catch (e) {
    // A rank that can't take part any more (its outputs, its files) says so in a last unit.
    if (ended) throw e;
    const last = await leaveWithFailure(world, e);
    if (root && last.failure) err(`aiobench: ${failureLine(last.failure)}`);
    return e instanceof UsageError ? EXIT.usage : EXIT.failed;
  }
}

function exitCode(
  best: boolean,
  ended: UnitOutcome<unknown> | null,
  stopped: UnitOutcome<unknown>["stopped"],
): number {
  if (ended) return EXIT.failed;
  if (stopped) return stopped.signal === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
  return best ? EXIT.ok : EXIT.failed;
}
