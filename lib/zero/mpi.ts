/**
 * `aiobench zero` under mpiexec: every MPI process replays its own `--ranks` DeepSpeed ranks (the
 * world is processes × --ranks, and partitions are computed for all of them), every phase starts
 * after a global step (lib/mpi/world.ts), and rank 0 merges every process's document into one
 * report: bytes summed over the job, step and IO times the slowest process's, one row per rank.
 *
 * @module
 */
import { EXIT } from "../common/exit.ts";
import { errLine } from "../common/output.ts";
import { UsageError } from "../common/size.ts";
import { MpiSetupError, MpiWorld, RankStatus } from "../mpi/world.ts";
import type { Model } from "./model.ts";
import type { ZeroCli } from "./options.ts";
import { planZero, type ZeroPlan } from "./plan.ts";
import { verdict, type ZeroDocument, zeroDocument } from "./report.ts";
import { checkSpace, removeRunFolders, runZero, spaceNeeds, ZeroRunFailure } from "./run.ts";
import type { ZeroSettings } from "./settings.ts";

const GiB = 2 ** 30;

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The global ranks MPI process `rank` replays when every process replays `perProcess`. */
export function ranksOfProcess(rank: number, perProcess: number): number[] {
  return [...Array(perProcess).keys()].map((i) => rank * perProcess + i);
}

/**
 * One document for the job from every process's (in MPI rank order): per step the slowest
 * process's wall and IO time and the bytes of all; `ranks[]` and the timeline of all ranks.
 */
export function mergeZeroDocuments(
  plan: ZeroPlan,
  docs: ZeroDocument[],
  hosts: readonly string[],
): ZeroDocument {
  const first = docs[0];
  const steps = first.steps.map((step, i) => {
    const all = docs.map((d) => d.steps[i]).filter((s) => s !== undefined);
    const read = all.reduce((a, s) => a + s.read_bytes, 0);
    const write = all.reduce((a, s) => a + s.write_bytes, 0);
    const io = Math.max(...all.map((s) => s.io_s));
    const phases = { ...step.phases };
    for (const phase of ["forward", "backward", "optimizer"] as const) {
      phases[phase] = {
        s: Math.max(...all.map((s) => s.phases[phase].s)),
        read_bytes: all.reduce((a, s) => a + s.phases[phase].read_bytes, 0),
        write_bytes: all.reduce((a, s) => a + s.phases[phase].write_bytes, 0),
      };
    }
    return {
      ...step,
      step_s: Math.max(...all.map((s) => s.step_s)),
      io_s: io,
      read_bytes: read,
      write_bytes: write,
      gib_s: io > 0 ? (read + write) / io / GiB : 0,
      phases,
      ranks: all.flatMap((s) => s.ranks),
    };
  });
  const measured = steps.filter((s) => !s.warmup);
  const ranks = docs.flatMap((d) => d.ranks);
  const stepS = median(measured.map((s) => s.step_s));
  const ioS = median(measured.map((s) => s.io_s));
  const bytes = (plan.perRank.read + plan.perRank.write) * ranks.length;
  const compute = plan.computeS + plan.updateS;
  const partial = docs.some((d) => d.partial);
  return {
    ...first,
    partial,
    verdict: measured.length === 0
      ? "stopped before a measured step finished: no verdict"
      : verdict(plan, ranks, stepS, ioS > 0 ? bytes / ioS / GiB : 0),
    ranks_on_node: ranks.length,
    read_bytes_per_step: docs.reduce((a, d) => a + d.read_bytes_per_step, 0),
    write_bytes_per_step: docs.reduce((a, d) => a + d.write_bytes_per_step, 0),
    io_s_per_step: ioS,
    step_s_per_step: stepS,
    io_s_spread: {
      min: measured.length ? Math.min(...measured.map((s) => s.io_s)) : 0,
      max: measured.length ? Math.max(...measured.map((s) => s.io_s)) : 0,
    },
    bound_factor: compute > 0 && measured.length > 0 ? stepS / compute : null,
    steps,
    ranks,
    timeline: docs.flatMap((d) => d.timeline),
    env: {
      ...first.env,
      mpi: { processes: docs.length, hosts: [...hosts] },
      space: docs.flatMap((d, i) =>
        ((d.env.space as unknown[]) ?? []).map((s) => ({ ...(s as object), host: hosts[i] }))
      ),
    },
  };
}

/** What the zero command hands the MPI path. */
export interface ZeroMpiJob {
  cli: ZeroCli;
  version: string;
  /** Settings for a world of `processes × --ranks` DeepSpeed ranks. */
  settingsFor: (worldSize: number) => ZeroSettings;
  model: () => Model;
  /** The checks before any IO (paths, output files); throws UsageError. */
  check: (plan: ZeroPlan) => void;
  /** Prints the report and writes --json/--report (rank 0). */
  emit: (plan: ZeroPlan, doc: ZeroDocument) => void;
}

