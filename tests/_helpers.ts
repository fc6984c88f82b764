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
}

/** Runs `deno run -A main.ts ...args` (this Deno) and collects its exit code and output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const argv = [...(options.prefix ?? []), Deno.execPath(), "run", "-A", MAIN, ...args];
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

/** Prints the standard skip line. */
export function skip(reason: string): void {
  console.log(`SKIP: ${reason}`);
}
