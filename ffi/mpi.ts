/**
 * MPI through Deno FFI, loaded at run time only under an MPI launch (nothing MPI in the build).
 *
 * Three binary interfaces are spoken, told apart after loading:
 * - Open MPI: handles are addresses of objects the library exports (`ompi_mpi_comm_world`,
 *   `ompi_mpi_int`, …), so they are looked up with `dlsym` and passed as pointers (`u64`).
 * - MPICH (and Intel MPI, MVAPICH, Cray MPICH): handles are `int` constants fixed by mpi.h.
 * - The MPI-5 standard ABI (`libmpi_abi.so`): handles are pointer-sized, with small constant
 *   values fixed by the standard.
 *
 * The library is opened with `RTLD_GLOBAL` first (through libc's `dlopen`), because Open MPI's
 * plugins resolve libmpi's symbols from the global namespace. Only the thread that loaded it
 * (the main thread) may call it: MPI is initialized with `MPI_THREAD_FUNNELED`. Only
 * nonblocking collectives are exposed, so every wait can be bounded by the caller (lib/mpi/).
 *
 * @module
 */

/** Which binary interface a libmpi speaks. */
export type MpiAbiName = "openmpi" | "mpich" | "standard";

type HandleType = "u64" | "i32";

function mpiSymbols(h: HandleType) {
  return {
    MPI_Get_library_version: { parameters: ["buffer", "buffer"], result: "i32" },
    MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
    MPI_Initialized: { parameters: ["buffer"], result: "i32" },
    MPI_Finalized: { parameters: ["buffer"], result: "i32" },
    MPI_Comm_rank: { parameters: [h, "buffer"], result: "i32" },
    MPI_Comm_size: { parameters: [h, "buffer"], result: "i32" },
    MPI_Get_processor_name: { parameters: ["buffer", "buffer"], result: "i32" },
    MPI_Iallreduce: {
      parameters: ["buffer", "buffer", "i32", h, h, h, "buffer"],
      result: "i32",
    },
    MPI_Iallgather: {
      parameters: ["buffer", "i32", h, "buffer", "i32", h, h, "buffer"],
      result: "i32",
    },
    MPI_Iallgatherv: {
      parameters: ["buffer", "i32", h, "buffer", "buffer", "buffer", h, h, "buffer"],
      result: "i32",
    },
    MPI_Isend: { parameters: ["buffer", "i32", h, "i32", "i32", h, "buffer"], result: "i32" },
    MPI_Irecv: { parameters: ["buffer", "i32", h, "i32", "i32", h, "buffer"], result: "i32" },
    MPI_Test: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    MPI_Cancel: { parameters: ["buffer"], result: "i32" },
    MPI_Request_free: { parameters: ["buffer"], result: "i32" },
    MPI_Abort: { parameters: [h, "i32"], result: "i32" },
    MPI_Finalize: { parameters: [], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface;
}

type MpiSymbols = Deno.DynamicLibrary<ReturnType<typeof mpiSymbols>>["symbols"];
type Handle = number | bigint;

/** The handle values and constants of one ABI (facts from each implementation's mpi.h). */
interface AbiTable {
  name: MpiAbiName;
  handleType: HandleType;
  commWorld: Handle;
  int: Handle;
  byte: Handle;
  opMax: Handle;
  threadFunneled: number;
  anySource: number;
}

const MPICH_ABI: Omit<AbiTable, "name"> = {
  handleType: "i32",
  commWorld: 0x44000000,
  int: 0x4c000405,
  byte: 0x4c00010d,
  opMax: 0x58000001,
  threadFunneled: 1,
  anySource: -2,
};

const STANDARD_ABI: Omit<AbiTable, "name"> = {
  handleType: "u64",
  commWorld: 0x101n,
  int: 0x209n,
  byte: 0x247n,
  opMax: 0x23n,
  threadFunneled: 1024,
  anySource: -1,
};

/** Open MPI's predefined handles are the addresses of these exported objects. */
const OPENMPI_OBJECTS = {
  commWorld: "ompi_mpi_comm_world",
  int: "ompi_mpi_int",
  byte: "ompi_mpi_byte",
  opMax: "ompi_mpi_op_max",
} as const;

// Large enough for any implementation's MPI_Status (Open MPI 24 bytes, MPICH 20, standard 32).
const STATUS_BYTES = 64;
// MPI_MAX_PROCESSOR_NAME is 128 (MPICH) or 256 (Open MPI, standard); MPI_MAX_LIBRARY_VERSION_STRING
// at most 8192.
const NAME_BYTES = 1024;
const VERSION_BYTES = 8192;

/** The MPI library could not be loaded, or isn't one whose ABI we know. */
export class MpiLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MpiLoadError";
  }
}

