/**
 * `aiobench zero`'s options: one table (the same `OptionSpec` rows and argv scanner as the other
 * subcommands), its help text, and what a command line turns into.
 *
 * @module
 */
import { closest, scanArgv, type ScanSpec } from "../cli/scan.ts";
import type { NativeEngine } from "../../ffi/handle.ts";
import { parseDuration, parseSize, showValue, UsageError } from "../common/size.ts";
import { parseParamCount } from "./model.ts";
import { modelled, not_modelled } from "./report.ts";
import type { ParamDtype } from "./settings.ts";

/** What a `zero` command line says (undefined: not given). */
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
  dryRun: boolean;
  verbose: boolean;
  help: boolean;
}

const ranks_max = 4096;
const steps_max = 1000;

function defaults(): ZeroCli {
  return {
    ranks: 1,
    nvmePaths: [],
    steps: 3,
    computeS: 0,
    updateS: 0,
    engine: "auto",
    keep: false,
    dryRun: false,
    verbose: false,
    help: false,
  };
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text.trim().replace(/_/g, ""));
  const scientific = /^\s*\d+(\.\d+)?e\d+\s*$/i.test(text);
  if (!(/^\s*\d[\d_]*\s*$/.test(text) || scientific) || !Number.isSafeInteger(value)) {
    throw new UsageError(`${flag} ${showValue(text)} is not a whole number; use ${min}..${max}`);
  }
  if (value < min || value > max) {
    throw new UsageError(`${flag} ${value} is out of range: use ${min}..${max}`);
  }
  return value;
}

function choice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === text.trim().toLowerCase());
  if (found) return found;
  throw new UsageError(`${flag} ${showValue(text)} is not one of ${choices.join(", ")}`);
}

/** One row of zero's table: what the scanner needs, its help, and how a value applies. */
interface Row extends ScanSpec {
  kind: "switch" | "value";
  group: string;
  help: string;
  placeholder?: string;
  defaultText?: string;
  repeatable?: boolean;
  commands: readonly string[];
  apply: (state: ZeroCli, value: string | boolean, flag: string) => void;
}

function row(
  name: string,
  kind: Row["kind"],
  group: string,
  help: string,
  apply: Row["apply"],
  extra: Partial<Row> = {},
): Row {
  return { name, kind, group, help, apply, commands: [], ...extra };
}

