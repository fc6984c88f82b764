/** Shared test helpers: temporary directories on ext4, random files, the CLI as a subprocess. */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "main.ts");
const decoder = new TextDecoder();

/** Whether this process runs as root (mount, losetup). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** A fresh directory under /var/tmp (ext4 here, so O_DIRECT works). */
export function tempDir(prefix = "aiobench_test_"): string {
  return Deno.makeTempDirSync({ dir: "/var/tmp", prefix });
}

/** Removes a directory tree, ignoring one that is already gone. */
export function removeDir(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** `size` random bytes (crypto quality, so no two test files share content). */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  return bytes;
}

/** Writes `size` random bytes to `path` (fsynced) and returns them. */
export function makeRandomFile(path: string, size: number): Uint8Array<ArrayBuffer> {
  const bytes = randomBytes(size);
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    let done = 0;
    while (done < size) done += file.writeSync(bytes.subarray(done));
    file.syncSync();
  } finally {
    file.close();
  }
  return bytes;
}

/** Index of the first byte where `a` and `b` differ (or the shorter length), -1 when equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** sha256 of a file's content, hex. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds the run took. */
  ms: number;
}

/** Options of `runCli`. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** A wrapper command, e.g. setpriv or prlimit, to run aiobench under. */
  prefix?: string[];
  /** The deno binary (default: this one). */
  deno?: string;
  /** The program (default: this checkout's main.ts). */
  main?: string;
}

/** Runs `deno run -A main.ts ...args` (this Deno) and collects its exit code and output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const deno = options.deno ?? Deno.execPath();
  const argv = [...(options.prefix ?? []), deno, "run", "-A", options.main ?? MAIN, ...args];
  const t0 = performance.now();
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd ?? ROOT,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    ms: performance.now() - t0,
  };
}

/** sha256 of a file's content, hex (synchronous). */
export function sha256Sync(path: string): string {
  return createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
}

/** The names in a directory, sorted. */
export function listing(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Writes `size` random bytes to `path` and returns their sha256. */
export function writeRandomFile(path: string, size: number): string {
  Deno.writeFileSync(path, randomBytes(size));
  return sha256Sync(path);
}

/** Runs a command; throws with its stderr when it fails. Returns trimmed stdout. */
export async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout).trim();
}

/** Unmounts `dir`, retrying while the kernel still tears down io_uring rings (EBUSY). */
export async function unmount(dir: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      await sh("umount", [dir]);
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

/** The stderr lines, without the empty last one. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

/** Why a test can't run here; undefined when it can. */
export type SkipReason = string | undefined;

/** The first reason given, if any. */
export function firstReason(...reasons: SkipReason[]): SkipReason {
  return reasons.find((r) => r !== undefined);
}

/** Whether a command is on PATH. */
export function hasCommand(name: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })
    .outputSync().success;
}

/** The reason a test that needs root and these commands can't run, if any. */
export function needsRoot(...commands: string[]): SkipReason {
  if (!isRoot()) return "needs root";
  const missing = commands.filter((c) => !hasCommand(c));
  return missing.length > 0 ? `needs ${missing.join(", ")}` : undefined;
}

/**
 * A test that counts as skipped (Deno's `ignore`), its reason in its name, when `reason` is
 * given; otherwise an ordinary test.
 */
export function testUnless(
  reason: SkipReason,
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  const ignore = reason !== undefined;
  Deno.test({ name: ignore ? `${name} (skipped: ${reason})` : name, ignore, fn });
}

/** A step that counts as skipped, its reason in its name, when `reason` is given. */
export function stepUnless(
  t: Deno.TestContext,
  reason: SkipReason,
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): Promise<boolean> {
  const ignore = reason !== undefined;
  return t.step({ name: ignore ? `${name} (skipped: ${reason})` : name, ignore, fn });
}

/** The uid and gid of `nobody`. */
export const NOBODY = 65534;

