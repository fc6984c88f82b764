/**
 * `aiobench sweep`: runs the grid with progress on stderr, stops cleanly on Ctrl-C, prints the
 * ranking and the best point, and writes --json, --csv, --report and --config_out.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { ParsedCommand } from "../cli/parse.ts";
import { expandSweep, gridLines, type SweepAxes } from "./grid.ts";
import type { SweepOptions } from "./options.ts";
import { formatBytesHuman, UsageError } from "../common/size.ts";
import { sweepCsv } from "./csv.ts";
import { configOutJson, summaryLines, type SweepDocument, sweepDocument } from "./rank.ts";
import { runSweep } from "./run.ts";
import { renderSweepReport } from "./report.ts";
import { errLine, writeLines } from "../common/output.ts";
import type { BenchConfig } from "../common/types.ts";

const exit_ok = 0;
const exit_failed = 1;
const exit_sigint = 130;
const exit_sigterm = 143;

const err = errLine;

/** The output files, each with its flag, so a typo fails before an hour of measuring. */
function outputFiles(base: BenchConfig, options: SweepOptions): Array<[string, string]> {
  const files: Array<[string, string | undefined]> = [
    ["--json", base.json === "-" ? undefined : base.json],
    ["--csv", options.csv],
    ["--report", options.report],
    ["--config_out", options.configOut],
    ["--resume", options.resume],
  ];
  return files.filter((f): f is [string, string] => f[1] !== undefined);
}

/** Checks every output file's directory before measuring; two flags may not share a file. */
export function checkOutputs(base: BenchConfig, options: SweepOptions): void {
  const seen = new Map<string, string>();
  for (const [flag, path] of outputFiles(base, options)) {
    const full = resolve(path);
    const other = seen.get(full);
    if (other !== undefined) {
      throw new UsageError(`${flag} ${path} is also given to ${other}; give each its own file`);
    }
    seen.set(full, flag);
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(dirname(full));
    } catch {
      throw new UsageError(`${flag} ${path}: its directory does not exist; create it first`);
    }
    if (!st.isDirectory) throw new UsageError(`${flag} ${path}: its directory is not a directory`);
  }
}

function targetText(base: BenchConfig): string {
  if (base.readFile) return `reading ${base.readFile}`;
  if (base.writeFile) return `${base.writeFile}.<worker>`;
  if (base.folders.length > 0) return base.folders.join(", ");
  return `${base.defaultDir ?? Deno.cwd()} (temporary file)`;
}

/** The sweep's first line: points, loops, workers and sizes, targets, objective. */
export function headerLine(base: BenchConfig, count: number, options: SweepOptions): string {
  return headerLines(base, count, options)[0];
}

/** The sweep's header: that line, then the grid (each axis, its values, the point count). */
export function headerLines(
  base: BenchConfig,
  count: number,
  options: SweepOptions,
  axes?: SweepAxes,
): string[] {
  const size = base.ioSizeBytes === undefined ? "the file's size" : formatBytesHuman(
    base.ioSizeBytes,
  );
  return [
    `aiobench sweep: ${count} configs, each ${base.warmupLoops} warm-up + ${base.loops} ` +
    `timed loop(s) of ${base.workloads.join("+")}; ${base.threads} worker(s) x ${size} on ` +
    `${targetText(base)}; objective ${options.objective}`,
    ...(axes === undefined ? [] : gridLines(axes)),
  ];
}

/** Writes --json, --csv, --report and --config_out; returns what was written. */
export function writeOutputs(
  doc: SweepDocument,
  base: BenchConfig,
  options: SweepOptions,
): string[] {
  const written: string[] = [];
  const put = (flag: string, path: string | undefined, text: () => string) => {
    if (path === undefined) return;
    try {
      Deno.writeTextFileSync(path, text());
      written.push(`${flag.slice(2)}: ${path}`);
    } catch (e) {
      err(`aiobench: ${flag} ${path}: can't write it (${e instanceof Error ? e.message : e})`);
    }
  };
  if (base.json !== undefined && base.json !== "-") {
    put("--json", base.json, () => JSON.stringify(doc, null, 2) + "\n");
  }
  put("--csv", options.csv, () => sweepCsv(doc));
  put("--report", options.report, () => renderSweepReport(doc));
  if (doc.best !== null) {
    put("--config_out", options.configOut, () => configOutJson(doc) + "\n");
  } else if (options.configOut !== undefined) {
    err(`aiobench: --config_out ${options.configOut} not written: no config succeeded`);
  }
  return written;
}

/** Runs `aiobench sweep`; returns the exit code. */
export async function runSweepCommand(parsed: ParsedCommand): Promise<number> {
  const base = parsed.config!;
  const options = parsed.sweepOptions!;
  const axes = parsed.sweep!;
  const configs = expandSweep(base, axes);
  checkOutputs(base, options);
  const controller = new AbortController();
  let signal_exit = 0;
  const onSignal = (code: number, name: string) => () => {
    if (signal_exit !== 0) return;
    signal_exit = code;
    err(`aiobench: stopping (${name}): draining IO, reporting what was measured`);
    controller.abort();
  };
  const sigint = onSignal(exit_sigint, "SIGINT");
  const sigterm = onSignal(exit_sigterm, "SIGTERM");
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  const notes = new Set<string>();
  try {
    const outcome = await runSweep(configs, {
      objective: options.objective,
      resume: options.resume,
      signal: controller.signal,
      progress: err,
      onStart: () => writeLines(Deno.stderr, headerLines(base, configs.length, options, axes)),
      log: (line) => {
        const note = line.startsWith("note:") || line.startsWith("warning:");
        if (line.startsWith("creating ") || base.verbose) err(line);
        else if (note && !notes.has(line)) err(line);
        if (note) notes.add(line);
      },
    });
    const doc = sweepDocument(outcome, options.objective);
    const summary = summaryLines(doc);
    const written = writeOutputs(doc, base, options);
    const out = base.json === "-" ? Deno.stderr : Deno.stdout;
    writeLines(out, [...summary, ...written.map((w) => `wrote ${w}`)]);
    if (base.json === "-") writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
    if (signal_exit !== 0) return signal_exit;
    return doc.best === null ? exit_failed : exit_ok;
  } finally {
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}
