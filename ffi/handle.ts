import type { AlignedBuffer } from "./buffer.ts";
import { AioError, check } from "./errors.ts";
import type { AioFile } from "./file.ts";
import { native } from "./native.ts";
import {
  ENGINE,
  FLAG,
  INTERVAL_FIELDS,
  MODE,
  PARAM,
  REQUEST,
  RING_SETUP,
  STAT,
} from "./symbols.ts";

/** Native engines (the keys of `ENGINE` in ffi/symbols.ts). */
export type NativeEngine = "io_uring" | "libaio" | "psync";

/** A request's access pattern (the keys of `MODE` in ffi/symbols.ts). */
export type RequestMode = "read" | "write" | "randread" | "randwrite" | "randrw";

// Type-only check: a type error here when the unions above and the native tables disagree.
type _Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type _Assert<T extends true> = T;
type _UnionsMatchNative = _Assert<
  _Same<NativeEngine, keyof typeof ENGINE> | _Same<RequestMode, keyof typeof MODE>
>;

/** DeepSpeed's aio handle knobs, plus the engine and io_uring options. */
export interface AioHandleOptions {
  /** Each request is split into IOs of this size (a multiple of `alignBytes`). */
  blockSize: number;
  /** At most this many IOs in flight per lane (1..4096). */
  queueDepth: number;
  /** One IO per submission call instead of a batch. */
  singleSubmit?: boolean;
  /** Refill the queue as each completion arrives, instead of batch-submit then reap-all. */
  overlapEvents?: boolean;
  /** Threads (each with its own ring) that split an async request; 0 = none (default). */
  ioParallel?: number;
  /** The native engine (default `io_uring`). */
  engine?: NativeEngine;
  /** O_DIRECT alignment of lengths and offsets (default 4096). */
  alignBytes?: number;
  /** io_uring: register the buffers (fixed buffers). */
  fixedbufs?: boolean;
  /** io_uring: register the file descriptors (fixed files). */
  registerfiles?: boolean;
  /** io_uring: a kernel thread polls the submission queue (SQPOLL). */
  sqthreadPoll?: boolean;
  /** io_uring: the CPU index the SQPOLL thread is pinned to (default: unpinned). */
  sqthreadPollCpu?: number;
  /** io_uring: polled completions (IOPOLL). */
  hipri?: boolean;
  /** io_uring: plain READ/WRITE instead of READV/WRITEV. */
  nonvectored?: boolean;
  /** Record per-IO latency (default true). */
  latency?: boolean;
  /** Keep a per-interval series (bytes, IOs, p99) every this many seconds (see `intervals()`). */
  logIntervalS?: number;
  /** A lane that sees no completion for this many seconds fails with ETIMEDOUT (default 120). */
  waitTimeoutS?: number;
}

/** One lane's record of one `logIntervalS` interval (see `AioHandle.intervals`). */
export interface IntervalRecord {
  /** The interval covers [index, index + 1) × logIntervalS from the lane's first request. */
  index: number;
  /** Seconds from the lane's origin to the interval's end as the lane noticed it. */
  endS: number;
  /** Bytes completed in the interval. */
  bytes: number;
  /** IOs completed in the interval. */
  ios: number;
  /** p99 completion latency in ns (0 when latency isn't recorded). */
  p99Ns: number;
}

/** Extra knobs of one request. */
export interface RequestOptions {
  /** Bytes to move (default: the whole buffer). */
  nbytes?: number;
  /** File offset of the buffer's first byte (default 0). */
  offset?: number;
  /** Access pattern (default `read`). */
  mode?: RequestMode;
  /** Percentage of reads in `randrw`, 0..100 (default 50). */
  rwmixread?: number;
  /** Seed for random offsets and the `randrw` read/write choice (default 0). */
  seed?: number;
  /** Stop after this many seconds (with `timeBased`, loop over the region until then). */
  runtimeS?: number;
  /** Loop over the region until `runtimeS` is up instead of stopping after one pass. */
  timeBased?: boolean;
  /**
   * Each in-flight IO uses its own `blockSize` piece of the buffer (as fio does) instead of the
   * region's bytes; the buffer then needs `max(1, ioParallel) × queueDepth × blockSize` bytes.
   */
  slotBuffers?: boolean;
}

