/**
 * The whole option table: the benchmark options and every subcommand's own. A new subcommand
 * adds its options file here (and its name to `Command` in lib/cli/option.ts).
 *
 * @module
 */
import { compare_options } from "../compare/options.ts";
import { sweep_options } from "../sweep/options.ts";
import { zero_options } from "../zero/options.ts";
import type { AnyOption } from "./option.ts";
import { bench_options } from "./options.ts";

/** Every option of every subcommand. */
export const option_table: readonly AnyOption[] = [
  ...bench_options,
  ...sweep_options,
  ...compare_options,
  ...zero_options,
];