/** An MPI call returned something other than MPI_SUCCESS. */
export class MpiError extends Error {
  /** The MPI function, e.g. `MPI_Iallreduce`. */
  readonly op: string;
  /** Its return code. */
  readonly code: number;
  constructor(op: string, code: number) {
    super(`${op} failed with MPI error ${code}`);
    this.name = "MpiError";
    this.op = op;
    this.code = code;
  }
}

const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;

const dlSymbols = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  dlerror: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type DlLib = Deno.DynamicLibrary<typeof dlSymbols>["symbols"];
let dl: DlLib | null = null;

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0");
}

function libdl(): DlLib {
  if (dl) return dl;
  // glibc 2.34+ has dlopen in libc.so.6; older ones in libdl.so.2.
  for (const name of ["libc.so.6", "libdl.so.2"]) {
    try {
      dl = Deno.dlopen(name, dlSymbols).symbols;
      return dl;
    } catch {
      // try the next
    }
  }
  throw new MpiLoadError("can't find dlopen in libc.so.6 or libdl.so.2 (aiobench needs glibc)");
}

function dlError(lib: DlLib): string {
  const p = lib.dlerror();
  return p ? Deno.UnsafePointerView.getCString(p) : "unknown dlopen error";
}

/** Opens `path` with RTLD_NOW | RTLD_GLOBAL and returns the address lookup for it. */
function openGlobal(path: string): (symbol: string) => bigint {
  const lib = libdl();
  const handle = lib.dlopen(cString(path), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    // dlerror() starts with the path itself; say it once.
    const why = dlError(lib).replace(`${path}: `, "");
    throw new MpiLoadError(`can't load ${path}: ${why}`);
  }
  return (symbol) => Deno.UnsafePointer.value(lib.dlsym(handle, cString(symbol)));
}

/** Reads the ABI from the library: Open MPI's exported objects, else MPI_Abi_get_version. */
function detectAbi(path: string, address: (symbol: string) => bigint): AbiTable {
  if (address(OPENMPI_OBJECTS.commWorld) !== 0n) {
    const handles: Record<string, Handle> = {};
    for (const [key, symbol] of Object.entries(OPENMPI_OBJECTS)) {
      const at = address(symbol);
      if (at === 0n) throw new MpiLoadError(`${path} looks like Open MPI but lacks ${symbol}`);
      handles[key] = at;
    }
    return {
      name: "openmpi",
      handleType: "u64",
      commWorld: handles.commWorld,
      int: handles.int,
      byte: handles.byte,
      opMax: handles.opMax,
      threadFunneled: 1,
      anySource: -1,
    };
  }
  if (address("MPI_Init_thread") === 0n) {
    throw new MpiLoadError(`${path} is not an MPI library (no MPI_Init_thread)`);
  }
  if (address("MPI_Abi_get_version") !== 0n) {
    const lib = Deno.dlopen(
      path,
      {
        MPI_Abi_get_version: { parameters: ["buffer", "buffer"], result: "i32" },
      } as const,
    );
    const major = new Int32Array(1);
    const minor = new Int32Array(1);
    const rc = lib.symbols.MPI_Abi_get_version(major, minor);
    lib.close();
    // MPICH's own-ABI libmpi answers -1: it has the function but speaks MPICH's ABI.
    if (rc === 0 && major[0] >= 1) return { name: "standard", ...STANDARD_ABI };
  }
  return { name: "mpich", ...MPICH_ABI };
}

let yielder: { sched_yield: () => number } | null = null;

/**
 * sched_yield(2): lets another thread that is ready to run on this core go first (what MPI
 * implementations do while they poll on a crowded host). A no-op where libc can't be loaded.
 */
export function yieldCpu(): void {
  if (yielder === null) {
    try {
      yielder = Deno.dlopen(
        "libc.so.6",
        {
          sched_yield: { parameters: [], result: "i32" },
        } as const,
      ).symbols;
    } catch {
      yielder = { sched_yield: () => 0 };
    }
  }
  yielder.sched_yield();
}

/** One nonblocking operation in flight; its buffers stay referenced until it completes. */
export class MpiRequest {
  /** MPI_Request storage (an int for MPICH, a pointer otherwise). */
  readonly handle = new Uint8Array(8);
  /** What MPI reads from or writes into until completion (off the V8 heap: see `offHeap`). */
  readonly buffers: ArrayBufferView[];
  /** The op that started it (for messages). */
  readonly op: string;
  /** Runs once when `test` sees it complete: copies what MPI received to the caller's array. */
  readonly #onDone?: () => void;
  #done = false;
  constructor(op: string, buffers: ArrayBufferView[], onDone?: () => void) {
    this.op = op;
    this.buffers = buffers;
    this.#onDone = onDone;
  }