/** Counters of a handle since creation or `resetStats()`. */
export interface HandleStats {
  /** IOs completed. */
  ios: number;
  /** Bytes moved by completed IOs. */
  bytes: number;
  /** IOs that failed (cancellation not counted). */
  errors: number;
  /** Short transfers whose remainder was resubmitted. */
  shortResubmits: number;
  /** User CPU seconds of the handle's IO threads (RUSAGE_THREAD). */
  cpuUserSeconds: number;
  /** System CPU seconds of the handle's IO threads (RUSAGE_THREAD). */
  cpuSystemSeconds: number;
  /** Submit/reap system calls the engine made (e.g. io_uring_enter). */
  enterCalls: number;
  /** Submission queue entries (IOs) handed to the kernel. */
  sqesSubmitted: number;
  /** IOs whose latency was recorded. */
  latencyCount: number;
  /** Smallest recorded IO latency in ns. */
  latencyMinNs: number;
  /** Largest recorded IO latency in ns. */
  latencyMaxNs: number;
  /** Sum of recorded IO latencies in ns (divide by `latencyCount` for the mean). */
  latencySumNs: number;
  /** Interval records lost because a lane's log (4096 records) was full. */
  intervalsDropped: number;
  /** The io_uring setup flags of the handle's rings, e.g. `["COOP_TASKRUN"]` (empty otherwise). */
  ringSetupFlags: string[];
}

/**
 * One native aio handle: the TypeScript face of DeepSpeed's `aio_handle`.
 *
 * @example
 * ```ts
 * const h = new AioHandle({ blockSize: 1 << 20, queueDepth: 32, overlapEvents: true });
 * const f = AioFile.open("/mnt/nvme/file.bin");
 * const buf = AlignedBuffer.alloc(64 << 20);
 * h.read(buf, f);                 // synchronous
 * h.pread(buf, f); h.wait();      // asynchronous
 * h.close(); f.close(); buf.free();
 * ```
 */
export class AioHandle {
  /** The options in effect, defaults filled in. */
  readonly options: Readonly<
    Required<Omit<AioHandleOptions, "sqthreadPollCpu" | "logIntervalS" | "waitTimeoutS">>
  >;
  #address: bigint;
  #request = new BigUint64Array(REQUEST.count);
  #stats = new BigUint64Array(STAT.count);
  #pending: { file: AioFile; op: string } | null = null;

  /** Creates the native handle; throws `AioError` when the engine can't be set up. */
  constructor(options: AioHandleOptions) {
    this.options = {
      singleSubmit: false,
      overlapEvents: false,
      ioParallel: 0,
      engine: "io_uring",
      alignBytes: 4096,
      fixedbufs: false,
      registerfiles: false,
      sqthreadPoll: false,
      hipri: false,
      nonvectored: false,
      latency: true,
      ...options,
    };
    const o = this.options;
    const params = new BigUint64Array(PARAM.count);
    params[PARAM.blockSize] = BigInt(o.blockSize);
    params[PARAM.queueDepth] = BigInt(o.queueDepth);
    params[PARAM.ioParallel] = BigInt(o.ioParallel);
    params[PARAM.engine] = BigInt(ENGINE[o.engine]);
    params[PARAM.sqpollCpu] = BigInt.asUintN(64, BigInt(options.sqthreadPollCpu ?? -1));
    params[PARAM.align] = BigInt(o.alignBytes);
    params[PARAM.waitMaxNs] = BigInt(Math.round((options.waitTimeoutS ?? 0) * 1e9));
    params[PARAM.flags] = (o.singleSubmit ? FLAG.singleSubmit : 0n) |
      (o.overlapEvents ? FLAG.overlapEvents : 0n) | (o.fixedbufs ? FLAG.fixedBuffers : 0n) |
      (o.registerfiles ? FLAG.fixedFiles : 0n) | (o.sqthreadPoll ? FLAG.sqpoll : 0n) |
      (o.hipri ? FLAG.iopoll : 0n) | (o.nonvectored ? FLAG.nonvectored : 0n) |
      (o.latency ? FLAG.latency : 0n);
    const out = new BigUint64Array(1);
    check(native().aiob_handle_create(params, out), {
      op: `create ${o.engine} handle (block ${o.blockSize}, queue depth ${o.queueDepth})`,
      hint: o.sqthreadPoll ? "SQPOLL may need root or a newer kernel" : undefined,
    });
    this.#address = out[0];
    if (options.logIntervalS !== undefined) this.setLogInterval(options.logIntervalS);
  }

