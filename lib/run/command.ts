/**
 * The run subcommand's glue: signals, the progress line, the report and `--json` output.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { UsageError } from "../common/size.ts";
import { EXIT } from "../common/exit.ts";
import { errLine, writeLines } from "../common/output.ts";
import { Progress } from "../common/progress.ts";
import type { BenchConfig, BenchResult } from "../common/types.ts";
import { humanReport, settingsLine } from "./report.ts";
import { source_names, sourceOf } from "../cli/option.ts";
import { runBenchmark, RunFailure, VERSION } from "./run.ts";
import { RunWatcher } from "./watch.ts";

const err = errLine;

function emit(config: BenchConfig, result: BenchResult): void {
  const human = humanReport(result);
  const toStdout = config.json !== "-";
  const first = result.results[0]?.workers[0];
  const envLines = [
    ...headerLines(result),
    settingsLine(config, {
      engine: (result.env as { engine?: string }).engine,
      ioSizeBytes: first === undefined ? undefined : first.bytes / Math.max(1, config.loops),
      opSizes: result.results.filter((r) => r.workers.length > 0).map((r) => [
        r.op,
        r.workers[0].bytes / Math.max(1, config.loops),
      ]),
      source: source_names[sourceOf({ options: new Set(), config })],
    }),
  ];
  writeLines(toStdout ? Deno.stdout : Deno.stderr, [...envLines, ...human]);
  if (config.json === "-") writeLines(Deno.stdout, [JSON.stringify(result, null, 2)]);
  else if (config.json) writeJsonFile(config.json, result);
}

/** Checks before measuring that `--json FILE` can be written (a typo shouldn't cost a run). */
export function checkJsonPath(path: string | undefined): void {
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

/** Writes the JSON document; a failure is one UsageError line. */
export function writeJsonFile(path: string, result: unknown): void {
  try {
    Deno.writeTextFileSync(path, JSON.stringify(result, null, 2) + "\n");
  } catch (e) {
    const why = e instanceof Error ? e.message.split(" (os error")[0] : String(e);
    throw new UsageError(
      `--json ${path}: can't write it (${why}); the report above is all there is`,
    );
  }
}

/** The report's first lines: version, engine and why, then the environment summary. */
export function headerLines(result: BenchResult): string[] {
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

/** The run subcommand: measures, prints the report, writes --json; returns the exit code. */
export async function runCommand(config: BenchConfig): Promise<number> {
  checkJsonPath(config.json);
  const controller = new AbortController();
  const interactive = Deno.stderr.isTerminal();
  // Interval lines go with the report: stdout, or stderr when stdout carries the JSON.
  const reportStream = config.json === "-" ? Deno.stderr : Deno.stdout;
  let progress: Progress | null = null;
  const watcher = new RunWatcher(config, {
    intervalLine: (line) =>
      progress ? progress.line(line, reportStream) : writeLines(reportStream, [line]),
  });
  if (interactive) {
    progress = new Progress(Deno.stderr, { render: () => watcher.progressText(), intervalMs: 500 });
  }
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
          watcher.phase(line);
        }
        if (config.verbose || line.startsWith("note:") || line.startsWith("warning:")) say(line);
      },
      onWorkload: (start) => watcher.workloadStarted(start),
    });
    watcher.stop();
    progress?.stop();
    emit(config, result);
    if (signalExit !== 0) return signalExit;
    return EXIT.ok;
  } catch (e) {
    watcher.stop();
    progress?.stop();
    if (e instanceof RunFailure && e.partialResult && e.partialResult.results.length > 0) {
      emit(config, e.partialResult);
    }
    throw e;
  } finally {
    watcher.stop();
    progress?.stop();
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}
