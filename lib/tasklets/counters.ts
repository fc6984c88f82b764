/**
 * A native handle's counters as a worker result's fields: what every tasklet (ds_aio's and the
 * ZeRO replay's lanes) reports of its handle.
 * @module
 */
import type { HandleStats } from "../../ffi/handle.ts";
import type { WorkerResult } from "../common/types.ts";

/** What reports a handle's counters: an AioHandle, or aio_basic's per-call handles together. */
export interface CountedHandle {
  stats(): HandleStats;
  histogram(): [number, number][];
}

/** The handle's bytes, IOs, errors, latency, CPU and engine counters, read once. */
export function handleCounters(handle: CountedHandle): Pick<
  WorkerResult,
  | "bytes"
  | "ios"
  | "errors"
  | "histogram"
  | "latencyMinNs"
  | "latencyMaxNs"
  | "latencySumNs"
  | "cpuUserSeconds"
  | "cpuSystemSeconds"
  | "sqesSubmitted"
  | "enterCalls"
  | "ringSetupFlags"
  | "shortResubmits"
> {
  const s = handle.stats();
  return {
    bytes: s.bytes,
    ios: s.ios,
    errors: s.errors,
    histogram: handle.histogram(),
    latencyMinNs: s.latencyMinNs,
    latencyMaxNs: s.latencyMaxNs,
    latencySumNs: s.latencySumNs,
    cpuUserSeconds: s.cpuUserSeconds,
    cpuSystemSeconds: s.cpuSystemSeconds,
    sqesSubmitted: s.sqesSubmitted,
    enterCalls: s.enterCalls,
    ringSetupFlags: s.ringSetupFlags,
    shortResubmits: s.shortResubmits,
  };
}
