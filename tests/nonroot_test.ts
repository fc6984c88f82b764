/**
 * `scripts/deno task bench` for a user who isn't root and has no writable home: a copy of the
 * checkout owned by `nobody`, HOME=/nonexistent, the pinned toolchains from this checkout. The
 * native library builds (Zig's caches live in the checkout), the run measures, and its output,
 * going to a pipe, carries no colour codes.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  firstReason,
  needsRoot,
  removeDir,
  ROOT,
  type SkipReason,
  tempDir,
  testUnless,
} from "./_helpers.ts";

const decoder = new TextDecoder();

function run(cmd: string, args: string[], cwd = ROOT): { ok: boolean; out: string; err: string } {
  try {
    const o = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).outputSync();
    return { ok: o.success, out: decoder.decode(o.stdout), err: decoder.decode(o.stderr) };
  } catch (e) {
    return { ok: false, out: "", err: String(e) };
  }
}

/** The pinned toolchain directories under this checkout's .tools (deno-*, zig-*), if any. */
function toolchains(): string[] {
  const tools = join(ROOT, ".tools");
  try {
    return [...Deno.readDirSync(tools)]
      .filter((e) => /^(deno|zig)-[0-9.]+$/.test(e.name))
      .map((e) => Deno.realPathSync(join(tools, e.name)));
  } catch {
    return [];
  }
}

/** Whether `nobody` can reach and read `path` (every directory above it searchable). */
function readableByNobody(path: string): boolean {
  return run("setpriv", [
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "test",
    "-r",
    path,
  ]).ok;
}

const files = run("git", ["ls-files", "-co", "--exclude-standard", "-z"]);
const pins = toolchains();
const nonrootSkip: SkipReason = firstReason(
  needsRoot("setpriv", "chown"),
  files.ok ? undefined : "needs a git checkout to copy",
  pins.length >= 2 ? undefined : "needs the pinned Deno and Zig under .tools",
);

testUnless(nonrootSkip, "scripts/deno task bench as nobody with no writable home", () => {
  const dir = tempDir("aiobench_nonroot_");
  try {
    const copy = join(dir, "aiobench");
    for (const path of files.out.split("\0").filter((p) => p !== "" && !p.startsWith("tests/"))) {
      Deno.mkdirSync(dirname(join(copy, path)), { recursive: true });
      Deno.copyFileSync(join(ROOT, path), join(copy, path));
      Deno.chmodSync(join(copy, path), Deno.statSync(join(ROOT, path)).mode! & 0o777);
    }
    // The same pinned toolchains, read-only; everything else in .tools is the user's. A checkout
    // only root can read (a clone in `mktemp -d`) can't lend nobody its toolchains: copy them.
    Deno.mkdirSync(join(copy, ".tools"));
    for (const pin of pins) {
      const target = join(copy, ".tools", pin.split("/").pop()!);
      if (readableByNobody(pin)) Deno.symlinkSync(pin, target);
      else {
        const cp = run("cp", ["-a", pin, target]);
        assert.ok(cp.ok, cp.err);
      }
    }
    Deno.mkdirSync(join(copy, "work"));
    const chown = run("chown", ["-R", "nobody:nogroup", dir]);
    assert.ok(chown.ok, chown.err);
    Deno.chmodSync(dir, 0o755);
    const r = run("setpriv", [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "env",
      "-i",
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "HOME=/nonexistent",
      "scripts/deno",
      "task",
      "bench",
      "--folder",
      join(copy, "work"),
      "--io_size",
      "8M",
    ], copy);
    assert.ok(r.ok, `${r.out}\n${r.err}`);
    assert.match(r.out, /^Task Write Speed = [0-9.]+ GB\/sec$/m);
    assert.ok(!`${r.out}${r.err}`.includes("\x1b"), "no colour codes in piped output");
    const cache = Deno.statSync(join(copy, ".tools", "zig-cache"));
    assert.ok(cache.isDirectory && cache.uid === 65534, "Zig's global cache is in the checkout");
    assert.ok(Deno.statSync(join(copy, "zig/zig-out/lib/libaiobench.so")).isFile);
    assert.deepEqual([...Deno.readDirSync(join(copy, "work"))], [], "the run cleaned up");
  } finally {
    removeDir(dir);
  }
});

Deno.test("aiobench and scripts/deno write no colour codes into pipes", () => {
  const dir = tempDir("aiobench_nocolor_");
  try {
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => k !== "NO_COLOR" && k !== "FORCE_COLOR"),
    );
    const o = new Deno.Command(join(ROOT, "scripts/deno"), {
      args: ["task", "bench", "--folder", dir, "--io_size", "4M", "--log_interval", "100ms"],
      cwd: ROOT,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const out = decoder.decode(o.stdout), err = decoder.decode(o.stderr);
    assert.equal(o.code, 0, err);
    assert.match(err, /^Task bench /m, "deno task's own line is there, plain");
    assert.ok(!`${out}${err}`.includes("\x1b"), JSON.stringify(`${out}${err}`.slice(0, 300)));
    assert.ok(!`${out}${err}`.includes("\r"), "no progress line drawn into a pipe");
  } finally {
    removeDir(dir);
  }
});
