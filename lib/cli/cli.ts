/**
 * The command line: a small table-driven argv parser, the aiobench option table, and help text.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(["--read_file", "/mnt/nvme/f", "--block_size", "8M"]);
 * parsed.config?.blockSizeBytes; // 8388608
 * ```
 *
 * @module
 */

import type { BenchConfig, Engine, Workload } from "../common/types.ts";
import { defaultConfig, engines, limits, validateConfig, workloads } from "../run/config.ts";
import { parseDuration, parseList, parseSize, showValue, UsageError } from "../common/size.ts";

export { UsageError };

/** The subcommands; `run` when none is given. */
export type Command = "run" | "sweep" | "compare" | "doctor" | "help" | "version";

/** What `sweep` optimizes when it picks the best point. */
export type SweepObjective = "read" | "write" | "sum";

/** The values each sweep axis takes; the grid is their cross product. */
export interface SweepAxes {
  blockSizeBytes: number[];
  queueDepth: number[];
  overlapEvents: boolean[];
  singleSubmit: boolean[];
  /** `null` is the synchronous schedule (io_parallel unset). */
  ioParallel: Array<number | null>;
}

/** The sweep's own settings beyond its axes. */
export interface SweepOptions {
  objective: SweepObjective;
  /** `--config_out FILE`: write the best point as a DeepSpeed `aio` config section. */
  configOut?: string;
  /** `--report FILE`: a human report of every point. */
  report?: string;
  /** `--resume FILE`: skip points already recorded in this file (also where points are saved). */
  resume?: string;
  /** `--csv FILE`: one row per point. */
  csv?: string;
}

/** The compare subcommand's own settings. */
export interface CompareOptions {
  /** Rounds of aiobench and fio, interleaved. */
  rounds: number;
  /** `--fio PATH`: the fio binary (otherwise found on PATH). */
  fio?: string;
}

/** The result of {@linkcode parseArgs}. */
export interface ParsedCommand {
  command: Command;
  /** run, compare and doctor: the validated config; sweep: its first grid point. */
  config?: BenchConfig;
  /** sweep only. */
  sweep?: SweepAxes;
  /** sweep only. */
  sweepOptions?: SweepOptions;
  /** compare only. */
  compare?: CompareOptions;
  /** help: the words after `help`; otherwise empty (stray words are a UsageError). */
  positional: string[];
  /** help only: the subcommand to explain, if one was named. */
  helpTopic?: Command;
}

/** How an option takes its value. */
export type OptionKind = "switch" | "value" | "switch_or_list";

/** One row of an option table (generic: nothing here is aiobench-specific). */
export interface OptionSpec<State> {
  /** The snake_case name, without dashes. */
  name: string;
  /** Other snake_case names that mean the same. */
  aliases?: readonly string[];
  /** A one-letter form, e.g. `v` for `-v`. */
  short?: string;
  kind: OptionKind;
  /** May be given more than once (each value is applied, in order). */
  repeatable?: boolean;
  /** The value's placeholder in help, e.g. `SIZE`. */
  placeholder?: string;
  /** A value for "needs a value, e.g. ..." messages and help. */
  example?: string;
  group: string;
  help: string;
  defaultText?: string;
  commands: readonly Command[];
  /** Apply one occurrence; `flag` is the flag as typed (canonicalized), for messages. */
  apply: (state: State, value: string | boolean, flag: string) => void;
}

/** The subcommands, in help order. */
export const commands: readonly Command[] = [
  "run",
  "sweep",
  "compare",
  "doctor",
  "help",
  "version",
];
const bench_commands: readonly Command[] = ["run", "sweep", "compare", "doctor"];
const single_commands: readonly Command[] = ["run", "compare", "doctor"];
const switch_words: Record<string, boolean> = {
  true: true,
  false: false,
  on: true,
  off: false,
  yes: true,
  no: false,
  "1": true,
  "0": false,
};
const switch_list_pattern = /^(true|false|on|off|yes|no|1|0)(,(true|false|on|off|yes|no|1|0))*$/i;
const name_length_max = 64;
const sweep_points_max = 4096;

interface Builder {
  command: Command;
  cfg: BenchConfig;
  /** BenchConfig keys the user set explicitly. */
  explicit: Set<string>;
  read: boolean;
  rw?: Workload;
  axes: SweepAxes;
  sweepOptions: SweepOptions;
  compare: CompareOptions;
}

function normalizeName(text: string): string {
  return text.replaceAll("-", "_").toLowerCase();
}

function parseSwitch(text: string, flag: string): boolean {
  const key = text.toLowerCase();
  const value = Object.hasOwn(switch_words, key) ? switch_words[key] : undefined;
  if (value === undefined) {
    const bare = flag.replace(/^--(no[_-])?/, "");
    const list_hint = text.includes(",") ? " (lists are for aiobench sweep)" : "";
    throw new UsageError(
      `${flag}=${showValue(text)} is not on or off${list_hint}; use --${bare}, --no-${bare} ` +
        `or --${bare}=true|false|on|off|1|0`,
    );
  }
  return value;
}

