import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libraries as packagedLibraries } from "./embedded_libs.ts";
import { ABI_VERSION, BUILD_MODES, symbols } from "./symbols.ts";

/** The loaded native library. */
export type NativeLibrary = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Library bytes carried inside a bundle or compiled program, per CPU architecture. */
export interface EmbeddedLibrary {
  arch: string;
  sha256: string;
  base64: string;
}

// A published package carries its libraries in embedded_libs.ts; a bundle registers its own.
let embedded: EmbeddedLibrary[] = packagedLibraries;
let loaded: { lib: NativeLibrary; path: string; source: string } | null = null;

/** Registers embedded library bytes (done by generated bundles; see scripts/bundle.sh). */
export function registerEmbeddedLibraries(libraries: EmbeddedLibrary[]): void {
  embedded = libraries;
}

/** Thrown when the native library can't be found or loaded; its message says what to do. */
export class NativeLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NativeLoadError";
  }
}

function checkoutLibraryPath(): string | null {
  const here = new URL(import.meta.url);
  // Only when running from source: a bundle (dist/aiobench.js) or a JSR download is no checkout.
  if (here.protocol !== "file:" || !here.pathname.endsWith("/ffi/native.ts")) return null;
  const path = new URL("../zig/zig-out/lib/libaiobench.so", here).pathname;
  return existsSync(path) ? path : null;
}

function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "aiobench");
  const home = Deno.env.get("HOME");
  if (home) return join(home, ".cache", "aiobench");
  return join(tmpdir(), "aiobench-cache");
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Writes embedded bytes once to `<cache>/<hash>/libaiobench.so` (atomic rename, so parallel
 * starts don't race) and returns that path; a cached file whose hash is wrong is replaced.
 */
export function materializeEmbedded(library: EmbeddedLibrary, root = cacheRoot()): string {
  const dir = join(root, library.sha256.slice(0, 16));
  const path = join(dir, "libaiobench.so");
  if (existsSync(path) && sha256(readFileSync(path)) === library.sha256) return path;
  const bytes = Uint8Array.from(atob(library.base64), (c) => c.charCodeAt(0));
  if (sha256(bytes) !== library.sha256) {
    throw new NativeLoadError("the embedded libaiobench is corrupt (hash mismatch); rebuild it");
  }
  mkdirSync(dir, { recursive: true });
  const part = `${path}.${Deno.pid}.${crypto.randomUUID()}.part`;
  writeFileSync(part, bytes, { mode: 0o755 });
  renameSync(part, path);
  return path;
}

function embeddedLibraryPath(): string | null {
  if (embedded.length === 0) return null;
  const library = embedded.find((l) => l.arch === Deno.build.arch);
  if (!library) {
    const have = embedded.map((l) => l.arch).join(", ");
    throw new NativeLoadError(
      `no native library for ${Deno.build.os}/${Deno.build.arch} in this build (it has ${have}); ` +
        "aiobench runs on Linux x86_64 and aarch64",
    );
  }
  try {
    return materializeEmbedded(library);
  } catch (e) {
    if (e instanceof NativeLoadError) throw e;
    return materializeEmbedded(library, privateTmpRoot());
  }
}

/** A per-user directory under the temp dir that no one else can write (we dlopen from it). */
function privateTmpRoot(): string {
  const dir = join(tmpdir(), `aiobench-${Deno.uid() ?? "user"}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = lstatSync(dir);
  if (!info.isDirectory() || info.uid !== Deno.uid() || (info.mode & 0o022) !== 0) {
    throw new NativeLoadError(
      `${dir} is not a private directory of this user; remove it or set XDG_CACHE_HOME`,
    );
  }
  return dir;
}

function resolve(): { path: string; source: string } {
  if (Deno.build.os !== "linux") {
    throw new NativeLoadError(`aiobench needs Linux (io_uring/libaio); this is ${Deno.build.os}`);
  }
  const fromEnv = Deno.env.get("AIOBENCH_LIB");
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      throw new NativeLoadError(
        `AIOBENCH_LIB=${fromEnv} does not exist; unset it or build the library`,
      );
    }
    return { path: fromEnv, source: "AIOBENCH_LIB" };
  }
  const checkout = checkoutLibraryPath();
  if (checkout) return { path: checkout, source: "checkout" };
  const cached = embeddedLibraryPath();
  if (cached) return { path: cached, source: "embedded" };
  throw new NativeLoadError(
    "libaiobench.so not found: run `deno task build` in the aiobench checkout " +
      "(or set AIOBENCH_LIB=/path/to/libaiobench.so)",
  );
}

/** Loads (once per thread) and returns the native library. */
export function native(): NativeLibrary {
  if (loaded) return loaded.lib;
  const { path, source } = resolve();
  let lib: Deno.DynamicLibrary<typeof symbols>;
  try {
    lib = Deno.dlopen(path, symbols);
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new NativeLoadError(
      `can't load ${path} (${why}); rebuild it with \`deno task build\``,
    );
  }
  const abi = lib.symbols.aiob_abi_version();
  if (abi !== ABI_VERSION) {
    lib.close();
    throw new NativeLoadError(
      `${path} has ABI ${abi} but this aiobench needs ${ABI_VERSION}: it is stale; ` +
        "rebuild it with `deno task build`",
    );
  }
  loaded = { lib: lib.symbols, path, source };
  return lib.symbols;
}

/** Where the loaded library came from (`AIOBENCH_LIB`, `checkout` or `embedded`) and its path. */
export function nativeInfo(): { path: string; source: string } | null {
  return loaded ? { path: loaded.path, source: loaded.source } : null;
}

/** The loaded library's Zig build mode, e.g. `ReleaseFast` (`ReleaseSafe`: asserts run). */
export function nativeBuildMode(): string {
  return BUILD_MODES[native().aiob_build_mode()] ?? "unknown";
}
