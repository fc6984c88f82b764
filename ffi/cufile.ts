/**
 * cuFile (GPUDirect Storage) through Deno FFI on `libcufile.so.0`, loaded only for `--use_gds`.
 * Where the library or the nvidia-fs driver is missing the caller gets a clear error: never a
 * silent POSIX fallback (cuFile's "compat mode" would measure a bounce path under GDS's name).
 *
 * @module
 */

/** cuFile symbols. `CUfileError_t` is returned by value: `{ CUfileOpError err; CUresult cu_err }`. */
export const cufileSymbols = {
  cuFileDriverOpen: { parameters: [], result: { struct: ["i32", "i32"] } },
  cuFileHandleRegister: { parameters: ["buffer", "buffer"], result: { struct: ["i32", "i32"] } },
  cuFileHandleDeregister: { parameters: ["u64"], result: "void" },
  cuFileBufRegister: { parameters: ["u64", "u64", "i32"], result: { struct: ["i32", "i32"] } },
  cuFileBufDeregister: { parameters: ["u64"], result: { struct: ["i32", "i32"] } },
  cuFileRead: { parameters: ["u64", "u64", "u64", "i64", "i64"], result: "i64" },
  cuFileWrite: { parameters: ["u64", "u64", "u64", "i64", "i64"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

type CufileLib = Deno.DynamicLibrary<typeof cufileSymbols>["symbols"];

/** `CU_FILE_HANDLE_TYPE_OPAQUE_FD`: a Linux file descriptor. */
const HANDLE_TYPE_OPAQUE_FD = 1;
/** `CUFILEOP_BASE_ERR`: cuFile's own codes start above this. */
const CUFILEOP_BASE_ERR = 5000;
/** Where the nvidia-fs kernel driver shows itself; without it cuFile would silently use POSIX. */
export const NVIDIA_FS_PROC = "/proc/driver/nvidia-fs/version";

const OP_ERRORS: Record<number, string> = {
  1: "CU_FILE_DRIVER_NOT_INITIALIZED",
  2: "CU_FILE_DRIVER_INVALID_PROPS",
  3: "CU_FILE_DRIVER_UNSUPPORTED_LIMIT",
  4: "CU_FILE_DRIVER_VERSION_MISMATCH",
  5: "CU_FILE_DRIVER_VERSION_READ_ERROR",
  6: "CU_FILE_DRIVER_CLOSING",
  7: "CU_FILE_PLATFORM_NOT_SUPPORTED",
  8: "CU_FILE_IO_NOT_SUPPORTED",
  9: "CU_FILE_DEVICE_NOT_SUPPORTED",
  10: "CU_FILE_NVFS_DRIVER_ERROR",
  11: "CU_FILE_CUDA_DRIVER_ERROR",
  12: "CU_FILE_CUDA_POINTER_INVALID",
  13: "CU_FILE_CUDA_MEMORY_TYPE_INVALID",
  14: "CU_FILE_CUDA_POINTER_RANGE_ERROR",
  15: "CU_FILE_CUDA_CONTEXT_MISMATCH",
  16: "CU_FILE_INVALID_MAPPING_SIZE",
  17: "CU_FILE_INVALID_MAPPING_RANGE",
  18: "CU_FILE_INVALID_FILE_TYPE",
  19: "CU_FILE_INVALID_FILE_OPEN_FLAG",
  20: "CU_FILE_DIO_NOT_SET",
  22: "CU_FILE_INVALID_VALUE",
  23: "CU_FILE_MEMORY_ALREADY_REGISTERED",
  24: "CU_FILE_MEMORY_NOT_REGISTERED",
  25: "CU_FILE_PERMISSION_DENIED",
  26: "CU_FILE_DRIVER_ALREADY_OPEN",
  27: "CU_FILE_HANDLE_NOT_REGISTERED",
  28: "CU_FILE_HANDLE_ALREADY_REGISTERED",
  29: "CU_FILE_DEVICE_NOT_FOUND",
  30: "CU_FILE_INTERNAL_ERROR",
  31: "CU_FILE_GETNEWFD_FAILED",
  33: "CU_FILE_NVFS_SETUP_ERROR",
  34: "CU_FILE_IO_DISABLED",
};

/** The cuFile library name, or `AIOBENCH_LIBCUFILE`. */
export function cufileLibraryPath(): string {
  return Deno.env.get("AIOBENCH_LIBCUFILE") || "libcufile.so.0";
}

/** cuFile can't be used here: no library, or no nvidia-fs driver under it. */
export class GdsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GdsUnavailableError";
  }
}

/** A cuFile call failed: its CUfileOpError name (and CUresult when it came from CUDA). */
export class CufileError extends Error {
  readonly code: string;
  readonly op: string;
  constructor(op: string, code: string) {
    super(`cuFile ${op} failed: ${code}`);
    this.name = "CufileError";
    this.op = op;
    this.code = code;
  }
}

/** Name of a CUfileOpError (5001…), or of the errno behind a -1/-errno IO result. */
export function cufileErrorName(err: number): string {
  const known = OP_ERRORS[err - CUFILEOP_BASE_ERR];
  return known ?? (err > CUFILEOP_BASE_ERR ? `CUfileOpError ${err}` : `error ${err}`);
}

let loaded: Cufile | null = null;

/** Loads cuFile for this thread; throws GdsUnavailableError where it can't work for real. */
export function cufile(): Cufile {
  if (loaded) return loaded;
  const path = cufileLibraryPath();
  let lib: Deno.DynamicLibrary<typeof cufileSymbols>;
  try {
    lib = Deno.dlopen(path, cufileSymbols);
  } catch (e) {
    const text = e instanceof Error ? e.message.split("\n")[0] : String(e);
    const missing = /cannot open shared object|No such file|not found/i.test(text);
    throw new GdsUnavailableError(
      missing ? `no cuFile library (${path} not found)` : `${path} could not be loaded (${text})`,
    );
  }
  loaded = new Cufile(lib.symbols);
  return loaded;
}

/** Whether the nvidia-fs kernel driver is loaded (real GDS; otherwise cuFile runs in compat mode). */
export function nvidiaFsVersion(): string | null {
  try {
    return Deno.readTextFileSync(NVIDIA_FS_PROC).trim().split("\n")[0] || "unknown";
  } catch {
    return null;
  }
}

/** Checked cuFile calls. */
export class Cufile {
  readonly #lib: CufileLib;

  constructor(lib: CufileLib) {
    this.#lib = lib;
  }

  #check(result: Uint8Array, op: string, tolerate: number[] = []): void {
    const view = new DataView(result.buffer, result.byteOffset, 8);
    const err = view.getInt32(0, true);
    if (err === 0 || tolerate.includes(err)) return;
    const cuErr = view.getInt32(4, true);
    throw new CufileError(op, cufileErrorName(err) + (cuErr !== 0 ? ` (CUresult ${cuErr})` : ""));
  }

  /** Opens the driver for this process (a second open is fine: every worker calls it). */
  driverOpen(): void {
    this.#check(this.#lib.cuFileDriverOpen(), "cuFileDriverOpen", [CUFILEOP_BASE_ERR + 26]);
  }

  /** Registers an O_DIRECT file descriptor; returns the CUfileHandle_t. */
  handleRegister(fd: number): bigint {
    const descr = new Uint8Array(24); // { int type; union { int fd; void* } ; void* fs_ops }
    const view = new DataView(descr.buffer);
    view.setInt32(0, HANDLE_TYPE_OPAQUE_FD, true);
    view.setInt32(8, fd, true);
    const out = new BigUint64Array(1);
    this.#check(this.#lib.cuFileHandleRegister(out, descr), `cuFileHandleRegister(fd ${fd})`);
    return out[0];
  }

  handleDeregister(handle: bigint): void {
    this.#lib.cuFileHandleDeregister(handle);
  }

  bufRegister(devicePointer: bigint, size: number): void {
    this.#check(
      this.#lib.cuFileBufRegister(devicePointer, BigInt(size), 0),
      `cuFileBufRegister(${size} bytes)`,
    );
  }

  bufDeregister(devicePointer: bigint): void {
    this.#check(this.#lib.cuFileBufDeregister(devicePointer), "cuFileBufDeregister");
  }

  /** Reads `size` bytes at `fileOffset` into device memory; loops over short reads. */
  read(handle: bigint, devicePointer: bigint, size: number, fileOffset: number): void {
    this.#io("read", handle, devicePointer, size, fileOffset);
  }

  write(handle: bigint, devicePointer: bigint, size: number, fileOffset: number): void {
    this.#io("write", handle, devicePointer, size, fileOffset);
  }

  #io(op: "read" | "write", handle: bigint, pointer: bigint, size: number, offset: number): void {
    const call = op === "read" ? this.#lib.cuFileRead : this.#lib.cuFileWrite;
    let done = 0;
    for (let attempt = 0; done < size; attempt++) {
      if (attempt > 1024) throw new CufileError(`${op} at ${offset + done}`, "no progress");
      const rc = Number(
        call(handle, pointer, BigInt(size - done), BigInt(offset + done), BigInt(done)),
      );
      if (rc < 0) {
        const code = rc === -1 ? "system error (errno)" : cufileErrorName(-rc);
        throw new CufileError(`${op} of ${size - done} bytes at offset ${offset + done}`, code);
      }
      if (rc === 0) throw new CufileError(`${op} at offset ${offset + done}`, "end of file");
      done += rc;
    }
  }
}
