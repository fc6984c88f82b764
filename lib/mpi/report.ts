/**
 * One report for a run across ranks: every rank's per-worker results aggregated as ds_aio does
 * (bytes summed over all workers of all ranks, Task/E2E latency the slowest of them), then
 * `ranks[]`, `hosts[]` and the human tables: per rank (host, GiB/s, p50, p99), per host, and the
 * skew between the slowest and the fastest rank.
 *
 * @module
 */
import { attachGpu } from "../gpu/report.ts";
import { aggregate, type ProcessCpu, validationVerdict } from "../run/report.ts";
import type {
  BenchConfig,
  BenchResult,
  HostEntry,
  OpResult,
  RankEntry,
  RankOpResult,
  WorkerResult,
  Workload,
} from "../common/types.ts";
import type { RankRun, UnitOutcome } from "./run.ts";
import { type MpiWorld, RankStatus } from "./world.ts";

/** The environment facts compared across hosts (and kept per rank in `ranks[].env`). */
export const HOST_FACTS = [
  "kernel",
  "cpu_model",
  "cpu_count",
  "governor",
  "fs_type",
  "device",
  "device_model",
  "scheduler",
  "rotational",
  "engine",
  "o_direct",
  "io_uring_disabled",
  "memlock_soft_bytes",
] as const;

/** The facts of `HOST_FACTS` that `env` has. */
export function envSummary(env: Record<string, unknown> | undefined): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const key of HOST_FACTS) if (env && key in env) summary[key] = env[key];
  return summary;
}

const statusNames = {
  [RankStatus.running]: "done",
  [RankStatus.done]: "done",
  [RankStatus.stopped]: "stopped",
  [RankStatus.failed]: "failed",
} as const;

function rankOp(r: OpResult): RankOpResult {
  return {
    op: r.op,
    bytes: r.bytes,
    task_latency_s: r.task_latency_s,
    task_gib_s: r.task_gib_s,
    e2e_latency_s: r.e2e_latency_s,
    e2e_gib_s: r.e2e_gib_s,
    iops: r.iops,
    latency_us: r.latency_us,
    errors: r.errors,
    partial: r.partial,
  };
}

function workersOf(run: RankRun | undefined, op: Workload): WorkerResult[] {
  return (run?.workloads ?? []).filter((w) => w.op === op).flatMap((w) => w.workers);
}

/** Each rank's process CPU for `op`, summed, when every rank that ran it measured it. */
function processCpu(runs: (RankRun | undefined)[], op: Workload): ProcessCpu | undefined {
  let user = 0;
  let sys = 0;
  for (const run of runs) {
    if (workersOf(run, op).length === 0) continue;
    const cpu = run?.result?.results.find((r) => r.op === op)?.cpu;
    if (cpu?.source !== "process") return undefined;
    user += cpu.user_s;
    sys += cpu.sys_s;
  }
  return { user_s: user, sys_s: sys };
}

/** Without every rank's process CPU, the sum over IO threads is the honest number. */
function withoutProcessCpu(workers: WorkerResult[]): WorkerResult[] {
  return workers.map((w) => ({
    ...w,
    processCpuUserSeconds: undefined,
    processCpuSystemSeconds: undefined,
  }));
}

function mergeOp(op: Workload, runs: (RankRun | undefined)[], config: BenchConfig): OpResult {
  const perRank = runs.map((run) => workersOf(run, op));
  const all = perRank.flat();
  const cpu = processCpu(runs, op);
  const merged = aggregate(op, cpu ? all : withoutProcessCpu(all), cpu);
  const rankOfWorker = perRank.flatMap((workers, rank) => workers.map(() => rank));
  merged.workers = merged.workers.map((w, i) => ({ ...w, rank: rankOfWorker[i] }));
  const result = config.gpu ? attachGpu(merged, all) : merged;
  if (config.validate) result.validate = validationVerdict(all);
  // A rank that measured nothing of an op the others measured leaves the total short.
  if (perRank.some((workers) => workers.length === 0)) result.partial = true;
  return result;
}

/**
 * The job's one document: rank 0's config and environment, `results[]` across every worker of
 * every rank, and `mpi`, `ranks[]`, `hosts[]`. Null when no rank got as far as a document.
 */
export function mergeRanks(
  unit: UnitOutcome<RankRun>,
  world: MpiWorld,
  config: BenchConfig,
): BenchResult | null {
  const runs = unit.reports.map((r) => r.value);
  const base = runs.find((run) => run?.result)?.result;
  if (!base) return null;
  const measured = new Set(runs.flatMap((run) => run?.workloads.map((w) => w.op) ?? []));
  const ops = config.workloads.filter((op) => measured.has(op));
  const results = ops.map((op) => mergeOp(op, runs, config));
  const ranks: RankEntry[] = unit.reports.map((report) => ({
    rank: report.rank,
    host: report.host,
    status: statusNames[report.status],
    ...(report.error ? { error: report.error } : {}),
    results: ops.filter((op) => workersOf(report.value, op).length > 0)
      .map((op) => rankOp(aggregate(op, withoutProcessCpu(workersOf(report.value, op))))),
    env: envSummary(report.value?.result?.env),
  }));
  const hosts = hostEntries(unit, ops, ranks);
  return {
    ...base,
    config: { ...base.config, rank: undefined, json: config.json ?? null },
    results,
    partial: unit.worst !== RankStatus.done || results.some((r) => r.partial) ||
      runs.some((run) => run?.result?.partial),
    mpi: {
      size: world.size,
      hosts: hosts.length,
      launcher: world.launch?.launcher ?? null,
      library: { path: world.library.path, abi: world.library.abi, version: world.library.version },
    },
    ranks,
    hosts,
  };
}

