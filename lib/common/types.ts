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
  /** `--block_size`: bytes per IO request. */
  blockSizeBytes: number;
  /** `--queue_depth`: IOs in flight per handle (1..4096). */
  queueDepth: number;
  /** `--single_submit`: submit IOs one at a time instead of in batches. */
  singleSubmit: boolean;
  /** `--overlap_events`: keep the queue full, resubmitting as IOs complete. */
  overlapEvents: boolean;
  /**
   * Unset (absent): the synchronous read/write schedule; a number (even 1): async pread/pwrite +
   * wait with that many lanes. Unset is always absent here and in sweep axes (`sync`), `null` in
   * JSON documents, and 0 only at the native handle.
   */
  ioParallel?: number;
  /**
   * `--different_file_each_iteration` (ds_io): each loop (warm-up included) of a worker uses its
   * own file in the folder, `aiobench_<worker>_<loop>.dat`. Folder targets only.
   */
  differentFileEachIteration?: boolean;
  /** `--threads`: workers, each with its own handle and file (1..256). */
  threads: number;
  /** `--loops`: timed loops per worker. */
  loops: number;
  /** `--warmup_loops`: untimed loops per worker before the timed ones. */
  warmupLoops: number;
  /** `--include_warmup_time`: count the warm-up loops in the results. */
  includeWarmupTime: boolean;
  /** `--validate`: check the data after the timed region. */
  validate: boolean;
  /** `--force`: overwrite existing files and allow block devices. */
  force: boolean;
  /** `--keep`: keep the files aiobench created. */
  keep: boolean;
  /** `--verbose`: print per-worker detail. */
  verbose: boolean;
  /** `--json FILE`, or `-` for stdout. */
  json?: string;
  /** `--engine`: the IO engine (default `auto`). */
  engine: Engine;
  /**
   * DeepSpeed's engine: `aio_handle` (default) keeps one handle per worker for the whole run;
   * `aio_basic` opens the file and builds a fresh aio context inside every timed call.
   */
  dsEngine?: "aio_handle" | "aio_basic";
  /** Open without O_DIRECT (marked in the report). */
  buffered: boolean;
  /** mlock the IO buffers. */
  mlock: boolean;
  /** `--fixedbufs`: io_uring registered buffers. */
  fixedbufs: boolean;
  /** `--registerfiles`: io_uring registered files. */
  registerfiles: boolean;
  /** `--sqthread_poll`: io_uring kernel SQ polling thread. */
  sqthreadPoll: boolean;
  /** `--sqthread_poll_cpu`: the CPU index the SQ polling thread is pinned to. */
  sqthreadPollCpu?: number;
  /** `--hipri`: io_uring polled completions (IOPOLL). */
  hipri: boolean;
  /** `--nonvectored`: io_uring plain READ/WRITE instead of READV/WRITEV. */
  nonvectored: boolean;
  /**
   * `--slot_buffers`: each in-flight IO uses its own block-size buffer (fio's memory footprint)
   * instead of one buffer of `--io_size` (ds_aio's).
   */
  slotBuffers?: boolean;
  /** `--hugepages`: IO buffers on transparent huge pages (DeepSpeed's and fio's usually aren't). */
  hugePages?: boolean;
  /**
   * `--kernel_page_order`: leave the IO buffers' pages in the physical order the kernel gave
   * them, instead of faulting a chunk that came out descending in again (zig/src/buffer.zig).
   */
  kernelPageOrder?: boolean;
  /** Record per-IO latency (on by default; `--no_latency` to measure its cost). */
  latency: boolean;
  /** Percentage of reads in `randrw`. */
  rwmixread: number;
  /** Seed for random offsets and data patterns. */
  seed: number;
  /** `--runtime` in seconds (with `timeBased`, loop over the region until it is up). */
  runtimeS?: number;
  /** `--time_based`: loop over the region until `runtimeS` is up. */
  timeBased: boolean;
  /** `--ramp_time` in seconds: run this long before measuring (0 = none). */
  rampTimeS: number;
  /** `--log_interval` in seconds: record throughput and p99 per interval of this length. */
  logIntervalS?: number;
  /** `--gpu`: move data to and from GPU memory. */
  gpu: boolean;
  /** `--gpu_id`: index of the GPU to use. */
  gpuId: number;
  /** `--folder_to_device_mapping`: folder → GPU index; its folders become targets. */
  folderToDeviceMapping: Record<string, number>;
  /** `--use_gds`: GPUDirect Storage (needs `gpu`). */
  useGds: boolean;
  /** `--use_accelerator_pin_memory`: pin host buffers through the accelerator. */
  useAcceleratorPinMemory: boolean;
  /**
   * `--slow_bounce_buffer` (ds_io): the GPU bounce path with its host buffer allocated and
   * pinned inside every timed call, not once before the loops.
   */
  slowBounceBuffer?: boolean;
  /** `--gpu` data path: `overlap` (chunked, copies overlap IO; default) or `bounce` (as ds_aio). */
  gpuMode?: "overlap" | "bounce";
  /** `--gpu` overlap chunk in bytes (a block-size multiple); default: see lib/gpu/plan.ts. */
  gpuChunkBytes?: number;
  /** `--mpi`: `auto` (default) runs across ranks under an MPI launcher, `on` always, `off` never. */
  mpi?: "auto" | "on" | "off";
  /**
   * This process's MPI rank, set by lib/mpi/ for a run across ranks: every file name it creates
   * carries it, so ranks never collide on shared storage. Undefined outside MPI.
   */
  rank?: number;
}

