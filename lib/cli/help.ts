/**
 * Help text, derived from the option table: each option's placeholder, range, default (per
 * subcommand and per kind of command line), what it needs and its environment variable.
 *
 * @example
 * ```ts
 * console.log(helpText("sweep"));
 * ```
 *
 * @module
 */
import { defaultAxes, gridSize } from "../sweep/grid.ts";
import {
  type AnyOption,
  type Command,
  commands,
  defaultFor,
  isAxis,
  scanKind,
  sources,
} from "./option.ts";
import { option_table } from "./table.ts";
import { zero_help } from "../zero/options.ts";

const group_titles: Record<string, string> = {
  target: "Target (one of --read_file, --write_file, --folder; none: the default run)",
  where: "Where to look",
  "io shape": "IO shape",
  schedule: "Schedule",
  output: "Output",
  safety: "Safety",
  engine: "Engine",
  mpi: "MPI (one aiobench per rank under mpiexec or srun; rank 0 reports)",
  workloads: "Workloads",
  gpu: "GPU",
  "sweep axes": "Sweep axes (comma lists; the grid is their cross product)",
  sweep: "Sweep",
  compare: "Compare",
  "zero model": "Model",
  "zero deepspeed": "DeepSpeed (override --ds_config's zero_optimization)",
  "zero replay": "Replay",
};

/** Usage line, one-paragraph description and examples of each subcommand. */
export const command_help: Record<
  Command,
  { usage: string; about: string; examples: string[]; notes?: readonly string[] }
> = {
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
      `Try every combination of the axes and pick the best for DeepSpeed's aio config (default grid: ${
        gridSize(defaultAxes())
      } points).`,
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
  zero: zero_help,
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

function showDefault(def: AnyOption, value: unknown): string {
  if (Array.isArray(value)) {
    const unset = def.axis?.unset?.[0] ?? "unset";
    return value.map((v) => (v === undefined ? unset : def.type.show(v))).join(",");
  }
  return def.type.show(value);
}

/**
 * The default as help states it in `command`: `1M`; `off; on in the default run`; a sweep axis's
 * list; or the option's words for a default that is not one value.
 */
export function defaultText(def: AnyOption, command: Command): string | undefined {
  if (isAxis(def, command)) return showDefault(def, def.axis!.default);
  const env = def.env !== undefined && !def.env.hidden ? `, or $${def.env.name}` : "";
  const base = defaultFor(def, command, "ds_aio");
  if (base === undefined && def.defaultText === undefined) return undefined;
  const parts = [base === undefined ? def.defaultText! : showDefault(def, base)];
  for (const source of sources) {
    const value = defaultFor(def, command, source.name);
    if (value !== undefined && value !== base) {
      parts.push(`${showDefault(def, value)} ${source.label}`);
    }
  }
  if (parts.length === 1 && base === false && env === "") return undefined;
  if (base === undefined && parts.length === 1) return def.defaultText! + env;
  return parts.join("; ") + env;
}

function optionLine(def: AnyOption, command: Command): string {
  const axis = isAxis(def, command);
  const kind = scanKind(def, command);
  const placeholder = axis ? "LIST" : def.type.placeholder;
  const value = kind === "switch" ? "" : kind === "switch_or_list" ? `[=${placeholder}]` : (
    ` ${placeholder}${def.many ? " ..." : ""}`
  );
  const names = [
    ...(def.short === undefined ? [] : [`-${def.short}`]),
    `--${def.name}${value}`,
    ...(def.aliases ?? []).map((alias) => `--${alias}`),
  ].join(", ");
  const fallback = defaultText(def, command);
  const negation = kind === "switch" && defaultFor(def, command, "ds_aio") === true
    ? ` [--no_${def.name}]`
    : "";
  const range = !axis && def.type.range !== undefined ? ` (${def.type.range})` : "";
  const needs = def.needs !== undefined ? ` (needs ${def.needs.flag})` : "";
  const shown = fallback === undefined ? "" : ` (default: ${fallback})`;
  const help = axis ? def.axis!.help : def.helpIn?.[command]?.help ?? def.help;
  return `  ${(names + negation).padEnd(38)} ${help}${range}${needs}${shown}`;
}

/** The help section an option is listed under in `command`. */
function groupOf(def: AnyOption, command: Command): string {
  return isAxis(def, command) ? "sweep axes" : def.helpIn?.[command]?.group ?? def.group;
}

/**
 * Help for aiobench or one subcommand, options grouped with their ranges, defaults and examples.
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
  const defs = option_table.filter((def) => def.commands.includes(topic));
  for (const [group, title] of Object.entries(group_titles)) {
    const rows = defs.filter((def) => groupOf(def, topic) === group);
    if (rows.length === 0) continue;
    lines.push(`${title}:`, ...rows.map((def) => optionLine(def, topic)), "");
  }
  if (defs.length > 0 && topic !== "doctor") {
    lines.push(
      "Sizes take binary suffixes K/M/G/T (1M = 1048576; KB, KiB, MiB... also work).",
      "Durations: 10 (seconds), 500ms, 30s, 2m, 1h.",
      "Names take snake_case or kebab-case (--block_size = --block-size); values go as --flag VALUE",
      "or --flag=VALUE; switches take --flag, --no-flag or --flag=true|false|on|off|1|0.",
      "",
    );
  }
  if (info.notes !== undefined) lines.push(...info.notes, "");
  lines.push("Examples:", ...info.examples.map((example) => `  ${example}`));
  return lines.join("\n") + "\n";
}