  get done(): boolean {
    return this.#done;
  }

  set done(value: boolean) {
    if (value && !this.#done) {
      this.#done = true;
      this.#onDone?.();
    }
  }

  /**
   * Given up on (MPI_Request_free): MPI may still read or write its buffers, so they are kept
   * for the life of the process (a few bytes), and nothing is copied out.
   */
  abandon(): void {
    this.#done = true;
    abandoned.push(...this.buffers);
  }
}

/** Buffers of requests given up on while MPI may still use them. */
const abandoned: ArrayBufferView[] = [];

/**
 * A copy of `src` on an ArrayBuffer of its own. MPI keeps the pointers of a nonblocking call's
 * buffers and reads or writes them in later MPI calls; a small typed array made directly (as
 * `new Int32Array(2)`) can live on the V8 heap, which the garbage collector compacts, so MPI
 * would write where the array no longer is (seen: a segfault in MPI_Iallreduce's progress, 2
 * in ~100 two-rank runs while another process churned memory). An ArrayBuffer's memory is
 * allocated outside the V8 heap and never moves.
 */
function offHeap<T extends Int32Array | Uint8Array>(src: T): T {
  const bytes = new ArrayBuffer(Math.max(src.byteLength, 8));
  const copy =
    (src instanceof Int32Array
      ? new Int32Array(bytes, 0, src.length)
      : new Uint8Array(bytes, 0, src.length)) as T;
  copy.set(src);
  return copy;
}

/** A loaded libmpi: thin, checked wrappers; nonzero return codes throw `MpiError`. */
export class MpiLibrary {
  /** The path or name it was loaded from. */
  readonly path: string;
  /** The ABI it speaks. */
  readonly abi: MpiAbiName;
  readonly #lib: MpiSymbols;
  readonly #t: AbiTable;
  readonly #i32 = new Int32Array(1);
  readonly #flag = new Int32Array(1);
  readonly #status = new Uint8Array(STATUS_BYTES);

  private constructor(path: string, table: AbiTable, lib: MpiSymbols) {
    this.path = path;
    this.abi = table.name;
    this.#t = table;
    this.#lib = lib;
  }

  /**
   * Loads the library at `path` (a file or a soname) and tells its ABI.
   *
   * @example
   * ```ts
   * const mpi = MpiLibrary.load("/usr/lib/x86_64-linux-gnu/libmpi.so.40");
   * mpi.abi; // "openmpi"
   * ```
   */
  static load(path: string): MpiLibrary {
    const address = openGlobal(path);
    const table = detectAbi(path, address);
    let lib: MpiSymbols;
    try {
      lib = Deno.dlopen(path, mpiSymbols(table.handleType)).symbols as MpiSymbols;
    } catch (e) {
      const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
      throw new MpiLoadError(`${path} lacks an MPI-3 function aiobench needs (${why})`);
    }
    return new MpiLibrary(path, table, lib);
  }

