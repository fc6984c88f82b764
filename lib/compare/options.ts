/**
 * `aiobench compare`'s own options.
 *
 * @module
 */
import { type AnyOption, option } from "../cli/option.ts";
import { integer, path } from "../cli/values.ts";

/** The compare subcommand's own settings. */
export interface CompareOptions {
  /** Rounds of aiobench and fio, interleaved. */
  rounds: number;
  /** `--fio PATH`: the fio binary (otherwise found on PATH). */
  fio?: string;
}

/** Options only `aiobench compare` takes; their values land in `ParsedCommand.options`. */
export const compare_options: readonly AnyOption[] = [
  option({
    name: "rounds",
    type: integer([1, 100]),
    default: 3,
    example: "5",
    group: "compare",
    help: "rounds of aiobench and fio, interleaved",
    commands: ["compare"],
  }),
  option({
    name: "fio",
    type: path("PATH"),
    example: "/usr/bin/fio",
    group: "compare",
    help: "the fio binary",
    defaultText: "fio on PATH",
    commands: ["compare"],
  }),
];

/** The compare settings from its options' values (by option name, defaults filled in). */
export function compareOptionsOf(values: Record<string, unknown>): CompareOptions {
  const options: CompareOptions = { rounds: values.rounds as number };
  if (values.fio !== undefined) options.fio = values.fio as string;
  return options;
}
