/**
 * The generic argv scanner: splits argv by a table of flag specs into flag occurrences and other
 * words, finds the subcommand word, and suggests the nearest name for a typo. Nothing here knows
 * aiobench's options (those are in lib/cli/options.ts).
 *
 * @example
 * ```ts
 * const specs = [{ name: "block_size", kind: "value", example: "1M" }] as const;
 * scanArgv(["--block-size=1M"], { specs, unknown: (t) => { throw new Error(t); } }).flags[0].value; // "1M"
 * ```
 *
 * @module
 */
import { showValue, UsageError } from "../common/size.ts";

/**
 * How a flag takes its value: `switch` none (`--x`, `--no-x`, `--x=on`); `value` exactly one;
 * `switch_or_list` none or a list of switch words (`--x on,off`); `values` one or more words,
 * as argparse's `nargs='+'` (`--x A B C`; each word is its own occurrence).
 */
export type ScanKind = "switch" | "value" | "switch_or_list" | "values";

/** What the scanner needs to know about a flag. */
export interface ScanSpec {
  /** The snake_case name, without dashes. */
  name: string;
  /** Other snake_case names that mean the same. */
  aliases?: readonly string[];
  /** A one-letter form, e.g. `v` for `-v`. */
  short?: string;
  kind: ScanKind;
  /** A value for "needs a value, e.g. ..." messages. */
  example?: string;
}

/** One flag occurrence found by {@linkcode scanArgv}. */
export interface FlagOccurrence<S extends ScanSpec> {
  spec: S;
  /** The flag as typed, canonicalized to `--snake_name` (or `-x`). */
  flag: string;
  value: string | boolean;
}

/** What {@linkcode scanArgv} found: flags in order, then the other words. */
export interface ScannedArgv<S extends ScanSpec> {
  flags: FlagOccurrence<S>[];
  positional: string[];
  /** Where each positional word sits in argv. */
  positionalIndex: number[];
  /** Words that came after `--`. */
  rest: string[];
}

/** Options of {@linkcode scanArgv}. */
export interface ScanOptions<S extends ScanSpec> {
  specs: readonly S[];
  /** Explain a flag that is not in `specs`; must throw. */
  unknown: (token: string, name: string) => never;
}

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

/** Whether `text` is one of the words a switch takes (`on`, `off`, `true`, `0`, ...). */
export function isSwitchWord(text: string): boolean {
  return Object.hasOwn(switch_words, text.toLowerCase());
}

/**
 * Parses a switch's value (`true|false|on|off|yes|no|1|0`, any case).
 *
 * @example
 * ```ts
 * parseSwitch("off", "--validate"); // false
 * ```
 */
