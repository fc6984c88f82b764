/**
 * The ranks of an MPI job as aiobench uses them: a bounded global step, a gather of every rank's
 * JSON, a "this rank stopped" notice that reaches the others mid-run, and a clean shutdown.
 *
 * Protocol: the job is a sequence of units (a run, a sweep point, a doctor check), each begun on
 * every rank with `beginUnit`. Within a unit every collective is the same nonblocking
 * MPI_Iallreduce, so ranks that stop at different points still match each other's calls:
 * - `step(status)` is the global barrier: each rank contributes its status (running, done,
 *   stopped, failed) and learns the worst and the best of all ranks.
 * - A rank that fails or is stopped also sends every other rank a notice (`announce`), which
 *   each rank polls for on its event loop, so the others stop their IO within milliseconds
 *   instead of at their next barrier. Notices carry the unit, so a late one can't stop the next.
 * - `finish(status)` repeats the step until every rank is done; then `allgather` exchanges the
 *   results, which ends the unit. `close` drains the notices and calls MPI_Finalize.
 *
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED). No wait is unbounded: each request is
 * polled with MPI_Test (for 0.5 ms without sleeping, then sleeping up to 1 ms, yielding to the
 * event loop every 10 ms) until a deadline, and a deadline that passes aborts the job with one
 * line.
 *
 * @module
 */
import {
  type MpiAbiName,
  MpiLibrary,
  MpiLoadError,
  type MpiRequest,
  yieldCpu,
} from "../../ffi/mpi.ts";
import {
  chooseLibrary,
  detectLaunch,
  launcherName,
  type LaunchInfo,
  type LibraryChoice,
} from "./launch.ts";

/** A rank's state, ordered so that MAX over ranks is the one that matters most. */
export const RankStatus = { running: 0, done: 1, stopped: 2, failed: 3 } as const;
/** One of `RankStatus`'s values. */
export type RankStatusCode = (typeof RankStatus)[keyof typeof RankStatus];

/** Tag of the stop notices (below 32767, the smallest MPI_TAG_UB the standard allows). */
const NOTICE_TAG = 7715;
/** How long a cross-rank wait may take by default (a loop on the slowest rank included). */
export const DEFAULT_TIMEOUT_S = 600;

type Env = Record<string, string | undefined>;

/** The MPI world could not be set up (library, ABI, launcher mismatch). */
export class MpiSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MpiSetupError";
  }
}

/** A stop notice from another rank. */
export interface RemoteStop {
  rank: number;
  status: RankStatusCode;
  /** The unit it stopped in. */
  unit: number;
}

/** Options of `MpiWorld.open`. */
export interface WorldOptions {
  /** The environment to detect the launcher and library from (default: the process's). */
  env?: Env;
  /** Bound of every cross-rank wait in seconds (default `AIOBENCH_MPI_TIMEOUT` or 600). */
  timeoutS?: number;
}

