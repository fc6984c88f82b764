/**
 * `aiobench sweep`'s own options (objective and output files). Its axes are the benchmark options
 * that have an `axis` in lib/cli/options.ts; lib/sweep/grid.ts expands them.
 *
 * @module
 */
import { type AnyOption, option } from "../cli/option.ts";
import { choice, path } from "../cli/values.ts";

/** What `sweep` optimizes when it picks the best point. */
export type SweepObjective = "read" | "write" | "sum";

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

const objectives = ["read", "write", "sum"] as const satisfies readonly SweepObjective[];

function fileOption(name: string, example: string, help: string): AnyOption {
  return option({ name, type: path("FILE"), example, group: "sweep", help, commands: ["sweep"] });
}

/** Options only `aiobench sweep` takes; their values land in `ParsedCommand.options`. */
export const sweep_options: readonly AnyOption[] = [
  option<SweepObjective>({
    name: "objective",
    type: choice(objectives, "OP"),
    default: "sum",
    example: "read",
    group: "sweep",
    help: "what the best point maximizes: read, write or the sum of both speeds",
    commands: ["sweep"],
  }),
  fileOption("config_out", "ds_config.json", "write the best point as a DeepSpeed aio config"),
  fileOption("report", "sweep.html", "write an offline HTML report: heatmaps, latency"),
  fileOption("resume", "sweep.jsonl", "record points here and skip those already recorded"),
  fileOption("csv", "sweep.csv", "write one CSV row per point"),
];

/** The sweep's settings from its options' values (by option name, defaults filled in). */
export function sweepOptionsOf(values: Record<string, unknown>): SweepOptions {
  const options: SweepOptions = { objective: values.objective as SweepObjective };
  const files = [["config_out", "configOut"], ["report", "report"], ["resume", "resume"], [
    "csv",
    "csv",
  ]] as const;
  for (const [name, field] of files) {
    if (values[name] !== undefined) options[field] = values[name] as string;
  }
  return options;
}