/** The option table of `aiobench zero`. */
export const zero_options: readonly Row[] = [
  row(
    "params",
    "value",
    "model",
    "model size: 70B, 1.3B, 355M (a GPT-style decoder of about that size)",
    (s, v, f) => {
      const n = parseParamCount(String(v));
      if (n === undefined) {
        throw new UsageError(
          `${f} ${showValue(String(v))} is not a parameter count; e.g. 70B, 1.3B, 355M`,
        );
      }
      s.params = n;
    },
    { placeholder: "COUNT", example: "70B" },
  ),
  row(
    "hidden",
    "value",
    "model",
    "hidden size (instead of the one --params implies)",
    (s, v, f) => {
      s.hidden = integer(String(v), f, 1, 1 << 20);
    },
    { placeholder: "N", example: "8192" },
  ),
  row(
    "layers",
    "value",
    "model",
    "transformer layers (instead of the count --params implies)",
    (s, v, f) => {
      s.layers = integer(String(v), f, 1, 1 << 16);
    },
    { placeholder: "N", example: "80" },
  ),
  row("vocab", "value", "model", "vocabulary size", (s, v, f) => {
    s.vocab = integer(String(v), f, 1, 1 << 24);
  }, { placeholder: "N", example: "32000", defaultText: "50304" }),
  row(
    "ds_config",
    "value",
    "deepspeed",
    "take offload, sub_group_size, aio and dtype from this DeepSpeed config (flags override it)",
    (s, v) => {
      s.dsConfig = String(v);
    },
    { placeholder: "FILE", example: "ds_config.json" },
  ),
  row("offload", "value", "deepspeed", "what goes to NVMe: optimizer, param or both", (s, v, f) => {
    s.offload = choice(String(v), f, ["optimizer", "param", "both"] as const);
  }, { placeholder: "WHAT", example: "both", defaultText: "the config's, else both" }),
  row(
    "nvme_path",
    "value",
    "deepspeed",
    "a folder on the NVMe drive; repeat for more drives (rank r uses the (r mod n)th)",
    (s, v) => {
      s.nvmePaths.push(String(v));
    },
    { placeholder: "DIR", example: "/mnt/nvme0", repeatable: true, defaultText: "the config's" },
  ),
  row(
    "ranks",
    "value",
    "deepspeed",
    "data-parallel ranks on this node (each replays its own share)",
    (s, v, f) => {
      s.ranks = integer(String(v), f, 1, ranks_max);
    },
    { placeholder: "N", example: "8", defaultText: "1" },
  ),
  row(
    "sub_group_size",
    "value",
    "deepspeed",
    "zero_optimization.sub_group_size in elements",
    (s, v, f) => {
      s.subGroupSize = integer(String(v), f, 1, Number.MAX_SAFE_INTEGER);
    },
    { placeholder: "N", example: "1e8", defaultText: "1e9" },
  ),
  row("pipeline_read", "switch", "deepspeed", "offload_optimizer.pipeline_read", (s, v) => {
    s.pipelineRead = v === true;
  }),
  row("pipeline_write", "switch", "deepspeed", "offload_optimizer.pipeline_write", (s, v) => {
    s.pipelineWrite = v === true;
  }),
  row("buffer_count", "value", "deepspeed", "offload_optimizer.buffer_count", (s, v, f) => {
    s.bufferCount = integer(String(v), f, 1, 1024);
  }, { placeholder: "N", example: "12", defaultText: "4" }),
  row(
    "max_in_cpu",
    "value",
    "deepspeed",
    "offload_param.max_in_cpu: parameter elements kept in CPU memory",
    (s, v, f) => {
      s.maxInCpu = integer(String(v), f, 0, Number.MAX_SAFE_INTEGER);
    },
    { placeholder: "N", example: "0", defaultText: "1e9" },
  ),
  row("param_buffer_count", "value", "deepspeed", "offload_param.buffer_count", (s, v, f) => {
    s.paramBufferCount = integer(String(v), f, 1, 4096);
  }, { placeholder: "N", example: "16", defaultText: "5" }),
  row(
    "max_reuse_distance",
    "value",
    "deepspeed",
    "zero_optimization.stage3_max_reuse_distance in elements",
    (s, v, f) => {
      s.maxReuseDistance = integer(String(v), f, 0, Number.MAX_SAFE_INTEGER);
    },
    { placeholder: "N", example: "0", defaultText: "1e9", aliases: ["stage3_max_reuse_distance"] },
  ),
  row("dtype", "value", "deepspeed", "parameter dtype: fp16, bf16 or fp32", (s, v, f) => {
    const d = choice(String(v), f, ["fp16", "bf16", "fp32"] as const);
    s.dtype = d === "fp16" ? "float16" : d === "bf16" ? "bfloat16" : "float32";
  }, { placeholder: "TYPE", example: "bf16", defaultText: "the config's, else bf16" }),
  row("block_size", "value", "aio", "aio.block_size", (s, v, f) => {
    s.blockSizeBytes = parseSize(String(v), f);
  }, { placeholder: "SIZE", example: "1M", defaultText: "1M" }),
  row("queue_depth", "value", "aio", "aio.queue_depth", (s, v, f) => {
    s.queueDepth = integer(String(v), f, 1, 4096);
  }, { placeholder: "N", example: "32", defaultText: "8" }),
  row(
    "intra_op_parallelism",
    "value",
    "aio",
    "aio.intra_op_parallelism (threads per handle)",
    (s, v, f) => {
      s.intraOpParallelism = integer(String(v), f, 1, 64);
    },
    { placeholder: "N", example: "2", aliases: ["io_parallel"], defaultText: "1" },
  ),
  row("single_submit", "switch", "aio", "aio.single_submit", (s, v) => {
    s.singleSubmit = v === true;
  }),
  row(
    "overlap_events",
    "switch",
    "aio",
    "aio.overlap_events (on unless --no-overlap_events)",
    (s, v) => {
      s.overlapEvents = v === true;
    },
  ),
  row("steps", "value", "replay", "measured steps after one warm-up step", (s, v, f) => {
    s.steps = integer(String(v), f, 1, steps_max);
  }, { placeholder: "K", example: "5", defaultText: "3" }),
  row(
    "compute_s",
    "value",
    "replay",
    "seconds of GPU forward + backward per step (a sleep, split 1:2 and spread by module size)",
    (s, v, f) => {
      s.computeS = parseDuration(String(v), f);
    },
    { placeholder: "S", example: "2.0", defaultText: "0" },
  ),
  row(
    "update_s",
    "value",
    "replay",
    "seconds of CPU optimizer update per step (a sleep, spread over sub-groups by size)",
    (s, v, f) => {
      s.updateS = parseDuration(String(v), f);
    },
    { placeholder: "S", example: "0.5", defaultText: "0" },
  ),
  row(
    "engine",
    "value",
    "replay",
    "auto (io_uring, else libaio, else psync), io_uring, libaio or psync",
    (s, v, f) => {
      s.engine = choice(String(v), f, ["auto", "io_uring", "libaio", "psync"] as const);
    },
    { placeholder: "NAME", example: "libaio", defaultText: "auto" },
  ),
  row("keep", "switch", "output", "keep the swap files", (s, v) => {
    s.keep = v === true;
  }),
  row("dry_run", "switch", "output", "print the plan and the space it needs; no IO", (s, v) => {
    s.dryRun = v === true;
  }),
  row(
    "json",
    "value",
    "output",
    "write the aiobench-zero/1 document to FILE (- for stdout)",
    (s, v) => {
      s.json = String(v);
    },
    { placeholder: "FILE", example: "zero.json" },
  ),
  row(
    "report",
    "value",
    "output",
    "write an offline HTML report with a timeline per rank",
    (s, v) => {
      s.report = String(v);
    },
    { placeholder: "FILE", example: "zero.html" },
  ),
  row("verbose", "switch", "output", "print each phase as it runs", (s, v) => {
    s.verbose = v === true;
  }, { short: "v" }),
  row("help", "switch", "output", "this help", (s, v) => {
    s.help = v === true;
  }, { short: "h" }),
];

