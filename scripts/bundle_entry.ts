#!/usr/bin/env -S deno run -A
// Entry of dist/aiobench.js and dist/aiobench: the whole program with the native library inside.
// The same module is also every worker (deno bundle doesn't follow `new Worker(new URL(...))`):
// started under the tasklet name it becomes a tasklet, otherwise it is the program.
import { libraries } from "../ffi/_embedded_libs.ts";
import { registerEmbeddedLibraries } from "../ffi/native.ts";
import { startTasklet } from "../lib/tasklet.ts";
import { WORKER_NAME } from "../lib/worker_url.ts";
import { main } from "../main.ts";

registerEmbeddedLibraries(libraries);
if ((globalThis as { name?: unknown }).name === WORKER_NAME) {
  startTasklet();
} else {
  // lib/worker_url.ts starts workers from this module instead of lib/worker.ts.
  (globalThis as { __aiobenchWorkerUrl?: string }).__aiobenchWorkerUrl = import.meta.url;
  Deno.exit(await main(Deno.args));
}
