/**
 * The benchmark options: every option that `run`, `sweep`, `compare` and `doctor` share, each
 * defined once. Config defaults (lib/run/config.ts), help text, sweep axes and `benchmark()`'s
 * defaults are all derived from this table. Subcommand-only options live with their subcommand
 * (lib/sweep/options.ts, lib/compare/options.ts); lib/cli/table.ts puts them together.
 *
 * To add an option: one `option({...})` entry here (or in your subcommand's options file) with
 * its `key` in BenchConfig (or an `apply`/`values` entry for a subcommand's own setting).
 *
 * @module
 */
import { engines, limits, workloads } from "../common/limits.ts";
import { showValue, UsageError } from "../common/size.ts";
import { hasTarget } from "../run/targets.ts";
import type { BenchConfig, Engine, Workload } from "../common/types.ts";
import { type AnyOption, type Command, option, type OptionDef } from "./option.ts";
import {
  choice,
  duration,
  integer,
  parseChoice,
  parseInteger,
  parsePath,
  path,
  size,
  switchValue,
  type ValueType,
} from "./values.ts";

const single_commands: readonly Command[] = ["run", "compare"];
const with_sweep: readonly Command[] = ["run", "sweep", "compare"];
/** The options that measure: every subcommand but doctor, which only looks at the machine. */
const measure_commands: readonly Command[] = with_sweep;
/** doctor's: where to look (--folder, or its PATH) and --json (and --mpi). */
const with_doctor: readonly Command[] = [...measure_commands, "doctor"];
/** Options `aiobench zero` shares: DeepSpeed's aio section, the engine and the output. */
const with_zero: readonly Command[] = [...with_sweep, "zero"];

/** Default `--io_size` of a `--folder` file when none is given. */
export const folder_io_size_default_bytes = 1 << 30;

/** What `--engine` takes: a kernel interface, or one of ds_io's engine names. */
type EngineName = Engine | "aio_handle" | "aio_basic";

const ds_engines = ["aio_handle", "aio_basic"] as const;
const torch_engines = ["torch_io", "torch_fastio"];

/** `--engine`: auto|io_uring|libaio|psync, or ds_io's aio_handle|aio_basic; torch's explained. */
const engine_name: ValueType<EngineName> = {
  kind: "value",
  placeholder: "NAME",
  parse(text, flag) {
    if (torch_engines.includes(text.trim().toLowerCase().replaceAll("-", "_"))) {
      throw new UsageError(
        `${flag} ${showValue(text)} is ds_io's torch engine (torch.save/torch.load through ` +
          "torch, measuring torch's serialization); aiobench has no torch: use --engine " +
          "aio_handle (DeepSpeed's async IO handle) or aio_basic",
      );
    }
    return parseChoice<EngineName>(text, flag, [...engines, ...ds_engines]);
  },
  show: (value) => value,
  range: [...engines, ...ds_engines].join("|"),
};

/** `DIR:GPU` of --folder_to_device_mapping. */
const folder_gpu: ValueType<[string, number]> = {
  kind: "value",
  placeholder: "DIR:GPU",
  parse(text, flag) {
    const colon = text.lastIndexOf(":");
    if (colon <= 0) {
      throw new UsageError(`${flag} ${showValue(text)} needs DIR:GPU, e.g. ${flag} /mnt/nvme0:0`);
    }
    const folder = parsePath(text.slice(0, colon), flag);
    const gpu = parseInteger(text.slice(colon + 1), `${flag} ${showValue(folder)}:`, limits.gpuId);
    return [folder, gpu];
  },
  show: ([folder, gpu]) => `${folder}:${gpu}`,
};

function flagSwitch(
  name: string,
  key: keyof BenchConfig,
  group: string,
  help: string,
  more: Partial<OptionDef<boolean>> = {},
): AnyOption {
  return option<boolean>({
    name,
    key,
    type: switchValue,
    default: false,
    group,
    help,
    commands: measure_commands,
    ...more,
  });
}

