/** Where tasklet workers load from: the bundle itself when bundled, else lib/tasklets/worker.ts. */
export function workerUrl(): string | URL {
  const bundled = (globalThis as { __aiobenchWorkerUrl?: string }).__aiobenchWorkerUrl;
  return bundled ?? new URL("./worker.ts", import.meta.url);
}

/** The name every tasklet worker gets (a bundle picks its role from `self.name`). */
export const WORKER_NAME = "aiobench-tasklet";