  #check(code: number, op: string): void {
    if (code !== 0) throw new MpiError(op, code);
  }

  /** The first line of MPI_Get_library_version (callable before init). */
  libraryVersion(): string {
    const text = new Uint8Array(VERSION_BYTES);
    this.#check(this.#lib.MPI_Get_library_version(text, this.#i32), "MPI_Get_library_version");
    const n = Math.max(0, Math.min(this.#i32[0], text.length));
    const version = new TextDecoder().decode(text.subarray(0, n)).replace(/\0.*$/s, "");
    return version.split("\n")[0].replace(/\s+/g, " ").trim();
  }

  /** MPI_Init_thread with FUNNELED; returns whether at least FUNNELED was provided. */
  initFunneled(): boolean {
    const provided = new Int32Array(1);
    this.#check(
      this.#lib.MPI_Init_thread(null, null, this.#t.threadFunneled, provided),
      "MPI_Init_thread",
    );
    return provided[0] >= this.#t.threadFunneled;
  }

  /** MPI_Initialized. */
  initialized(): boolean {
    this.#check(this.#lib.MPI_Initialized(this.#i32), "MPI_Initialized");
    return this.#i32[0] !== 0;
  }

  /** MPI_Finalized. */
  finalized(): boolean {
    this.#check(this.#lib.MPI_Finalized(this.#i32), "MPI_Finalized");
    return this.#i32[0] !== 0;
  }

  /** This process's rank in MPI_COMM_WORLD. */
  rank(): number {
    this.#check(this.#lib.MPI_Comm_rank(this.#t.commWorld, this.#i32), "MPI_Comm_rank");
    return this.#i32[0];
  }

  /** The number of ranks in MPI_COMM_WORLD. */
  size(): number {
    this.#check(this.#lib.MPI_Comm_size(this.#t.commWorld, this.#i32), "MPI_Comm_size");
    return this.#i32[0];
  }

  /** MPI_Get_processor_name (usually the host name). */
  processorName(): string {
    const name = new Uint8Array(NAME_BYTES);
    this.#check(this.#lib.MPI_Get_processor_name(name, this.#i32), "MPI_Get_processor_name");
    return new TextDecoder().decode(name.subarray(0, Math.min(this.#i32[0], name.length)));
  }

  /** Starts an elementwise MAX over every rank's `values`; the result lands in `into`. */
  iallreduceMax(values: Int32Array, into: Int32Array): MpiRequest {
    if (into.length !== values.length) throw new RangeError("iallreduceMax: lengths differ");
    const send = offHeap(values);
    const recv = offHeap(into);
    const r = new MpiRequest("MPI_Iallreduce", [send, recv], () => into.set(recv));
    const t = this.#t;
    this.#check(
      this.#lib.MPI_Iallreduce(send, recv, send.length, t.int, t.opMax, t.commWorld, r.handle),
      r.op,
    );
    return r;
  }

  /** Starts gathering one int from every rank into `into` (length = size), on every rank. */
  iallgatherInt(value: number, into: Int32Array): MpiRequest {
    const send = offHeap(Int32Array.of(value));
    const recv = offHeap(into);
    const r = new MpiRequest("MPI_Iallgather", [send, recv], () => into.set(recv));
    const t = this.#t;
    this.#check(
      this.#lib.MPI_Iallgather(send, 1, t.int, recv, 1, t.int, t.commWorld, r.handle),
      r.op,
    );
    return r;
  }

  /** Starts gathering every rank's bytes (rank i sent `counts[i]`) into `into`, on every rank. */
  iallgatherBytes(bytes: Uint8Array, counts: Int32Array, into: Uint8Array): MpiRequest {
    const displacements = offHeap(new Int32Array(counts.length));
    for (let i = 1; i < counts.length; i++) {
      displacements[i] = displacements[i - 1] + counts[i - 1];
    }
    const send = offHeap(bytes);
    const sizes = offHeap(counts);
    const recv = offHeap(into);
    const r = new MpiRequest(
      "MPI_Iallgatherv",
      [send, sizes, displacements, recv],
      () => into.set(recv),
    );
    const t = this.#t;
    this.#check(
      this.#lib.MPI_Iallgatherv(
        send,
        send.length,
        t.byte,
        recv,
        sizes,
        displacements,
        t.byte,
        t.commWorld,
        r.handle,
      ),
      r.op,
    );
    return r;
  }

  /** Starts sending `values` to rank `dest` with `tag`. */
  isendInts(values: Int32Array, dest: number, tag: number): MpiRequest {
    const send = offHeap(values);
    const r = new MpiRequest("MPI_Isend", [send]);
    const t = this.#t;
    this.#check(
      this.#lib.MPI_Isend(send, send.length, t.int, dest, tag, t.commWorld, r.handle),
      r.op,
    );
    return r;
  }

  /** Starts receiving `into.length` ints with `tag` from any rank. */
  irecvIntsAny(into: Int32Array, tag: number): MpiRequest {
    const recv = offHeap(into);
    const r = new MpiRequest("MPI_Irecv", [recv], () => into.set(recv));
    const t = this.#t;
    this.#check(
      this.#lib.MPI_Irecv(recv, recv.length, t.int, t.anySource, tag, t.commWorld, r.handle),
      r.op,
    );
    return r;
  }

  /** MPI_Test: whether `request` has completed (then it is released by MPI). */
  test(request: MpiRequest): boolean {
    if (request.done) return true;
    this.#flag[0] = 0;
    this.#check(this.#lib.MPI_Test(request.handle, this.#flag, this.#status), "MPI_Test");
    request.done = this.#flag[0] !== 0;
    return request.done;
  }

  /** MPI_Cancel (for a receive nobody will match); complete it with `test` afterwards. */
  cancel(request: MpiRequest): void {
    if (!request.done) this.#check(this.#lib.MPI_Cancel(request.handle), "MPI_Cancel");
  }

  /** MPI_Request_free: MPI completes the operation on its own. */
  free(request: MpiRequest): void {
    if (request.done) return;
    this.#check(this.#lib.MPI_Request_free(request.handle), "MPI_Request_free");
    request.abandon();
  }

  /** MPI_Abort on MPI_COMM_WORLD: the launcher ends every rank. */
  abort(code: number): void {
    this.#lib.MPI_Abort(this.#t.commWorld, code);
  }

  /** MPI_Finalize. */
  finalize(): void {
    this.#check(this.#lib.MPI_Finalize(), "MPI_Finalize");
  }
}