function parseInteger(text: string, flag: string, range: readonly [number, number]): number {
  const [min, max] = range;
  const trimmed = text.trim();
  if (trimmed === "") throw new UsageError(`${flag} needs a whole number in ${min}..${max}`);
  if (!/^[+-]?[0-9]+$/.test(trimmed)) {
    throw new UsageError(`${flag} ${showValue(text)} is not a whole number; use ${min}..${max}`);
  }
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} ${showValue(trimmed)} is out of range: use ${min}..${max}`);
  }
  return value === 0 ? 0 : value;
}

function parseChoice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  const normalized = normalizeName(text.trim());
  const found = choices.find((choice) => normalizeName(choice) === normalized);
  if (found !== undefined) return found;
  const guess = closest(normalized, choices);
  const hint = guess === undefined ? "" : `; did you mean ${guess}?`;
  throw new UsageError(`${flag} ${showValue(text)} is unknown: use ${choices.join("|")}${hint}`);
}

function parsePath(text: string, flag: string): string {
  if (text === "" || text.includes("\0")) {
    throw new UsageError(`${flag} ${showValue(text)} is not a usable path; give a file or folder`);
  }
  return text;
}

/** Edit distance (Levenshtein) between two short strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length === 0 || word.length > name_length_max) return undefined;
  let best: string | undefined;
  let best_distance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, normalizeName(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

function setKey<K extends keyof BenchConfig>(b: Builder, key: K, value: BenchConfig[K]): void {
  b.cfg[key] = value;
  b.explicit.add(key);
}

function toggle(key: keyof BenchConfig): OptionSpec<Builder>["apply"] {
  return (b, value, flag) => setKey(b, key, asSwitch(value, flag) as never);
}

function asSwitch(value: string | boolean, flag: string): boolean {
  return typeof value === "boolean" ? value : parseSwitch(value, flag);
}

function asText(value: string | boolean): string {
  return typeof value === "string" ? value : String(value);
}

type Spec = OptionSpec<Builder>;

function switchSpec(
  name: string,
  group: string,
  help: string,
  apply: Spec["apply"],
  more: Partial<Spec> = {},
): Spec {
  return { name, group, help, kind: "switch", commands: bench_commands, apply, ...more };
}

function valueSpec(
  name: string,
  placeholder: string,
  example: string,
  group: string,
  help: string,
  apply: Spec["apply"],
  more: Partial<Spec> = {},
): Spec {
  return {
    name,
    placeholder,
    example,
    group,
    help,
    kind: "value",
    commands: bench_commands,
    apply,
    ...more,
  };
}

function mappingApply(b: Builder, value: string | boolean, flag: string): void {
  const text = asText(value);
  const colon = text.lastIndexOf(":");
  if (colon <= 0) {
    throw new UsageError(`${flag} ${showValue(text)} needs DIR:GPU, e.g. ${flag} /mnt/nvme0:0`);
  }
  const folder = parsePath(text.slice(0, colon), flag);
  const gpu = parseInteger(text.slice(colon + 1), `${flag} ${showValue(folder)}:`, limits.gpuId);
  b.cfg.folderToDeviceMapping = { ...b.cfg.folderToDeviceMapping, [folder]: gpu };
}

const run_options: Spec[] = [
  valueSpec(
    "read_file",
    "FILE",
    "/mnt/nvme0/big.bin",
    "target",
    "read this file (every worker reads all of it)",
    (b, v, f) => setKey(b, "readFile", parsePath(asText(v), f)),
  ),
  valueSpec(
    "write_file",
    "FILE",
    "/mnt/nvme0/out.bin",
    "target",
    "write FILE.<worker> (one file per worker)",
    (b, v, f) => setKey(b, "writeFile", parsePath(asText(v), f)),
  ),
  valueSpec(
    "folder",
    "DIR",
    "/mnt/nvme0",
    "target",
    "write (or with --read, read) a file per worker in DIR; repeat for several drives",
    (b, v, f) => {
      b.cfg.folders = [...b.cfg.folders, parsePath(asText(v), f)];
    },
    { repeatable: true },
  ),
  switchSpec(
    "read",
    "target",
    "with --folder: read the files instead of writing them (ds_io)",
    (b, v, f) => {
      b.read = asSwitch(v, f);
    },
    { commands: single_commands },
  ),
  valueSpec(
    "io_size",
    "SIZE",
    "1G",
    "io shape",
    "bytes per worker per loop",
    (b, v, f) => setKey(b, "ioSizeBytes", parseSize(asText(v), f)),
    { aliases: ["write_size"], defaultText: "the read file's size" },
  ),
  valueSpec(
    "block_size",
    "SIZE",
    "1M",
    "io shape",
    "bytes per IO request; a multiple of 4K unless --buffered",
    (b, v, f) => setKey(b, "blockSizeBytes", parseSize(asText(v), f)),
    { defaultText: "1M", commands: single_commands },
  ),
  valueSpec(
    "queue_depth",
    "N",
    "32",
    "io shape",
    "IOs in flight per handle (1..4096)",
    (b, v, f) => setKey(b, "queueDepth", parseInteger(asText(v), f, limits.queueDepth)),
    { defaultText: "32", commands: single_commands },
  ),
  valueSpec(
    "threads",
    "N",
    "4",
    "schedule",
    "workers, each with its own handle and file (1..256)",
    (b, v, f) => setKey(b, "threads", parseInteger(asText(v), f, limits.threads)),
    { aliases: ["multi_process"], defaultText: "1" },
  ),
  switchSpec(
    "single_submit",
    "schedule",
    "submit IOs one at a time instead of in batches",
    toggle("singleSubmit"),
    { defaultText: "off", commands: single_commands },
  ),
  switchSpec(
    "overlap_events",
    "schedule",
    "keep the queue full, reaping and resubmitting as IOs complete",
    toggle("overlapEvents"),
    { defaultText: "off; on in the default run", commands: single_commands },
  ),
  switchSpec(
    "sequential_requests",
    "schedule",
    "ds_io spelling of --no-overlap_events",
    (b, v, f) => setKey(b, "overlapEvents", !asSwitch(v, f)),
    { commands: single_commands },
  ),
  valueSpec(
    "io_parallel",
    "N",
    "4",
    "schedule",
    "async pread/pwrite + wait with N threads per handle (1..64)",
    (b, v, f) => setKey(b, "ioParallel", parseInteger(asText(v), f, limits.ioParallel)),
    { defaultText: "unset: synchronous read/write", commands: single_commands },
  ),
  valueSpec(
    "loops",
    "N",
    "3",
    "schedule",
    "timed loops per worker",
    (b, v, f) => setKey(b, "loops", parseInteger(asText(v), f, limits.loops)),
    { defaultText: "1; sweep: 3 per config" },
  ),
  valueSpec(
    "warmup_loops",
    "N",
    "1",
    "schedule",
    "untimed loops before the timed ones",
    (b, v, f) => setKey(b, "warmupLoops", parseInteger(asText(v), f, limits.warmupLoops)),
    { defaultText: "0; sweep: 1 per config" },
  ),
  switchSpec(
    "include_warmup_time",
    "schedule",
    "count the warm-up loops in the results",
    toggle("includeWarmupTime"),
  ),
  switchSpec(
    "handle",
    "schedule",
    "accepted for ds_aio scripts; aiobench always uses a handle",
    () => {},
  ),
  switchSpec("verbose", "output", "print per-worker detail", toggle("verbose"), { short: "v" }),
  valueSpec(
    "json",
    "FILE|-",
    "out.json",
    "output",
    "write the aiobench/1 JSON report to FILE, or to stdout with -",
    (b, v, f) => setKey(b, "json", parsePath(asText(v), f)),
  ),
  switchSpec(
    "latency",
    "output",
    "record per-IO latency; --no_latency measures without it",
    toggle("latency"),
    { defaultText: "on" },
  ),
  valueSpec(
    "log_interval",
    "DURATION",
    "1s",
    "output",
    "report throughput every DURATION",
    (b, v, f) => setKey(b, "logIntervalS", parseDuration(asText(v), f)),
  ),
  switchSpec(
    "validate",
    "safety",
    "check the data after the timed region",
    toggle("validate"),
  ),
  switchSpec(
    "force",
    "safety",
    "overwrite existing files and allow block devices",
    toggle("force"),
  ),
  switchSpec("keep", "safety", "keep the files aiobench created", toggle("keep")),
  valueSpec(
    "engine",
    "NAME",
    "io_uring",
    "engine",
    "auto|io_uring|libaio|psync; auto falls back with a printed reason",
    (b, v, f) => setKey(b, "engine", parseChoice<Engine>(asText(v), f, engines)),
    { defaultText: "auto" },
  ),
  switchSpec("buffered", "engine", "open without O_DIRECT (page cache)", toggle("buffered")),
  switchSpec("mlock", "engine", "mlock the IO buffers", toggle("mlock")),
  switchSpec("fixedbufs", "engine", "io_uring: register the buffers", toggle("fixedbufs")),
  switchSpec("registerfiles", "engine", "io_uring: register the files", toggle("registerfiles")),
  switchSpec(
    "sqthread_poll",
    "engine",
    "io_uring: kernel SQ polling thread",
    toggle("sqthreadPoll"),
  ),
  valueSpec(
    "sqthread_poll_cpu",
    "N",
    "2",
    "engine",
    "io_uring: pin the SQ polling thread to CPU N (needs --sqthread_poll)",
    (b, v, f) => setKey(b, "sqthreadPollCpu", parseInteger(asText(v), f, limits.sqthreadPollCpu)),
  ),
  switchSpec("hipri", "engine", "io_uring: polled completions (IOPOLL)", toggle("hipri")),
  switchSpec(
    "nonvectored",
    "engine",
    "io_uring: plain READ/WRITE, not READV",
    toggle("nonvectored"),
  ),
  switchSpec(
    "hugepages",
    "engine",
    "IO buffers on transparent huge pages (fewer page pins per IO; DeepSpeed's pinned buffers usually aren't)",
    toggle("hugePages"),
  ),
  switchSpec(
    "slot_buffers",
    "engine",
    "each in-flight IO uses its own block-size buffer, as fio does, not one buffer of --io_size",
    toggle("slotBuffers"),
  ),
  valueSpec(
    "rw",
    "OP",
    "randread",
    "workloads",
    "read|write|randread|randwrite|randrw instead of the target's default",
    (b, v, f) => {
      b.rw = parseChoice<Workload>(asText(v), f, workloads);
    },
    { commands: single_commands },
  ),
  valueSpec(
    "rwmixread",
    "PCT",
    "70",
    "workloads",
    "percentage of reads in randrw (0..100)",
    (b, v, f) => setKey(b, "rwmixread", parseInteger(asText(v), f, limits.rwmixread)),
    { defaultText: "50", commands: single_commands },
  ),
  valueSpec(
    "seed",
    "N",
    "42",
    "workloads",
    "seed for random offsets and data",
    (b, v, f) => setKey(b, "seed", parseInteger(asText(v), f, limits.seed)),
    { defaultText: "0" },
  ),
  valueSpec(
    "runtime",
    "DURATION",
    "30s",
    "workloads",
    "stop after DURATION (10, 500ms, 30s, 2m, 1h)",
    (b, v, f) => setKey(b, "runtimeS", parseDuration(asText(v), f)),
  ),
  switchSpec(
    "time_based",
    "workloads",
    "loop over the region until --runtime is up",
    toggle("timeBased"),
  ),
  valueSpec(
    "ramp_time",
    "DURATION",
    "5s",
    "workloads",
    "run this long before measuring",
    (b, v, f) => setKey(b, "rampTimeS", parseDuration(asText(v), { flag: f, allowZero: true })),
    { defaultText: "0" },
  ),
  switchSpec("gpu", "gpu", "move data to and from GPU memory", toggle("gpu")),
  valueSpec(
    "gpu_id",
    "N",
    "0",
    "gpu",
    "the GPU to use",
    (b, v, f) => setKey(b, "gpuId", parseInteger(asText(v), f, limits.gpuId)),
    { defaultText: "0" },
  ),
  valueSpec(
    "folder_to_device_mapping",
    "DIR:GPU",
    "/mnt/nvme0:0",
    "gpu",
    "pair a folder with a GPU; repeatable; its folders become --folder targets",
    mappingApply,
    { repeatable: true },
  ),
  valueSpec(
    "gpu_mode",
    "MODE",
    "bounce",
    "gpu",
    "overlap: chunked copies overlapped with IO; bounce: copy after the whole IO, as ds_aio",
    (b, v, f) => setKey(b, "gpuMode", parseChoice(asText(v), f, ["overlap", "bounce"] as const)),
    { defaultText: "overlap" },
  ),
  valueSpec(
    "gpu_chunk",
    "SIZE",
    "64M",
    "gpu",
    "bytes per host⇄GPU copy in overlap mode (a multiple of --block_size)",
    (b, v, f) => setKey(b, "gpuChunkBytes", parseSize(asText(v), f)),
    { defaultText: "2 × queue_depth × block_size, at least 64M" },
  ),
  switchSpec("use_gds", "gpu", "GPUDirect Storage (needs --gpu)", toggle("useGds")),
  switchSpec(
    "use_accelerator_pin_memory",
    "gpu",
    "pin host buffers through the accelerator",
    toggle("useAcceleratorPinMemory"),
  ),
];

function switchListAxis(key: "overlapEvents" | "singleSubmit"): Spec["apply"] {
  return (b, v, f) => {
    b.axes[key] = typeof v === "boolean" ? [v] : parseList(v, (item) => parseSwitch(item, f));
  };
}

const sweep_options: Spec[] = [
  valueSpec(
    "block_size",
    "LIST",
    "128K,1M,8M",
    "sweep axes",
    "block sizes to try",
    (b, v, f) => {
      b.axes.blockSizeBytes = parseList(asText(v), (item) => parseSize(item, f));
    },
    { defaultText: "1M,8M", commands: ["sweep"] },
  ),
  valueSpec(
    "queue_depth",
    "LIST",
    "32,128",
    "sweep axes",
    "queue depths to try",
    (b, v, f) => {
      b.axes.queueDepth = parseList(asText(v), (i) => parseInteger(i, f, limits.queueDepth));
    },
    { defaultText: "32,128", commands: ["sweep"] },
  ),
  {
    ...switchSpec(
      "overlap_events",
      "sweep axes",
      "overlap settings to try",
      switchListAxis("overlapEvents"),
    ),
    kind: "switch_or_list",
    placeholder: "LIST",
    example: "on,off",
    defaultText: "on,off",
    commands: ["sweep"],
  },
  {
    ...switchSpec(
      "single_submit",
      "sweep axes",
      "submit settings to try",
      switchListAxis("singleSubmit"),
    ),
    kind: "switch_or_list",
    placeholder: "LIST",
    example: "off,on",
    defaultText: "off,on",
    commands: ["sweep"],
  },
  valueSpec(
    "io_parallel",
    "LIST",
    "sync,1,2,4,8",
    "sweep axes",
    "io_parallel values to try; sync means unset",
    (b, v, f) => {
      b.axes.ioParallel = parseList(
        asText(v),
        (item) =>
          /^(sync|none|unset)$/i.test(item) ? null : parseInteger(item, f, limits.ioParallel),
      );
    },
    { defaultText: "1,2,4,8", commands: ["sweep"] },
  ),
  valueSpec(
    "objective",
    "OP",
    "read",
    "sweep",
    "what the best point maximizes: read|write|sum of both speeds",
    (b, v, f) => {
      b.sweepOptions.objective = parseChoice(asText(v), f, ["read", "write", "sum"] as const);
    },
    { defaultText: "sum", commands: ["sweep"] },
  ),
  ...([
    ["config_out", "ds_config.json", "write the best point as a DeepSpeed aio config", "configOut"],
    ["report", "sweep.html", "write an offline HTML report: heatmaps, latency", "report"],
    ["resume", "sweep.jsonl", "record points here and skip those already recorded", "resume"],
    ["csv", "sweep.csv", "write one CSV row per point", "csv"],
  ] as const).map(([name, example, help, key]) =>
    valueSpec(name, "FILE", example, "sweep", help, (b, v, f) => {
      b.sweepOptions[key] = parsePath(asText(v), f);
    }, { commands: ["sweep"] })
  ),
];

const compare_options: Spec[] = [
  valueSpec(
    "rounds",
    "N",
    "5",
    "compare",
    "rounds of aiobench and fio, interleaved (1..100)",
    (b, v, f) => {
      b.compare.rounds = parseInteger(asText(v), f, [1, 100]);
    },
    { defaultText: "3", commands: ["compare"] },
  ),
  valueSpec(
    "fio",
    "PATH",
    "/usr/bin/fio",
    "compare",
    "the fio binary",
    (b, v, f) => {
      b.compare.fio = parsePath(asText(v), f);
    },
    { defaultText: "fio on PATH", commands: ["compare"] },
  ),
];

/** The whole aiobench option table. */
export const option_table: readonly Spec[] = [...run_options, ...sweep_options, ...compare_options];

function specsFor(command: Command): Spec[] {
  return option_table.filter((spec) => spec.commands.includes(command));
}

function findSpec(specs: readonly Spec[], name: string): Spec | undefined {
  return specs.find((spec) => spec.name === name || (spec.aliases ?? []).includes(name));
}

/** One flag occurrence found by {@linkcode scanArgv}. */
export interface FlagOccurrence<State> {
  spec: OptionSpec<State>;
  /** The flag as typed, canonicalized to `--snake_name` (or `-x`). */
  flag: string;
  value: string | boolean;
}

/** What {@linkcode scanArgv} found: flags in order, then the other words. */
export interface ScannedArgv<State> {
  flags: FlagOccurrence<State>[];
  positional: string[];
  /** Where each positional word sits in argv. */
  positionalIndex: number[];
  /** Words that came after `--`. */
  rest: string[];
}

/** Options of {@linkcode scanArgv}. */
export interface ScanOptions<State> {
  specs: readonly OptionSpec<State>[];
  /** Explain a flag that is not in `specs`; must throw. */
  unknown: (token: string, name: string) => never;
}

function takesValueToken(token: string | undefined): token is string {
  if (token === undefined) return false;
  return !token.startsWith("-") || token === "-" || /^-[0-9]/.test(token);
}

/**
 * Split argv by an option table: `--name value`, `--name=value`, `--switch`, `--no-switch`,
 * `--switch=on|off`, `-x`, snake_case or kebab-case, and `--` ending the flags.
 *
 * @example
 * ```ts
 * scanArgv(["--block-size=1M"], { specs, unknown }).flags[0].value; // "1M"
 * ```
 */
export function scanArgv<State>(
  argv: readonly string[],
  options: ScanOptions<State>,
): ScannedArgv<State> {
  const scanned: ScannedArgv<State> = { flags: [], positional: [], positionalIndex: [], rest: [] };
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index];
    if (token === "--") {
      scanned.rest = argv.slice(index + 1);
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      scanned.positional.push(token);
      scanned.positionalIndex.push(index);
      continue;
    }
    const found = matchFlag(token, options);
    const { value, consumed } = flagValue(found, argv[index + 1]);
    index += consumed;
    scanned.flags.push({ spec: found.spec, flag: found.flag, value });
  }
  return scanned;
}

interface MatchedFlag<State> {
  spec: OptionSpec<State>;
  /** As typed, canonicalized: `--write_size`, `--no_validate`, `-v`. */
  flag: string;
  negated: boolean;
  inline?: string;
}

function matchFlag<State>(token: string, options: ScanOptions<State>): MatchedFlag<State> {
  const long = token.startsWith("--");
  const body = token.slice(long ? 2 : 1);
  const equals = body.indexOf("=");
  const name = normalizeName(equals < 0 ? body : body.slice(0, equals));
  const inline = equals < 0 ? undefined : body.slice(equals + 1);
  const lookup = (key: string) =>
    options.specs.find((spec) =>
      long ? spec.name === key || (spec.aliases ?? []).includes(key) : spec.short === key
    );
  let spec = lookup(name);
  let negated = false;
  if (spec === undefined && long && name.startsWith("no_")) {
    spec = lookup(name.slice(3));
    negated = spec !== undefined;
  }
  if (spec === undefined) return options.unknown(token, name);
  if (negated && spec.kind === "value") {
    const example = spec.example ?? "VALUE";
    throw new UsageError(
      `--no_${spec.name}: --${spec.name} is not an on/off switch; give --${spec.name} ${example}`,
    );
  }
  return { spec, flag: `${long ? "--" : "-"}${name}`, negated, inline };
}

function flagValue<State>(
  found: MatchedFlag<State>,
  next: string | undefined,
): { value: string | boolean; consumed: number } {
  const { spec, flag, negated, inline } = found;
  if (spec.kind === "value") {
    const value = inline ?? (takesValueToken(next) ? next : undefined);
    if (value === undefined || value === "") {
      const canonical = flag.startsWith("--") ? `--${spec.name}` : flag;
      throw new UsageError(
        `${canonical} needs a value, e.g. ${canonical} ${spec.example ?? "VALUE"}`,
      );
    }
    return { value, consumed: inline === undefined ? 1 : 0 };
  }
  if (spec.kind === "switch_or_list" && !negated) {
    if (inline !== undefined) return { value: inline, consumed: 0 };
    if (next !== undefined && switch_list_pattern.test(next)) return { value: next, consumed: 1 };
    return { value: true, consumed: 0 };
  }
  if (inline === undefined) return { value: !negated, consumed: 0 };
  const on = parseSwitch(inline, flag);
  return { value: negated ? !on : on, consumed: 0 };
}

function valueFlagNames(): Set<string> {
  const names = new Set<string>();
  for (const spec of option_table) {
    if (spec.kind !== "value") continue;
    names.add(spec.name);
    for (const alias of spec.aliases ?? []) names.add(alias);
  }
  return names;
}

const value_flag_names = valueFlagNames();

interface CommandScan {
  command: Command;
  /** Index of the command word in argv, or -1. */
  index: number;
  help: boolean;
  version: boolean;
}

/** Find the subcommand (the first word that isn't a flag or a flag's value) and -h/--version. */
function findCommand(argv: readonly string[]): CommandScan {
  const found: CommandScan = { command: "run", index: -1, help: false, version: false };
  let first_word = true;
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index];
    if (token === "--") break;
    if (token === "-h" || token === "--help") found.help = true;
    else if (token === "-V" || token === "--version") found.version = true;
    else if (token.startsWith("--") && !token.includes("=")) {
      const takes_value = value_flag_names.has(normalizeName(token.slice(2)));
      if (takes_value && takesValueToken(argv[index + 1])) index += 1;
    } else if (!token.startsWith("-") && first_word) {
      first_word = false;
      const word = normalizeName(token) as Command;
      if (commands.includes(word)) {
        found.command = word;
        found.index = index;
      }
    }
  }
  return found;
}

function unknownOption(command: Command): (token: string, name: string) => never {
  return (token, name) => {
    const shown = showValue(token.split("=")[0]);
    const elsewhere = findSpec(option_table, name.replace(/^no_/, ""));
    if (elsewhere !== undefined && token.startsWith("--")) {
      const owners = elsewhere.commands.map((c) => `aiobench ${c}`).join(", ");
      throw new UsageError(
        `${shown} is not an option of aiobench ${command}; it belongs to ${owners}`,
      );
    }
    const specs = specsFor(command);
    if (!token.startsWith("--") && findSpec(specs, name) !== undefined) {
      throw new UsageError(
        `unknown option ${shown}; did you mean --${findSpec(specs, name)?.name}?`,
      );
    }
    const names = specs.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]);
    const negatable = specs.filter((spec) => spec.kind !== "value").map((spec) =>
      `no_${spec.name}`
    );
    const guess = closest(name, [...names, ...negatable, "help", "version"]);
    const hint = guess === undefined
      ? `run aiobench ${command} --help for the options`
      : `did you mean --${guess}?`;
    throw new UsageError(`unknown option ${shown}; ${hint}`);
  };
}

function newBuilder(command: Command): Builder {
  return {
    command,
    cfg: defaultConfig(),
    explicit: new Set(),
    read: false,
    axes: {
      blockSizeBytes: [1 << 20, 8 << 20],
      queueDepth: [32, 128],
      overlapEvents: [true, false],
      singleSubmit: [false, true],
      ioParallel: [1, 2, 4, 8],
    },
    sweepOptions: { objective: "sum" },
    compare: { rounds: 3 },
  };
}

function resolveTargets(b: Builder): void {
  const cfg = b.cfg;
  const mapped = Object.keys(cfg.folderToDeviceMapping);
  if (cfg.folders.length === 0 && mapped.length > 0 && !cfg.readFile && !cfg.writeFile) {
    cfg.folders = mapped;
  }
  const targeted = cfg.readFile !== undefined || cfg.writeFile !== undefined ||
    cfg.folders.length > 0;
  if (b.read && cfg.folders.length === 0 && cfg.readFile === undefined) {
    throw new UsageError(
      "--read needs --folder DIR (it reads the folder's files instead of writing)",
    );
  }
  const read_type = b.rw === undefined || b.rw === "read" || b.rw === "randread";
  if (b.read && !read_type) {
    throw new UsageError(`--read and --rw ${b.rw} contradict; drop one of them`);
  }
  let defaults: Workload[] = ["write", "read"];
  if (cfg.readFile !== undefined) defaults = ["read"];
  else if (cfg.writeFile !== undefined) defaults = ["write"];
  else if (cfg.folders.length > 0) defaults = b.read ? ["read"] : ["write"];
  cfg.workloads = b.rw === undefined ? defaults : [b.rw];
  cfg.defaultRun = !targeted;
  if (targeted) {
    delete cfg.defaultDir;
    if (!b.explicit.has("overlapEvents")) cfg.overlapEvents = false;
  }
}

function sweepWorkloads(b: Builder): void {
  const objective = b.sweepOptions.objective;
  // A sweep compares points, so each gets a warm-up and several timed loops unless told otherwise.
  if (!b.explicit.has("loops")) b.cfg.loops = 3;
  if (!b.explicit.has("warmupLoops")) b.cfg.warmupLoops = 1;
  if (b.cfg.readFile !== undefined) {
    if (objective !== "read") {
      throw new UsageError(
        `--objective ${objective} needs writes, but --read_file is only read; use --folder or --objective read`,
      );
    }
    b.cfg.workloads = ["read"];
  } else {
    b.cfg.workloads = objective === "write" ? ["write"] : ["write", "read"];
  }
}

/**
 * Every point of a sweep grid, validated: block_size outermost, io_parallel innermost.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(["sweep"]);
 * expandSweep(parsed.config!, parsed.sweep!).length; // 64
 * ```
 */
