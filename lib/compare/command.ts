/**
 * `aiobench compare`: runs aiobench and the matching fio job on the same files, alternating
 * (aiobench first in odd rounds, fio first in even ones), and prints their medians side by side.
 *
 * @module
 */
import type { ParsedCommand } from "../cli/parse.ts";
import {
  compareRows,
  compareTable,
  fioCommandArgs,
  fioJobFor,
  type Sample,
  sampleFromAiobench,
  sampleFromFio,
} from "./compare.ts";
import { configToJson } from "../run/config.ts";
import { CreatedFiles, planTargets, statOrNull } from "../run/files.ts";
import { findFio, fioArgs, FioError, fioTimeoutMs, runFioArgs } from "./fio.ts";
import { chooseEngine, runBenchmark, VERSION } from "../run/run.ts";
import { writes } from "../tasklets/schedule.ts";
import { formatSize, UsageError } from "../common/size.ts";
import type { BenchConfig, Workload } from "../common/types.ts";
import { writeLines } from "../common/output.ts";

const write = writeLines;

/** The message when fio is missing (one line). */
export const FIO_MISSING =
  "fio not found; install it with: apt-get install fio (or scripts/install_fio.sh)";

/** One workload's comparison, as it goes into the JSON. */
export interface WorkloadComparison {
  workload: Workload;
  fio_command: string[];
  rounds: { aiobench: Sample; fio: Sample }[];
  rows: ReturnType<typeof compareRows>;
  /** Bytes per worker per loop, as both tools ran it. */
  io_size: number;
}

/** Runs the compare subcommand; returns the exit code. */
export async function runCompareCommand(parsed: ParsedCommand): Promise<number> {
  const config = parsed.config!;
  const rounds = parsed.compare?.rounds ?? 3;
  if (config.defaultRun) {
    throw new UsageError(
      "compare needs a target: --read_file FILE, --write_file FILE or --folder DIR",
    );
  }
  const fio = parsed.compare?.fio ?? findFio();
  if (fio === null) {
    write(Deno.stderr, [FIO_MISSING]);
    return 1;
  }
  if (!statOrNull(fio)?.isFile) throw new UsageError(`--fio ${fio} is not a file; give fio's path`);
  const engine = chooseEngine(config).engine;
  const toStdout = config.json !== "-";
  const say = (line: string) => write(Deno.stderr, [line]);
  const mine = new CreatedFiles();
  const comparisons: WorkloadComparison[] = [];
  let fioVersion: string | null = null;
  try {
    for (const workload of config.workloads) {
      const c = await compareWorkload(config, workload, { fio, engine, rounds, mine, say });
      fioVersion = c.fioVersion ?? fioVersion;
      comparisons.push(c.comparison);
      const lines = [
        `compare ${workload}: bs ${formatSize(config.blockSizeBytes)}, qd ${config.queueDepth}, ` +
        `io_size ${formatSize(c.comparison.io_size)}, ` +
        `threads ${config.threads}, engine ${engine}, ${rounds} round(s), median of each ` +
        `(aiobench ${VERSION}, ${fioVersion ?? "fio"})`,
        ...compareTable(c.comparison.rows),
        "",
      ];
      write(toStdout ? Deno.stdout : Deno.stderr, lines);
    }
  } finally {
    if (!config.keep) {
      for (const path of mine.removeAll()) say(`warning: could not remove ${path}`);
    }
  }
  const doc = {
    schema: "aiobench-compare/1",
    version: VERSION,
    fio_version: fioVersion,
    engine,
    config: configToJson(config),
    comparisons,
  };
  if (config.json === "-") write(Deno.stdout, [JSON.stringify(doc, null, 2)]);
  else if (config.json) Deno.writeTextFileSync(config.json, JSON.stringify(doc, null, 2) + "\n");
  return 0;
}

interface CompareContext {
  fio: string;
  engine: "io_uring" | "libaio" | "psync";
  rounds: number;
  /** Files compare created (removed at the end unless --keep). */
  mine: CreatedFiles;
  say: (line: string) => void;
}

async function compareWorkload(
  config: BenchConfig,
  workload: Workload,
  ctx: CompareContext,
): Promise<{ comparison: WorkloadComparison; fioVersion: string | null }> {
  const base: BenchConfig = { ...config, workloads: [workload], keep: true, json: undefined };
  const targets = planTargets(base, workload, ctx.mine);
  const paths = targets.map((t) => t.path);
  for (const p of paths) if (!statOrNull(p)) ctx.mine.add(p);
  // Later rounds rewrite the files this command created; anything else still needs --force.
  const round: BenchConfig = {
    ...base,
    force: config.force || paths.every((p) => ctx.mine.has(p)),
  };
  const job = fioJobFor(round, {
    workload,
    paths,
    ioSizeBytes: targets[0].ioSizeBytes,
    engine: ctx.engine,
  });
  const args = fioCommandArgs(fioArgs(job.options), job.extraArgs, job.laneOffsets);
  const samples: { aiobench: Sample; fio: Sample }[] = [];
  let fioVersion: string | null = null;
  // An untimed write first: both sides then overwrite allocated blocks (a fresh file's first
  // write also pays for the filesystem's allocation, which would favour whoever goes second).
  if (writes(workload)) await runAiobench(round);
  for (let i = 0; i < ctx.rounds; i++) {
    // aiobench goes first in round 1: it creates a missing read file.
    const order = i % 2 === 0 ? ["aiobench", "fio"] : ["fio", "aiobench"];
    let a: Sample | undefined, f: Sample | undefined;
    for (const side of order) {
      if (side === "aiobench") a = await runAiobench(round);
      else {
        const r = await runFioOnce(ctx.fio, args, round);
        fioVersion = r.version;
        f = r.sample;
      }
    }
    samples.push({ aiobench: a!, fio: f! });
    ctx.say(
      `round ${i + 1}/${ctx.rounds} ${workload}: aiobench ${a!.gibS.toFixed(3)} GiB/s ` +
        `${Math.round(a!.iops)} IOPS, fio ${f!.gibS.toFixed(3)} GiB/s ${Math.round(f!.iops)} IOPS`,
    );
  }
  const rows = compareRows(samples.map((s) => s.aiobench), samples.map((s) => s.fio));
  return {
    comparison: {
      workload,
      fio_command: [ctx.fio, ...args],
      rounds: samples,
      rows,
      io_size: targets[0].ioSizeBytes,
    },
    fioVersion,
  };
}

async function runAiobench(config: BenchConfig): Promise<Sample> {
  const result = await runBenchmark(config, {});
  const r = result.results[0];
  if (!r) throw new UsageError(`compare: aiobench measured nothing for ${config.workloads[0]}`);
  return sampleFromAiobench(r);
}

async function runFioOnce(
  fio: string,
  args: string[],
  config: BenchConfig,
): Promise<{ sample: Sample; version: string | null }> {
  let r;
  try {
    r = await runFioArgs(fio, args, fioTimeoutMs(config.runtimeS, config.rampTimeS));
  } catch (e) {
    if (!(e instanceof FioError)) throw e;
    const writing = writes(config.workloads[0]) ? " (writing)" : "";
    throw new UsageError(`${e.message.split("\n")[0]}${writing}`);
  }
  return { sample: sampleFromFio(r), version: r.fioVersion };
}
