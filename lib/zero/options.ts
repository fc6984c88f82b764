/**
 * `aiobench zero`'s own options (the shared option table's rows for it; the aio section, engine
 * and output options are the benchmark's, in lib/cli/options.ts), its help entry, and what a
 * command line turns into.
 *
 * @module
 */
import type { NativeEngine } from "../../ffi/handle.ts";
import type { ParsedCommand } from "../cli/parse.ts";
import { type AnyOption, option } from "../cli/option.ts";
import { choice, duration, integer, path, switchValue, type ValueType } from "../cli/values.ts";
import { showValue, UsageError } from "../common/size.ts";
import { parseParamCount } from "./model.ts";
import { modelled, not_modelled } from "./report.ts";
import type { ParamDtype } from "./settings.ts";

/** What a `zero` command line says (undefined: not given, so the config or DeepSpeed decides). */
export interface ZeroCli {
  params?: number;
  hidden?: number;
  layers?: number;
  vocab?: number;
  dsConfig?: string;
  ranks: number;
  nvmePaths: string[];
  offload?: "optimizer" | "param" | "both";
  steps: number;
  computeS: number;
  updateS: number;
  pipelineRead?: boolean;
  pipelineWrite?: boolean;
  bufferCount?: number;
  subGroupSize?: number;
  maxInCpu?: number;
  paramBufferCount?: number;
  maxReuseDistance?: number;
  dtype?: ParamDtype;
  blockSizeBytes?: number;
  queueDepth?: number;
  intraOpParallelism?: number;
  singleSubmit?: boolean;
  overlapEvents?: boolean;
  engine: NativeEngine | "auto";
  keep: boolean;
  json?: string;
  report?: string;
  tryAioConfig?: string;
  dryRun: boolean;
  verbose: boolean;
}

const zero: readonly ["zero"] = ["zero"];

/** Element counts as DeepSpeed configs write them: 1000000000, 1e9, 1_000_000. */
function elements(min: number): ValueType<number> {
  return {
    kind: "value",
    placeholder: "N",
    parse(text, flag) {
      const trimmed = text.trim().replaceAll("_", "");
      const value = /^\d+(\.\d+)?(e\d+)?$/i.test(trimmed) ? Number(trimmed) : NaN;
      if (!Number.isSafeInteger(value) || value < min) {
        throw new UsageError(
          `${flag} ${
            showValue(text)
          } is not a whole number of elements >= ${min}; e.g. ${flag} 1e9`,
        );
      }
      return value;
    },
    show: (value) =>
      (value >= 1e6 && value % 1e6 === 0 ? value.toExponential() : String(value))
        .replace("e+", "e"),
  };
}

const param_count: ValueType<number> = {
  kind: "value",
  placeholder: "COUNT",
  parse(text, flag) {
    const value = parseParamCount(text);
    if (value === undefined) {
      throw new UsageError(
        `${flag} ${showValue(text)} is not a parameter count; e.g. 70B, 1.3B, 355M`,
      );
    }
    return value;
  },
  show: String,
};

function zeroOption<T>(
  group: "zero model" | "zero deepspeed" | "zero replay" | "output",
  def: Omit<Parameters<typeof option<T>>[0], "group" | "commands">,
): AnyOption {
  return option<T>({ ...def, group, commands: zero });
}

/** Options only `aiobench zero` takes; their values land in `ParsedCommand.options`. */
export const zero_options: readonly AnyOption[] = [
  zeroOption("zero model", {
    name: "params",
    type: param_count,
    example: "70B",
    help: "model size: a GPT-style decoder of about this many parameters",
  }),
  zeroOption("zero model", {
    name: "hidden",
    type: integer([1, 1 << 20]),
    example: "8192",
    help: "hidden size (instead of the one --params implies)",
  }),
  zeroOption("zero model", {
    name: "layers",
    type: integer([1, 1 << 16]),
    example: "80",
    help: "transformer layers (instead of the count --params implies)",
  }),
  zeroOption("zero model", {
    name: "vocab",
    type: integer([1, 1 << 24]),
    example: "32000",
    help: "vocabulary size",
    defaultText: "50304",
  }),
  zeroOption("zero deepspeed", {
    name: "ds_config",
    type: path("FILE"),
    example: "ds_config.json",
    help: "take offload, sub_group_size, aio and dtype from this DeepSpeed config",
  }),
  zeroOption("zero deepspeed", {
    name: "offload",
    type: choice(["optimizer", "param", "both"] as const, "WHAT"),
    example: "both",
    help: "what goes to NVMe",
    defaultText: "the config's, else both",
  }),
  zeroOption<string>("zero deepspeed", {
    name: "nvme_path",
    type: path("DIR"),
    example: "/mnt/nvme0",
    help: "a folder on an NVMe drive; repeat for more drives (rank r uses the (r mod n)th)",
    defaultText: "the config's",
    repeatable: true,
    apply: ({ values }, value) => {
      values.nvme_path = [...(values.nvme_path as string[] | undefined ?? []), value];
    },
  }),
  zeroOption("zero deepspeed", {
    name: "ranks",
    type: integer([1, 4096]),
    default: 1,
    example: "8",
    help: "data-parallel ranks on this node, each replaying its own share",
  }),
  zeroOption("zero deepspeed", {
    name: "sub_group_size",
    type: elements(1),
    example: "1e8",
    help: "zero_optimization.sub_group_size",
    defaultText: "1e9",
  }),
  zeroOption("zero deepspeed", {
    name: "pipeline_read",
    type: switchValue,
    help: "offload_optimizer.pipeline_read",
  }),
  zeroOption("zero deepspeed", {
    name: "pipeline_write",
    type: switchValue,
    help: "offload_optimizer.pipeline_write",
  }),
  zeroOption("zero deepspeed", {
    name: "buffer_count",
    type: integer([1, 4096]),
    example: "12",
    help: "offload_optimizer.buffer_count",
    defaultText: "4",
  }),
  zeroOption("zero deepspeed", {
    name: "param_buffer_count",
    type: integer([1, 4096]),
    example: "16",
    help: "offload_param.buffer_count",
    defaultText: "5",
  }),
  zeroOption("zero deepspeed", {
    name: "max_in_cpu",
    type: elements(0),
    example: "0",
    help: "offload_param.max_in_cpu: parameter elements kept in CPU memory",
    defaultText: "1e9",
  }),
  zeroOption("zero deepspeed", {
    name: "max_reuse_distance",
    aliases: ["stage3_max_reuse_distance"],
    type: elements(0),
    example: "0",
    help: "zero_optimization.stage3_max_reuse_distance",
    defaultText: "1e9",
  }),
  zeroOption("zero deepspeed", {
    name: "dtype",
    type: choice(["fp16", "bf16", "fp32"] as const, "TYPE"),
    example: "bf16",
    help: "parameter dtype",
    defaultText: "the config's fp16/bf16, else bf16",
  }),
  zeroOption("zero replay", {
    name: "steps",
    type: integer([1, 1000]),
    default: 3,
    example: "5",
    help: "measured steps, after one warm-up step",
  }),
  zeroOption("zero replay", {
    name: "compute_s",
    type: duration({ allowZero: true }),
    default: 0,
    example: "2.0",
    help: "GPU forward + backward time per step (a sleep, split 1:2, spread by module size)",
  }),
  zeroOption("zero replay", {
    name: "update_s",
    type: duration({ allowZero: true }),
    default: 0,
    example: "0.5",
    help: "CPU optimizer update time per step (a sleep, spread over sub-groups by size)",
  }),
  zeroOption("output", {
    name: "report",
    type: path("FILE"),
    example: "zero.html",
    help: "write an offline HTML report: a timeline per rank",
  }),
  zeroOption("zero replay", {
    name: "try_aio_config",
    type: path("FILE"),
    example: "aio.json",
    help:
      "measure the steps again with the aio section of FILE (e.g. from aiobench sweep --config_out)",
  }),
  zeroOption("output", {
    name: "dry_run",
    type: switchValue,
    default: false,
    help: "print the plan and the space it needs; no IO",
  }),
];