// How long a wait polls MPI_Test without sleeping: ranks usually arrive within it, and progress
// in shared-memory MPI happens only inside our MPI_Test calls. On a crowded host (fewer cores than
// its ranks' threads) each poll yields the core first, so a waiting rank doesn't take the core
// another rank's IO needs; after it, sleeps between polls grow from 20 µs to 1 ms.
const SPIN_MS = 0.5;
/** How long a rank that aborts the job gives the others to hear its stop notice first. */
const ABORT_GRACE_MS = 200;
const SLEEP_MS_MIN = 0.02;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the calling thread for `ms` (sub-millisecond; used between MPI_Test polls). */
function sleepMs(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The ranks of this job, as seen from one of them. */
export class MpiWorld {
  /** This process's rank. */
  readonly rank: number;
  /** How many ranks there are. */
  readonly size: number;
  /** MPI_Get_processor_name. */
  readonly host: string;
  /** The MPI library: where it came from, its ABI and version line. */
  readonly library: { path: string; source: string; abi: MpiAbiName; version: string };
  /** The launcher the environment names, if any. */
  readonly launch: LaunchInfo | null;
  /** Bound of each cross-rank wait, in ms. */
  readonly timeoutMs: number;
  readonly #mpi: MpiLibrary;
  /** A notice: [status, rank, unit]. */
  readonly #notice = new Int32Array(3);
  #noticeRequest: MpiRequest | null = null;
  #noticesReceived = 0;
  readonly #sent: MpiRequest[] = [];
  #announcedUnit = -1;
  #announcements = 0;
  #unit = 0;
  /** The first notice of each unit (one may come for the next unit before this rank is in it). */
  readonly #remote = new Map<number, RemoteStop>();
  readonly #listeners = new Set<(stop: RemoteStop) => void>();
  readonly #beforeAbort = new Set<() => void>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #steps = 0;
  #closed = false;
  #crowded = false;
  #hosts: string[] = [];
  #localSize = 1;

  private constructor(
    mpi: MpiLibrary,
    fields: { launch: LaunchInfo | null; source: string; version: string; timeoutMs: number },
  ) {
    this.#mpi = mpi;
    this.launch = fields.launch;
    this.timeoutMs = fields.timeoutMs;
    this.rank = mpi.rank();
    this.size = mpi.size();
    this.host = mpi.processorName();
    this.library = { path: mpi.path, source: fields.source, abi: mpi.abi, version: fields.version };
  }

  /**
   * Loads the launching MPI's library, initializes MPI (FUNNELED) and checks that the library
   * belongs to the launcher (same number of ranks). Throws `MpiSetupError` with one line.
   */
  static async open(options: WorldOptions = {}): Promise<MpiWorld> {
    const env = options.env ?? Deno.env.toObject();
    const launch = detectLaunch(env);
    const timeoutS = options.timeoutS ?? timeoutFromEnv(env);
    const choice = chooseLibrary(env, launch?.launcher);
    const mpi = loadFirst(choice);
    checkAbiFitsLauncher(mpi, launch);
    const version = safeVersion(mpi);
    avoidPmixFixedAddressSegments();
    if (!mpi.initFunneled()) {
      throw new MpiSetupError(`${mpi.path} (${version}) can't call MPI from one thread (FUNNELED)`);
    }
    const world = new MpiWorld(mpi, {
      launch,
      source: choice.source,
      version,
      timeoutMs: timeoutS * 1000,
    });
    if (launch?.size !== undefined && launch.size !== world.size) {
      mpi.finalize();
      throw new MpiSetupError(
        `${
          launcherName(launch.launcher)
        } started ${launch.size} ranks but ${mpi.path} (${version}) ` +
          `sees ${world.size}: it is not the launcher's MPI; set AIOBENCH_MPI_LIB to the libmpi of ` +
          "the MPI whose mpiexec you use",
      );
    }
    await world.#learnHosts();
    world.#listen();
    return world;
  }

  /** Ranks on this rank's host (from every rank's processor name). */
  get localSize(): number {
    return this.#localSize;
  }

  /** Every rank's host, in rank order. */
  get hosts(): readonly string[] {
    return this.#hosts;
  }

  /** Gathers the hosts once; on a crowded host (ranks × 2 threads > cores) polls yield the core. */
  async #learnHosts(): Promise<void> {
    this.#hosts = await this.allgather(this.host);
    this.#localSize = this.#hosts.filter((h) => h === this.host).length;
    const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
    this.#crowded = this.#localSize * 2 > cores;
  }

  /** "rank 1 (host)", how messages name a rank. */
  static label(rank: number, host: string): string {
    return `rank ${rank} (${host})`;
  }

  /** The current unit's number (0 until the first `beginUnit`). */
  get unit(): number {
    return this.#unit;
  }

  /** Starts the next unit on this rank (every rank begins the same units in the same order). */
  beginUnit(): number {
    this.#unit++;
    this.#pollNotice();
    return this.#unit;
  }

  /** The first stop notice another rank sent in the current unit, if any. */
  get remoteStop(): RemoteStop | null {
    this.#pollNotice();
    return this.#remote.get(this.#unit) ?? null;
  }

  /**
   * Calls `listener` once another rank announces that it stopped in the current unit (at once
   * when one already did); returns an unsubscribe.
   */
  onRemoteStop(listener: (stop: RemoteStop) => void): () => void {
    this.#listeners.add(listener);
    const already = this.remoteStop;
    if (already) queueMicrotask(() => this.#listeners.has(listener) && listener(already));
    return () => this.#listeners.delete(listener);
  }

  /** One global step: every rank's status in, the worst and best of them out. */
  async step(status: RankStatusCode): Promise<{ worst: RankStatusCode; best: RankStatusCode }> {
    this.#assertOpen();
    const into = new Int32Array(2);
    const request = this.#mpi.iallreduceMax(Int32Array.of(status, -status), into);
    this.#steps++;
    await this.#wait(request, `global step ${this.#steps}`);
    return { worst: into[0] as RankStatusCode, best: -into[1] as RankStatusCode };
  }

  /**
   * Steps with `status` until every rank is done (or stopped, or failed); returns the worst
   * status of all. Ranks still running see a finished rank at their next step and stop.
   */
  async finish(status: RankStatusCode): Promise<RankStatusCode> {
    if (status === RankStatus.running) throw new RangeError("finish: status must not be running");
    for (;;) {
      const { worst, best } = await this.step(status);
      if (best >= RankStatus.done) return worst;
    }
  }

  /** Every rank's `value` (as JSON), in rank order, on every rank. */
  async allgather<T>(value: T): Promise<T[]> {
    this.#assertOpen();
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const counts = new Int32Array(this.size);
    await this.#wait(this.#mpi.iallgatherInt(bytes.length, counts), "gathering result sizes");
    let total = 0;
    for (const c of counts) total += c;
    const all = new Uint8Array(total);
    await this.#wait(this.#mpi.iallgatherBytes(bytes, counts, all), "gathering results");
    const decoder = new TextDecoder();
    const values: T[] = [];
    let offset = 0;
    for (const c of counts) {
      values.push(JSON.parse(decoder.decode(all.subarray(offset, offset + c))) as T);
      offset += c;
    }
    return values;
  }

  /** Tells every other rank, once per unit, that this rank stopped (`status` stopped or failed). */
  announce(status: RankStatusCode): void {
    if (this.#announcedUnit === this.#unit || this.#closed || this.size === 1) return;
    this.#announcedUnit = this.#unit;
    this.#announcements++;
    const notice = Int32Array.of(status, this.rank, this.#unit);
    for (let dest = 0; dest < this.size; dest++) {
      if (dest !== this.rank) this.#sent.push(this.#mpi.isendInts(notice, dest, NOTICE_TAG));
    }
  }

  /**
   * Calls `fn` (synchronously) just before this rank ends the job through MPI_Abort: the last
   * chance to remove its files, since the launcher then kills every rank. Returns its removal.
   */
  onAbort(fn: () => void): () => void {
    this.#beforeAbort.add(fn);
    return () => this.#beforeAbort.delete(fn);
  }

  /** Prints `line`, runs the `onAbort` callbacks and ends every rank of the job through MPI_Abort. */
  abortJob(line: string, code = 1): never {
    try {
      Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
      for (const fn of [...this.#beforeAbort]) {
        try {
          fn();
        } catch {
          // The job ends regardless; a callback's failure must not keep the other ranks waiting.
        }
      }
      // The ranks still running hear a stop notice and unlink their files before the launcher
      // kills them; a bounded grace (they poll for notices every 10-20 ms), then the abort.
      this.announce(RankStatus.failed);
      const until = performance.now() + ABORT_GRACE_MS;
      while (performance.now() < until && !this.#sent.every((r) => this.#mpi.test(r))) sleepMs(1);
      sleepMs(Math.max(0, until - performance.now()));
    } finally {
      this.#mpi.abort(code);
      Deno.exit(code);
    }
  }

  /** Drains the stop notices sent to this rank, then MPI_Finalize. Every rank must call it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const counts = new Int32Array(this.size);
    await this.#wait(
      this.#mpi.iallgatherInt(this.#announcements, counts),
      "closing (how many stop notices each rank sent)",
    );
    let expected = 0;
    for (const [rank, count] of counts.entries()) if (rank !== this.rank) expected += count;
    this.#pollNotice();
    while (this.#noticesReceived < expected) {
      this.#noticeRequest ??= this.#mpi.irecvIntsAny(this.#notice, NOTICE_TAG);
      await this.#wait(this.#noticeRequest, "receiving stop notices");
      this.#pollNotice();
    }
    if (this.#noticeRequest && !this.#noticeRequest.done) {
      this.#mpi.cancel(this.#noticeRequest);
      await this.#wait(this.#noticeRequest, "cancelling the stop-notice receive");
    }
    for (const sent of this.#sent) await this.#wait(sent, "sending stop notices");
    this.#closed = true;
    this.#mpi.finalize();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("MPI world already closed");
  }

  #listen(): void {
    if (this.size === 1) return;
    this.#noticeRequest = this.#mpi.irecvIntsAny(this.#notice, NOTICE_TAG);
    const timer = setInterval(() => this.#pollNotice(), 20);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Tests the receive of notices; one that came is recorded, listeners told, the receive re-posted. */
  #pollNotice(): void {
    const request = this.#noticeRequest;
    if (this.#closed || !request || !this.#mpi.test(request)) return;
    this.#noticesReceived++;
    const [status, rank, unit] = this.#notice;
    const stop: RemoteStop = { status: status as RankStatusCode, rank, unit };
    // While open, a receive is always posted; close() posts its own as it drains.
    this.#noticeRequest = this.#timer === undefined
      ? null
      : this.#mpi.irecvIntsAny(this.#notice, NOTICE_TAG);
    // The first notice of a unit matters; one of an earlier unit came too late to.
    if (unit < this.#unit || this.#remote.has(unit)) return;
    this.#remote.set(unit, stop);
    if (unit === this.#unit) { for (const listener of [...this.#listeners]) listener(stop); }
  }

  /** Polls `request` to completion within the deadline; the event loop gets a turn every 10 ms. */
  async #wait(request: MpiRequest, what: string): Promise<void> {
    const mpi = this.#mpi;
    if (mpi.test(request)) return;
    const start = performance.now();
    const deadline = start + this.timeoutMs;
    let yieldAt = start + 10;
    while (!mpi.test(request)) {
      const now = performance.now();
      if (now > deadline) this.#timedOut(what);
      const waited = now - start;
      if (waited < SPIN_MS) {
        if (this.#crowded) yieldCpu();
        continue;
      }
      sleepMs(Math.min(1, Math.max(SLEEP_MS_MIN, waited / 4)));
      if (now >= yieldAt) {
        this.#pollNotice();
        await nextTask();
        yieldAt = performance.now() + 10;
      }
    }
  }

  #timedOut(what: string): never {
    const s = Math.round(this.timeoutMs / 1000);
    this.abortJob(
      `aiobench: ${MpiWorld.label(this.rank, this.host)}: not every rank reached ${what} ` +
        `within ${s} s (a rank is stuck or gone; AIOBENCH_MPI_TIMEOUT sets the bound); ` +
        "aborting the job",
    );
  }
}

function timeoutFromEnv(env: Env): number {
  const text = env.AIOBENCH_MPI_TIMEOUT;
  if (text === undefined || text === "") return DEFAULT_TIMEOUT_S;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new MpiSetupError(`AIOBENCH_MPI_TIMEOUT=${text} is not a number of seconds > 0`);
  }
  return value;
}

function loadFirst(choice: LibraryChoice): MpiLibrary {
  const missing: string[] = [];
  for (const path of choice.paths) {
    try {
      return MpiLibrary.load(path);
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (choice.source === "loader" && /cannot open shared object/.test(text)) {
        missing.push(path);
        continue;
      }
      throw new MpiSetupError(
        e instanceof MpiLoadError
          ? `${text} (from ${choice.source})`
          : `can't load ${path}: ${text}`,
      );
    }
  }
  throw new MpiSetupError(
    `no MPI library found (tried ${missing.join(", ")}); set AIOBENCH_MPI_LIB to your libmpi, ` +
      "or use --mpi off",
  );
}

function checkAbiFitsLauncher(mpi: MpiLibrary, launch: LaunchInfo | null): void {
  if (!launch) return;
  const openmpiLauncher = launch.launcher === "openmpi";
  const openmpiLibrary = mpi.abi === "openmpi";
  if (launch.launcher !== "openmpi" && launch.launcher !== "hydra") return;
  if (openmpiLauncher === openmpiLibrary) return;
  throw new MpiSetupError(
    `${launcherName(launch.launcher)} started this rank but ${mpi.path} is ` +
      `${openmpiLibrary ? "Open MPI's" : "an MPICH-family"} library; set AIOBENCH_MPI_LIB to the ` +
      "libmpi of the MPI whose mpiexec you use",
  );
}

function safeVersion(mpi: MpiLibrary): string {
  try {
    return mpi.libraryVersion();
  } catch {
    return "version unknown";
  }
}

/**
 * PMIx (Open MPI 5's runtime) shares job data through a segment that every rank must map at the
 * address its server chose (gds/shmem2). A Deno process has large address ranges reserved by V8,
 * so that address can be taken and MPI_Init fails now and then ("attempted to attach to a
 * shared-memory segment at a particular base address"). Its hash store needs no fixed address:
 * use it in this process unless the user chose a store (PMIX_MCA_gds). Read at PMIx_Init inside
 * MPI_Init; MPIs without PMIx ignore it.
 */
function avoidPmixFixedAddressSegments(): void {
  if (Deno.env.get("PMIX_MCA_gds") === undefined) Deno.env.set("PMIX_MCA_gds", "hash");
}
