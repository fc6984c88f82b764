/**
 * Target resolution, the one place that turns `--read_file`/`--write_file`/`--folder` (and
 * `--folder_to_device_mapping`) into what a run does: the folders, whether it is the default run,
 * and the workloads. The command line and `benchmark()` both use it.
 *
 * @module
 */
import { UsageError } from "../common/size.ts";
import type { BenchConfig, Workload } from "../common/types.ts";

/** What besides the config decides the workloads (command-line choices). */
export interface TargetChoice {
  /** ds_io's `--read`: with `--folder`, read the files instead of writing them. */
  read?: boolean;
  /** `--rw`: one workload instead of the target's default. */
  rw?: Workload;
}

function currentDirectory(): string {
  try {
    return Deno.cwd();
  } catch {
    return ".";
  }
}

/** Whether the config names a target (a file or a folder). */
export function hasTarget(cfg: Partial<BenchConfig>): boolean {
  return cfg.readFile !== undefined || cfg.writeFile !== undefined ||
    (cfg.folders ?? []).length > 0;
}

/** The workloads of a target when nothing else is asked: ds_aio's and ds_io's. */
export function targetWorkloads(cfg: Partial<BenchConfig>, read = false): Workload[] {
  // ds_aio's test_ds_aio.py with both files reads the one, then writes the other.
  if (cfg.readFile !== undefined && cfg.writeFile !== undefined) return ["read", "write"];
  if (cfg.readFile !== undefined) return ["read"];
  if (cfg.writeFile !== undefined) return ["write"];
  if ((cfg.folders ?? []).length > 0) return read ? ["read"] : ["write"];
  return ["write", "read"];
}

/**
 * Completes the target part of `cfg` in place: a mapping's folders become the folders (when no
 * other target is named), `defaultRun`/`defaultDir` follow from whether a target is named, and
 * `workloads` (unless already set) from the target, `--read` and `--rw`.
 *
 * @example
 * ```ts
 * const cfg: Partial<BenchConfig> = { readFile: "/mnt/nvme/f" };
 * resolveTargets(cfg);
 * cfg.workloads; // ["read"]
 * ```
 */
export function resolveTargets(cfg: Partial<BenchConfig>, choice: TargetChoice = {}): void {
  cfg.folders = [...(cfg.folders ?? [])];
  cfg.folderToDeviceMapping = { ...cfg.folderToDeviceMapping };
  const mapped = Object.keys(cfg.folderToDeviceMapping);
  const file = cfg.readFile !== undefined
    ? "--read_file"
    : cfg.writeFile !== undefined
    ? "--write_file"
    : undefined;
  if (mapped.length > 0 && file !== undefined) {
    throw new UsageError(
      `--folder_to_device_mapping names ds_io's folders, and ${file} names a file: they ` +
        `contradict; drop ${file} (the folders are the targets) or the mapping`,
    );
  }
  if (!hasTarget(cfg) && mapped.length > 0) {
    cfg.folders = mapped;
    // ds_io runs one process per mapped folder.
    cfg.threads ??= mapped.length;
  }
  if (choice.read && cfg.folders.length === 0 && cfg.readFile === undefined) {
    throw new UsageError(
      "--read needs --folder DIR (it reads the folder's files instead of writing)",
    );
  }
  const rw = choice.rw;
  if (choice.read && rw !== undefined && rw !== "read" && rw !== "randread") {
    throw new UsageError(`--read and --rw ${rw} contradict; drop one of them`);
  }
  cfg.workloads ??= rw === undefined ? targetWorkloads(cfg, choice.read) : [rw];
  cfg.defaultRun ??= !hasTarget(cfg);
  if (cfg.defaultRun) cfg.defaultDir ??= currentDirectory();
  else delete cfg.defaultDir;
}
