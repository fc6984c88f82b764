/**
 * DeepSpeed's `aio_basic` path (`--engine aio_basic`): every call opens the file, sets up a
 * fresh aio context, moves the data, and tears both down again, all inside the timed step, as
 * DeepSpeed's `aio_read`/`aio_write` do. `PerCallHandle` gives the tasklet the face of one
 * handle over those short-lived native handles: counters and latency accumulate across calls.
 *
 * @module
 */
import { AioError } from "../../ffi/errors.ts";
import type { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioFile } from "../../ffi/file.ts";
import {
  AioHandle,
  type AioHandleOptions,
  type HandleStats,
  type IntervalRecord,
  type RequestOptions,
} from "../../ffi/handle.ts";
import { CODE } from "../../ffi/symbols.ts";

/** How each call opens its file. */
export interface PerCallFileOptions {
  write: boolean;
  direct: boolean;
}

function zeroStats(): HandleStats {
  return {
    ios: 0,
    bytes: 0,
    errors: 0,
    shortResubmits: 0,
    cpuUserSeconds: 0,
    cpuSystemSeconds: 0,
    enterCalls: 0,
    sqesSubmitted: 0,
    latencyCount: 0,
    latencyMinNs: 0,
    latencyMaxNs: 0,
    latencySumNs: 0,
    intervalsDropped: 0,
    ringSetupFlags: [],
  };
}

/** A fresh native handle (and file descriptor) per call; the accounting of one handle. */
export class PerCallHandle {
  /** The native handle's settings (each call's handle gets them). */
  readonly options: AioHandleOptions;
  /** Called with each call's native handle right after it exists (publish it for cancel). */
  onOpen: (address: bigint) => void = () => {};
  /** Called just before each call's native handle is destroyed. */
  onClose: () => void = () => {};
  readonly #file: PerCallFileOptions;
  #stats = zeroStats();
  #histogram = new Map<number, number>();
  #current: AioHandle | undefined;
  #cancelled = false;

  constructor(options: AioHandleOptions, file: PerCallFileOptions) {
    if ((options.ioParallel ?? 0) > 0) {
      throw new RangeError("aio_basic has no io_parallel: each call is one synchronous request");
    }
    this.options = options;
    this.#file = file;
  }

  /** The native handle of the call in progress (0 between calls). */
  get nativeAddress(): bigint {
    return this.#current?.nativeAddress ?? 0n;
  }

  /**
   * One call, synchronous: opens `file.path` again, creates a native handle, runs the request,
   * and releases both; returns the bytes moved. Throws `AioError` as `AioHandle` does.
   */
  submit(buf: AlignedBuffer, file: AioFile, options: RequestOptions, async = false): number {
    if (async) throw new RangeError("aio_basic calls are synchronous");
    if (this.#cancelled) throw new AioError(CODE.cancelled, { op: "aio_basic call" });
    const f = AioFile.open(file.path, {
      write: this.#file.write,
      create: this.#file.write,
      direct: this.#file.direct,
    });
    let handle: AioHandle | undefined;
    try {
      handle = new AioHandle(this.options);
      this.#current = handle;
      this.onOpen(handle.nativeAddress);
      if (this.#cancelled) handle.cancel();
      return handle.submit(buf, f, options, false);
    } finally {
      if (handle !== undefined) {
        this.#add(handle);
        this.onClose();
        this.#current = undefined;
        handle.close();
      }
      f.close();
    }
  }

  /** No call is ever left in flight (each is synchronous): nothing to wait for. */
  wait(): number {
    throw new RangeError("aio_basic calls are synchronous: nothing to wait for");
  }

  /** Asks the call in progress (and every later one) to stop. */
  cancel(): void {
    this.#cancelled = true;
    this.#current?.cancel();
  }

  /** `--log_interval` needs one handle for the whole run; aio_basic has none. */
  setLogInterval(_seconds: number): void {
    throw new RangeError("aio_basic keeps no handle between calls: no interval series");
  }

  /** Interval records: none (see `setLogInterval`). */
  intervals(): IntervalRecord[] {
    return [];
  }

  /** The counters summed over every call since creation or `resetStats()`. */
  stats(): HandleStats {
    return { ...this.#stats };
  }

  /** The latency histogram merged over the calls, sparse `[bucketIndex, count]`. */
  histogram(): [number, number][] {
    return [...this.#histogram.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** Zeroes the accumulated counters and histogram. */
  resetStats(): void {
    this.#stats = zeroStats();
    this.#histogram.clear();
  }

  /** Nothing is held between calls. */
  close(): void {}

  #add(handle: AioHandle): void {
    const s = handle.stats();
    const t = this.#stats;
    const hadLatency = t.latencyCount > 0;
    t.ios += s.ios;
    t.bytes += s.bytes;
    t.errors += s.errors;
    t.shortResubmits += s.shortResubmits;
    t.cpuUserSeconds += s.cpuUserSeconds;
    t.cpuSystemSeconds += s.cpuSystemSeconds;
    t.enterCalls += s.enterCalls;
    t.sqesSubmitted += s.sqesSubmitted;
    t.ringSetupFlags = s.ringSetupFlags; // every call's ring is set up the same way
    if (s.latencyCount > 0) {
      t.latencyMinNs = hadLatency ? Math.min(t.latencyMinNs, s.latencyMinNs) : s.latencyMinNs;
      t.latencyMaxNs = Math.max(t.latencyMaxNs, s.latencyMaxNs);
      t.latencySumNs += s.latencySumNs;
      t.latencyCount += s.latencyCount;
    }
    for (const [i, n] of handle.histogram()) {
      this.#histogram.set(i, (this.#histogram.get(i) ?? 0) + n);
    }
  }
}
