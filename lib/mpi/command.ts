/**
 * `run`, `sweep` and `doctor` when aiobench runs as one of many MPI ranks: every rank measures,
 * rank 0 alone prints the report and writes `--json`, and every rank exits with the job's code.
 *
 * @module
 */
import type { ParsedCommand } from "../cli/parse.ts";
import { EXIT } from "../common/exit.ts";
import { errLine, writeLines } from "../common/output.ts";
import type { BenchConfig, BenchResult } from "../common/types.ts";
import { checkJsonPath, headerLines, writeJsonFile } from "../run/command.ts";
import { humanReport } from "../run/report.ts";
import { mpiLine, ranksReport } from "./report.ts";
import { failureLine, runAcrossRanks, type StopSignal, type UnitOutcome } from "./run.ts";
import { detectLaunch } from "./launch.ts";
import { MpiSetupError, MpiWorld, RankStatus } from "./world.ts";

const err = errLine;

/** The exit code every rank returns for a unit: failed 1, stopped 130/143, else 0. */
export function unitExitCode(unit: UnitOutcome<unknown>): number {
  if (unit.failure) return EXIT.failed;
  if (unit.stopped) return unit.stopped.signal === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
  return unit.worst === RankStatus.done ? EXIT.ok : EXIT.failed;
}

/** SIGINT/SIGTERM listeners for one rank: the first signal aborts; rank 0 says so. */
function listenForSignals(world: MpiWorld): {
  signal: AbortSignal;
  which: () => StopSignal | undefined;
  remove: () => void;
} {
  const controller = new AbortController();
  let which: StopSignal | undefined;
  const on = (name: StopSignal) => () => {
    if (which) return;
    which = name;
    if (world.rank === 0) err(`aiobench: stopping (${name}): draining IO, cleaning up`);
    controller.abort();
  };
  const sigint = on("SIGINT");
  const sigterm = on("SIGTERM");
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  return {
    signal: controller.signal,
    which: () => which,
    remove: () => {
      Deno.removeSignalListener("SIGINT", sigint);
      Deno.removeSignalListener("SIGTERM", sigterm);
    },
  };
}

function emit(config: BenchConfig, doc: BenchResult): void {
  const human = [...headerLines(doc), mpiLine(doc), ...humanReport(doc), ...ranksReport(doc)];
  writeLines(config.json === "-" ? Deno.stderr : Deno.stdout, human);
  if (config.json === "-") writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
  else if (config.json) writeJsonFile(config.json, doc);
}

/** The run subcommand on every rank; rank 0 reports. Returns the job's exit code. */
export async function runMpiRun(world: MpiWorld, config: BenchConfig): Promise<number> {
  const signals = listenForSignals(world);
  const root = world.rank === 0;
  try {
    const { unit, merged } = await runAcrossRanks(world, config, {
      signal: signals.signal,
      stopSignal: signals.which,
      before: () => {
        if (root) checkJsonPath(config.json);
      },
      log: (line) => {
        const note = line.startsWith("note:") || line.startsWith("warning:");
        if (root && (config.verbose || note)) err(line);
        else if (config.verbose) err(`rank ${world.rank}: ${line}`);
      },
    });
    if (!root) return unitExitCode(unit);
    if (merged && merged.results.length > 0) emit(config, merged);
    if (unit.failure) err(`aiobench: ${failureLine(unit.failure)}`);
    else if (unit.stopped && signals.which() === undefined) {
      const s = unit.stopped;
      err(
        `aiobench: ${MpiWorld.label(s.rank, s.host)} was stopped (${s.signal}); so were the rest`,
      );
    }
    return unitExitCode(unit);
  } finally {
    signals.remove();
  }
}

/** Runs `parsed` across the ranks of this MPI job; every rank returns the same exit code. */
export async function runUnderMpi(parsed: ParsedCommand): Promise<number> {
  let world: MpiWorld;
  try {
    world = await MpiWorld.open();
  } catch (e) {
    if (!(e instanceof MpiSetupError)) throw e;
    const rank = detectLaunch(Deno.env.toObject())?.rank;
    err(`aiobench: ${rank === undefined ? "" : `rank ${rank}: `}${e.message}`);
    return EXIT.failed;
  }
  try {
    switch (parsed.command) {
      case "doctor": {
        const { runMpiDoctor } = await import("./doctor.ts");
        return await runMpiDoctor(world, parsed);
      }
      case "sweep": {
        const { runMpiSweep } = await import("./sweep.ts");
        const signals = listenForSignals(world);
        try {
          return await runMpiSweep(world, parsed, {
            signal: signals.signal,
            stopSignal: signals.which,
          });
        } finally {
          signals.remove();
        }
      }
      default:
        return await runMpiRun(world, parsed.config!);
    }
  } finally {
    await world.close();
  }
}
