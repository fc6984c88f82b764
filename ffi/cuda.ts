/**
 * The CUDA driver API (`libcuda.so.1`) through Deno FFI, loaded at run time only when `--gpu`
 * is used.
 *
 * Why Deno FFI and not the Zig library: CUDA stays out of the Zig build (no headers or stubs at
 * build time, one native library for every machine), the CPU path does not change at all, and
 * every CUDA call here is on the cold path or once per chunk (tens of MiB), where an FFI call's
 * ~30 ns does not matter. Handles and addresses travel as `u64` (CUdeviceptr is 64-bit; CUcontext,
 * CUstream and CUevent are pointers, passed the same way on x86_64 and aarch64).
 *
 * @module
 */

/** Driver symbols; `_v2` names are what cuda.h maps the plain names to since CUDA 3.2/11. */
export const cudaSymbols = {
  cuInit: { parameters: ["u32"], result: "i32" },
  cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
  cuGetErrorName: { parameters: ["i32", "buffer"], result: "i32" },
  cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
  cuDeviceGet: { parameters: ["buffer", "i32"], result: "i32" },
  cuDeviceGetName: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  cuDeviceTotalMem_v2: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRetain: { parameters: ["buffer", "i32"], result: "i32" },
  cuDevicePrimaryCtxRelease_v2: { parameters: ["i32"], result: "i32" },
  cuCtxSetCurrent: { parameters: ["u64"], result: "i32" },
  cuMemAlloc_v2: { parameters: ["buffer", "u64"], result: "i32" },
  cuMemFree_v2: { parameters: ["u64"], result: "i32" },
  cuMemHostRegister_v2: { parameters: ["u64", "u64", "u32"], result: "i32" },
  cuMemHostUnregister: { parameters: ["u64"], result: "i32" },
  cuMemcpyHtoD_v2: { parameters: ["u64", "u64", "u64"], result: "i32" },
  cuMemcpyDtoH_v2: { parameters: ["u64", "u64", "u64"], result: "i32" },
  cuMemcpyHtoDAsync_v2: { parameters: ["u64", "u64", "u64", "u64"], result: "i32" },
  cuMemcpyDtoHAsync_v2: { parameters: ["u64", "u64", "u64", "u64"], result: "i32" },
  cuStreamCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuStreamDestroy_v2: { parameters: ["u64"], result: "i32" },
  cuStreamSynchronize: { parameters: ["u64"], result: "i32" },
  cuEventCreate: { parameters: ["buffer", "u32"], result: "i32" },
  cuEventRecord: { parameters: ["u64", "u64"], result: "i32" },
  cuEventSynchronize: { parameters: ["u64"], result: "i32" },
  cuEventDestroy_v2: { parameters: ["u64"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** `CU_MEMHOSTREGISTER_PORTABLE`: the registration counts for every context. */
export const CU_MEMHOSTREGISTER_PORTABLE = 0x01;
/** `CU_STREAM_NON_BLOCKING`: no implicit sync with the legacy default stream. */
export const CU_STREAM_NON_BLOCKING = 0x01;
/** `CU_EVENT_DISABLE_TIMING`: cheaper events, used only to order slot reuse. */
export const CU_EVENT_DISABLE_TIMING = 0x02;

type CudaLib = Deno.DynamicLibrary<typeof cudaSymbols>["symbols"];

/** The driver library name, or `AIOBENCH_LIBCUDA` (tests and unusual installs). */
export function cudaLibraryPath(): string {
  return Deno.env.get("AIOBENCH_LIBCUDA") || "libcuda.so.1";
}

/** The driver could not be loaded: no library, or one without a symbol we need. */
export class CudaUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CudaUnavailableError";
  }
}

/**
 * A driver call returned a CUresult other than CUDA_SUCCESS.
 *
 * @example
 * ```ts
 * try { cuda().memAlloc(1 << 40); } catch (e) {
 *   if (e instanceof CudaError && e.code === "CUDA_ERROR_OUT_OF_MEMORY") console.log("too big");
 * }
 * ```
 */
export class CudaError extends Error {
  /** Name from cuGetErrorName, e.g. `CUDA_ERROR_OUT_OF_MEMORY`. */
  readonly code: string;
  readonly result: number;
  readonly op: string;
  constructor(result: number, code: string, op: string) {
    super(`CUDA ${op} failed: ${code} (${result})`);
    this.name = "CudaError";
    this.code = code;
    this.result = result;
    this.op = op;
  }
}

let loaded: CudaDriver | null = null;

/** The driver of this thread (each worker loads it for itself); throws CudaUnavailableError. */
export function cuda(): CudaDriver {
  if (loaded) return loaded;
  const path = cudaLibraryPath();
  let lib: Deno.DynamicLibrary<typeof cudaSymbols>;
  try {
    lib = Deno.dlopen(path, cudaSymbols);
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    const missing = /cannot open shared object|No such file|not found/i.test(text);
    throw new CudaUnavailableError(
      missing
        ? `no CUDA driver (${path} not found)`
        : `the CUDA driver ${path} could not be loaded (${text.split("\n")[0]})`,
    );
  }
  loaded = new CudaDriver(lib.symbols);
  return loaded;
}

/** Thin, checked wrappers: every CUresult != 0 throws a CudaError naming the call and code. */
export class CudaDriver {
  readonly #lib: CudaLib;
  readonly #u64 = new BigUint64Array(1);
  readonly #i32 = new Int32Array(1);

  constructor(lib: CudaLib) {
    this.#lib = lib;
  }

  /** Name of a CUresult (`CUDA_ERROR_…`), or `CUresult N` when the driver doesn't know it. */
  errorName(result: number): string {
    const out = new BigUint64Array(1);
    if (this.#lib.cuGetErrorName(result, out) !== 0 || out[0] === 0n) return `CUresult ${result}`;
    const pointer = Deno.UnsafePointer.create(out[0]);
    return pointer ? Deno.UnsafePointerView.getCString(pointer) : `CUresult ${result}`;
  }

  #check(result: number, op: string): void {
    if (result !== 0) throw new CudaError(result, this.errorName(result), op);
  }

  init(): void {
    this.#check(this.#lib.cuInit(0), "cuInit");
  }

  /** The driver's CUDA version as `major.minor`. */
  driverVersion(): string {
    this.#check(this.#lib.cuDriverGetVersion(this.#i32), "cuDriverGetVersion");
    const v = this.#i32[0];
    return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
  }

  deviceCount(): number {
    this.#check(this.#lib.cuDeviceGetCount(this.#i32), "cuDeviceGetCount");
    return this.#i32[0];
  }

  /** The CUdevice of ordinal `index`. */
  device(index: number): number {
    this.#check(this.#lib.cuDeviceGet(this.#i32, index), `cuDeviceGet(${index})`);
    return this.#i32[0];
  }

  deviceName(device: number): string {
    const out = new Uint8Array(256);
    this.#check(this.#lib.cuDeviceGetName(out, out.length, device), "cuDeviceGetName");
    const end = out.indexOf(0);
    return new TextDecoder().decode(out.subarray(0, end < 0 ? out.length : end));
  }

  deviceTotalMemBytes(device: number): number {
    this.#check(this.#lib.cuDeviceTotalMem_v2(this.#u64, device), "cuDeviceTotalMem");
    return Number(this.#u64[0]);
  }

  /** Retains the device's primary context and makes it current on this thread. */
  primaryContext(device: number): bigint {
    this.#check(this.#lib.cuDevicePrimaryCtxRetain(this.#u64, device), "cuDevicePrimaryCtxRetain");
    const context = this.#u64[0];
    try {
      this.#check(this.#lib.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    } catch (e) {
      this.#lib.cuDevicePrimaryCtxRelease_v2(device);
      throw e;
    }
    return context;
  }

  releasePrimaryContext(device: number): void {
    this.#check(this.#lib.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease");
  }

  /** Allocates `size` bytes of device memory; returns the CUdeviceptr. */
  memAlloc(size: number): bigint {
    this.#check(this.#lib.cuMemAlloc_v2(this.#u64, BigInt(size)), `cuMemAlloc(${size})`);
    return this.#u64[0];
  }

  memFree(pointer: bigint): void {
    this.#check(this.#lib.cuMemFree_v2(pointer), "cuMemFree");
  }

  /** Page-locks host memory at `address` for DMA (our mmap'ed AlignedBuffer), PORTABLE. */
  hostRegister(address: bigint, size: number): void {
    this.#check(
      this.#lib.cuMemHostRegister_v2(address, BigInt(size), CU_MEMHOSTREGISTER_PORTABLE),
      `cuMemHostRegister(${size} bytes)`,
    );
  }

  hostUnregister(address: bigint): void {
    this.#check(this.#lib.cuMemHostUnregister(address), "cuMemHostUnregister");
  }

  /** Synchronous host → device copy (set-up and validation only). */
  copyHtoD(device: bigint, host: bigint, size: number): void {
    this.#check(this.#lib.cuMemcpyHtoD_v2(device, host, BigInt(size)), "cuMemcpyHtoD");
  }

  /** Synchronous device → host copy (set-up and validation only). */
  copyDtoH(host: bigint, device: bigint, size: number): void {
    this.#check(this.#lib.cuMemcpyDtoH_v2(host, device, BigInt(size)), "cuMemcpyDtoH");
  }

  copyHtoDAsync(device: bigint, host: bigint, size: number, stream: bigint): void {
    this.#check(
      this.#lib.cuMemcpyHtoDAsync_v2(device, host, BigInt(size), stream),
      "cuMemcpyHtoDAsync",
    );
  }

  copyDtoHAsync(host: bigint, device: bigint, size: number, stream: bigint): void {
    this.#check(
      this.#lib.cuMemcpyDtoHAsync_v2(host, device, BigInt(size), stream),
      "cuMemcpyDtoHAsync",
    );
  }

  streamCreate(): bigint {
    this.#check(this.#lib.cuStreamCreate(this.#u64, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    return this.#u64[0];
  }

  streamDestroy(stream: bigint): void {
    this.#check(this.#lib.cuStreamDestroy_v2(stream), "cuStreamDestroy");
  }

  streamSynchronize(stream: bigint): void {
    this.#check(this.#lib.cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  eventCreate(): bigint {
    this.#check(this.#lib.cuEventCreate(this.#u64, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    return this.#u64[0];
  }

  eventRecord(event: bigint, stream: bigint): void {
    this.#check(this.#lib.cuEventRecord(event, stream), "cuEventRecord");
  }

  eventSynchronize(event: bigint): void {
    this.#check(this.#lib.cuEventSynchronize(event), "cuEventSynchronize");
  }

  eventDestroy(event: bigint): void {
    this.#check(this.#lib.cuEventDestroy_v2(event), "cuEventDestroy");
  }
}

/** What `probeCuda` found: the driver version and each device's name and memory. */
export interface CudaProbe {
  driverVersion: string;
  devices: Array<{ index: number; name: string; totalMemBytes: number }>;
}

/** Loads the driver, runs cuInit and lists the devices (throws CudaUnavailableError/CudaError). */
export function probeCuda(): CudaProbe {
  const driver = cuda();
  driver.init();
  const count = driver.deviceCount();
  const devices = [];
  for (let index = 0; index < count; index++) {
    const device = driver.device(index);
    devices.push({
      index,
      name: driver.deviceName(device),
      totalMemBytes: driver.deviceTotalMemBytes(device),
    });
  }
  return { driverVersion: driver.driverVersion(), devices };
}
