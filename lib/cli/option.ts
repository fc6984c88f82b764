/**
 * What one command-line option is: its name, aliases, value type, defaults (plain, per subcommand
 * and per kind of command line), environment variable, help, the subcommands that take it and
 * where its value goes. The table itself is lib/cli/options.ts (shared) plus each subcommand's own
 * (e.g. lib/sweep/options.ts); everything else (defaults, help, sweep axes) is derived from it.
 *
 * @module
 */
import type { BenchConfig } from "../common/types.ts";
import { showValue, UsageError } from "../common/size.ts";
import type { ScanKind, ScanSpec } from "./scan.ts";
import type { ValueType } from "./values.ts";
import { hasTarget } from "../run/targets.ts";

/** The subcommands; `run` when none is given. */
export type Command = "run" | "sweep" | "compare" | "doctor" | "zero" | "help" | "version";

/** The subcommands, in help order. */
export const commands: readonly Command[] = [
  "run",
  "sweep",
  "compare",
  "doctor",
  "zero",
  "help",
  "version",
];

/** Subcommands that measure and take the benchmark options. */
export const bench_commands: readonly Command[] = ["run", "sweep", "compare", "doctor"];

/**
 * Where a command line comes from, which decides some defaults (DeepSpeed's tools differ):
 * `default_run` is aiobench with no target; `ds_io` a command line naming folders as DeepSpeed's
 * `ds_io` does (`--folder`, `--folder_to_device_mapping`); `ds_aio` one naming files as ds_aio's
 * `test_ds_aio.py` does (`--read_file`, `--write_file`).
 */
export type Source = "default_run" | "ds_io" | "ds_aio";

/** What a source rule sees: the options given (by name) and the config built from them. */
export interface Given {
  options: ReadonlySet<string>;
  config: Partial<BenchConfig>;
}

/** The sources, most specific first; the first whose rule holds is the command line's. */
export const sources: ReadonlyArray<{
  name: Source;
  /** How help names it: `on in the default run`. */
  label: string;
  applies: (given: Given) => boolean;
}> = [
  {
    name: "default_run",
    label: "in the default run",
    applies: ({ config }) => !hasTarget(config),
  },
  {
    name: "ds_io",
    label: "for ds_io's --folder",
    applies: ({ config }) =>
      config.readFile === undefined && config.writeFile === undefined &&
      (config.folders ?? []).length > 0,
  },
  { name: "ds_aio", label: "for ds_aio's --read_file/--write_file", applies: () => true },
];

/** How the settings line names a source's defaults. */
export const source_names: Record<Source, string> = {
  default_run: "aiobench's default run",
  ds_io: "ds_io (--folder)",
  ds_aio: "ds_aio (--read_file/--write_file)",
};

/** The source of a command line (see {@linkcode sources}). */
export function sourceOf(given: Given): Source {
  return (sources.find((source) => source.applies(given)) ?? sources[sources.length - 1]).name;
}

/** The state an option's `apply` changes while a command line is built. */
export interface BuildState {
  /** The config so far: only what was given (defaults come after every flag). */
  cfg: Partial<BenchConfig>;
  /** Values of options that are not config fields, by option name (e.g. `rw`, `objective`). */
  values: Record<string, unknown>;
}

/** An environment variable that supplies an option's value when the flag isn't given. */
export interface OptionEnv {
  name: string;
  /** Only read when this holds (e.g. `--gpu` is on); the variable is otherwise ignored. */
  when?: (cfg: Partial<BenchConfig>) => boolean;
  /** The message after `NAME=value` for a bad value (default: the flag's own message). */
  invalid?: string;
  /** For tests only: not shown in help. */
  hidden?: boolean;
}