/** Latency summary in microseconds. */
export interface LatencySummary {
  /** Smallest IO latency in µs. */
  min: number;
  /** Median IO latency in µs (from the histogram). */
  p50: number;
  /** 90th percentile IO latency in µs. */
  p90: number;
  /** 99th percentile IO latency in µs. */
  p99: number;
  /** 99.9th percentile IO latency in µs. */
  p99_9: number;
  /** Largest IO latency in µs. */
  max: number;
  /** Mean IO latency in µs. */
  mean: number;
  /** IOs the summary covers. */
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
  /** IORING_SETUP_* flags of the worker's io_uring rings by name (empty for other engines). */
  ringSetupFlags?: string[];
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
  /** `--log_interval`: every lane's interval records (merged by index in lib/run/intervals.ts). */
  intervals?: { intervalS: number; samples: IntervalSample[] };
  /** `--validate`: the bytes checked against the file, and the first difference if any. */
  validation?: {
    bytes: number;
    mismatch: { message: string; offset: number | null } | null;
  };
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
  /** The workload measured. */
  op: Workload;
  /** Bytes moved by all workers (Σ io_size × loops). */
  bytes: number;
  /** Task time in seconds: the largest per-worker time inside the IO calls (ds_aio's). */
  task_latency_s: number;
  /** `bytes / task_latency_s` in GiB/s (ds_aio's "Task Speed", printed as GB/sec). */
  task_gib_s: number;
  /** E2E time in seconds: the largest per-worker time of the IO calls plus the barriers after. */
  e2e_latency_s: number;
  /** `bytes / e2e_latency_s` in GiB/s (ds_aio's "E2E Speed"). */
  e2e_gib_s: number;
  /** IOs per second over the task time. */
  iops: number;
  /** Per-IO latency summary in µs; null when no latency was recorded. */
  latency_us: LatencySummary | null;
  /** CPU time over the timed region and its cost per IO. */
  cpu: {
    /** User CPU seconds. */
    user_s: number;
    /** System CPU seconds. */
    sys_s: number;
    /** IOs per CPU second (user + system). */
    ios_per_cpu_s: number;
    /** CPU microseconds (user + system) per IO. */
    cpu_us_per_io: number;
    /** What user_s/sys_s measure: the whole process over the timed region, or the IO threads. */
    source?: "process" | "threads";
    /** The IO threads' own CPU (RUSAGE_THREAD, summed over workers and lanes). */
    threads_user_s?: number;
    /** The IO threads' own system CPU seconds. */
    threads_sys_s?: number;
  };
  /**
   * Engine calls over the timed region (io_uring_enter, io_submit + io_getevents, or
   * pread/pwrite) and IOs per call as t/io_uring's IOS/call: submitted per call, completed per
   * call.
   */
  ios_per_call?: { calls: number; submitted: number; completed: number };
  /** IORING_SETUP_* flags of the rings that did the IO (empty for libaio and psync). */
  ring_setup_flags?: string[];
  /** IOs that failed, over all workers. */
  errors: number;
  /** Some worker was stopped before it finished its loops. */
  partial: boolean;
  /** Per-worker detail: its file, bytes, IOs, task and E2E seconds, errors and CPU seconds. */
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
    /** Under MPI: the rank the worker belongs to (`worker` is its index within that rank). */
    rank?: number;
  }>;
  /** `--log_interval`: per interval its end (s from start), bytes, IOPS, worst lane p99 (µs). */
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
  /**
   * `--validate`'s verdict: each worker's buffer (after its last loop) compared byte for byte
   * with its file, outside the timed region; `ok` is false when any byte differed or a worker
   * was stopped before it could check.
   */
  validate?: {
    ok: boolean;
    /** Workers whose buffers were checked. */
    workers: number;
    /** Bytes each checked worker compared. */
    bytes_per_worker: number;
    /** The distinct files compared against. */
    files: string[];
    /** Workers that could not check (the run was stopped first). */
    unchecked_workers: number;
    /** The first difference (lowest worker), or null. */
    first_mismatch: { worker: number; path: string; offset: number | null; message: string } | null;
  };
  /** The merged per-IO latency histogram, sparse `[bucket, count]` (see lib/common/histogram.ts). */
  latency_histogram?: [number, number][];
}