export function expandSweep(base: BenchConfig, axes: SweepAxes): BenchConfig[] {
  const count = axes.blockSizeBytes.length * axes.queueDepth.length * axes.overlapEvents.length *
    axes.singleSubmit.length * axes.ioParallel.length;
  if (count > sweep_points_max) {
    throw new UsageError(
      `the sweep grid has ${count} points; the most is ${sweep_points_max}: shorten the axis lists`,
    );
  }
  const points: BenchConfig[] = [];
  for (const blockSizeBytes of axes.blockSizeBytes) {
    for (const queueDepth of axes.queueDepth) {
      for (const overlapEvents of axes.overlapEvents) {
        for (const singleSubmit of axes.singleSubmit) {
          for (const io_parallel of axes.ioParallel) {
            const point: BenchConfig = {
              ...base,
              blockSizeBytes,
              queueDepth,
              overlapEvents,
              singleSubmit,
              ioParallel: io_parallel ?? undefined,
            };
            if (io_parallel === null) delete point.ioParallel;
            points.push(validateConfig(point));
          }
        }
      }
    }
  }
  return points;
}

function unexpectedWord(command: Command, word: string, previous: string | undefined): never {
  const shown = showValue(word);
  if (previous !== undefined && Object.hasOwn(switch_words, word.toLowerCase())) {
    throw new UsageError(
      `unexpected argument ${shown} after ${showValue(previous)}; on/off switches take ${
        showValue(previous)
      }=${shown}`,
    );
  }
  const guess = command === "run" ? closest(normalizeName(word), commands) : undefined;
  const takes = command === "doctor" ? "one PATH and options" : "only options";
  const hint = guess === undefined
    ? `aiobench ${command} takes ${takes} (see aiobench ${command} --help)`
    : `did you mean aiobench ${guess}?`;
  throw new UsageError(`unexpected argument ${shown}; ${hint}`);
}

