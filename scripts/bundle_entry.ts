// The start of dist/aiobench.js and dist/aiobench: the whole program with the native library
// inside. The same file is also every worker (deno bundle doesn't follow
// `new Worker(new URL(...))`): started under the tasklet name it becomes a tasklet, otherwise it
// is the program. scripts/bundle.sh bundles a generated entry that passes the libraries in, so
// this module type-checks without the generated ffi/_embedded_libs.ts.
import { type EmbeddedLibrary, registerEmbeddedLibraries } from "../ffi/native.ts";
import { startTasklet } from "../lib/tasklets/tasklet.ts";
import { WORKER_NAME } from "../lib/tasklets/worker_url.ts";
import { main } from "../main.ts";

/**
 * Registers the embedded libraries, then runs as a tasklet (in a worker named `WORKER_NAME`) or
 * as the program (`main(Deno.args)`, exiting with its code), starting workers from `bundleUrl`.
 */
export async function startBundle(libraries: EmbeddedLibrary[], bundleUrl: string): Promise<void> {
  if (libraries.length === 0) throw new Error("startBundle: no embedded libraries");
  registerEmbeddedLibraries(libraries);
  if ((globalThis as { name?: unknown }).name === WORKER_NAME) {
    startTasklet();
    return;
  }
  // lib/tasklets/worker_url.ts starts workers from the bundle instead of lib/tasklets/worker.ts.
  (globalThis as { __aiobenchWorkerUrl?: string }).__aiobenchWorkerUrl = bundleUrl;
  Deno.exit(await main(Deno.args));
}
