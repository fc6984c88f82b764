/**
 * aiobench's command line: argv → subcommand, validated config and the subcommand's own settings.
 * The scanner is lib/cli/scan.ts, the options lib/cli/options.ts (+ each subcommand's), defaults
 * and targets lib/run/config.ts, the sweep grid lib/sweep/grid.ts.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(["--read_file", "/mnt/nvme/f", "--block_size", "8M"]);
 * parsed.config?.blockSizeBytes; // 8388608
 * ```
 *
 * @module
 */
import { type CompareOptions, compareOptionsOf } from "../compare/options.ts";
import { showValue, UsageError } from "../common/size.ts";
import type { BenchConfig, Workload } from "../common/types.ts";
import { completeConfig, readEnv, validateConfig } from "../run/config.ts";
import { defaultAxes, expandSweep, parseAxis, type SweepAxes } from "../sweep/grid.ts";
import { type SweepObjective, type SweepOptions, sweepOptionsOf } from "../sweep/options.ts";
import {
  type BuildState,
  type Command,
  commands,
  type CommandSpec,
  isAxis,
  specsFor,
} from "./option.ts";
import {
  closest,
  type CommandScan,
  findCommand,
  findSpec,
  isSwitchWord,
  normalizeName,
  scanArgv,
  type ScanSpec,
} from "./scan.ts";
import { option_table } from "./table.ts";
import { foreignOption } from "./foreign.ts";

export { UsageError };
export type { Command, CompareOptions, SweepAxes, SweepObjective, SweepOptions };

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
  /** zero only: the benchmark options given (aio settings, engine, output), no defaults added. */
  given?: Partial<BenchConfig>;
  /** Values of the options that aren't config fields (`rw`, `objective`, ...), by option name. */
  options?: Record<string, unknown>;
  /** help: the words after `help`; doctor: its PATH; otherwise empty (stray words are errors). */
  positional: string[];
  /** help only: the subcommand to explain, if one was named. */
  helpTopic?: Command;
}

/** The scanner's view of every option, as `run` reads it (to find the subcommand word). */
const top_level_specs: readonly ScanSpec[] = specsFor(option_table, "run").concat(
  option_table.filter((def) => !def.commands.includes("run")).map((def) => ({
    name: def.name,
    aliases: def.aliases,
    kind: def.type.kind === "switch" ? "switch" : def.many ? "values" : "value",
    def,
  })),
);