function hostEntries(
  unit: UnitOutcome<RankRun>,
  ops: Workload[],
  ranks: RankEntry[],
): HostEntry[] {
  const byHost = new Map<string, number[]>();
  for (const r of unit.reports) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r.rank]);
  return [...byHost.entries()].map(([host, members]) => ({
    host,
    ranks: members,
    results: ops.map((op) => {
      const workers = members.flatMap((rank) => workersOf(unit.reports[rank].value, op));
      return workers.length === 0 ? null : rankOp(aggregate(op, withoutProcessCpu(workers)));
    }).filter((r): r is RankOpResult => r !== null),
    env: ranks[members[0]].env,
  }));
}

/** Latency in one unit for a whole column: ms when any value is 10 ms or more, else µs. */
function latencyFormat(
  values: (number | undefined)[],
): { unit: string; show: (us?: number) => string } {
  const ms = values.some((v) => v !== undefined && v >= 10_000);
  const show = (us?: number) => {
    if (us === undefined) return "-";
    const v = ms ? us / 1000 : us;
    return v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  };
  return { unit: ms ? "ms" : "us", show };
}

function columns(head: string[], rows: string[][], left = 2): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

/** "mpi: 3 ranks on 2 hosts, Open MPI v5.0.11 (openmpi ABI)". */
export function mpiLine(doc: BenchResult): string {
  const job = doc.mpi!;
  const hosts = `${job.hosts} host${job.hosts === 1 ? "" : "s"}`;
  return `mpi: ${job.size} rank${job.size === 1 ? "" : "s"} on ${hosts}, ${
    job.library.version.split(",")[0]
  } ` +
    `(${job.library.abi} ABI, ${job.library.path})`;
}

/** Per-rank rows: rank, host, op, GiB/s (the rank's bytes over its slowest worker), p50, p99. */
export function rankTable(ranks: RankEntry[]): string[] {
  const latency = latencyFormat(
    ranks.flatMap((r) => r.results.flatMap((x) => [x.latency_us?.p50, x.latency_us?.p99])),
  );
  const rows: string[][] = [];
  for (const r of ranks) {
    const state = r.status === "done" ? "" : r.status;
    if (r.results.length === 0) rows.push([String(r.rank), r.host, "-", "-", "-", "-", state]);
    for (const op of r.results) {
      rows.push([
        String(r.rank),
        r.host,
        op.op + (op.partial ? " (partial)" : ""),
        op.task_gib_s.toFixed(3),
        latency.show(op.latency_us?.p50),
        latency.show(op.latency_us?.p99),
        state,
      ]);
    }
  }
  const head = ["rank", "host", "op", "GiB/s", `p50 ${latency.unit}`, `p99 ${latency.unit}`, ""];
  return columns(head, rows, 3);
}

/** Per-host rows: host, its ranks, op, GiB/s of the host's ranks together. */
export function hostTable(hosts: HostEntry[]): string[] {
  const rows = hosts.flatMap((h) =>
    h.results.map((op) => [
      h.host,
      h.ranks.join(","),
      op.op,
      op.task_gib_s.toFixed(3),
      (op.bytes / 2 ** 30).toFixed(3),
    ])
  );
  return columns(["host", "ranks", "op", "GiB/s", "GiB moved"], rows, 3);
}

/** Per op: the slowest and the fastest rank and how far apart they are. */
export function skewLines(ranks: RankEntry[]): string[] {
  const ops = [...new Set(ranks.flatMap((r) => r.results.map((op) => op.op)))];
  const lines: string[] = [];
  for (const op of ops) {
    const speeds = ranks.flatMap((r) =>
      r.results.filter((x) => x.op === op && !x.partial).map((x) => ({ r, gib: x.task_gib_s }))
    );
    if (speeds.length < 2) continue;
    speeds.sort((a, b) => a.gib - b.gib);
    const slow = speeds[0];
    const fast = speeds[speeds.length - 1];
    const apart = fast.gib > 0 ? ((fast.gib - slow.gib) / fast.gib) * 100 : 0;
    lines.push(
      `skew ${op}: slowest rank ${slow.r.rank} (${slow.r.host}) ${slow.gib.toFixed(3)} GiB/s, ` +
        `fastest rank ${fast.r.rank} (${fast.r.host}) ${fast.gib.toFixed(3)} GiB/s: ` +
        `${apart.toFixed(1)}% below the fastest`,
    );
  }
  return lines;
}

/** The facts in which hosts differ: `kernel: a 6.1, b 6.18`; empty when they agree. */
export function hostDifferences(
  hosts: Array<{ host: string; env: Record<string, unknown> }>,
): string[] {
  if (hosts.length < 2) return [];
  const lines: string[] = [];
  for (const key of HOST_FACTS) {
    const values = hosts.map((h) =>
      h.env[key] === undefined || h.env[key] === null ? "?" : String(h.env[key])
    );
    if (new Set(values).size < 2) continue;
    lines.push(`${key}: ${hosts.map((h, i) => `${h.host} ${values[i]}`).join(", ")}`);
  }
  return lines;
}

/** The lines after the usual report: per rank, per host, skew, and where hosts differ. */
export function ranksReport(doc: BenchResult): string[] {
  if (!doc.ranks || !doc.hosts) return [];
  const lines = ["", ...rankTable(doc.ranks)];
  lines.push("", ...hostTable(doc.hosts));
  const skew = skewLines(doc.ranks);
  if (skew.length > 0) lines.push("", ...skew);
  const differ = hostDifferences(doc.hosts);
  if (differ.length > 0) lines.push("", "hosts differ:", ...differ.map((l) => `  ${l}`));
  return lines;
}