/** aiobench as another user can run it: deno, main.ts, its environment, and what to remove. */
export interface NobodyCopy {
  /** Options for `runCli` (deno, main, env with DENO_DIR, HOME and AIOBENCH_LIB). */
  cli: CliOptions;
  /** Removes the copy and the DENO_DIR. */
  cleanup: () => void;
}

function nobodyCan(test: string[]): boolean {
  const args = ["--reuid", String(NOBODY), "--regid", String(NOBODY), "--clear-groups", "test"];
  const out = new Deno.Command("setpriv", { args: [...args, ...test], stderr: "null" });
  return out.outputSync().success;
}

/**
 * What `nobody` needs to run aiobench: this checkout when nobody can read it, otherwise (a clone
 * in a root-only directory) a copy of deno, the program and the native library in a directory
 * under /var/tmp that nobody can read. Needs root and setpriv; returns the reason otherwise.
 */
export function runnableByNobody(): NobodyCopy | string {
  if (!isRoot()) return "needs root to become nobody";
  if (!new Deno.Command("sh", { args: ["-c", "command -v setpriv"] }).outputSync().success) {
    return "needs setpriv to become nobody";
  }
  const home = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_nobody_home_" });
  Deno.chownSync(home, NOBODY, NOBODY);
  const env = { DENO_DIR: home, HOME: home };
  const library = join(ROOT, "zig", "zig-out", "lib", "libaiobench.so");
  if (nobodyCan(["-r", MAIN, "-a", "-x", Deno.execPath(), "-a", "-r", library])) {
    return { cli: { env }, cleanup: () => removeDir(home) };
  }
  const copy = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_nobody_copy_" });
  const cleanup = () => {
    removeDir(copy);
    removeDir(home);
  };
  try {
    Deno.chmodSync(copy, 0o755);
    for (const name of ["main.ts", "mod.ts", "deno.json", "lib", "ffi"]) {
      const out = new Deno.Command("cp", { args: ["-r", join(ROOT, name), copy] }).outputSync();
      if (!out.success) throw new Error(`cp ${name}: ${decoder.decode(out.stderr)}`);
    }
    const deno = join(copy, "deno");
    Deno.copyFileSync(Deno.execPath(), deno);
    Deno.chmodSync(deno, 0o755);
    const lib = join(copy, "libaiobench.so");
    Deno.copyFileSync(library, lib);
    Deno.chmodSync(lib, 0o644);
    new Deno.Command("chmod", { args: ["-R", "a+rX", copy] }).outputSync();
    const cli = { deno, main: join(copy, "main.ts"), env: { ...env, AIOBENCH_LIB: lib } };
    return { cli, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/**
 * Makes sure a command-line tool is there, installing its apt package on a fresh (root, apt)
 * machine; undefined when it is, else the reason it is missing (for `testUnless`).
 */
export function ensureTool(command: string, aptPackage = command): SkipReason {
  const works = (cmd: string, args: string[]) => {
    try {
      return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
    } catch {
      return false;
    }
  };
  const present = () => works("sh", ["-c", `command -v ${command}`]);
  if (present()) return undefined;
  if (Deno.uid() !== 0 || !works("apt-get", ["--version"])) {
    return `${command} is not installed and can't be installed here (needs root and apt-get)`;
  }
  const install = ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q"];
  if (!works("env", [...install, "--no-install-recommends", aptPackage])) {
    works("env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-q"]);
    works("env", [...install, "--no-install-recommends", aptPackage]);
  }
  return present() ? undefined : `apt-get install ${aptPackage} did not give ${command}`;
}

/** The README's library example: the first ```ts block after "## As a library". */
export function readmeLibraryExample(): string {
  const readme = Deno.readTextFileSync(join(ROOT, "README.md"));
  const section = readme.slice(readme.indexOf("## As a library"));
  const match = section.match(/```ts\n([\s\S]*?)```/);
  if (!match) throw new Error("README.md has no ```ts block under '## As a library'");
  return match[1];
}