/** The benchmark options, in help order within each group. */
export const bench_options: readonly AnyOption[] = [
  option({
    name: "read_file",
    key: "readFile",
    type: path("FILE"),
    example: "/mnt/nvme0/big.bin",
    group: "target",
    help: "read this file (every worker reads all of it)",
    commands: measure_commands,
  }),
  option({
    name: "write_file",
    key: "writeFile",
    type: path("FILE"),
    example: "/mnt/nvme0/out.bin",
    group: "target",
    help: "write FILE.<worker> (one file per worker)",
    commands: measure_commands,
  }),
  option({
    name: "folder",
    type: path("DIR"),
    example: "/mnt/nvme0",
    group: "target",
    help: "write (or with --read, read) a file per worker in DIR; repeat for several drives",
    helpIn: { doctor: { group: "where", help: "the directory to check (the same as PATH)" } },
    commands: with_doctor,
    repeatable: true,
    apply: ({ cfg }, folder) => {
      cfg.folders = [...(cfg.folders ?? []), folder];
    },
  }),
  option<boolean>({
    name: "read",
    type: switchValue,
    group: "target",
    help: "with --folder: read the files instead of writing them (ds_io)",
    commands: single_commands,
  }),
  option({
    name: "io_size",
    aliases: ["write_size"],
    key: "ioSizeBytes",
    type: size,
    example: "1G",
    group: "io shape",
    help: "bytes per worker per loop",
    defaultText: "the read file's size; 1G for --folder",
    env: {
      name: "AIOBENCH_DEFAULT_SIZE",
      when: (cfg) => !hasTarget(cfg),
      hidden: true,
    },
    commands: measure_commands,
  }),
  option({
    name: "block_size",
    key: "blockSizeBytes",
    type: size,
    default: 1 << 20,
    example: "1M",
    group: "io shape",
    help: "bytes per IO request; a multiple of 4K unless --buffered",
    commands: with_zero,
    axis: { default: [1 << 20, 8 << 20], help: "block sizes to try", example: "128K,1M,8M" },
  }),
  option({
    name: "queue_depth",
    key: "queueDepth",
    type: integer(limits.queueDepth),
    default: 32,
    example: "32",
    group: "io shape",
    help: "IOs in flight per handle",
    defaults: { zero: 8 },
    commands: with_zero,
    axis: { default: [32, 128], help: "queue depths to try", example: "32,128" },
  }),
  option({
    name: "threads",
    aliases: ["multi_process"],
    key: "threads",
    type: integer(limits.threads),
    default: 1,
    example: "4",
    group: "schedule",
    help: "workers, each with its own handle and file",
    commands: measure_commands,
  }),
  flagSwitch(
    "overlap_events",
    "overlapEvents",
    "schedule",
    "keep the queue full, reaping and resubmitting as IOs complete",
    {
      defaults: { default_run: true, ds_io: true, zero: true },
      commands: with_zero,
      axis: { default: [true, false], help: "overlap settings to try", example: "on,off" },
    },
  ),
  option<boolean>({
    name: "sequential_requests",
    type: switchValue,
    group: "schedule",
    help: "ds_io spelling of --no-overlap_events",
    commands: single_commands,
    apply: ({ cfg }, on) => {
      cfg.overlapEvents = !on;
    },
  }),
  flagSwitch(
    "single_submit",
    "singleSubmit",
    "schedule",
    "submit IOs one at a time instead of in batches",
    {
      commands: with_zero,
      axis: { default: [false, true], help: "submit settings to try", example: "off,on" },
    },
  ),
  option({
    name: "io_parallel",
    aliases: ["intra_op_parallelism"],
    key: "ioParallel",
    type: integer(limits.ioParallel),
    example: "4",
    group: "schedule",
    help: "async pread/pwrite + wait with N threads per handle (DeepSpeed's config calls it " +
      "intra_op_parallelism)",
    defaultText: "unset: synchronous read/write",
    // compare is aiobench's like-for-like with fio, not a DeepSpeed command line.
    defaults: { ds_io: 1, zero: 1, compare: undefined },
    commands: with_zero,
    axis: {
      default: [1, 2, 4, 8],
      help: "io_parallel values to try; sync means unset",
      example: "sync,1,2,4,8",
      unset: ["sync", "none", "unset"],
    },
  }),
  option({
    name: "loops",
    key: "loops",
    type: integer(limits.loops),
    default: 1,
    defaults: { sweep: 3, ds_io: 3, compare: 1 },
    example: "3",
    group: "schedule",
    help: "timed loops per worker (sweep: per config)",
    commands: measure_commands,
  }),
  option({
    name: "warmup_loops",
    key: "warmupLoops",
    type: integer(limits.warmupLoops),
    default: 0,
    defaults: { sweep: 1, ds_io: 1, compare: 0 },
    example: "1",
    group: "schedule",
    help: "untimed loops before the timed ones",
    commands: measure_commands,
  }),
  flagSwitch(
    "include_warmup_time",
    "includeWarmupTime",
    "schedule",
    "count the warm-up loops in the results",
  ),
  flagSwitch(
    "different_file_each_iteration",
    "differentFileEachIteration",
    "schedule",
    "each loop (warm-up included) of a worker uses its own file in the --folder, as ds_io's " +
      "option does (aiobench_<worker>_<loop>.dat)",
  ),
  option<boolean>({
    name: "handle",
    type: switchValue,
    group: "schedule",
    help: "accepted for ds_aio scripts: aiobench uses a handle unless --engine aio_basic " +
      "(ds_aio without --handle runs DeepSpeed's aio_basic: give --engine aio_basic for that)",
    commands: measure_commands,
    apply: () => {},
  }),
  flagSwitch("verbose", "verbose", "output", "print per-worker detail", {
    short: "v",
    commands: with_zero,
  }),
  option({
    name: "json",
    key: "json",
    type: path("FILE|-"),
    example: "out.json",
    group: "output",
    help: "write the aiobench/1 JSON report (zero: aiobench-zero/1) to FILE, or to stdout with -",
    commands: [...with_zero, "doctor"],
  }),
  flagSwitch(
    "latency",
    "latency",
    "output",
    "record per-IO latency; --no_latency measures without it",
    { default: true },
  ),
  option({
    name: "log_interval",
    key: "logIntervalS",
    type: duration(),
    example: "1s",
    group: "output",
    help: "report throughput every DURATION",
    commands: measure_commands,
  }),
  flagSwitch("validate", "validate", "safety", "check the data after the timed region"),
  flagSwitch("force", "force", "safety", "overwrite existing files and allow block devices"),
  flagSwitch("keep", "keep", "safety", "keep the files aiobench created", { commands: with_zero }),
  option<EngineName>({
    name: "engine",
    key: "engine",
    type: engine_name,
    default: "auto",
    example: "io_uring",
    group: "engine",
    help: "the kernel interface: auto (io_uring, else libaio, else psync, with a printed " +
      "reason), io_uring, libaio or psync; and ds_io's names: aio_handle (one handle per " +
      "worker for the run: aiobench's way, the default) or aio_basic (DeepSpeed's non-handle " +
      "path: every call opens the file and sets up a fresh aio context, inside the timing)",
    commands: with_zero,
    apply: ({ cfg }, name) => {
      if (name === "aio_handle" || name === "aio_basic") cfg.dsEngine = name;
      else cfg.engine = name;
    },
  }),
  option({
    name: "mpi",
    key: "mpi",
    type: choice(["auto", "on", "off"] as const, "MODE"),
    default: "auto",
    example: "off",
    group: "mpi",
    help: "run across MPI ranks: auto under mpiexec/srun with 2+ ranks, on always, off never",
    commands: ["run", "sweep", "doctor"],
  }),
  flagSwitch("buffered", "buffered", "engine", "open without O_DIRECT (page cache)"),
  flagSwitch("mlock", "mlock", "engine", "mlock the IO buffers"),
  flagSwitch("fixedbufs", "fixedbufs", "engine", "io_uring: register the buffers"),
  flagSwitch("registerfiles", "registerfiles", "engine", "io_uring: register the files"),
  flagSwitch("sqthread_poll", "sqthreadPoll", "engine", "io_uring: kernel SQ polling thread"),
  option({
    name: "sqthread_poll_cpu",
    key: "sqthreadPollCpu",
    type: integer(limits.sqthreadPollCpu),
    example: "2",
    group: "engine",
    help: "io_uring: pin the SQ polling thread to CPU N",
    needs: { key: "sqthreadPoll", flag: "--sqthread_poll" },
    commands: measure_commands,
  }),
  flagSwitch("hipri", "hipri", "engine", "io_uring: polled completions (IOPOLL)"),
  flagSwitch("nonvectored", "nonvectored", "engine", "io_uring: plain READ/WRITE, not READV"),
  flagSwitch(
    "hugepages",
    "hugePages",
    "engine",
    "IO buffers on transparent huge pages (fewer page pins per IO; DeepSpeed's pinned buffers usually aren't)",
  ),
  flagSwitch(
    "kernel_page_order",
    "kernelPageOrder",
    "engine",
    "keep IO buffer pages in the kernel's physical order (default, as root: reversed or scattered 2 MiB chunks are faulted in again, so IOs aren't split)",
  ),
  flagSwitch(
    "slot_buffers",
    "slotBuffers",
    "engine",
    "each in-flight IO uses its own block-size buffer, as fio does, not one buffer of --io_size",
  ),
  option<Workload>({
    name: "rw",
    type: choice(workloads, "OP"),
    example: "randread",
    group: "workloads",
    help: "the workload instead of the target's default",
    commands: single_commands,
  }),
  option({
    name: "rwmixread",
    key: "rwmixread",
    type: integer(limits.rwmixread, "PCT"),
    default: 50,
    example: "70",
    group: "workloads",
    help: "percentage of reads in randrw",
    commands: single_commands,
  }),
  option({
    name: "seed",
    key: "seed",
    type: { ...integer(limits.seed), range: undefined },
    default: 0,
    example: "42",
    group: "workloads",
    help: "seed for random offsets and data",
    commands: measure_commands,
  }),
  option({
    name: "runtime",
    key: "runtimeS",
    type: duration(),
    example: "30s",
    group: "workloads",
    help: "stop after DURATION (10, 500ms, 30s, 2m, 1h)",
    commands: measure_commands,
  }),
  flagSwitch(
    "time_based",
    "timeBased",
    "workloads",
    "loop over the region until --runtime is up",
    {
      needs: {
        key: "runtimeS",
        flag: "--runtime",
        message: "--time_based needs --runtime, e.g. --time_based --runtime 30s",
      },
    },
  ),
  option({
    name: "ramp_time",
    key: "rampTimeS",
    type: duration({ allowZero: true }),
    default: 0,
    example: "5s",
    group: "workloads",
    help: "run this long before measuring",
    commands: measure_commands,
  }),
  flagSwitch("gpu", "gpu", "gpu", "move data to and from GPU memory"),
  option({
    name: "gpu_id",
    key: "gpuId",
    type: integer(limits.gpuId),
    default: 0,
    example: "0",
    group: "gpu",
    help: "the GPU to use",
    commands: measure_commands,
  }),
  option({
    name: "folder_to_device_mapping",
    type: folder_gpu,
    example: "/mnt/nvme0:0",
    group: "gpu",
    help: "pair folders with GPUs (several after one flag, as ds_io takes them, or the flag " +
      "again); the folders become the targets, one worker each (ds_io's processes)",
    commands: measure_commands,
    repeatable: true,
    many: true,
    apply: ({ cfg }, [folder, gpu]) => {
      cfg.folderToDeviceMapping = { ...cfg.folderToDeviceMapping, [folder]: gpu };
    },
  }),
  option({
    name: "gpu_mode",
    key: "gpuMode",
    type: choice(["overlap", "bounce"] as const, "MODE"),
    default: "overlap",
    example: "bounce",
    group: "gpu",
    help: "overlap: chunked copies overlapped with IO; bounce: copy after the whole IO, as ds_aio",
    env: { name: "AIOBENCH_GPU_MODE", invalid: "is not a GPU mode; use overlap or bounce" },
    needs: { key: "gpu", flag: "--gpu" },
    commands: measure_commands,
  }),
  option({
    name: "gpu_chunk",
    key: "gpuChunkBytes",
    type: size,
    example: "64M",
    group: "gpu",
    help: "bytes per host⇄GPU copy in overlap mode (a multiple of --block_size)",
    defaultText: "2 × queue_depth × block_size, at least 64M",
    env: { name: "AIOBENCH_GPU_CHUNK", when: (cfg) => cfg.gpuMode !== "bounce" },
    needs: { key: "gpu", flag: "--gpu" },
    commands: measure_commands,
  }),
  flagSwitch("use_gds", "useGds", "gpu", "GPUDirect Storage", {
    needs: {
      key: "gpu",
      flag: "--gpu",
      message: "--use_gds reads into GPU memory and needs --gpu; add --gpu",
    },
  }),
  flagSwitch(
    "use_accelerator_pin_memory",
    "useAcceleratorPinMemory",
    "gpu",
    "pin host buffers through the accelerator",
  ),
  flagSwitch(
    "slow_bounce_buffer",
    "slowBounceBuffer",
    "gpu",
    "ds_io's: the bounce path with its host buffer allocated and pinned inside every timed " +
      "call (as DeepSpeed does for a GPU tensor given to the handle), not once before",
    { needs: { key: "gpu", flag: "--gpu" } },
  ),
];