/** Parses the words after `zero`. */
export function parseZeroArgs(argv: readonly string[]): ZeroCli {
  const scanned = scanArgv(argv, {
    specs: zero_options,
    unknown: (token, name) => {
      const names = zero_options.flatMap((o) => [o.name, ...(o.aliases ?? [])]);
      const near = closest(name, names);
      throw new UsageError(
        `unknown option ${token} for aiobench zero${near ? `; did you mean --${near}?` : ""}`,
      );
    },
  });
  if (scanned.positional.length > 0) {
    throw new UsageError(
      `aiobench zero takes no words, got ${
        showValue(scanned.positional[0])
      }; see aiobench zero --help`,
    );
  }
  const cli = defaults();
  for (const f of scanned.flags) f.spec.apply(cli, f.value, f.flag);
  return cli;
}

const group_titles: Record<string, string> = {
  model: "Model",
  deepspeed: "DeepSpeed (override --ds_config)",
  aio: "DeepSpeed aio section",
  replay: "Replay",
  output: "Output",
};

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

/** `aiobench zero --help`. */
export function zeroHelp(): string {
  const lines = [
    "usage: aiobench zero (--params COUNT | --hidden N --layers N) [--ds_config FILE] [--nvme_path DIR ...] [options]",
    "",
    "Replays the NVMe traffic of DeepSpeed ZeRO-Infinity training steps (ZeRO-3 with optimizer",
    "and/or parameter offload to NVMe) on the real drives, without a model or a GPU, and says",
    "whether the NVMe bounds the step.",
    "",
  ];
  for (const [group, title] of Object.entries(group_titles)) {
    lines.push(`${title}:`);
    for (const o of zero_options.filter((x) => x.group === group)) {
      const names = [`--${o.name}`, ...(o.aliases ?? []).map((a) => `--${a}`)];
      if (o.short) names.unshift(`-${o.short}`);
      const flag = `${names.join(", ")}${o.placeholder ? ` ${o.placeholder}` : ""}`;
      const def = o.defaultText ? ` (default ${o.defaultText})` : "";
      lines.push(`  ${flag.padEnd(34)} ${o.help}${def}`);
    }
    lines.push("");
  }
  lines.push("Modelled:", ...modelled.flatMap((m) => wrap(m)), "");
  lines.push("Not modelled:", ...not_modelled.flatMap((m) => wrap(m)), "");
  lines.push(
    "Examples:",
    "  aiobench zero --params 70B --ranks 8 --nvme_path /mnt/nvme0 --nvme_path /mnt/nvme1 --compute_s 2.0",
    "  aiobench zero --ds_config ds_config.json --params 13B --ranks 4 --report zero.html",
    "  aiobench zero --params 7B --offload optimizer --nvme_path /mnt/nvme --dry_run",
  );
  return lines.join("\n") + "\n";
}
