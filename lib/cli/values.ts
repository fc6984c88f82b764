/**
 * The value types of command-line options: how a value is parsed (errors name the flag), how help
 * shows a default, and the allowed range help states. Generic: nothing here knows aiobench's options.
 *
 * @example
 * ```ts
 * const depth = integer([1, 4096]);
 * depth.parse("32", "--queue_depth"); // 32
 * depth.range; // "1..4096"
 * ```
 *
 * @module
 */
import { formatSize, parseDuration, parseSize, showValue, UsageError } from "../common/size.ts";
import { closest, normalizeName, parseSwitch } from "./scan.ts";

/** How an option's value is read and shown. */
export interface ValueType<T> {
  /** `switch` options take no value (`--x`, `--no-x`, `--x=on`); the others take one. */
  kind: "switch" | "value";
  /** The value's placeholder in help, e.g. `SIZE`. */
  placeholder: string;
  /** Parses one value; throws a one-line UsageError naming `flag`. */
  parse(text: string, flag: string): T;
  /** The value as help prints it (and as `parse` reads it back). */
  show(value: T): string;
  /** The allowed values as help states them, e.g. `1..4096` or `read|write`. */
  range?: string;
}

/**
 * Parses a whole number in `range` (both ends inclusive).
 *
 * @example
 * ```ts
 * parseInteger("0", "--queue_depth", [1, 4096]); // throws "--queue_depth 0 is out of range: use 1..4096"
 * ```
 */
export function parseInteger(text: string, flag: string, range: readonly [number, number]): number {
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

/** Parses one of `choices` (snake_case or kebab-case, any case); a typo gets the nearest. */
export function parseChoice<T extends string>(
  text: string,
  flag: string,
  choices: readonly T[],
): T {
  const normalized = normalizeName(text.trim());
  const found = choices.find((choice) => normalizeName(choice) === normalized);
  if (found !== undefined) return found;
  const guess = closest(normalized, choices);
  const hint = guess === undefined ? "" : `; did you mean ${guess}?`;
  throw new UsageError(`${flag} ${showValue(text)} is unknown: use ${choices.join("|")}${hint}`);
}

/** A path as typed; empty or NUL-containing paths are refused. */
export function parsePath(text: string, flag: string): string {
  if (text === "" || text.includes("\0")) {
    throw new UsageError(`${flag} ${showValue(text)} is not a usable path; give a file or folder`);
  }
  return text;
}

/** An on/off switch. */
export const switchValue: ValueType<boolean> = {
  kind: "switch",
  placeholder: "",
  parse: parseSwitch,
  show: (value) => (value ? "on" : "off"),
};

/** A whole number in `range`. */
export function integer(range: readonly [number, number], placeholder = "N"): ValueType<number> {
  return {
    kind: "value",
    placeholder,
    parse: (text, flag) => parseInteger(text, flag, range),
    show: String,
    range: `${range[0]}..${range[1]}`,
  };
}

/** A size in bytes with binary suffixes (`4K`, `1M`); help shows sizes as `1M`. */
export const size: ValueType<number> = {
  kind: "value",
  placeholder: "SIZE",
  parse: (text, flag) => parseSize(text, flag),
  show: formatSize,
};

/** A duration in seconds (`10`, `500ms`, `30s`, `2m`); `allowZero` accepts `0`. */
export function duration(options: { allowZero?: boolean } = {}): ValueType<number> {
  return {
    kind: "value",
    placeholder: "DURATION",
    parse: (text, flag) => parseDuration(text, { flag, allowZero: options.allowZero }),
    show: (seconds) => (seconds === 0 ? "0" : `${seconds}s`),
  };
}

/** One word of `choices`. */
export function choice<T extends string>(
  choices: readonly T[],
  placeholder = "NAME",
): ValueType<T> {
  return {
    kind: "value",
    placeholder,
    parse: (text, flag) => parseChoice(text, flag, choices),
    show: (value) => value,
    range: choices.join("|"),
  };
}

/** A file or directory path. */
export function path(placeholder = "FILE"): ValueType<string> {
  return { kind: "value", placeholder, parse: parsePath, show: (value) => value };
}
