/**
 * `--validate` for a GPU worker: device memory copied back chunk by chunk and compared with the
 * file, outside the timed region.
 *
 * @module
 */
import { writes } from "../tasklets/schedule.ts";
import { type GpuTaskContext, withStaging } from "./schedule.ts";

/** --validate for a GPU worker: copies device memory back chunk by chunk and compares with the file. */
export function validateGpu(ctx: GpuTaskContext): void {
  const { spec } = ctx;
  const g = ctx.gpu;
  if (writes(spec.workload)) ctx.file.fsync();
  const file = Deno.openSync(spec.path, { read: true });
  try {
    withStaging(ctx, (staging) => {
      const fileBytes = new Uint8Array(staging.size);
      for (let offset = 0; offset < spec.ioSizeBytes; offset += staging.size) {
        const want = Math.min(staging.size, spec.ioSizeBytes - offset);
        g.driver.copyDtoH(staging.address, g.devicePointer + BigInt(offset), want);
        const got = readFully(file, fileBytes.subarray(0, want));
        if (got < want) {
          throw new GpuValidationError(
            `--validate: worker ${spec.worker}: ${spec.path} ends at ${
              offset + got
            }, expected ${spec.ioSizeBytes} bytes`,
          );
        }
        const at = staging.compare(fileBytes.subarray(0, want), 0);
        if (at >= 0) {
          const what = writes(spec.workload) ? "GPU data written" : "GPU data read";
          throw new GpuValidationError(
            `--validate: worker ${spec.worker}: ${what} differs from ${spec.path} at offset ${
              offset + at
            }`,
          );
        }
      }
    });
  } finally {
    file.close();
  }
}

function readFully(file: Deno.FsFile, into: Uint8Array): number {
  let done = 0;
  while (done < into.length) {
    const n = file.readSync(into.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
  return done;
}

/** --validate found GPU memory and the file differ. */
export class GpuValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpuValidationError";
  }
}
