/** Shared data shapes: the validated configuration and the `aiobench/1` result. */

/** The IO engine; `auto` picks io_uring and falls back to libaio, then psync, with a reason. */
export type Engine = "auto" | "io_uring" | "libaio" | "psync";

/** One workload; each gets its own entry in `results[]`. */
export type Workload = "read" | "write" | "randread" | "randwrite" | "randrw";

/** A fully validated benchmark configuration (plain data; safe to pass to workers). */
export interface BenchConfig {
  /** Workloads to run, in order (the default run is `["write", "read"]`). */
  workloads: Workload[];
  /** `--read_file`: every worker reads this file. */
  readFile?: string;
  /** `--write_file`: worker i writes `<writeFile>.<i>`. */
  writeFile?: string;
  /** `--folder` (repeatable): worker i uses a file in `folders[i % folders.length]`. */
  folders: string[];
  /** True for the no-argument run: a temporary file in `defaultDir`, write then read, removed after. */
  defaultRun: boolean;
  /** Directory of the default run (the current directory). */
  defaultDir?: string;
  /** Bytes per worker per loop; undefined means the read file's size. */
  ioSizeBytes?: number;
  blockSizeBytes: number;
  queueDepth: number;
  singleSubmit: boolean;
  overlapEvents: boolean;
  /** Undefined: synchronous read/write schedule; a number (even 1): async pread/pwrite + wait. */
  ioParallel?: number;
  threads: number;
  loops: number;
  warmupLoops: number;
  includeWarmupTime: boolean;
  validate: boolean;
  force: boolean;
  keep: boolean;
  verbose: boolean;
  /** `--json FILE`, or `-` for stdout. */
  json?: string;
  engine: Engine;
  /** Open without O_DIRECT (marked in the report). */
  buffered: boolean;
  /** mlock the IO buffers. */
  mlock: boolean;
  fixedbufs: boolean;
  registerfiles: boolean;
  sqthreadPoll: boolean;
  sqthreadPollCpu?: number;
  hipri: boolean;
  nonvectored: boolean;
  /**
   * `--slot_buffers`: each in-flight IO uses its own block-size buffer (fio's memory footprint)
   * instead of one buffer of `--io_size` (ds_aio's).
   */
  slotBuffers?: boolean;
  /** `--hugepages`: IO buffers on transparent huge pages (DeepSpeed's and fio's usually aren't). */
  hugePages?: boolean;
  /** Record per-IO latency (on by default; `--no_latency` to measure its cost). */
  latency: boolean;
  /** Percentage of reads in `randrw`. */
  rwmixread: number;
  /** Seed for random offsets and data patterns. */
  seed: number;
  /** `--runtime` in seconds (with `timeBased`, loop over the region until it is up). */
  runtimeS?: number;
  timeBased: boolean;
  rampTimeS: number;
  logIntervalS?: number;
  gpu: boolean;
  gpuId: number;
  folderToDeviceMapping: Record<string, number>;
  useGds: boolean;
  useAcceleratorPinMemory: boolean;
  /** `--gpu` data path: `overlap` (chunked, copies overlap IO; default) or `bounce` (as ds_aio). */
  gpuMode?: "overlap" | "bounce";
  /** `--gpu` overlap chunk in bytes (a block-size multiple); default: see lib/gpu.ts. */
  gpuChunkBytes?: number;
}

/** Latency summary in microseconds. */
export interface LatencySummary {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
  mean: number;
  count: number;
}

/** What one worker measured for one workload. */
export interface WorkerResult {
  worker: number;
  path: string;
  bytes: number;
  ios: number;
  taskSeconds: number;
  e2eSeconds: number;
  errors: number;
  /** Merged latency histogram buckets (see zig/src/histogram.zig), sparse as [index, count]. */
  histogram: [number, number][];
  latencyMinNs: number;
  latencyMaxNs: number;
  latencySumNs: number;
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  sqesSubmitted: number;
  enterCalls: number;
  shortResubmits: number;
  /** The run was stopped before this worker finished its loops. */
  partial: boolean;
  loopsDone: number;
  /** `--gpu`: the worker's device and its file-IO-only seconds (task time is file ⇄ GPU). */
  gpu?: {
    device: number;
    deviceName: string;
    mode: "overlap" | "bounce" | "gds";
    chunkBytes: number;
    ioSeconds: number;
  };
  /** `--log_interval`: every lane's interval records (merged by index in lib/intervals.ts). */
  intervals?: { intervalS: number; samples: IntervalSample[] };
  /** Process CPU over the timed region (every thread; measured by worker 0 only). */
  processCpuUserSeconds?: number;
  processCpuSystemSeconds?: number;
}

/** One lane's record of one `--log_interval` interval (see `AioHandle.intervals`). */
export interface IntervalSample {
  /** The interval covers [index, index + 1) × interval from the lane's first measured IO. */
  index: number;
  /** Seconds from the lane's origin to the interval's end, as the lane noticed it. */
  endS: number;
  bytes: number;
  ios: number;
  /** p99 completion latency in ns; 0 without latency recording. */
  p99Ns: number;
}

/** One entry of `results[]` in the `aiobench/1` JSON. */
export interface OpResult {
  op: Workload;
  bytes: number;
  task_latency_s: number;
  task_gib_s: number;
  e2e_latency_s: number;
  e2e_gib_s: number;
  iops: number;
  latency_us: LatencySummary | null;
  cpu: {
    user_s: number;
    sys_s: number;
    ios_per_cpu_s: number;
    cpu_us_per_io: number;
    /** What user_s/sys_s measure: the whole process over the timed region, or the IO threads. */
    source?: "process" | "threads";
    /** The IO threads' own CPU (RUSAGE_THREAD, summed over workers and lanes). */
    threads_user_s?: number;
    threads_sys_s?: number;
  };
  errors: number;
  partial: boolean;
  workers: Array<{
    worker: number;
    path: string;
    bytes: number;
    ios: number;
    task_latency_s: number;
    e2e_latency_s: number;
    errors: number;
    /** This worker's IO threads' CPU. */
    cpu_user_s?: number;
    cpu_sys_s?: number;
  }>;
  intervals?: Array<{ t_s: number; bytes: number; iops: number; p99_us: number | null }>;
  /** `--gpu`: IO-only speed and end-to-end file ⇄ GPU memory speed (= the task speed). */
  gpu?: {
    devices: number[];
    device_names: string[];
    mode: "overlap" | "bounce" | "gds";
    chunk_bytes: number;
    io_latency_s: number;
    io_gib_s: number;
    e2e_latency_s: number;
    e2e_gib_s: number;
  };
  /** The merged per-IO latency histogram, sparse `[bucket, count]` (see lib/histogram.ts). */
  latency_histogram?: [number, number][];
}

/** The whole `aiobench/1` document. */
export interface BenchResult {
  schema: "aiobench/1";
  version: string;
  started_at: string;
  config: Record<string, unknown>;
  env: Record<string, unknown>;
  results: OpResult[];
  partial: boolean;
}
