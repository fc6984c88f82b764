/** The native symbols of libaiobench (zig/src/root.zig); the one place they are declared. */

/** ABI version this TypeScript expects; must equal `aiob_abi_version()` of the loaded library. */
export const ABI_VERSION = 3;

/** Native library symbols for `Deno.dlopen`. */
export const symbols = {
  aiob_abi_version: { parameters: [], result: "u32" },
  aiob_histogram_buckets: { parameters: [], result: "u32" },
  aiob_histogram_bucket_low: { parameters: ["u32"], result: "u64" },
  aiob_histogram_bucket_width: { parameters: ["u32"], result: "u64" },
  aiob_handle_create: { parameters: ["buffer", "buffer"], result: "i32" },
  aiob_handle_destroy: { parameters: ["u64"], result: "void" },
  aiob_submit: { parameters: ["u64", "i32", "u64", "u64", "buffer"], result: "i64" },
  aiob_wait: { parameters: ["u64"], result: "i64" },
  aiob_cancel: { parameters: ["u64"], result: "void" },
  aiob_handle_stats: { parameters: ["u64", "buffer"], result: "void" },
  aiob_handle_histogram: { parameters: ["u64", "buffer", "u32"], result: "i32" },
  aiob_handle_reset_stats: { parameters: ["u64"], result: "void" },
  aiob_handle_log_interval: { parameters: ["u64", "u64"], result: "i32" },
  aiob_handle_intervals: { parameters: ["u64", "buffer", "u32"], result: "i64" },
  aiob_buffer_alloc: { parameters: ["u64", "u32", "buffer"], result: "i32" },
  aiob_buffer_free: { parameters: ["u64", "u64"], result: "i32" },
  aiob_pattern_fill: { parameters: ["u64", "u64", "u64", "u64"], result: "void" },
  aiob_pattern_check: { parameters: ["u64", "u64", "u64", "u64"], result: "i64" },
  aiob_compare: { parameters: ["u64", "buffer", "u64"], result: "i64" },
  aiob_file_open: { parameters: ["buffer", "u32"], result: "i32" },
  aiob_file_close: { parameters: ["i32"], result: "i32" },
  aiob_file_fsync: { parameters: ["i32"], result: "i32" },
  aiob_file_truncate: { parameters: ["i32", "u64"], result: "i32" },
  aiob_file_statx: { parameters: ["buffer", "buffer"], result: "i32" },
  aiob_engine_probe: { parameters: ["u32"], result: "i32" },
  aiob_process_cpu: { parameters: ["buffer"], result: "void" },
  aiob_table_name: { parameters: ["u32", "u32"], result: "pointer" },
  aiob_table_value: { parameters: ["u32"], result: "u64" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Index layout of the u64 array passed to `aiob_handle_create`. */
export const PARAM = {
  blockSize: 0,
  queueDepth: 1,
  ioParallel: 2,
  flags: 3,
  engine: 4,
  sqpollCpu: 5,
  align: 6,
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
export const CODE = { short: 1001, busy: 1002, cancelled: 1003 } as const;
