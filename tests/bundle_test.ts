// Distribution: `deno task bundle` makes one file that runs from an empty directory with the
// embedded library, `deno task compile` (where denort is available), and `deno publish --dry-run`.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testUnless } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DENO = join(ROOT, "scripts/deno");
const DENO_VERSION = "2.9.6";
const decoder = new TextDecoder();

interface Ran {
  code: number;
  out: string;
  err: string;
}

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Ran> {
  const command = new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await command.output();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

function denoDir(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache");
  return Deno.env.get("DENO_DIR") ?? join(cache, "deno");
}

/** Why the compile test can't run here, or null when denort is at hand. */
function denortMissing(): string | null {
  const bin = Deno.env.get("DENORT_BIN");
  if (bin) return null;
  const triple = `${Deno.build.arch}-unknown-linux-gnu`;
  try {
    Deno.statSync(join(denoDir(), `dl/release/v${DENO_VERSION}/denort-${triple}.zip`));
    return null;
  } catch {
    return `set DENORT_BIN to a denort ${DENO_VERSION} binary for ${triple} to test deno compile`;
  }
}

/** An empty directory on a disk that takes O_DIRECT (tmpfs doesn't), far from the checkout. */
function emptyDir(): string {
  return Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_dist_" });
}

function sha256(path: string): string {
  return createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
}

/**
 * Runs `program` (argv prefix) from a fresh empty directory with a fresh cache and no
 * AIOBENCH_LIB: `--help`, then a small write benchmark on two workers, checking the embedded
 * library was written to the cache and used.
 */
async function exerciseProgram(t: Deno.TestContext, program: string[]): Promise<void> {
  const dir = emptyDir();
  const cache = join(dir, ".cache");
  const env = { AIOBENCH_LIB: "", XDG_CACHE_HOME: cache, DENO_DIR: denoDir() };
  const [cmd, ...pre] = program;
  try {
    await t.step("--help", async () => {
      const got = await run(cmd, [...pre, "--help"], { cwd: dir, env });
      assert.equal(got.code, 0, got.err);
      assert.match(got.out, /^usage: aiobench/);
    });
    await t.step("a write benchmark on two workers with the embedded library", async () => {
      const args = ["--write_file", "./x", "--io_size", "8M", "--threads", "2", "--json", "-"];
      const got = await run(cmd, [...pre, ...args], { cwd: dir, env });
      assert.equal(got.code, 0, got.err);
      assert.match(got.err, /^Task Write Speed = \d/m);
      const result = JSON.parse(got.out);
      assert.equal(result.schema, "aiobench/1");
      assert.equal(result.results[0].op, "write");
      assert.equal(result.results[0].bytes, 2 * 8 * 1024 * 1024);
      assert.equal(result.results[0].errors, 0);
      const sha = sha256(join(ROOT, `dist/lib/${Deno.build.arch}/libaiobench.so`));
      const cached = join(cache, "aiobench", sha.slice(0, 16), "libaiobench.so");
      assert.equal(sha256(cached), sha, `the embedded library was not materialized at ${cached}`);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("deno task bundle: dist/aiobench.js runs alone from an empty directory", async (t) => {
  await t.step("deno task bundle", async () => {
    const got = await run(DENO, ["task", "--quiet", "bundle"]);
    assert.equal(got.code, 0, got.err);
  });
  const bundle = join(ROOT, "dist/aiobench.js");
  await t.step("one self-contained file", () => {
    const text = Deno.readTextFileSync(bundle);
    assert.ok(!text.includes(ROOT), `the bundle names the checkout ${ROOT}`);
    assert.doesNotMatch(text, /^import .* from "(npm|jsr|https?):/m);
    assert.match(text, /arch: "x86_64"/);
    assert.match(text, /arch: "aarch64"/);
  });
  const dir = emptyDir();
  try {
    Deno.copyFileSync(bundle, join(dir, "aiobench.js"));
    await exerciseProgram(t, [DENO, "run", "-A", "--no-config", join(dir, "aiobench.js")]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("deno task compile without denort says what it needs", async () => {
  const emptyDenoDir = emptyDir();
  try {
    const env = { DENORT_BIN: "", DENO_DIR: emptyDenoDir };
    const got = await run(DENO, ["task", "--quiet", "compile"], { env });
    assert.equal(got.code, 2);
    const lines = got.err.trim().split("\n");
    assert.equal(lines.length, 1, got.err);
    assert.match(lines[0], new RegExp(`set DENORT_BIN to a denort ${DENO_VERSION} binary`));
  } finally {
    Deno.removeSync(emptyDenoDir, { recursive: true });
  }
});

testUnless(
  denortMissing() ?? undefined,
  "deno task compile: dist/aiobench runs alone from an empty directory",
  async (t) => {
    await t.step("deno task compile", async () => {
      const got = await run(DENO, ["task", "--quiet", "compile"]);
      assert.equal(got.code, 0, got.err);
    });
    const dir = emptyDir();
    try {
      Deno.copyFileSync(join(ROOT, "dist/aiobench"), join(dir, "aiobench"));
      Deno.chmodSync(join(dir, "aiobench"), 0o755);
      await exerciseProgram(t, [join(dir, "aiobench")]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test("deno publish --dry-run passes", async () => {
  const got = await run(DENO, ["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(got.code, 0, got.out + got.err);
  assert.match(got.err + got.out, /Success Dry run complete/);
  assert.doesNotMatch(got.err + got.out, /dist\/|\.tools\//);
});

Deno.test("scripts/install.sh: an aiobench command that runs this checkout from anywhere", async () => {
  const dir = emptyDir();
  try {
    const bin = join(dir, "bin");
    const installed = await run(join(ROOT, "scripts/install.sh"), [bin]);
    assert.equal(installed.code, 0, installed.err);
    assert.match(installed.err, new RegExp(`wrote ${bin}/aiobench`));
    const version = await run(join(bin, "aiobench"), ["--version"], { cwd: dir });
    assert.equal(version.code, 0, version.err);
    assert.match(version.out, /^aiobench \d+\.\d+\.\d+$/m);
    const help = await run(join(bin, "aiobench"), ["help", "sweep"], { cwd: dir });
    assert.match(help.out, /^usage: aiobench sweep/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["bin"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
