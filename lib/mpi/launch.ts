/**
 * Whether this process was started by an MPI launcher (Open MPI's mpiexec, MPICH's Hydra, a PMIx
 * server, SLURM's srun), which rank it is, and where the launching MPI's library is.
 *
 * Detection reads only the environment the launcher sets; the library search adds the launcher's
 * own install (Open MPI names its libdir; Hydra's proxy is our parent process) and
 * `LD_LIBRARY_PATH`, then the sonames the dynamic loader finds by itself.
 *
 * @module
 */
import { existsSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Who started the process. */
export type Launcher = "openmpi" | "hydra" | "mvapich" | "pmix" | "slurm";

/** What the launcher's environment says. */
export interface LaunchInfo {
  launcher: Launcher;
  /** This process's rank, as the launcher numbers it. */
  rank: number;
  /** Ranks in the job; undefined when the launcher doesn't say (a bare PMIx launch). */
  size?: number;
  /** The variables it was recognized by, for messages. */
  via: string;
}

/** `--mpi`: `auto` uses MPI under a launcher with more than one rank. */
export type MpiMode = "auto" | "on" | "off";

type Env = Record<string, string | undefined>;

function int(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/**
 * Recognizes an MPI launch from `env` (first match wins: the MPI-specific variables before
 * PMIx's and SLURM's, since mpiexec inside a SLURM job sets both).
 *
 * @example
 * ```ts
 * detectLaunch({ PMI_RANK: "1", PMI_SIZE: "4" }); // { launcher: "hydra", rank: 1, size: 4, … }
 * detectLaunch({}); // null
 * ```
 */
export function detectLaunch(env: Env): LaunchInfo | null {
  const candidates: Array<[Launcher, string, string | undefined, string | undefined]> = [
    ["openmpi", "OMPI_COMM_WORLD_RANK", env.OMPI_COMM_WORLD_RANK, env.OMPI_COMM_WORLD_SIZE],
    ["mvapich", "MV2_COMM_WORLD_RANK", env.MV2_COMM_WORLD_RANK, env.MV2_COMM_WORLD_SIZE],
    ["hydra", "PMI_RANK", env.PMI_RANK, env.PMI_SIZE],
    ["pmix", "PMIX_RANK", env.PMIX_RANK, undefined],
  ];
  for (const [launcher, name, rank, size] of candidates) {
    const r = int(rank);
    if (r === undefined) continue;
    const sizeFromSlurm = env.SLURM_STEP_ID !== undefined ? int(env.SLURM_NTASKS) : undefined;
    return { launcher, rank: r, size: int(size) ?? sizeFromSlurm, via: name };
  }
  // A SLURM job step (srun); the batch script itself has no step id and is not a launch.
  const slurmRank = int(env.SLURM_PROCID);
  const slurmSize = int(env.SLURM_NTASKS ?? env.SLURM_NPROCS);
  if (env.SLURM_STEP_ID !== undefined && slurmRank !== undefined && slurmSize !== undefined) {
    return { launcher: "slurm", rank: slurmRank, size: slurmSize, via: "SLURM_PROCID" };
  }
  return null;
}

/** Whether `mode` and the launch mean MPI is used for this run. */
export function wantsMpi(mode: MpiMode, launch: LaunchInfo | null): boolean {
  if (mode === "off") return false;
  if (mode === "on") return true;
  return launch !== null && launch.size !== 1;
}

/** Whether `command` with `--mpi mode` runs across ranks here (run, sweep and doctor can). */
export function mpiWanted(command: string, mode: MpiMode | undefined): boolean {
  if (command !== "run" && command !== "sweep" && command !== "doctor") return false;
  let env: Env = {};
  try {
    env = Deno.env.toObject();
  } catch {
    // no --allow-env: no launcher can be seen
  }
  return wantsMpi(mode ?? "auto", detectLaunch(env));
}

/** A human name for the launcher. */
export function launcherName(launcher: Launcher): string {
  const names: Record<Launcher, string> = {
    openmpi: "Open MPI's mpiexec",
    hydra: "MPICH's mpiexec (Hydra)",
    mvapich: "MVAPICH's launcher",
    pmix: "a PMIx launcher",
    slurm: "srun",
  };
  return names[launcher];
}

const OPENMPI_NAMES = ["libmpi.so.40", "libmpi.so"];
// The standard ABI first where the install offers it (MPICH 4.3+ ships libmpi_abi.so).
const MPICH_NAMES = ["libmpi_abi.so.1", "libmpi_abi.so", "libmpi.so.12", "libmpich.so.12"];
const ANY_NAMES = [...new Set([...MPICH_NAMES, ...OPENMPI_NAMES, "libmpi.so"])];

/** The library file names to look for, most likely first, for a launcher. */
export function libraryNames(launcher: Launcher | undefined): string[] {
  if (launcher === "openmpi") return OPENMPI_NAMES;
  if (launcher === "hydra" || launcher === "mvapich") return [...MPICH_NAMES, "libmpi.so"];
  return ANY_NAMES;
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields after the last ")" are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return int(fields[1]);
  } catch {
    return undefined;
  }
}

/** Executables of this process's ancestors (the launcher's proxy or daemon is among them). */
function ancestorExecutables(depth: number): string[] {
  const found: string[] = [];
  let pid = parentPid(Deno.pid);
  for (let i = 0; i < depth && pid !== undefined && pid > 1; i++) {
    try {
      found.push(readlinkSync(`/proc/${pid}/exe`));
    } catch {
      // another user's process, or gone
    }
    pid = parentPid(pid);
  }
  return found;
}

const LAUNCHER_PROGRAMS =
  /^(orted|prted|prterun|prte|mpirun|mpiexec|orterun|hydra_pmi_proxy|mpiexec\.hydra|pmi_proxy)$/;

/** Library directories of an install whose bin/ holds `executable`. */
function installLibDirs(executable: string): string[] {
  const prefix = dirname(dirname(executable));
  const multiarch = Deno.build.arch === "x86_64" ? "x86_64-linux-gnu" : "aarch64-linux-gnu";
  return ["lib", "lib64", join("lib", multiarch), join("lib", "release")].map((d) =>
    join(prefix, d)
  );
}

/** Directories to search for the launching MPI's library, most specific first. */
export function libraryDirs(env: Env): string[] {
  const dirs: string[] = [];
  if (env.OMPI_LIBDIR_LOC) dirs.push(env.OMPI_LIBDIR_LOC);
  if (env.OPAL_PREFIX) dirs.push(join(env.OPAL_PREFIX, "lib"), join(env.OPAL_PREFIX, "lib64"));
  for (const exe of ancestorExecutables(4)) {
    if (LAUNCHER_PROGRAMS.test(basename(exe))) dirs.push(...installLibDirs(exe));
  }
  for (const dir of (env.LD_LIBRARY_PATH ?? "").split(":")) if (dir) dirs.push(dir);
  return [...new Set(dirs)];
}

/** Where the library to load came from. */
export interface LibraryChoice {
  /** Paths (or bare sonames for the dynamic loader to find) to try in order; the first that loads wins. */
  paths: string[];
  /** `AIOBENCH_MPI_LIB`, `launcher` (found next to it or on LD_LIBRARY_PATH) or `loader`. */
  source: "AIOBENCH_MPI_LIB" | "launcher" | "loader";
}

/**
 * The MPI library to load: `AIOBENCH_MPI_LIB`, else the first known name in the launcher's
 * directories, else the known sonames, left to the dynamic loader's own search.
 */
export function chooseLibrary(env: Env, launcher: Launcher | undefined): LibraryChoice {
  const override = env.AIOBENCH_MPI_LIB;
  if (override) return { paths: [override], source: "AIOBENCH_MPI_LIB" };
  const names = libraryNames(launcher);
  for (const dir of libraryDirs(env)) {
    for (const name of names) {
      const path = join(dir, name);
      if (existsSync(path) && fitsLauncher(path, launcher)) {
        return { paths: [path], source: "launcher" };
      }
    }
  }
  return { paths: names, source: "loader" };
}

/** A plain `libmpi.so` is Open MPI's when it resolves to `libmpi.so.40…`, MPICH's otherwise. */
function fitsLauncher(path: string, launcher: Launcher | undefined): boolean {
  if (basename(path) !== "libmpi.so") return true;
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  const openmpi = /libmpi\.so\.40/.test(basename(real));
  if (launcher === "openmpi") return openmpi;
  if (launcher === "hydra" || launcher === "mvapich") return !openmpi;
  return true;
}