/** One command-line option. */
export interface OptionDef<T> {
  /** The snake_case name, without dashes. */
  name: string;
  /** Other snake_case names that mean the same. */
  aliases?: readonly string[];
  /** A one-letter form, e.g. `v` for `-v`. */
  short?: string;
  type: ValueType<T>;
  /** Help section (see lib/cli/help.ts). */
  group: string;
  help: string;
  /** What the option means in a subcommand where it means something else (doctor's --folder). */
  helpIn?: Partial<Record<Command, { group: string; help: string }>>;
  /** A value for "needs a value, e.g. ..." messages (default: the default value, shown). */
  example?: string;
  /** The subcommands that take it. */
  commands: readonly Command[];
  /** The BenchConfig field it sets (unless `apply` says otherwise). */
  key?: keyof BenchConfig;
  /** The default, when it is one value. */
  default?: T;
  /** Defaults that differ by subcommand or by source; a subcommand's wins over a source's. */
  defaults?: Partial<Record<Command | Source, T>>;
  /** Help's words for a default that isn't one value (e.g. `the read file's size`). */
  defaultText?: string;
  env?: OptionEnv;
  /** Meaningful only with this switch (or value) set: its default and env apply only then. */
  needs?: { key: keyof BenchConfig; flag: string; message?: string };
  /** May be given more than once (each value is applied, in order). */
  repeatable?: boolean;
  /** Takes one or more words after the flag (argparse's `nargs='+'`). */
  many?: boolean;
  /**
   * In `aiobench sweep` the option is an axis: a comma list, with these default values; the
   * `unset` words stand for "not set" (the option's absence, e.g. io_parallel's `sync`).
   */
  axis?: {
    default: readonly (T | undefined)[];
    help: string;
    example: string;
    unset?: readonly string[];
  };
  /** Applies one value when it isn't `cfg[key] = value` (or `values[name] = value`). */
  apply?: (state: BuildState, value: T, flag: string) => void;
}

/** An option of any value type (the table's element type). */
// deno-lint-ignore no-explicit-any
export type AnyOption = OptionDef<any>;

/** Declares an option (type-checks `default`, `apply` and `axis` against its value type). */
export function option<T>(def: OptionDef<T>): OptionDef<T> {
  return def;
}

/** The option's default in `command` for a command line from `source` (undefined: none). */
export function defaultFor<T>(
  def: OptionDef<T>,
  command: Command,
  source: Source,
): T | undefined {
  const defaults = def.defaults ?? {};
  if (Object.hasOwn(defaults, command)) return defaults[command];
  if (Object.hasOwn(defaults, source)) return defaults[source];
  return def.default;
}

/** Whether `command` takes this option as a sweep axis. */
export function isAxis(def: AnyOption, command: Command): boolean {
  return command === "sweep" && def.axis !== undefined;
}

/** How the scanner reads this option in `command`. */
export function scanKind(def: AnyOption, command: Command): ScanKind {
  if (def.type.kind === "switch") return isAxis(def, command) ? "switch_or_list" : "switch";
  return def.many ? "values" : "value";
}

/** The scanner's view of an option in `command`. */
export interface CommandSpec extends ScanSpec {
  def: AnyOption;
}

/** The scanner's specs for the options `command` takes. */
export function specsFor(table: readonly AnyOption[], command: Command): CommandSpec[] {
  return table.filter((def) => def.commands.includes(command)).map((def) => ({
    name: def.name,
    aliases: def.aliases,
    short: def.short,
    kind: scanKind(def, command),
    example: isAxis(def, command) ? def.axis!.example : exampleOf(def),
    def,
  }));
}

/** A value to show in "e.g." messages. */
export function exampleOf(def: AnyOption): string {
  if (def.example !== undefined) return def.example;
  return def.default === undefined ? "VALUE" : def.type.show(def.default);
}

/** Reads an option's environment variable; undefined when unset, empty or not allowed. */
export function envValue<T>(
  def: OptionDef<T>,
  read: (name: string) => string | undefined,
): T | undefined {
  if (def.env === undefined) return undefined;
  const text = read(def.env.name);
  if (text === undefined || text === "") return undefined;
  try {
    return def.type.parse(text, def.env.name);
  } catch (e) {
    if (!(e instanceof UsageError) || def.env.invalid === undefined) throw e;
    throw new UsageError(`${def.env.name}=${showValue(text)} ${def.env.invalid}`);
  }
}