  /** Starts (or with 0 stops) the per-interval series; clears what was recorded. */
  setLogInterval(seconds: number): void {
    if (!(seconds >= 0 && Number.isFinite(seconds))) {
      throw new RangeError(`log interval ${seconds} s must be a finite number >= 0`);
    }
    const ns = BigInt(Math.round(seconds * 1e9));
    check(native().aiob_handle_log_interval(this.#alive(), ns), { op: "set the log interval" });
  }

  /** Every lane's interval records since creation or `resetStats()` (lane by lane). */
  intervals(): IntervalRecord[] {
    const lib = native();
    const address = this.#alive();
    const count = Number(lib.aiob_handle_intervals(address, new BigUint64Array(0), 0));
    const raw = new BigUint64Array(count * INTERVAL_FIELDS);
    const got = Math.min(count, Number(lib.aiob_handle_intervals(address, raw, count)));
    const records: IntervalRecord[] = [];
    for (let i = 0; i < got; i++) {
      const r = raw.subarray(i * INTERVAL_FIELDS, (i + 1) * INTERVAL_FIELDS);
      records.push({
        index: Number(r[0]),
        endS: Number(r[1]) / 1e9,
        bytes: Number(r[2]),
        ios: Number(r[3]),
        p99Ns: Number(r[4]),
      });
    }
    return records;
  }

  /** Synchronous read of `nbytes` at `offset` into the buffer; returns bytes read. */
  read(buf: AlignedBuffer, file: AioFile, options: RequestOptions = {}): number {
    return this.#run(buf, file, { mode: "read", ...options }, false);
  }

  /** Synchronous write of the buffer to the file; returns bytes written. */
  write(buf: AlignedBuffer, file: AioFile, options: RequestOptions = {}): number {
    return this.#run(buf, file, { mode: "write", ...options }, false);
  }

  /** Starts an asynchronous read across the io_parallel threads; `wait()` collects it. */
  pread(buf: AlignedBuffer, file: AioFile, options: RequestOptions = {}): void {
    this.#run(buf, file, { mode: "read", ...options }, true);
  }

  /** Starts an asynchronous write; `wait()` collects it. */
  pwrite(buf: AlignedBuffer, file: AioFile, options: RequestOptions = {}): void {
    this.#run(buf, file, { mode: "write", ...options }, true);
  }

  /** Runs any request (sequential or random, timed or not), synchronously or not. */
  submit(buf: AlignedBuffer, file: AioFile, options: RequestOptions, async = false): number {
    return this.#run(buf, file, options, async);
  }

  /** Waits for the asynchronous request in flight; returns its bytes. */
  wait(): number {
    const pending = this.#pending;
    this.#pending = null;
    const rc = native().aiob_wait(this.#alive());
    if (rc < 0 && pending) this.#throw(rc, pending.file, pending.op);
    return Number(rc);
  }

  /** Asks every lane to stop issuing IO (in-flight IO drains); the request fails ECANCELLED. */
  cancel(): void {
    native().aiob_cancel(this.#alive());
  }

  /** The native address, so another thread of this process can `cancelHandleAt` it. */
  get nativeAddress(): bigint {
    return this.#address;
  }

  /** The handle's counters since creation or `resetStats()`. */
  stats(): HandleStats {
    const s = this.#stats;
    native().aiob_handle_stats(this.#alive(), s);
    return {
      ios: Number(s[STAT.ios]),
      bytes: Number(s[STAT.bytes]),
      errors: Number(s[STAT.errors]),
      shortResubmits: Number(s[STAT.shortResubmits]),
      cpuUserSeconds: Number(s[STAT.cpuUserNs]) / 1e9,
      cpuSystemSeconds: Number(s[STAT.cpuSysNs]) / 1e9,
      enterCalls: Number(s[STAT.enterCalls]),
      sqesSubmitted: Number(s[STAT.sqesSubmitted]),
      latencyCount: Number(s[STAT.latCount]),
      latencyMinNs: Number(s[STAT.latMinNs]),
      latencyMaxNs: Number(s[STAT.latMaxNs]),
      latencySumNs: Number(s[STAT.latSumNs]),
      intervalsDropped: Number(s[STAT.intervalsDropped]),
      ringSetupFlags: ringFlagNames(Number(s[STAT.ringSetupFlags])),
    };
  }

  /** The merged latency histogram as sparse `[bucketIndex, count]` pairs (see lib/common/histogram.ts). */
  histogram(): [number, number][] {
    const lib = native();
    const n = lib.aiob_histogram_buckets();
    const buckets = new BigUint64Array(n);
    check(lib.aiob_handle_histogram(this.#alive(), buckets, n), { op: "read histogram" });
    const sparse: [number, number][] = [];
    for (let i = 0; i < n; i++) if (buckets[i] !== 0n) sparse.push([i, Number(buckets[i])]);
    return sparse;
  }

  /** Zeroes the counters, the latency histogram and the interval records. */
  resetStats(): void {
    native().aiob_handle_reset_stats(this.#alive());
  }

  /** Releases the handle (waits for an in-flight request first). */
  close(): void {
    if (this.#address === 0n) return;
    native().aiob_handle_destroy(this.#address);
    this.#address = 0n;
  }

  #run(buf: AlignedBuffer, file: AioFile, options: RequestOptions, async: boolean): number {
    const address = this.#alive();
    const mode = options.mode ?? "read";
    const nbytes = options.nbytes ?? buf.size;
    const o = this.options;
    const needed = options.slotBuffers
      ? Math.max(1, o.ioParallel) * o.queueDepth * o.blockSize
      : nbytes;
    if (needed > buf.size) {
      throw new RangeError(`request needs ${needed} bytes of buffer; this one has ${buf.size}`);
    }
    const r = this.#request;
    r[REQUEST.mode] = BigInt(MODE[mode]);
    r[REQUEST.nbytes] = BigInt(nbytes);
    r[REQUEST.fileOffset] = BigInt(options.offset ?? 0);
    r[REQUEST.rwmixRead] = BigInt(options.rwmixread ?? 50);
    r[REQUEST.seed] = BigInt(options.seed ?? 0);
    r[REQUEST.runtimeNs] = BigInt(Math.round((options.runtimeS ?? 0) * 1e9));
    r[REQUEST.timeBased] = options.timeBased ? 1n : 0n;
    r[REQUEST.async] = async ? 1n : 0n;
    r[REQUEST.slotBuffers] = options.slotBuffers ? 1n : 0n;
    const rc = native().aiob_submit(address, file.fd, buf.address, BigInt(buf.size), r);
    if (rc < 0) this.#throw(rc, file, mode);
    if (async) this.#pending = { file, op: mode };
    return Number(rc);
  }

  #throw(rc: bigint, file: AioFile, op: string): never {
    const s = this.#stats;
    native().aiob_handle_stats(this.#address, s);
    const located = s[STAT.errCode] !== 0n;
    const errOp = s[STAT.errOp] === 1n ? "write" : "read";
    const memlock = -Number(rc) === 12 && this.options.fixedbufs;
    throw new AioError(-Number(rc), {
      hint: memlock
        ? "registering fixed buffers locks memory: raise `ulimit -l` or drop --fixedbufs"
        : undefined,
      op: located ? errOp : op,
      path: file.path,
      offset: located && s[STAT.errLen] !== 0n ? Number(s[STAT.errOffset]) : undefined,
      length: located && s[STAT.errGot] !== 0n ? Number(s[STAT.errLen]) : undefined,
      got: located && s[STAT.errGot] !== 0n ? Number(s[STAT.errGot]) : undefined,
    });
  }

  #alive(): bigint {
    if (this.#address === 0n) throw new Error("AioHandle used after close()");
    return this.#address;
  }
}

/**
 * Cancels the handle at `address` from another thread of this process (the coordinator uses
 * it on SIGINT while a tasklet is blocked inside a synchronous request).
 */
export function cancelHandleAt(address: bigint): void {
  if (address !== 0n) native().aiob_cancel(address);
}

/** Whether an engine can be set up here: null when it can, else the AioError explaining why. */
export function probeEngine(engine: NativeEngine): AioError | null {
  const rc = native().aiob_engine_probe(ENGINE[engine]);
  return rc < 0 ? new AioError(-rc, { op: `set up ${engine}` }) : null;
}

/** User and system CPU seconds of this whole process so far. */
export function processCpuSeconds(): { user: number; system: number } {
  const out = new BigUint64Array(2);
  native().aiob_process_cpu(out);
  return { user: Number(out[0]) / 1e9, system: Number(out[1]) / 1e9 };
}

/** The names of the IORING_SETUP_* bits set in `flags` (see `RING_SETUP`). */
export function ringFlagNames(flags: number): string[] {
  return Object.entries(RING_SETUP).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name);
}

/**
 * The io_uring setup flags a ring gets on this kernel after aiobench's step-by-step fallback
 * (the flags every non-SQPOLL handle with that queue policy uses: a handle that waits for all
 * its IOs at once, `overlapEvents` false, defers completions), or the AioError that stops
 * io_uring here.
 */
export function ioUringSetupFlags(overlapEvents = true): string[] | AioError {
  const rc = native().aiob_io_uring_setup_flags(overlapEvents ? 1 : 0);
  return rc < 0 ? new AioError(-Number(rc), { op: "set up io_uring" }) : ringFlagNames(Number(rc));
}

/** Completed IOs and bytes of a handle, read from another thread while it runs. */
export interface LiveCounters {
  /** IOs completed since creation or the last `resetStats()`. */
  ios: number;
  /** Bytes moved by them. */
  bytes: number;
}

/**
 * Reads the counters of the handle at `address` from another thread of this process (the
 * coordinator's progress line). The caller must keep the handle from being destroyed meanwhile
 * (lib/tasklets/live.ts guards it); values are a snapshot of counters that are still moving.
 */
export function liveCountersAt(
  address: bigint,
  out = new BigUint64Array(STAT.count),
): LiveCounters {
  if (address === 0n) return { ios: 0, bytes: 0 };
  native().aiob_handle_stats(address, out);
  return { ios: Number(out[STAT.ios]), bytes: Number(out[STAT.bytes]) };
}

/**
 * The latency histogram of the handle at `address` (every bucket, dense), read from another
 * thread under the same guarantee as {@linkcode liveCountersAt}.
 */
export function liveHistogramAt(address: bigint): BigUint64Array {
  const lib = native();
  const buckets = new BigUint64Array(lib.aiob_histogram_buckets());
  if (address !== 0n) lib.aiob_handle_histogram(address, buckets, buckets.length);
  return buckets;
}
