/** The native symbols of libaiobench (zig/src/root.zig); the one place they are declared. */

/** ABI version this TypeScript expects; must equal `aiob_abi_version()` of the loaded library. */
export const ABI_VERSION = 6;

/**
 * Native library symbols for `Deno.dlopen`. Each parameter is commented with its C meaning;
 * a handle is the address `aiob_handle_create` wrote (u64), never a JS object. Calls that can
 * fail return `>= 0` or `-errno` (or `-CODE.*`).
 */
export const symbols = {
  /** The ABI version of the library (see `ABI_VERSION`). */
  aiob_abi_version: { parameters: [], result: "u32" },
  /** How the library was built: an index into `BUILD_MODES` (asserts run in the first two). */
  aiob_build_mode: { parameters: [], result: "u32" },
  /** How many latency histogram buckets a handle keeps. */
  aiob_histogram_buckets: { parameters: [], result: "u32" },
  /** Lower bound in ns of histogram bucket i. */
  aiob_histogram_bucket_low: {
    parameters: [
      "u32", // u32 i: bucket index, < aiob_histogram_buckets()
    ],
    result: "u64",
  },
  /** Width in ns of histogram bucket i. */
  aiob_histogram_bucket_width: {
    parameters: [
      "u32", // u32 i: bucket index, < aiob_histogram_buckets()
    ],
    result: "u64",
  },
  /** Creates a handle (engine rings, lane threads); 0 or -errno. */
  aiob_handle_create: {
    parameters: [
      "buffer", // const u64 params[PARAM.count]: see PARAM and FLAG
      "buffer", // usize *out_handle: receives the handle's address
    ],
    result: "i32",
  },
  /** Releases a handle, waiting for an asynchronous request in flight first. */
  aiob_handle_destroy: {
    parameters: [
      "u64", // Handle *h (0 is ignored)
    ],
    result: "void",
  },
  /** One request: bytes moved (sync), 0 (async started; aiob_wait collects it), or -errno. */
  aiob_submit: {
    parameters: [
      "u64", // Handle *h
      "i32", // int fd: the file, opened by aiob_file_open
      "u64", // u64 buf: page-aligned buffer address (aiob_buffer_alloc)
      "u64", // u64 buf_len: the buffer's bytes
      "buffer", // const u64 request[REQUEST.count]: see REQUEST
    ],
    result: "i64",
  },
  /** Waits for the asynchronous request in flight: its bytes, or -errno. */
  aiob_wait: {
    parameters: [
      "u64", // Handle *h
    ],
    result: "i64",
  },
  /** Asks every lane to stop issuing IO (in-flight IO drains); safe from any thread. */
  aiob_cancel: {
    parameters: [
      "u64", // Handle *h
    ],
    result: "void",
  },
  /** Copies the handle's counters. */
  aiob_handle_stats: {
    parameters: [
      "u64", // const Handle *h
      "buffer", // u64 out[STAT.count]: see STAT
    ],
    result: "void",
  },
  /** Copies the merged latency histogram; 0 or -EINVAL when len is wrong. */
  aiob_handle_histogram: {
    parameters: [
      "u64", // const Handle *h
      "buffer", // u64 out[len]: one count per bucket
      "u32", // u32 len: must equal aiob_histogram_buckets()
    ],
    result: "i32",
  },
  /** Zeroes the counters, the histogram and the interval records. */
  aiob_handle_reset_stats: {
    parameters: [
      "u64", // Handle *h
    ],
    result: "void",
  },
  /** Sets (0: removes) the --log_interval of every lane; not while a request is in flight. */
  aiob_handle_log_interval: {
    parameters: [
      "u64", // Handle *h
      "u64", // u64 interval_ns
    ],
    result: "i32",
  },
  /** Copies up to capacity interval records; returns how many there are. */
  aiob_handle_intervals: {
    parameters: [
      "u64", // const Handle *h
      "buffer", // u64 out[capacity * INTERVAL_FIELDS]
      "u32", // u32 capacity: records that fit in out (0: only count)
    ],
    result: "i64",
  },
  /** mmaps a page-aligned, pre-faulted buffer; 0 or -errno. */
  aiob_buffer_alloc: {
    parameters: [
      "u64", // u64 size: bytes (rounded up to pages)
      "u32", // u32 flags: 1 = mlock, 2 = transparent huge pages, 4 = keep the kernel's page order
      "buffer", // usize *out: receives the address
    ],
    result: "i32",
  },
  /** Physical order of a buffer's pages: pairs, ascending, descending; -EPERM if unreadable. */
  aiob_buffer_order: {
    parameters: [
      "u64", // u64 ptr: the address aiob_buffer_alloc gave
      "u64", // u64 size: the size given to aiob_buffer_alloc
      "buffer", // u64 out[3]: neighbouring page pairs, pairs in ascending, in descending order
    ],
    result: "i32",
  },
  /** munmaps a buffer from aiob_buffer_alloc; 0 or -errno. */
  aiob_buffer_free: {
    parameters: [
      "u64", // u64 ptr: the address aiob_buffer_alloc gave
      "u64", // u64 size: the size it was allocated with
    ],
    result: "i32",
  },
  /** Fills buf with the seeded pattern of file bytes [file_offset, file_offset + len). */
  aiob_pattern_fill: {
    parameters: [
      "u64", // u64 buf: address
      "u64", // u64 len: bytes
      "u64", // u64 seed
      "u64", // u64 file_offset: where buf[0] sits in the file
    ],
    result: "void",
  },
  /** -1 when buf holds the seeded pattern, else the first file offset that differs. */
  aiob_pattern_check: {
    parameters: [
      "u64", // u64 buf: address
      "u64", // u64 len: bytes
      "u64", // u64 seed
      "u64", // u64 file_offset: where buf[0] sits in the file
    ],
    result: "i64",
  },
  /** -1 when a and b hold the same len bytes, else the first index that differs. */
  aiob_compare: {
    parameters: [
      "u64", // u64 a: native buffer address
      "buffer", // const u8 *b: JS bytes
      "u64", // u64 len
    ],
    result: "i64",
  },
  /** Opens a file; the fd or -errno. */
  aiob_file_open: {
    parameters: [
      "buffer", // const char *path: NUL-terminated
      "u32", // u32 flags: see OPEN
    ],
    result: "i32",
  },
  /** Closes an fd; 0 or -errno. */
  aiob_file_close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  /** fsync(fd); 0 or -errno. */
  aiob_file_fsync: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  /** ftruncate(fd, size); 0 or -errno. */
  aiob_file_truncate: {
    parameters: [
      "i32", // int fd
      "u64", // u64 size: bytes
    ],
    result: "i32",
  },
  /** statx of a path: size, mode, dio_mem_align, dio_offset_align, blksize, dev, rdev. */
  aiob_file_statx: {
    parameters: [
      "buffer", // const char *path: NUL-terminated
      "buffer", // u64 out[8]
    ],
    result: "i32",
  },
  /** Whether an engine can be set up here: 0, or -errno (EPERM, ENOSYS, ...). */
  aiob_engine_probe: {
    parameters: [
      "u32", // u32 engine: see ENGINE
    ],
    result: "i32",
  },
  /** IORING_SETUP_* flags an io_uring ring gets here after the fallback, or -errno. */
  aiob_io_uring_setup_flags: {
    parameters: [
      "u32", // u32 overlap_events: 1 for the overlap policy's rings, 0 for wait-for-all rings
    ],
    result: "i64",
  },
  /** Entry i of a native table (0 = engines, 1 = request modes) as a C string; null past the end. */
  aiob_table_name: {
    parameters: [
      "u32", // u32 table: 0 engines, 1 request modes
      "u32", // u32 i: entry index
    ],
    result: "pointer",
  },
  /** A native limit: 0 = queue depth max, 1 = io_parallel max, 2 = io_uring-only FLAG bits. */
  aiob_table_value: {
    parameters: [
      "u32", // u32 which
    ],
    result: "u64",
  },
  /** User and system CPU ns of the whole process so far. */
  aiob_process_cpu: {
    parameters: [
      "buffer", // u64 out[2]: user ns, system ns
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Zig's build modes, by `aiob_build_mode()`. */
export const BUILD_MODES = ["Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall"] as const;

/** Index layout of the u64 array passed to `aiob_handle_create`. */
export const PARAM = {
  blockSize: 0,
  queueDepth: 1,
  ioParallel: 2,
  flags: 3,
  engine: 4,
  sqpollCpu: 5,
  align: 6,
  /** A lane that sees no completion for this many ns gives up (ETIMEDOUT); 0 = 120 s. */
  waitMaxNs: 7,
  count: 8,
} as const;

/** Bits of `PARAM.flags`. */
export const FLAG = {
  singleSubmit: 1n << 0n,
  overlapEvents: 1n << 1n,
  fixedBuffers: 1n << 2n,
  fixedFiles: 1n << 3n,
  sqpoll: 1n << 4n,
  iopoll: 1n << 5n,
  nonvectored: 1n << 6n,
  latency: 1n << 7n,
} as const;

/** Index layout of the u64 request array passed to `aiob_submit`. */
export const REQUEST = {
  mode: 0,
  nbytes: 1,
  fileOffset: 2,
  rwmixRead: 3,
  seed: 4,
  runtimeNs: 5,
  timeBased: 6,
  async: 7,
  slotBuffers: 8,
  count: 9,
} as const;

/** Index layout of the u64 array filled by `aiob_handle_stats`. */
export const STAT = {
  ios: 0,
  bytes: 1,
  errors: 2,
  shortResubmits: 3,
  cpuUserNs: 4,
  cpuSysNs: 5,
  enterCalls: 6,
  sqesSubmitted: 7,
  latCount: 8,
  latMinNs: 9,
  latMaxNs: 10,
  latSumNs: 11,
  errCode: 12,
  errOp: 13,
  errOffset: 14,
  errLen: 15,
  errGot: 16,
  lanes: 17,
  intervalsDropped: 18,
  /** IORING_SETUP_* flags of the handle's io_uring rings (0 for other engines). */
  ringSetupFlags: 19,
  count: 20,
} as const;

/** u64 fields per record of `aiob_handle_intervals`: index, end_ns, bytes, ios, p99_ns. */
export const INTERVAL_FIELDS = 5;

/** Bits for `aiob_file_open`. */
export const OPEN = { write: 1, create: 2, direct: 4, exclusive: 8, truncate: 16 } as const;

/** Engine numbers of the native library. */
export const ENGINE = { io_uring: 0, libaio: 1, psync: 2 } as const;

/** Request modes of the native library. */
export const MODE = { read: 0, write: 1, randread: 2, randwrite: 3, randrw: 4 } as const;

/** aiobench's own negative codes (beyond errno). */
export const CODE = { short: 1001, busy: 1002, cancelled: 1003, badCompletion: 1004 } as const;

/** The IORING_SETUP_* bits aiobench's rings may use, by the names `env` reports. */
export const RING_SETUP = {
  IOPOLL: 1 << 0,
  SQPOLL: 1 << 1,
  SQ_AFF: 1 << 2,
  R_DISABLED: 1 << 6,
  COOP_TASKRUN: 1 << 8,
  SINGLE_ISSUER: 1 << 12,
  DEFER_TASKRUN: 1 << 13,
} as const;
