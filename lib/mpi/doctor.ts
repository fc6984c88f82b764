/**
 * `aiobench doctor` under MPI: every rank checks its own host, and rank 0 prints one summary per
 * host (kernel, file system, device, scheduler, io_uring, O_DIRECT, memlock) with the facts in
 * which hosts differ called out, then each host's problems.
 *
 * @module
 */
import type { ParsedCommand } from "../cli/parse.ts";
import { EXIT } from "../common/exit.ts";
import { errLine, writeLines } from "../common/output.ts";
import { formatBytesHuman } from "../common/size.ts";
import { doctorChecks } from "../doctor/command.ts";
import { type DoctorCheck, doctorToJson } from "../doctor/doctor.ts";
import { acrossRanks, failureLine, type RankReport, type UnitOutcome } from "./run.ts";
import type { MpiWorld } from "./world.ts";

/** One rank's doctor report, as `doctorToJson` writes it. */
export interface RankDoctor {
  path: string;
  status: "ok" | "warn" | "fail";
  env: Record<string, unknown>;
  checks: DoctorCheck[];
}

/** One host's summary: its ranks, the facts compared across hosts, its problems. */
export interface HostDoctor {
  host: string;
  ranks: number[];
  path: string;
  status: "ok" | "warn" | "fail";
  facts: Record<string, string>;
  /** Checks that are not ok on this host. */
  problems: DoctorCheck[];
}

/** The facts compared across hosts, in column order. */
export const DOCTOR_FACTS = [
  "kernel",
  "fs",
  "device",
  "scheduler",
  "io_uring",
  "o_direct",
  "memlock",
  "governor",
] as const;

function text(value: unknown): string {
  return value === null || value === undefined ? "?" : String(value);
}

function checkState(report: RankDoctor, name: string): string {
  const check = report.checks.find((c) => c.name === name);
  return check ? (check.status === "info" ? "ok" : check.status) : "?";
}

function memlock(env: Record<string, unknown>): string {
  const soft = env.memlock_soft_bytes;
  return typeof soft === "number" ? formatBytesHuman(soft) : text(soft);
}

/** The compared facts of one rank's report. */
export function doctorFacts(report: RankDoctor): Record<string, string> {
  const env = report.env;
  const model = env.device_model ? ` (${env.device_model})` : "";
  return {
    kernel: text(env.kernel),
    fs: text(env.fs_type),
    device: `${text(env.device ?? env.mount_source)}${model}`,
    scheduler: text(env.scheduler),
    io_uring: checkState(report, "io_uring"),
    o_direct: checkState(report, "o_direct"),
    memlock: memlock(env),
    governor: text(env.governor),
  };
}

/** Groups the ranks' reports by host (and path, when ranks of one host checked different ones). */
export function hostDoctors(reports: RankReport<RankDoctor>[]): HostDoctor[] {
  const hosts = new Map<string, HostDoctor>();
  for (const r of reports) {
    if (!r.value) continue;
    const key = `${r.host}\0${r.value.path}`;
    const known = hosts.get(key);
    if (known) {
      known.ranks.push(r.rank);
      continue;
    }
    hosts.set(key, {
      host: r.host,
      ranks: [r.rank],
      path: r.value.path,
      status: r.value.status,
      facts: doctorFacts(r.value),
      problems: r.value.checks.filter((c) => c.status === "warn" || c.status === "fail"),
    });
  }
  return [...hosts.values()];
}

/** The facts whose values differ between hosts. */
export function differingFacts(hosts: HostDoctor[]): string[] {
  return DOCTOR_FACTS.filter((fact) => new Set(hosts.map((h) => h.facts[fact])).size > 1);
}

function worst(statuses: Array<"ok" | "warn" | "fail">): "ok" | "warn" | "fail" {
  return statuses.includes("fail") ? "fail" : statuses.includes("warn") ? "warn" : "ok";
}

/** Rank 0's summary: a row per host (differing columns marked *), differences, problems. */
export function formatHostDoctors(hosts: HostDoctor[], size: number): string[] {
  const differ = new Set(differingFacts(hosts));
  const head = ["host", "ranks", "status", ...DOCTOR_FACTS.map((f) => differ.has(f) ? `${f}*` : f)];
  const rows = hosts.map((h) => [
    h.host,
    h.ranks.join(","),
    h.status,
    ...DOCTOR_FACTS.map((f) => h.facts[f]),
  ]);
  const widths = head.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const paths = [...new Set(hosts.map((h) => h.path))];
  const lines = [
    `doctor: ${size} ranks on ${new Set(hosts.map((h) => h.host)).size} host(s), ${
      paths.length === 1 ? paths[0] : `paths ${paths.join(", ")}`
    }`,
    "",
    line(head),
    ...rows.map(line),
  ];
  if (differ.size > 0) {
    lines.push("", "hosts differ (* above):");
    for (const fact of differ) {
      lines.push(`  ${fact}: ${hosts.map((h) => `${h.host} ${h.facts[fact]}`).join(", ")}`);
    }
  } else if (hosts.length > 1) {
    lines.push("", "hosts agree on every fact above");
  }
  for (const h of hosts.filter((h) => h.problems.length > 0)) {
    lines.push("", `${h.host} (rank${h.ranks.length > 1 ? "s" : ""} ${h.ranks.join(",")}):`);
    for (const p of h.problems) {
      lines.push(`  [${p.status === "fail" ? "FAIL" : "warn"}] ${p.name}: ${p.detail}`);
      if (p.fix) lines.push(`         fix: ${p.fix}`);
    }
  }
  lines.push("", `doctor: ${worst(hosts.map((h) => h.status))}`);
  return lines;
}

/** `aiobench doctor` on every rank; rank 0 prints the per-host summary. Returns the exit code. */
export async function runMpiDoctor(world: MpiWorld, parsed: ParsedCommand): Promise<number> {
  const unit: UnitOutcome<RankDoctor> = await acrossRanks(world, async () => {
    return doctorToJson(await doctorChecks(parsed)) as unknown as RankDoctor;
  });
  const hosts = hostDoctors(unit.reports);
  const status = worst(hosts.map((h) => h.status));
  const code = unit.failure || status === "fail" ? EXIT.failed : EXIT.ok;
  if (world.rank !== 0) return code;
  const lines = formatHostDoctors(hosts, world.size);
  const json = parsed.config?.json;
  const doc = {
    status,
    ranks: unit.reports.map((r) => ({ rank: r.rank, host: r.host, report: r.value ?? null })),
    hosts,
    differences: differingFacts(hosts),
  };
  if (json === "-") {
    writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
    writeLines(Deno.stderr, lines);
  } else {
    writeLines(Deno.stdout, lines);
    if (json) Deno.writeTextFileSync(json, JSON.stringify(doc, null, 2) + "\n");
  }
  if (unit.failure) errLine(`aiobench: ${failureLine(unit.failure)}`);
  return code;
}
