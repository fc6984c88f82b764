/**
 * Parsing and printing of the quantities a user types: sizes with binary suffixes, durations and
 * comma lists. Every parse error is a {@linkcode UsageError} whose one-line message names the flag.
 *
 * @module
 */

/** A mistake in the command line: the message is one line that names the flag and the fix. */
export class UsageError extends Error {
  /** `message` is the whole one-line explanation. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options for {@linkcode parseSize} and {@linkcode parseDuration}. */
export interface QuantityOptions {
  /** The flag the text came from, e.g. `--block_size`; it starts every error message. */
  flag: string;
  /** Accept zero (default false). */
  allowZero?: boolean;
}

const size_units: Record<string, bigint> = {
  "": 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
};
const size_suffixes = ["P", "T", "G", "M", "K"] as const;
const size_pattern = /^([0-9]+)(?:\.([0-9]+))? *(?:([kmgtp])(?:i?b)?|b)?$/i;
const number_text_length_max = 64;

/**
 * Show a user-typed value inside a one-line message: control and line-separator characters
 * escaped, long values cut, empty or spaced values quoted.
 *
 * @example
 * ```ts
 * showValue("a\nb"); // "\"a\\u000ab\""
 * ```
 */
export function showValue(text: string): string {
  const cut = text.length > 48 ? text.slice(0, 45) + "..." : text;
  let escaped = "";
  for (const char of cut) {
    const code = char.codePointAt(0) ?? 0;
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 ||
      code === 0x2029 || (code >= 0xd800 && code <= 0xdfff);
    if (control) escaped += "\\u" + code.toString(16).padStart(4, "0");
    else if (char === '"' || char === "\\") escaped += "\\" + char;
    else escaped += char;
  }
  const needs_quotes = escaped !== cut || cut === "" || /\s/.test(cut);
  return needs_quotes ? `"${escaped}"` : cut;
}

function optionsOf(flagOrOptions: string | QuantityOptions): QuantityOptions {
  return typeof flagOrOptions === "string" ? { flag: flagOrOptions } : flagOrOptions;
}

/**
 * Parse a size in bytes: plain bytes or a binary suffix K/M/G/T/P (also KB/KiB/..., any case).
 * A fraction is allowed when it gives whole bytes.
 *
 * @example
 * ```ts
 * parseSize("1M", "--block_size"); // 1048576
 * parseSize("1.5K", "--io_size"); // 1536
 * parseSize("0", { flag: "--io_size", allowZero: true }); // 0
 * ```
 */
export function parseSize(text: string, flagOrOptions: string | QuantityOptions): number {
  const { flag, allowZero = false } = optionsOf(flagOrOptions);
  const trimmed = text.trim();
  const shown = showValue(text);
  if (trimmed === "") throw new UsageError(`${flag} needs a size, e.g. ${flag} 1M`);
  if (trimmed.startsWith("-")) {
    throw new UsageError(`${flag} ${shown} is negative; give a size such as 4K, 1M or 8M`);
  }
  const match = trimmed.length <= number_text_length_max ? size_pattern.exec(trimmed) : null;
  if (match === null) {
    throw new UsageError(
      `${flag} ${shown} is not a size; use bytes or a K/M/G/T suffix, e.g. ${flag} 1M`,
    );
  }
  const [, whole, fraction = "", unit = ""] = match;
  const scale = 10n ** BigInt(fraction.length);
  const numerator = (BigInt(whole) * scale + BigInt(fraction || "0")) *
    size_units[unit.toLowerCase()];
  if (numerator % scale !== 0n) {
    throw new UsageError(
      `${flag} ${shown} is not a whole number of bytes; e.g. 1.5M is fine, 1.1K is not`,
    );
  }
  const bytes = numerator / scale;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(
      `${flag} ${shown} is too large; the most is ${Number.MAX_SAFE_INTEGER} bytes (about 8P)`,
    );
  }
  if (bytes === 0n && !allowZero) {
    throw new UsageError(`${flag} ${shown} must be more than zero; e.g. ${flag} 1M`);
  }
  return Number(bytes);
}