function parseHelp(argv: readonly string[], scan: CommandScan): ParsedCommand {
  if (scan.command !== "help") {
    return {
      command: "help",
      helpTopic: scan.index < 0 ? undefined : scan.command,
      positional: [],
    };
  }
  const topic = argv[scan.index + 1];
  if (topic === undefined || topic.startsWith("-")) return { command: "help", positional: [] };
  const normalized = normalizeName(topic) as Command;
  if (!commands.includes(normalized)) {
    const guess = closest(normalized, commands);
    const hint = guess === undefined
      ? `topics are ${commands.join(", ")}`
      : `did you mean ${guess}?`;
    throw new UsageError(`no help for ${showValue(topic)}; ${hint}`);
  }
  return { command: "help", helpTopic: normalized, positional: [topic] };
}

/**
 * Parse aiobench's argv into a subcommand and a validated config. Throws {@linkcode UsageError}
 * (one line naming the flag and the fix) for any mistake.
 *
 * @example
 * ```ts
 * parseArgs(["sweep", "--block_size", "128K,1M"]).sweep?.blockSizeBytes; // [131072, 1048576]
 * parseArgs(["--queue_depth", "0"]); // throws "--queue_depth 0 is out of range: use 1..4096"
 * ```
 */
export function parseArgs(argv: string[]): ParsedCommand {
  const scan = findCommand(argv);
  if (scan.help || scan.command === "help") return parseHelp(argv, scan);
  if (scan.version || scan.command === "version") return { command: "version", positional: [] };
  const command = scan.command;
  const args = scan.index < 0
    ? argv
    : [...argv.slice(0, scan.index), ...argv.slice(scan.index + 1)];
  const scanned = scanArgv(args, { specs: specsFor(command), unknown: unknownOption(command) });
  if (scanned.rest.length > 0) unexpectedWord(command, scanned.rest[0], undefined);
  // `aiobench doctor [PATH]`: one path may be given; every other subcommand takes options only.
  const doctorPath = command === "doctor" ? scanned.positional.shift() : undefined;
  if (doctorPath !== undefined) scanned.positionalIndex.shift();
  if (scanned.positional.length > 0) {
    const previous = args[scanned.positionalIndex[0] - 1];
    const name = previous?.startsWith("--") ? normalizeName(previous.slice(2)) : "";
    const after_switch = findSpec(specsFor(command), name.replace(/^no_/, ""))?.kind === "switch";
    unexpectedWord(command, scanned.positional[0], after_switch ? previous : undefined);
  }
  const b = newBuilder(command);
  for (const { spec, flag, value } of scanned.flags) spec.apply(b, value, flag);
  resolveTargets(b);
  const parsed: ParsedCommand = {
    command,
    positional: doctorPath === undefined ? scanned.rest : [doctorPath],
  };
  if (command === "sweep") {
    sweepWorkloads(b);
    const points = expandSweep(b.cfg, b.axes);
    parsed.config = points[0];
    parsed.sweep = b.axes;
    parsed.sweepOptions = b.sweepOptions;
    return parsed;
  }
  parsed.config = validateConfig(b.cfg);
  if (command === "compare") parsed.compare = b.compare;
  return parsed;
}

