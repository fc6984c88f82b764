/**
 * `aiobench doctor [PATH]`: the doctor checks wired to the native library's real probes
 * (an O_DIRECT write+read in PATH's directory, io_uring_setup).
 *
 * @module
 */
import { join } from "node:path";
import { AlignedBuffer } from "../../ffi/buffer.ts";
import { AioError } from "../../ffi/errors.ts";
import { AioFile } from "../../ffi/file.ts";
import { AioHandle, probeEngine } from "../../ffi/handle.ts";
import type { ParsedCommand } from "../cli/parse.ts";
import {
  doctor,
  type DoctorReport,
  doctorToJson,
  formatDoctor,
  type ProbeResult,
} from "./doctor.ts";
import { statOrNull } from "../run/files.ts";
import { UsageError } from "../common/size.ts";
import { writeLines } from "../common/output.ts";

/** Creates a scratch file in `dir`, writes and reads 4 KiB with O_DIRECT, removes it. */
export function probeDirect(dir: string): Promise<ProbeResult> {
  const path = join(dir, `.aiobench-doctor-${Deno.pid}.tmp`);
  let file: AioFile | undefined;
  const buffer = AlignedBuffer.alloc(4096);
  const handle = new AioHandle({ blockSize: 4096, queueDepth: 1 });
  try {
    file = AioFile.open(path, { write: true, create: true, exclusive: true, direct: true });
    buffer.fillPattern(1, 0);
    handle.write(buffer, file);
    handle.read(buffer, file);
    const align = AioFile.stat(path).dioOffsetAlign || undefined;
    return Promise.resolve({ ok: buffer.checkPattern(1, 0) === -1, align });
  } catch (e) {
    return Promise.resolve({ ok: false, errno: e instanceof AioError ? e.code : String(e) });
  } finally {
    handle.close();
    buffer.free();
    file?.close();
    try {
      Deno.removeSync(path);
    } catch {
      // never created
    }
  }
}

/** The doctor checks of the command line's PATH (or --folder, or the current directory). */
export async function doctorChecks(parsed: ParsedCommand): Promise<DoctorReport> {
  const path = parsed.positional[0] ?? parsed.config?.folders[0] ?? Deno.cwd();
  const st = statOrNull(path);
  if (!st) {
    throw new UsageError(`doctor: ${path} does not exist; give a directory on the disk to check`);
  }
  const dir = st.isDirectory ? path : join(path, "..");
  return await doctor(path, {
    probeDirect: () => probeDirect(dir),
    probeIoUring: () => {
      const problem = probeEngine("io_uring");
      return Promise.resolve(problem ? { ok: false, errno: problem.code } : { ok: true });
    },
  });
}

/** Runs doctor for the command line; returns the exit code (1 when a check fails). */
export async function runDoctor(parsed: ParsedCommand): Promise<number> {
  const report = await doctorChecks(parsed);
  const json = parsed.config?.json;
  const lines = formatDoctor(report);
  if (json === "-") {
    writeLines(Deno.stdout, [JSON.stringify(doctorToJson(report), null, 2)]);
    writeLines(Deno.stderr, lines);
  } else {
    writeLines(Deno.stdout, lines);
    if (json) Deno.writeTextFileSync(json, JSON.stringify(doctorToJson(report), null, 2) + "\n");
  }
  return report.status === "fail" ? 1 : 0;
}