export function parseSwitch(text: string, flag: string): boolean {
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

/** `--Block-Size` → `block_size`. */
export function normalizeName(text: string): string {
  return text.replaceAll("-", "_").toLowerCase();
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

/** The spec named `name` (or one of its aliases). */
export function findSpec<S extends { name: string; aliases?: readonly string[] }>(
  specs: readonly S[],
  name: string,
): S | undefined {
  return specs.find((spec) => spec.name === name || (spec.aliases ?? []).includes(name));
}

function takesValueToken(token: string | undefined): token is string {
  if (token === undefined) return false;
  return !token.startsWith("-") || token === "-" || /^-[0-9]/.test(token);
}

/**
 * Split argv by a table of specs: `--name value`, `--name=value`, `--switch`, `--no-switch`,
 * `--switch=on|off`, `--many A B C`, `-x`, snake_case or kebab-case, and `--` ending the flags.
 *
 * @example
 * ```ts
 * scanArgv(["--block-size=1M"], { specs, unknown }).flags[0].value; // "1M"
 * ```
 */
export function scanArgv<S extends ScanSpec>(
  argv: readonly string[],
  options: ScanOptions<S>,
): ScannedArgv<S> {
  const scanned: ScannedArgv<S> = { flags: [], positional: [], positionalIndex: [], rest: [] };
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
    const { values, consumed } = flagValues(found, argv, index + 1);
    index += consumed;
    for (const value of values) scanned.flags.push({ spec: found.spec, flag: found.flag, value });
  }
  return scanned;
}

interface MatchedFlag<S extends ScanSpec> {
  spec: S;
  /** As typed, canonicalized: `--write_size`, `--no_validate`, `-v`. */
  flag: string;
  negated: boolean;
  inline?: string;
}

function matchFlag<S extends ScanSpec>(token: string, options: ScanOptions<S>): MatchedFlag<S> {
  const long = token.startsWith("--");
  const body = token.slice(long ? 2 : 1);
  const equals = body.indexOf("=");
  const name = normalizeName(equals < 0 ? body : body.slice(0, equals));
  const inline = equals < 0 ? undefined : body.slice(equals + 1);
  const lookup = (key: string) =>
    long ? findSpec(options.specs, key) : options.specs.find((spec) => spec.short === key);
  let spec = lookup(name);
  let negated = false;
  if (spec === undefined && long && name.startsWith("no_")) {
    spec = lookup(name.slice(3));
    negated = spec !== undefined;
  }
  if (spec === undefined) return options.unknown(token, name);
  if (negated && (spec.kind === "value" || spec.kind === "values")) {
    const example = spec.example ?? "VALUE";
    throw new UsageError(
      `--no_${spec.name}: --${spec.name} is not an on/off switch; give --${spec.name} ${example}`,
    );
  }
  return { spec, flag: `${long ? "--" : "-"}${name}`, negated, inline };
}

function needsValue(spec: ScanSpec, flag: string): never {
  const canonical = flag.startsWith("--") ? `--${spec.name}` : flag;
  throw new UsageError(`${canonical} needs a value, e.g. ${canonical} ${spec.example ?? "VALUE"}`);
}

function flagValues<S extends ScanSpec>(
  found: MatchedFlag<S>,
  argv: readonly string[],
  next_index: number,
): { values: Array<string | boolean>; consumed: number } {
  const { spec, flag, negated, inline } = found;
  const next = argv[next_index];
  if (spec.kind === "value") {
    const value = inline ?? (takesValueToken(next) ? next : undefined);
    if (value === undefined || value === "") needsValue(spec, flag);
    return { values: [value], consumed: inline === undefined ? 1 : 0 };
  }
  if (spec.kind === "values") {
    if (inline !== undefined) {
      if (inline === "") needsValue(spec, flag);
      return { values: [inline], consumed: 0 };
    }
    const values: string[] = [];
    while (takesValueToken(argv[next_index + values.length])) {
      values.push(argv[next_index + values.length]);
    }
    if (values.length === 0 || values.includes("")) needsValue(spec, flag);
    return { values, consumed: values.length };
  }
  if (spec.kind === "switch_or_list" && !negated) {
    if (inline !== undefined) return { values: [inline], consumed: 0 };
    if (next !== undefined && switch_list_pattern.test(next)) {
      return { values: [next], consumed: 1 };
    }
    return { values: [true], consumed: 0 };
  }
  if (inline === undefined) return { values: [!negated], consumed: 0 };
  const on = parseSwitch(inline, flag);
  return { values: [negated ? !on : on], consumed: 0 };
}

/** Where {@linkcode findCommand} found the subcommand word, and whether help or version was asked. */
export interface CommandScan<C extends string> {
  command: C;
  /** Index of the command word in argv, or -1. */
  index: number;
  help: boolean;
  version: boolean;
}

/**
 * Finds the subcommand (the first word that isn't a flag or a flag's value) and `-h`/`--help`,
 * `-V`/`--version` anywhere before `--`. `specs` tells which flags take the words after them.
 */
export function findCommand<C extends string>(
  argv: readonly string[],
  options: { commands: readonly C[]; fallback: C; specs: readonly ScanSpec[] },
): CommandScan<C> {
  const found: CommandScan<C> = {
    command: options.fallback,
    index: -1,
    help: false,
    version: false,
  };
  let first_word = true;
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index];
    if (token === "--") break;
    if (token === "-h" || token === "--help") found.help = true;
    else if (token === "-V" || token === "--version") found.version = true;
    else if (token.startsWith("--") && !token.includes("=")) {
      const kind = findSpec(options.specs, normalizeName(token.slice(2)))?.kind;
      if (kind === "value" && takesValueToken(argv[index + 1])) index += 1;
      if (kind === "values") { while (takesValueToken(argv[index + 1])) index += 1; }
    } else if (!token.startsWith("-") && first_word) {
      first_word = false;
      const word = normalizeName(token) as C;
      if (options.commands.includes(word)) {
        found.command = word;
        found.index = index;
      }
    }
  }
  return found;
}
