// The native library loader (ffi/native.ts), each case in its own `deno run` so that the
// environment (AIOBENCH_LIB, XDG_CACHE_HOME, TMPDIR) and the loader's once-per-process state are fresh.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ABI_VERSION } from "../ffi/symbols.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = join(ROOT, "scripts/deno");
const CHECKOUT_LIB = join(ROOT, "zig/zig-out/lib/libaiobench.so");
const decoder = new TextDecoder();

/** What a driver process printed: where the library came from, or the error it threw. */
interface Outcome {
  source?: string;
  path?: string;
  abi?: number;
  error?: string;
  message?: string;
}

// Imports the loader at NATIVE_URL, registers EMBED_JSON's libraries if given, loads, reports.
const DRIVER = `
const { native, nativeInfo, registerEmbeddedLibraries } = await import(Deno.env.get("NATIVE_URL"));
const embed = Deno.env.get("EMBED_JSON");
if (embed) registerEmbeddedLibraries(JSON.parse(Deno.readTextFileSync(embed)));
try {
  const abi = native().aiob_abi_version();
  console.log(JSON.stringify({ ...nativeInfo(), abi }));
} catch (e) {
  console.log(JSON.stringify({ error: e.name, message: e.message }));
}
`;

function libraryBytes(): Uint8Array {
  try {
    return Deno.readFileSync(CHECKOUT_LIB);
  } catch {
    throw new Error(`${CHECKOUT_LIB} is missing: run \`deno task build\` before the tests`);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A scratch dir with the driver, a copy of ffi/ (no checkout around it) and an embed list. */
function scratch(): { dir: string; copiedNative: string; embedJson: string; sha: string } {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_native_" });
  Deno.mkdirSync(join(dir, "ffi"));
  for (const entry of Deno.readDirSync(join(ROOT, "ffi"))) {
    if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.startsWith("_embedded")) {
      Deno.copyFileSync(join(ROOT, "ffi", entry.name), join(dir, "ffi", entry.name));
    }
  }
  Deno.writeTextFileSync(join(dir, "driver.ts"), DRIVER);
  const bytes = libraryBytes();
  const sha = sha256(bytes);
  const embedJson = join(dir, "embed.json");
  const embedded = [{ arch: Deno.build.arch, sha256: sha, base64: base64(bytes) }];
  Deno.writeTextFileSync(embedJson, JSON.stringify(embedded));
  return { dir, copiedNative: `file://${dir}/ffi/native.ts`, embedJson, sha };
}

function denoDir(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache");
  return Deno.env.get("DENO_DIR") ?? join(cache, "deno");
}

async function drive(dir: string, env: Record<string, string>): Promise<Outcome> {
  const clean = { ...env, DENO_DIR: denoDir(), NO_COLOR: "1" };
  const command = new Deno.Command(DENO, {
    args: ["run", "-A", "--no-lock", join(dir, "driver.ts")],
    cwd: dir,
    env: clean,
    stdout: "piped",
    stderr: "piped",
  });
  const { success, stdout, stderr } = await command.output();
  const out = decoder.decode(stdout).trim();
  assert.ok(success && out.startsWith("{"), `driver failed: ${out}\n${decoder.decode(stderr)}`);
  return JSON.parse(out.split("\n").at(-1)!);
}

/** Env with AIOBENCH_LIB removed, so the outer environment doesn't steer the cases. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { AIOBENCH_LIB: "", ...extra };
}

Deno.test("native loader: overrides and the checkout", async (t) => {
  const { dir } = scratch();
  const checkoutNative = new URL("../ffi/native.ts", import.meta.url).href;
  try {
    await t.step("from source in the checkout it loads zig/zig-out", async () => {
      const got = await drive(dir, baseEnv({ NATIVE_URL: checkoutNative }));
      assert.deepEqual(got, { source: "checkout", path: CHECKOUT_LIB, abi: ABI_VERSION });
    });
    await t.step("AIOBENCH_LIB wins over the checkout", async () => {
      const copy = join(dir, "custom.so");
      Deno.copyFileSync(CHECKOUT_LIB, copy);
      const got = await drive(dir, baseEnv({ NATIVE_URL: checkoutNative, AIOBENCH_LIB: copy }));
      assert.deepEqual(got, { source: "AIOBENCH_LIB", path: copy, abi: ABI_VERSION });
    });
    await t.step("a missing AIOBENCH_LIB path is an error naming it", async () => {
      const missing = join(dir, "nope", "libaiobench.so");
      const got = await drive(dir, baseEnv({ NATIVE_URL: checkoutNative, AIOBENCH_LIB: missing }));
      assert.equal(got.error, "NativeLoadError");
      assert.match(got.message!, new RegExp(`AIOBENCH_LIB=${missing} does not exist`));
    });
    await t.step("an AIOBENCH_LIB that is no library says to rebuild", async () => {
      const junk = join(dir, "junk.so");
      Deno.writeTextFileSync(junk, "not an ELF file");
      const got = await drive(dir, baseEnv({ NATIVE_URL: checkoutNative, AIOBENCH_LIB: junk }));
      assert.equal(got.error, "NativeLoadError");
      assert.match(got.message!, new RegExp(`can't load ${junk} .*deno task build`));
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("native loader: embedded library and its cache", async (t) => {
  const { dir, copiedNative, embedJson, sha } = scratch();
  const cache = join(dir, "cache");
  const cached = join(cache, "aiobench", sha.slice(0, 16), "libaiobench.so");
  const env = baseEnv({ NATIVE_URL: copiedNative, EMBED_JSON: embedJson, XDG_CACHE_HOME: cache });
  try {
    await t.step("without checkout or embedded bytes: says how to build", async () => {
      const got = await drive(dir, baseEnv({ NATIVE_URL: copiedNative, XDG_CACHE_HOME: cache }));
      assert.equal(got.error, "NativeLoadError");
      assert.match(got.message!, /libaiobench.so not found: run `deno task build`/);
    });
    await t.step("first start writes <XDG_CACHE_HOME>/aiobench/<hash>/ and loads it", async () => {
      const got = await drive(dir, env);
      assert.deepEqual(got, { source: "embedded", path: cached, abi: ABI_VERSION });
      assert.equal(sha256(Deno.readFileSync(cached)), sha);
      const left = [...Deno.readDirSync(join(cache, "aiobench", sha.slice(0, 16)))];
      assert.deepEqual(left.map((e) => e.name), ["libaiobench.so"]);
    });
    await t.step("a second start reuses the cached file", async () => {
      const before = Deno.statSync(cached);
      const got = await drive(dir, env);
      assert.equal(got.path, cached);
      const after = Deno.statSync(cached);
      assert.equal(after.ino, before.ino);
      assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    });
    await t.step("a corrupt cached file is replaced", async () => {
      const bytes = Deno.readFileSync(cached);
      bytes.fill(0, 0, 64);
      Deno.writeFileSync(cached, bytes);
      const inode = Deno.statSync(cached).ino;
      const got = await drive(dir, env);
      assert.deepEqual(got, { source: "embedded", path: cached, abi: ABI_VERSION });
      assert.equal(sha256(Deno.readFileSync(cached)), sha);
      assert.notEqual(Deno.statSync(cached).ino, inode);
    });
    await t.step("parallel first starts don't race", async () => {
      const fresh = join(dir, "cache-parallel");
      const runs = Array.from({ length: 4 }, () => drive(dir, { ...env, XDG_CACHE_HOME: fresh }));
      const path = join(fresh, "aiobench", sha.slice(0, 16), "libaiobench.so");
      for (const got of await Promise.all(runs)) assert.deepEqual(got.path, path);
      const left = [...Deno.readDirSync(join(fresh, "aiobench", sha.slice(0, 16)))];
      assert.deepEqual(left.map((e) => e.name), ["libaiobench.so"]);
    });
    await t.step("an unusable cache dir falls back to a private temp dir", async () => {
      const blocker = join(dir, "not-a-dir");
      Deno.writeTextFileSync(blocker, "");
      const tmp = join(dir, "tmp");
      Deno.mkdirSync(tmp);
      const got = await drive(dir, { ...env, XDG_CACHE_HOME: blocker, TMPDIR: tmp });
      const root = join(tmp, `aiobench-${Deno.uid()}`);
      assert.deepEqual(got, {
        source: "embedded",
        path: join(root, sha.slice(0, 16), "libaiobench.so"),
        abi: ABI_VERSION,
      });
      assert.equal(Deno.statSync(root).mode! & 0o777, 0o700);
    });
    await t.step("AIOBENCH_LIB wins over embedded bytes", async () => {
      const got = await drive(dir, { ...env, AIOBENCH_LIB: CHECKOUT_LIB });
      assert.deepEqual(got, { source: "AIOBENCH_LIB", path: CHECKOUT_LIB, abi: ABI_VERSION });
    });
    await t.step("no library for this CPU is a clear error", async () => {
      const other = join(dir, "other-arch.json");
      const embedded = JSON.parse(Deno.readTextFileSync(embedJson));
      embedded[0].arch = "riscv64";
      Deno.writeTextFileSync(other, JSON.stringify(embedded));
      const got = await drive(dir, { ...env, EMBED_JSON: other });
      assert.equal(got.error, "NativeLoadError");
      assert.equal(
        got.message,
        `no native library for linux/${Deno.build.arch} in this build (it has riscv64); ` +
          "aiobench runs on Linux x86_64 and aarch64",
      );
    });
    await t.step("embedded bytes that don't match their hash are refused", async () => {
      const bad = join(dir, "bad.json");
      const embedded = JSON.parse(Deno.readTextFileSync(embedJson));
      embedded[0].sha256 = "0".repeat(64);
      Deno.writeTextFileSync(bad, JSON.stringify(embedded));
      const got = await drive(dir, { ...env, EMBED_JSON: bad });
      assert.equal(got.error, "NativeLoadError");
      assert.match(got.message!, /embedded libaiobench is corrupt \(hash mismatch\)/);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