/**
 * Print a size with the largest binary unit that divides it exactly.
 *
 * @example
 * ```ts
 * formatSize(1048576); // "1M"
 * formatSize(131072); // "128K"
 * formatSize(1000); // "1000"
 * ```
 */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`formatSize needs a non-negative safe integer, got ${bytes}`);
  }
  if (bytes === 0) return "0";
  const value = BigInt(bytes);
  for (const suffix of size_suffixes) {
    const unit = size_units[suffix.toLowerCase()];
    if (value % unit === 0n) return `${value / unit}${suffix}`;
  }
  return String(bytes);
}

/**
 * Print a size for people: two decimals in the largest binary unit not above it.
 *
 * @example
 * ```ts
 * formatBytesHuman(1610612736); // "1.50 GiB"
 * formatBytesHuman(512); // "512 B"
 * ```
 */
export function formatBytesHuman(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let value = Math.abs(bytes);
  let index = 0;
  while (value >= 1024 && index < units.length - 1) {
    value /= 1024;
    index += 1;
  }
  const sign = bytes < 0 ? "-" : "";
  return index === 0 ? `${sign}${value} B` : `${sign}${value.toFixed(2)} ${units[index]}`;
}

const duration_units: Record<string, number> = {
  "": 1,
  ms: 1e-3,
  s: 1,
  sec: 1,
  m: 60,
  min: 60,
  h: 3600,
};
const duration_pattern = /^([0-9]+(?:\.[0-9]+)?) *(ms|s|sec|m|min|h)?$/i;
const duration_seconds_max = 7 * 24 * 3600;

/**
 * Parse a duration into seconds: `10`, `10s`, `500ms`, `2m`, `1h` (at most a week).
 *
 * @example
 * ```ts
 * parseDuration("500ms", "--ramp_time"); // 0.5
 * parseDuration("2m", "--runtime"); // 120
 * ```
 */
export function parseDuration(text: string, flagOrOptions: string | QuantityOptions): number {
  const { flag, allowZero = false } = optionsOf(flagOrOptions);
  const trimmed = text.trim();
  const shown = showValue(text);
  if (trimmed === "") throw new UsageError(`${flag} needs a duration, e.g. ${flag} 30s`);
  if (trimmed.startsWith("-")) {
    throw new UsageError(`${flag} ${shown} is negative; give a duration such as 30s or 2m`);
  }
  const match = trimmed.length <= number_text_length_max ? duration_pattern.exec(trimmed) : null;
  if (match === null) {
    throw new UsageError(`${flag} ${shown} is not a duration; use e.g. 10, 500ms, 30s, 2m or 1h`);
  }
  const seconds = Number(match[1]) * duration_units[(match[2] ?? "").toLowerCase()];
  if (!(seconds <= duration_seconds_max)) {
    throw new UsageError(`${flag} ${shown} is too long; the most is 168h (a week)`);
  }
  if (seconds === 0 && !allowZero) {
    throw new UsageError(`${flag} ${shown} must be more than zero; e.g. ${flag} 30s`);
  }
  return seconds;
}

/**
 * Parse a comma list, e.g. `128K,1M,8M`, with `parseOne` for each item; repeats are dropped.
 * An empty item is passed to `parseOne`, whose error then names the flag.
 *
 * @example
 * ```ts
 * parseList("128K,1M", (item) => parseSize(item, "--block_size")); // [131072, 1048576]
 * ```
 */
export function parseList<T>(text: string, parseOne: (item: string) => T): T[] {
  const items = text.split(",");
  const values: T[] = [];
  for (const item of items) {
    const value = parseOne(item.trim());
    if (!values.includes(value)) values.push(value);
  }
  return values;
}