const group_titles: Record<string, string> = {
  target: "Target (one of --read_file, --write_file, --folder; none: the default run)",
  "io shape": "IO shape",
  schedule: "Schedule",
  output: "Output",
  safety: "Safety",
  engine: "Engine",
  workloads: "Workloads",
  gpu: "GPU",
  "sweep axes": "Sweep axes (comma lists; the grid is their cross product)",
  sweep: "Sweep",
  compare: "Compare",
};

const command_help: Record<Command, { usage: string; about: string; examples: string[] }> = {
  run: {
    usage: "aiobench [run] [options]",
    about:
      "Measure read/write speed the way DeepSpeed's ds_aio does. With no target, write then read a temporary file in the current directory.",
    examples: [
      "aiobench",
      "aiobench --read_file /mnt/nvme0/big.bin --block_size 8M --queue_depth 128 --io_parallel 4",
      "aiobench --folder /mnt/nvme0 --folder /mnt/nvme1 --io_size 4G --threads 8 --json -",
    ],
  },
  sweep: {
    usage: "aiobench sweep [options]",
    about:
      "Try every combination of the axes and pick the best for DeepSpeed's aio config (default grid: 64 points).",
    examples: [
      "aiobench sweep --folder /mnt/nvme0 --io_size 1G --block_size 128K,1M,8M --queue_depth 32,128 --config_out aio.json",
    ],
  },
  compare: {
    usage: "aiobench compare [options]",
    about: "Run aiobench and the equivalent fio job in alternating rounds and compare the speeds.",
    examples: ["aiobench compare --read_file /mnt/nvme0/big.bin --block_size 1M --rounds 5"],
  },
  doctor: {
    usage: "aiobench doctor [PATH] [options]",
    about:
      "Check the machine and PATH (default: the current directory, or --folder): io_uring availability, O_DIRECT, file system, device, limits.",
    examples: ["aiobench doctor --folder /mnt/nvme0"],
  },
  help: {
    usage: "aiobench help [COMMAND]",
    about: "Explain aiobench or one of its commands (also: --help or -h anywhere).",
    examples: ["aiobench help sweep"],
  },
  version: {
    usage: "aiobench version",
    about: "Print the version (also: --version or -V).",
    examples: ["aiobench version"],
  },
};