type Status = (typeof RankStatus)[keyof typeof RankStatus];

/** Runs `aiobench zero` as one process of an MPI job; every process returns the same code. */
export async function runZeroUnderMpi(job: ZeroMpiJob): Promise<number> {
  let world: MpiWorld;
  try {
    world = await MpiWorld.open();
  } catch (e) {
    if (!(e instanceof MpiSetupError)) throw e;
    errLine(`aiobench: ${e.message}`);
    return EXIT.failed;
  }
  try {
    return await replay(world, job);
  } finally {
    await world.close();
  }
}

async function replay(world: MpiWorld, job: ZeroMpiJob): Promise<number> {
  const { cli } = job;
  const ranks = ranksOfProcess(world.rank, cli.ranks);
  let plan: ZeroPlan | undefined;
  let problem: string | null = null;
  try {
    plan = planZero(job.model(), job.settingsFor(world.size * cli.ranks), {
      computeS: cli.computeS,
      updateS: cli.updateS,
    });
    job.check(plan);
    // Every process of this host replays as many ranks: their files share its filesystems.
    const space = spaceNeeds(plan, ranks).map((s) => ({
      ...s,
      neededBytes: s.neededBytes * world.localSize,
    }));
    checkSpace(space);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problem = e.message;
  }
  const problems = await world.allgather(problem);
  if (problems.some((p) => p !== null)) {
    if (world.rank === 0) reportProblems(world, problems);
    return EXIT.usage;
  }
  const controller = new AbortController();
  const stopRemote = world.onRemoteStop(() => controller.abort());
  // A process past the deadline ends the job through MPI_Abort: its swap files go first.
  const stopAbort = world.onAbort(() => {
    controller.abort();
    if (!cli.keep) removeRunFolders(plan!);
  });
  const signals = listen(controller);
  let status: Status = RankStatus.done;
  let failure: string | null = null;
  let doc: ZeroDocument | null = null;
  try {
    const run = await runZero(plan!, {
      ranks,
      steps: cli.steps,
      engine: cli.engine,
      keep: cli.keep,
      signal: controller.signal,
      pathsChecked: true,
      log: (line) => {
        if (world.rank === 0 && (cli.verbose || line.startsWith("preparing"))) errLine(line);
        if (line.startsWith("warning:")) errLine(`rank ${world.rank}: ${line}`);
      },
      stepBarrier: async () => {
        const { worst } = await world.step(RankStatus.running);
        if (worst !== RankStatus.running) controller.abort();
      },
    });
    doc = zeroDocument(run, { version: job.version });
    if (run.stopped) status = RankStatus.stopped;
  } catch (e) {
    if (!(e instanceof ZeroRunFailure || e instanceof UsageError)) throw e;
    failure = e.message.split("\n")[0];
    status = RankStatus.failed;
    world.announce(status);
  } finally {
    stopRemote();
    signals.remove();
  }
  const worst = await world.finish(status);
  if (!cli.keep) removeRunFolders(plan!);
  stopAbort();
  const gathered = await world.allgather({ doc, failure });
  if (world.rank === 0) {
    const docs = gathered.map((g) => g.doc).filter((d): d is ZeroDocument => d !== null);
    for (const [rank, g] of gathered.entries()) {
      if (g.failure !== null) {
        errLine(`aiobench: ${MpiWorld.label(rank, world.hosts[rank])}: ${g.failure}`);
      }
    }
    if (docs.length > 0) job.emit(plan!, mergeZeroDocuments(plan!, docs, world.hosts));
  }
  if (signals.code() !== 0) return signals.code();
  return worst === RankStatus.failed
    ? EXIT.failed
    : worst === RankStatus.stopped
    ? EXIT.sigint
    : EXIT.ok;
}

function reportProblems(world: MpiWorld, problems: (string | null)[]): void {
  const distinct = [...new Set(problems.filter((p): p is string => p !== null))];
  if (distinct.length === 1 && problems.every((p) => p === distinct[0])) {
    errLine(`aiobench: ${distinct[0]}`);
    return;
  }
  for (const [rank, p] of problems.entries()) {
    if (p !== null) errLine(`aiobench: ${MpiWorld.label(rank, world.hosts[rank])}: ${p}`);
  }
}

function listen(controller: AbortController): { remove: () => void; code: () => number } {
  let code = 0;
  const on = (exit: number) => () => {
    if (code !== 0) return;
    code = exit;
    errLine(
      `aiobench: stopping (${exit === EXIT.sigint ? "SIGINT" : "SIGTERM"}): removing swap files`,
    );
    controller.abort();
  };
  const sigint = on(EXIT.sigint);
  const sigterm = on(EXIT.sigterm);
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  return {
    remove: () => {
      Deno.removeSignalListener("SIGINT", sigint);
      Deno.removeSignalListener("SIGTERM", sigterm);
    },
    code: () => code,
  };
}