/** Wraps a bullet at 100 columns: "  - first line", "    next lines". */
function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "  -";
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > width && line.trim() !== "-") {
      lines.push(line);
      line = "   ";
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** `aiobench help zero`: usage, what it does, what is and is not modelled, examples. */
export const zero_help = {
  usage:
    "aiobench zero (--params COUNT | --hidden N --layers N) [--ds_config FILE] [--nvme_path DIR ...] [options]",
  about:
    "Replay a DeepSpeed ZeRO-Infinity training step's NVMe traffic on the real drives, without a model or a GPU, and say whether the NVMe bounds the step.",
  examples: [
    "aiobench zero --params 70B --ranks 8 --nvme_path /mnt/nvme0 --nvme_path /mnt/nvme1 --compute_s 2.0",
    "aiobench zero --ds_config ds_config.json --params 13B --ranks 4 --report zero.html",
    "aiobench zero --params 7B --offload optimizer --nvme_path /mnt/nvme --dry_run",
  ],
  notes: [
    "The IO shape, schedule and engine options set DeepSpeed's aio section (--io_parallel is its",
    "intra_op_parallelism); not given, they come from --ds_config, else from DeepSpeed's defaults.",
    "",
    "Modelled:",
    ...modelled.flatMap((m) => wrap(m)),
    "Not modelled:",
    ...not_modelled.flatMap((m) => wrap(m)),
  ],
};

/** The zero command line from what `parseArgs` found. */
export function zeroCliOf(parsed: ParsedCommand): ZeroCli {
  const v = parsed.options ?? {};
  const g = parsed.given ?? {};
  const dtype = v.dtype as "fp16" | "bf16" | "fp32" | undefined;
  return {
    params: v.params as number | undefined,
    hidden: v.hidden as number | undefined,
    layers: v.layers as number | undefined,
    vocab: v.vocab as number | undefined,
    dsConfig: v.ds_config as string | undefined,
    ranks: v.ranks as number,
    nvmePaths: (v.nvme_path as string[] | undefined) ?? [],
    offload: v.offload as ZeroCli["offload"],
    steps: v.steps as number,
    computeS: v.compute_s as number,
    updateS: v.update_s as number,
    pipelineRead: v.pipeline_read as boolean | undefined,
    pipelineWrite: v.pipeline_write as boolean | undefined,
    bufferCount: v.buffer_count as number | undefined,
    subGroupSize: v.sub_group_size as number | undefined,
    maxInCpu: v.max_in_cpu as number | undefined,
    paramBufferCount: v.param_buffer_count as number | undefined,
    maxReuseDistance: v.max_reuse_distance as number | undefined,
    dtype: dtype === undefined
      ? undefined
      : dtype === "fp16"
      ? "float16"
      : dtype === "bf16"
      ? "bfloat16"
      : "float32",
    blockSizeBytes: g.blockSizeBytes,
    queueDepth: g.queueDepth,
    intraOpParallelism: g.ioParallel,
    singleSubmit: g.singleSubmit,
    overlapEvents: g.overlapEvents,
    engine: g.engine ?? "auto",
    keep: g.keep ?? false,
    json: g.json,
    report: v.report as string | undefined,
    tryAioConfig: v.try_aio_config as string | undefined,
    dryRun: v.dry_run === true,
    verbose: g.verbose ?? false,
  };
}