function optionLine(spec: Spec): string {
  const value = spec.kind === "switch"
    ? ""
    : spec.kind === "switch_or_list"
    ? `[=${spec.placeholder}]`
    : ` ${spec.placeholder}`;
  const names = [
    ...(spec.short === undefined ? [] : [`-${spec.short}`]),
    `--${spec.name}${value}`,
    ...(spec.aliases ?? []).map((alias) => `--${alias}`),
  ].join(", ");
  const default_text = spec.defaultText === undefined ? "" : ` (default: ${spec.defaultText})`;
  const negation = spec.kind === "switch" && spec.defaultText === "on"
    ? ` [--no_${spec.name}]`
    : "";
  return `  ${(names + negation).padEnd(38)} ${spec.help}${default_text}`;
}

/**
 * Help for aiobench or one subcommand, options grouped with their defaults and examples.
 *
 * @example
 * ```ts
 * console.log(helpText("sweep"));
 * ```
 */
export function helpText(command?: string): string {
  const topic: Command = commands.includes(command as Command) ? command as Command : "run";
  const info = command_help[topic];
  const lines = [`usage: ${info.usage}`, "", info.about, ""];
  if (command === undefined) {
    lines.push("Commands:");
    for (const name of commands) lines.push(`  ${name.padEnd(10)} ${command_help[name].about}`);
    lines.push("");
  }
  const specs = topic === "help" || topic === "version" ? [] : specsFor(topic);
  for (const [group, title] of Object.entries(group_titles)) {
    const rows = specs.filter((spec) => spec.group === group);
    if (rows.length === 0) continue;
    lines.push(`${title}:`, ...rows.map(optionLine), "");
  }
  if (specs.length > 0) {
    lines.push(
      "Sizes take binary suffixes K/M/G/T (1M = 1048576; KB, KiB, MiB... also work).",
      "Durations: 10 (seconds), 500ms, 30s, 2m, 1h.",
      "Names take snake_case or kebab-case (--block_size = --block-size); values go as --flag VALUE",
      "or --flag=VALUE; switches take --flag, --no-flag or --flag=true|false|on|off|1|0.",
      "",
    );
  }
  lines.push("Examples:", ...info.examples.map((example) => `  ${example}`));
  return lines.join("\n") + "\n";
}
