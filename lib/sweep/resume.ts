/**
 * `--resume FILE`: the sweep's record file (a header with the settings every point shares, then
 * one JSON line per finished point), so a stopped sweep goes on where it was.
 *
 * @module
 */
import { UsageError } from "../common/size.ts";
import type { BenchConfig } from "../common/types.ts";
import { VERSION } from "../run/run.ts";
import { errorText, type SweepRecord } from "./record.ts";

const RESUME_SCHEMA = "aiobench-sweep-resume/1";

/** The settings every record of one sweep shares; a resume file must match them. */
export function sweepSettings(base: BenchConfig): Record<string, unknown> {
  return {
    workloads: base.workloads,
    read_file: base.readFile ?? null,
    write_file: base.writeFile ?? null,
    folders: base.folders,
    default_dir: base.defaultRun ? base.defaultDir ?? null : null,
    io_size_bytes: base.ioSizeBytes ?? null,
    threads: base.threads,
    loops: base.loops,
    warmup_loops: base.warmupLoops,
    engine: base.engine,
    buffered: base.buffered,
    mlock: base.mlock,
    fixedbufs: base.fixedbufs,
    registerfiles: base.registerfiles,
    sqthread_poll: base.sqthreadPoll,
    hipri: base.hipri,
    nonvectored: base.nonvectored,
    latency: base.latency,
    runtime_s: base.runtimeS ?? null,
    time_based: base.timeBased,
    ramp_time_s: base.rampTimeS,
    use_gds: base.useGds,
  };
}

/** Points already recorded in a `--resume` file; appends new ones as they finish. */
export class ResumeLog {
  readonly path: string;
  /** Recorded points by key (the last record of a key wins). */
  readonly done: Map<string, SweepRecord>;

  private constructor(path: string, done: Map<string, SweepRecord>) {
    this.path = path;
    this.done = done;
  }

  /** Opens (or creates) `path`; a file made with other settings is a UsageError. */
  static open(path: string, settings: Record<string, unknown>): ResumeLog {
    let text: string | null = null;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new UsageError(`--resume ${path}: can't read it (${errorText(e)})`);
      }
    }
    if (text === null || text.trim() === "") {
      const header = { schema: RESUME_SCHEMA, version: VERSION, settings };
      writeText(path, JSON.stringify(header) + "\n", "--resume");
      return new ResumeLog(path, new Map());
    }
    const { records, torn } = parseResume(text, path, settings);
    if (torn) {
      const lines = [JSON.stringify({ schema: RESUME_SCHEMA, version: VERSION, settings })];
      for (const r of records.values()) lines.push(JSON.stringify(r));
      writeText(path, lines.join("\n") + "\n", "--resume");
    }
    return new ResumeLog(path, records);
  }

  /** Appends one finished point (one line, written before the next point starts). */
  append(record: SweepRecord): void {
    Deno.writeTextFileSync(this.path, JSON.stringify(record) + "\n", { append: true });
    this.done.set(record.key, record);
  }
}

function parseResume(
  text: string,
  path: string,
  settings: Record<string, unknown>,
): { records: Map<string, SweepRecord>; torn: boolean } {
  const lines = text.split("\n");
  const last = lines.length - 1;
  const not_ours = `--resume ${path} is not an aiobench sweep record file; give a new path`;
  let header: { schema?: unknown; settings?: Record<string, unknown> };
  try {
    header = JSON.parse(lines[0]);
  } catch {
    throw new UsageError(not_ours);
  }
  if (header?.schema !== RESUME_SCHEMA || typeof header.settings !== "object") {
    throw new UsageError(not_ours);
  }
  checkSettings(path, header.settings, settings);
  const records = new Map<string, SweepRecord>();
  let torn = false;
  for (let i = 1; i <= last; i++) {
    if (lines[i].trim() === "") continue;
    try {
      const record = JSON.parse(lines[i]) as SweepRecord;
      if (typeof record.key !== "string" || typeof record.point !== "object") throw new Error();
      records.set(record.key, record);
    } catch {
      // Only the last line may be cut short (a sweep killed mid-write); anything else is damage.
      if (i !== last) throw new UsageError(`--resume ${path}: line ${i + 1} is damaged; fix it`);
      torn = true;
    }
  }
  return { records, torn };
}

function checkSettings(
  path: string,
  recorded: Record<string, unknown> | undefined,
  current: Record<string, unknown>,
): void {
  for (const [name, value] of Object.entries(current)) {
    const was = JSON.stringify(recorded?.[name] ?? null);
    const now = JSON.stringify(value);
    if (was !== now) {
      throw new UsageError(
        `--resume ${path} was recorded with ${name} ${was}, this sweep has ${now}; ` +
          "use the same settings or another --resume file",
      );
    }
  }
}

function writeText(path: string, text: string, flag: string): void {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: can't write it (${errorText(e)})`);
  }
}