function unknownOption(command: Command): (token: string, name: string) => never {
  return (token, name) => {
    const foreign = token.startsWith("--") ? foreignOption(name) : undefined;
    if (foreign !== undefined) throw new UsageError(foreign);
    const shown = showValue(token.split("=")[0]);
    const elsewhere = findSpec(option_table, name.replace(/^no_/, ""));
    if (elsewhere !== undefined && token.startsWith("--")) {
      const owners = elsewhere.commands.map((c) => `aiobench ${c}`).join(", ");
      throw new UsageError(
        `${shown} is not an option of aiobench ${command}; it belongs to ${owners}`,
      );
    }
    const specs = specsFor(option_table, command);
    const short = findSpec(specs, name);
    if (!token.startsWith("--") && short !== undefined) {
      throw new UsageError(`unknown option ${shown}; did you mean --${short.name}?`);
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

function unexpectedWord(command: Command, word: string, previous: string | undefined): never {
  const shown = showValue(word);
  if (previous !== undefined && isSwitchWord(word)) {
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

function parseHelp(argv: readonly string[], scan: CommandScan<Command>): ParsedCommand {
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

/** What the flags of one command line set, before defaults. */
interface Built extends BuildState {
  /** The options given, by name. */
  given: Set<string>;
  /** sweep: the axes given, by config field. */
  axes: Partial<Record<string, unknown[]>>;
}

function applyFlags(
  command: Command,
  flags: readonly { spec: CommandSpec; flag: string; value: string | boolean }[],
): Built {
  const built: Built = { cfg: {}, values: {}, given: new Set(), axes: {} };
  for (const { spec, flag, value } of flags) {
    const def = spec.def;
    built.given.add(def.name);
    if (isAxis(def, command)) {
      built.axes[def.key!] = typeof value === "boolean" ? [value] : parseAxis(def, value, flag);
      continue;
    }
    const parsed = typeof value === "boolean" ? value : def.type.parse(value, flag);
    if (def.apply !== undefined) def.apply(built, parsed, flag);
    else if (def.key !== undefined) (built.cfg as Record<string, unknown>)[def.key] = parsed;
    else built.values[def.name] = parsed;
  }
  for (const def of option_table) {
    if (!def.commands.includes(command) || def.key !== undefined || def.apply !== undefined) {
      continue;
    }
    if (built.values[def.name] === undefined && def.default !== undefined) {
      built.values[def.name] = def.default;
    }
  }
  return built;
}

/** sweep: the objective decides the workloads; the axes not given take their defaults. */
function finishSweep(parsed: ParsedCommand, config: BenchConfig, built: Built): void {
  const options = sweepOptionsOf(built.values);
  const objective = options.objective;
  if (config.readFile !== undefined) {
    if (objective !== "read") {
      throw new UsageError(
        `--objective ${objective} needs writes, but --read_file is only read; use --folder or --objective read`,
      );
    }
    config.workloads = ["read"];
  } else {
    config.workloads = objective === "write" ? ["write"] : ["write", "read"];
  }
  const axes = { ...defaultAxes(), ...built.axes } as SweepAxes;
  parsed.config = expandSweep(config, axes)[0];
  parsed.sweep = axes;
  parsed.sweepOptions = options;
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
  const scan = findCommand(argv, { commands, fallback: "run", specs: top_level_specs });
  if (scan.help || scan.command === "help") return parseHelp(argv, scan);
  if (scan.version || scan.command === "version") return { command: "version", positional: [] };
  const command = scan.command;
  const args = scan.index < 0
    ? argv
    : [...argv.slice(0, scan.index), ...argv.slice(scan.index + 1)];
  const specs = specsFor(option_table, command);
  const scanned = scanArgv(args, { specs, unknown: unknownOption(command) });
  if (scanned.rest.length > 0) unexpectedWord(command, scanned.rest[0], undefined);
  // `aiobench doctor [PATH]`: one path may be given; every other subcommand takes options only.
  const doctorPath = command === "doctor" ? scanned.positional.shift() : undefined;
  if (doctorPath !== undefined) scanned.positionalIndex.shift();
  if (scanned.positional.length > 0) {
    const previous = args[scanned.positionalIndex[0] - 1];
    const name = previous?.startsWith("--") ? normalizeName(previous.slice(2)) : "";
    const after_switch = findSpec(specs, name.replace(/^no_/, ""))?.kind === "switch";
    unexpectedWord(command, scanned.positional[0], after_switch ? previous : undefined);
  }
  const built = applyFlags(command, scanned.flags);
  // zero builds no benchmark config: its defaults come from the DeepSpeed config (lib/zero/).
  if (command === "zero") {
    return { command, options: built.values, given: built.cfg, positional: [] };
  }
  const config = completeConfig(built.cfg, {
    command,
    given: built.given,
    read: built.values.read === true,
    rw: built.values.rw as Workload | undefined,
    env: readEnv,
  });
  if (config.dsEngine === "aio_basic" && built.given.has("io_parallel")) {
    throw new UsageError(
      "--io_parallel applies to --engine aio_handle; DeepSpeed's aio_basic makes one " +
        "synchronous call per loop with no handle threads: drop one of them",
    );
  }
  const parsed: ParsedCommand = {
    command,
    options: built.values,
    positional: doctorPath === undefined ? scanned.rest : [doctorPath],
  };
  if (command === "sweep") {
    finishSweep(parsed, config, built);
    return parsed;
  }
  parsed.config = validateConfig(config);
  if (command === "compare") parsed.compare = compareOptionsOf(built.values);
  return parsed;
}
