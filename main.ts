/**
 * The aiobench command: argv → subcommand → exit code. All logic lives in lib/.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { NativeLoadError } from "./ffi/native.ts";
import { helpText, parseArgs, UsageError } from "./lib/cli.ts";
import { errLine, writeLines } from "./lib/output.ts";
import { Progress } from "./lib/progress.ts";
import { runDoctor } from "./lib/doctor_cli.ts";
import { humanReport } from "./lib/report.ts";
import { isUserFacing, runBenchmark, RunFailure, VERSION } from "./lib/run.ts";
import type { BenchConfig, BenchResult } from "./lib/types.ts";

const err = errLine;

/** Exit codes: 0 ok, 1 run failed, 2 bad input, 130/143 stopped by SIGINT/SIGTERM. */
export const EXIT = { ok: 0, failed: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

function emit(config: BenchConfig, result: BenchResult): void {
  const human = humanReport(result);
  const toStdout = config.json !== "-";
  const envLines = headerLines(result);
  writeLines(toStdout ? Deno.stdout : Deno.stderr, [...envLines, ...human]);
  if (config.json === "-") writeLines(Deno.stdout, [JSON.stringify(result, null, 2)]);
  else if (config.json) writeJsonFile(config.json, result);
}

/** Checks before measuring that `--json FILE` can be written (a typo shouldn't cost a run). */
function checkJsonPath(path: string | undefined): void {
  if (path === undefined || path === "-") return;
  const dir = dirname(resolve(path));
  let isDir = false;
  try {
    isDir = Deno.statSync(dir).isDirectory;
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new UsageError(`--json ${path}: directory ${dir} does not exist; create it first`);
  }
  try {
    if (Deno.statSync(path).isDirectory) {
      throw new UsageError(`--json ${path} is a directory; give a file name`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
}

function writeJsonFile(path: string, result: unknown): void {
  try {
    Deno.writeTextFileSync(path, JSON.stringify(result, null, 2) + "\n");
  } catch (e) {
    const why = e instanceof Error ? e.message.split(" (os error")[0] : String(e);
    throw new UsageError(
      `--json ${path}: can't write it (${why}); the report above is all there is`,
    );
  }
}

function headerLines(result: BenchResult): string[] {
  const env = result.env as {
    engine?: string;
    engine_reason?: string;
    o_direct?: boolean;
    summary?: string[];
  };
  const lines: string[] = [];
  const buffered = env.o_direct === false ? ", buffered (no O_DIRECT)" : "";
  if (env.engine) {
    lines.push(`aiobench ${VERSION}: engine ${env.engine} (${env.engine_reason})${buffered}`);
  }
  return [...lines, ...(env.summary ?? [])];
}

/** Seconds a time-based run will take (warm-up, ramp and timed loops per workload), else undefined. */
function expectedSeconds(config: BenchConfig): number | undefined {
  if (!config.timeBased || config.runtimeS === undefined) return undefined;
  const perWorkload = config.rampTimeS + (config.warmupLoops + config.loops) * config.runtimeS;
  return perWorkload * config.workloads.length;
}

async function runCommand(config: BenchConfig): Promise<number> {
  checkJsonPath(config.json);
  const controller = new AbortController();
  const interactive = Deno.stderr.isTerminal();
  const progress = interactive
    ? new Progress(Deno.stderr, { totalSeconds: expectedSeconds(config) })
    : null;
  const say = (line: string) => progress ? progress.line(line) : err(line);
  let signalExit = 0;
  const onSignal = (code: number) => () => {
    if (signalExit !== 0) return;
    signalExit = code;
    say(
      `aiobench: stopping (${
        code === EXIT.sigint ? "SIGINT" : "SIGTERM"
      }): draining IO, cleaning up`,
    );
    controller.abort();
  };
  const sigint = onSignal(EXIT.sigint);
  const sigterm = onSignal(EXIT.sigterm);
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  try {
    const result = await runBenchmark(config, {
      signal: controller.signal,
      log: (line) => {
        if (/^(creating |(write|read|randread|randwrite|randrw): )/.test(line)) {
          progress?.phase(line);
        }
        if (config.verbose || line.startsWith("note:") || line.startsWith("warning:")) say(line);
      },
    });
    progress?.stop();
    emit(config, result);
    if (signalExit !== 0) return signalExit;
    return EXIT.ok;
  } catch (e) {
    progress?.stop();
    if (e instanceof RunFailure && e.partialResult && e.partialResult.results.length > 0) {
      emit(config, e.partialResult);
    }
    throw e;
  } finally {
    progress?.stop();
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}

/** Runs aiobench with `argv`; returns the exit code (never throws for user errors). */
export async function main(argv: string[]): Promise<number> {
  try {
    const parsed = parseArgs(argv);
    switch (parsed.command) {
      case "help":
        writeLines(Deno.stdout, [helpText(parsed.helpTopic)]);
        return EXIT.ok;
      case "version":
        writeLines(Deno.stdout, [`aiobench ${VERSION}`]);
        return EXIT.ok;
      case "doctor":
        return await runDoctor(parsed);
      case "sweep": {
        const { runSweepCommand } = await import("./lib/sweep_cli.ts");
        return await runSweepCommand(parsed);
      }
      case "compare": {
        const { runCompareCommand } = await import("./lib/compare_cli.ts");
        return await runCompareCommand(parsed);
      }
      default:
        return await runCommand(parsed.config!);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`aiobench: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof NativeLoadError) {
      err(`aiobench: ${e.message}`);
      return EXIT.failed;
    }
    if (isUserFacing(e)) {
      err(`aiobench: ${e.message.split("\n")[0]}`);
      return EXIT.failed;
    }
    err(`aiobench: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