/** The whole `aiobench/1` document. */
export interface BenchResult {
  /** The document's schema and version. */
  schema: "aiobench/1";
  /** aiobench's version (`VERSION`). */
  version: string;
  /** When the run started, ISO 8601 in UTC. */
  started_at: string;
  /** The configuration as run, with snake_case keys. */
  config: Record<string, unknown>;
  /** The machine: kernel, file system, device, engine chosen and why. */
  env: Record<string, unknown>;
  /** One entry per workload, in run order. */
  results: OpResult[];
  /** The run was stopped, or some worker didn't finish its loops. */
  partial: boolean;
  /** Under MPI: the job (ranks, hosts, the MPI library). */
  mpi?: MpiJob;
  /** Under MPI: every rank's host, state and results (`results[]` above is across all ranks). */
  ranks?: RankEntry[];
  /** Under MPI: per host its ranks, their summed results and the host's environment. */
  hosts?: HostEntry[];
}

/** The MPI job a run spanned. */
export interface MpiJob {
  /** Ranks in the job. */
  size: number;
  /** Distinct hosts (MPI processor names). */
  hosts: number;
  /** The launcher recognized from the environment, or null (`--mpi on` without one). */
  launcher: string | null;
  /** The MPI library loaded: path, ABI (`openmpi`, `mpich` or `standard`) and version line. */
  library: {
    /** Where it was loaded from. */
    path: string;
    /** `openmpi`, `mpich` or `standard` (the MPI-5 ABI). */
    abi: string;
    /** The first line of MPI_Get_library_version. */
    version: string;
  };
}

/** One rank's (or one host's) results for one workload: its own workers only. */
export interface RankOpResult {
  /** The workload. */
  op: Workload;
  /** Bytes its workers moved. */
  bytes: number;
  /** Its slowest worker's task time in seconds. */
  task_latency_s: number;
  /** `bytes / task_latency_s` in GiB/s. */
  task_gib_s: number;
  /** Its slowest worker's E2E time in seconds (the cross-rank barriers included). */
  e2e_latency_s: number;
  /** `bytes / e2e_latency_s` in GiB/s. */
  e2e_gib_s: number;
  /** IOs per second over the task time. */
  iops: number;
  /** Its workers' per-IO latency in µs; null without latency recording. */
  latency_us: LatencySummary | null;
  /** IOs that failed. */
  errors: number;
  /** It was stopped before its loops were done. */
  partial: boolean;
}

/** One rank of an MPI run. */
export interface RankEntry {
  /** Its rank in MPI_COMM_WORLD. */
  rank: number;
  /** Its host (MPI_Get_processor_name). */
  host: string;
  /** `done`, `stopped` (a signal), or `failed` (its own error, in `error`). */
  status: "done" | "stopped" | "failed";
  /** Its own failure, in one line. */
  error?: string;
  /** Per workload, what its workers did. */
  results: RankOpResult[];
  /** The rank's environment, summarized: kernel, file system, device, scheduler, engine, memlock. */
  env: Record<string, unknown>;
}

/** One host of an MPI run. */
export interface HostEntry {
  /** Its name (MPI_Get_processor_name). */
  host: string;
  /** The ranks that ran on it. */
  ranks: number[];
  /** Each workload across the host's ranks (bytes summed, latency the slowest worker's). */
  results: RankOpResult[];
  /** The environment of the host's first rank, summarized as in `RankEntry.env`. */
  env: Record<string, unknown>;
}
