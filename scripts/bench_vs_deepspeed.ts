/**
 * DeepSpeed's own benchmark against aiobench on the same command line, alternating, cell by
 * cell; run it through scripts/bench_vs_deepspeed.sh (which installs DeepSpeed and passes the
 * paths). Per cell and tool: the median and spread of E2E GB/s (ds_aio's own lines), and the
 * CPU time over the timed region only (between each tool's own log lines that open and close
 * it): the tool's whole process tree, every thread it had (a cgroup per run, see CpuGroup), and
 * the kernel's worker threads from /proc schedstat (kworker, ksoftirqd: the loop device's copies
 * and the block completions).
 *
 * @module
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { seededRandom } from "../lib/common/random.ts";

const GIB = 2 ** 30;

interface Options {
  dir: string;
  ds: "legacy" | "ds_io";
  legacyDir: string;
  python: string;
  main: string;
  rounds: number;
  size: number;
  smallSize: number;
  loops: number;
  warmup: number;
  ops: string[];
  grid: string;
  cells?: RegExp;
  extra: string[];
  lock?: string;
  out?: string;
  json?: string;
  writeState: "overwrite" | "fresh";
  /** Seconds before a run is taken as hung and killed. */
  runTimeoutS: number;
  /** How many times a hung run is run again before the benchmark stops. */
  retries: number;
  /**
   * A run whose timed region lost more than this share of the machine's CPU time to the
   * hypervisor (steal) is run again, up to stealRetries times (then the least-stolen run counts).
   */
  maxSteal: number;
  stealRetries: number;
  /** Saved --json files to render as one table instead of measuring (later files win a cell). */
  render?: string[];
}

/** One cell of the grid: the same settings for both tools. */
interface Cell {
  op: "read" | "write";
  threads: number;
  queueDepth: number;
  overlap: boolean;
  /** undefined: io_parallel not given (ds_aio's synchronous read/write). */
  ioParallel?: number;
  blockSize: number;
  size: number;
}

interface Sample {
  gibS: number;
  taskGibS: number;
  /** CPU seconds of the tool's process tree over its timed region. */
  cpuTreeS: number;
  /** CPU seconds of kworker/ksoftirqd threads over the same region. */
  cpuKernelS: number;
  /**
   * Requests the block device of --dir completed over the same region (reads + writes, from its
   * /sys/dev/block stat): how many pieces the tool's IOs reached the device in.
   */
  requests?: number;
  wallS: number;
  /** Share of the machine's CPU time stolen by the hypervisor over the timed region. */
  steal?: number;
}

/** A cell's samples, both tools; `hangs`: runs killed after --run_timeout and run again. */
interface Row {
  cell: string;
  config: Cell;
  ds: Sample[];
  ab: Sample[];
  hangs: { ds: number; ab: number };
  /** Runs run again because of the hypervisor's steal over their timed region. */
  stolen?: { ds: number; ab: number };
}

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(text);
  if (!m) throw new Error(`bad size '${text}': use a number with an optional K, M or G`);
  return Number(m[1]) * (SIZE_UNITS[m[2]] ?? 1);
}

function sizeText(bytes: number): string {
  for (const [unit, n] of [["G", GIB], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

function parseArgs(args: string[]): Options {
  const o: Partial<Options> & { extra: string[] } = {
    rounds: 5,
    size: GIB,
    smallSize: 256 * 1024 ** 2,
    loops: 1,
    warmup: -1,
    ops: ["read", "write"],
    grid: "full",
    extra: [],
    writeState: "overwrite",
    ds: "legacy",
    runTimeoutS: 180,
    retries: 2,
    maxSteal: 0.05,
    stealRetries: 4,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    const take = () => {
      if (value === undefined) throw new Error(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case "--dir":
        o.dir = take();
        break;
      case "--ds":
        o.ds = take() as Options["ds"];
        break;
      case "--legacy_dir":
        o.legacyDir = take();
        break;
      case "--python":
        o.python = take();
        break;
      case "--main":
        o.main = take();
        break;
      case "--rounds":
        o.rounds = Number(take());
        break;
      case "--size":
        o.size = parseSize(take());
        break;
      case "--small_size":
        o.smallSize = parseSize(take());
        break;
      case "--loops":
        o.loops = Number(take());
        break;
      case "--warmup_loops":
        o.warmup = Number(take());
        break;
      case "--ops":
        o.ops = take().split(",");
        break;
      case "--grid":
        o.grid = take();
        break;
      case "--cells":
        o.cells = new RegExp(take());
        break;
      case "--extra":
        o.extra = take().split(" ").filter((s) => s.length > 0);
        break;
      case "--lock":
        o.lock = take();
        break;
      case "--out":
        o.out = take();
        break;
      case "--json":
        o.json = take();
        break;
      case "--run_timeout":
        o.runTimeoutS = Number(take());
        break;
      case "--max_steal":
        o.maxSteal = Number(take()) / 100;
        break;
      case "--write_state":
        o.writeState = take() as Options["writeState"];
        break;
      case "--render":
        o.render = take().split(",").filter((s) => s.length > 0);
        break;
      default:
        throw new Error(`unknown argument '${flag}'`);
    }
  }
  if (o.render) return o as Options;
  if (!(o.maxSteal! > 0)) throw new Error(`--max_steal ${o.maxSteal! * 100}: use a percentage > 0`);
  if (!(o.runTimeoutS! > 0)) throw new Error(`--run_timeout ${o.runTimeoutS}: use seconds > 0`);
  if (!o.dir || !o.python || !o.main) throw new Error("--dir, --python and --main are required");
  if (o.ds === "legacy" && !o.legacyDir) throw new Error("--ds legacy needs --legacy_dir");
  // ds_io's own defaults: 1 warm-up loop; the legacy script has none.
  if (o.warmup! < 0) o.warmup = o.ds === "ds_io" ? 1 : 0;
  if (o.ds === "legacy" && o.warmup !== 0) throw new Error("the legacy ds_aio has no warm-up");
  return o as Options;
}

function cellName(c: Cell): string {
  const iop = c.ioParallel === undefined ? "unset" : String(c.ioParallel);
  return `${c.op} ${sizeText(c.blockSize)} t${c.threads} qd${c.queueDepth} ${
    c.overlap ? "overlap" : "sequential"
  } iop ${iop}`;
}

/** The grid of issue 12: threads × queue depth × overlap × io_parallel, 1M blocks; and 4K. */
function grid(o: Options): Cell[] {
  const cells: Cell[] = [];
  for (const op of o.ops as Cell["op"][]) {
    if (o.grid === "issue") {
      // The cells of the table that opened issue 12.
      const rows: [number, number, boolean, number | undefined][] = [
        [1, 32, true, undefined],
        [1, 32, true, 1],
        [1, 32, true, 2],
        [1, 32, false, 2],
        [1, 8, true, undefined],
        [2, 32, false, undefined],
        [2, 32, true, 2],
      ];
      for (const [threads, queueDepth, overlap, ioParallel] of rows) {
        cells.push({
          op,
          threads,
          queueDepth,
          overlap,
          ioParallel,
          blockSize: 1 << 20,
          size: o.size,
        });
      }
    } else {
      for (const threads of [1, 2]) {
        for (const queueDepth of [8, 32]) {
          for (const overlap of [true, false]) {
            for (const ioParallel of [undefined, 1, 2]) {
              cells.push({
                op,
                threads,
                queueDepth,
                overlap,
                ioParallel,
                blockSize: 1 << 20,
                size: o.size,
              });
            }
          }
        }
      }
    }
    cells.push({
      op,
      threads: 1,
      queueDepth: 32,
      overlap: true,
      blockSize: 4096,
      size: o.smallSize,
    });
  }
  return o.cells ? cells.filter((c) => o.cells!.test(cellName(c))) : cells;
}

/** Per-thread CPU ns (schedstat) of a set of thread ids; vanished threads count as 0. */
function threadNs(tids: string[]): number {
  let sum = 0;
  for (const t of tids) {
    try {
      sum += Number(Deno.readTextFileSync(t).split(" ")[0]);
    } catch {
      // the thread ended
    }
  }
  return sum;
}

function statOf(pid: string): { ppid: string; comm: string } | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const close = s.lastIndexOf(")");
    return { comm: s.slice(s.indexOf("(") + 1, close), ppid: s.slice(close + 2).split(" ")[1] };
  } catch {
    return null;
  }
}

function tasksOf(pid: string): string[] {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) =>
      `/proc/${pid}/task/${e.name}/schedstat`
    );
  } catch {
    return [];
  }
}

/** `root` and the pids of all its descendants. */
function treePids(root: number): string[] {
  const children = new Map<string, string[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const st = statOf(e.name);
    if (!st) continue;
    children.set(st.ppid, [...(children.get(st.ppid) ?? []), e.name]);
  }
  const out: string[] = [];
  const stack = [String(root)];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The schedstat files of every thread of `root` and its descendants. */
function treeThreads(root: number): string[] {
  return treePids(root).flatMap(tasksOf);
}

/**
 * A CPU accounting group for one run (cgroup v1 cpuacct or v2 cpu.stat): it counts every thread
 * the tool ever had, also those that start and exit inside the timed region (DeepSpeed's handle
 * starts its io_parallel threads per call). Without one (not root, no cgroupfs) the tool's live
 * threads are summed instead, which misses such threads.
 */
class CpuGroup {
  private constructor(private dir: string, private v2: boolean) {}

  static create(name: string): CpuGroup | null {
    for (
      const [base, v2] of [["/sys/fs/cgroup", true], ["/sys/fs/cgroup/cpuacct", false]] as const
    ) {
      try {
        if (v2 && !existsSync(`${base}/cgroup.controllers`)) continue;
        if (!v2 && !existsSync(`${base}/cpuacct.usage`)) continue;
        const dir = `${base}/${name}`;
        Deno.mkdirSync(dir);
        return new CpuGroup(dir, v2);
      } catch {
        // not root, or no such hierarchy
      }
    }
    return null;
  }

  add(pid: number): boolean {
    try {
      Deno.writeTextFileSync(`${this.dir}/cgroup.procs`, `${pid}\n`);
      return true;
    } catch {
      return false;
    }
  }

  /** CPU ns used by the group's tasks so far. */
  ns(): number {
    if (!this.v2) return Number(Deno.readTextFileSync(`${this.dir}/cpuacct.usage`).trim());
    const m = /^usage_usec (\d+)$/m.exec(Deno.readTextFileSync(`${this.dir}/cpu.stat`));
    return m ? Number(m[1]) * 1000 : NaN;
  }

  /** One try at removing the group: false while its tasks are still exiting. */
  #tryRemove(): boolean {
    try {
      Deno.removeSync(this.dir);
      return true;
    } catch {
      return false;
    }
  }

  /** As remove(), blocking: for a benchmark that is being stopped. */
  removeSync(): void {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 50 && !this.#tryRemove(); i++) Atomics.wait(pause, 0, 0, 20);
  }

  /** Removes the group once its tasks are gone (they may still be exiting: retried for ~1 s). */
  async remove(): Promise<void> {
    for (let i = 0; i < 50 && !this.#tryRemove(); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The tool run in progress: what an interrupted benchmark must stop and clean up. */
let running: { pid: number; semsBefore: Set<string>; group: CpuGroup | null } | null = null;

/**
 * Ctrl-C or a kill of the benchmark stops the tool it is running too (its whole process tree:
 * DeepSpeed's pool workers would otherwise go on reading the loop device's files) and removes
 * the semaphores that run left in /dev/shm; then exits 130 (SIGINT) or 143 (SIGTERM).
 */
function stopOnSignals(): void {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      const run = running;
      if (run !== null) {
        killTree(run.pid);
        run.group?.removeSync();
        removeNewSemaphores(run.semsBefore);
      }
      console.error(`bench_vs_deepspeed: stopped by ${signal}; the cells done so far are saved`);
      Deno.exit(code);
    });
  }
}

/** Removes the semaphores in /dev/shm that are not in `before` (a killed run's). */
function removeNewSemaphores(before: Set<string>): void {
  for (const name of pythonSemaphores()) {
    if (before.has(name)) continue;
    try {
      Deno.removeSync(`/dev/shm/${name}`);
    } catch {
      // already gone
    }
  }
}

/** Python multiprocessing's named semaphores in /dev/shm. */
function pythonSemaphores(): string[] {
  try {
    return [...Deno.readDirSync("/dev/shm")].map((e) => e.name).filter((n) =>
      n.startsWith("sem.mp-")
    );
  } catch {
    return [];
  }
}

/** SIGKILL to `root` and every descendant (a pool's workers outlive a killed parent). */
function killTree(root: number): void {
  for (const pid of treePids(root)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The /sys stat file of the block device holding `dir`, or null when there is none. */
function deviceStat(dir: string): string | null {
  const dev = BigInt(Deno.statSync(dir).dev ?? 0);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const path = `/sys/dev/block/${major}:${minor}/stat`;
  try {
    Deno.readTextFileSync(path);
    return path;
  } catch {
    return null; // tmpfs, overlay, ...: no block device
  }
}

/** Reads + writes the device has completed so far (fields 1 and 5 of its stat), or NaN. */
function deviceRequests(stat: string | null): number {
  if (stat === null) return NaN;
  const f = Deno.readTextFileSync(stat).trim().split(/\s+/).map(Number);
  return f[0] + f[4];
}

/** CPU time the hypervisor has stolen from this machine so far, in seconds (all CPUs). */
function stolenS(): number {
  const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/);
  // cpu user nice system idle iowait irq softirq steal ...: in USER_HZ (100 per second).
  return Number(cpu[8] ?? 0) / 100;
}

/** The schedstat files of the kernel's worker threads (loop device work, block completions). */
function kernelThreads(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const st = statOf(e.name);
    if (st && st.ppid === "2" && /^(kworker|ksoftirqd)/.test(st.comm)) out.push(...tasksOf(e.name));
  }
  return out;
}

interface Markers {
  /** A line seen before the timed region, once the process tree exists. */
  ready: RegExp;
  start: RegExp;
  /** The timed region starts at the startCount-th line that matches `start` (default 1). */
  startCount?: number;
  end: RegExp;
}

/** Runs one tool, watching its output for the markers of the timed region. */
async function runTool(
  cmd: string[],
  env: Record<string, string>,
  markers: Markers,
  timeoutS: number,
  device: string | null,
): Promise<
  {
    text: string;
    cpuTreeS: number;
    cpuKernelS: number;
    requests: number;
    code: number;
    wallS: number;
    hung: boolean;
    steal: number;
  }
> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const semsBefore = new Set(pythonSemaphores());
  running = { pid: child.pid, semsBefore, group: null };
  const timer = setTimeout(() => {
    hung = true;
    killTree(child.pid);
  }, timeoutS * 1000);
  const group = CpuGroup.create(`aiobench-vs-ds-${Deno.pid}`);
  const grouped = group !== null && group.add(child.pid);
  running.group = group;
  let text = "";
  let tree: string[] = [];
  let kernel: string[] = [];
  let at: { tree: number; kernel: number } | null = null;
  let starts = 0;
  let ready = false;
  let cpu = { tree: NaN, kernel: NaN };
  let requestsAt = NaN;
  let requests = NaN;
  let stealAt = { s: NaN, ms: NaN };
  let steal = NaN;
  const treeNs = () => grouped ? group!.ns() : threadNs(tree);
  const onLine = (line: string) => {
    if (!ready && markers.ready.test(line)) {
      ready = true;
      if (!grouped) tree = treeThreads(child.pid);
      kernel = kernelThreads();
    }
    if (at === null && markers.start.test(line) && ++starts >= (markers.startCount ?? 1)) {
      if (!grouped && tree.length === 0) tree = treeThreads(child.pid);
      at = { tree: treeNs(), kernel: threadNs(kernel) };
      requestsAt = deviceRequests(device);
      stealAt = { s: stolenS(), ms: performance.now() };
    } else if (at !== null && Number.isNaN(cpu.tree) && markers.end.test(line)) {
      const newKernel = kernelThreads().filter((t) => !kernel.includes(t));
      cpu = {
        tree: (treeNs() - at.tree) / 1e9,
        kernel: (threadNs(kernel) - at.kernel + threadNs(newKernel)) / 1e9,
      };
      requests = deviceRequests(device) - requestsAt;
      const capacityS = (performance.now() - stealAt.ms) / 1000 * navigator.hardwareConcurrency;
      steal = (stolenS() - stealAt.s) / capacityS;
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        text += line + "\n";
        onLine(line);
      }
    }
    if (rest) {
      text += rest;
      onLine(rest);
    }
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  running = null;
  clearTimeout(timer);
  await group?.remove();
  // A killed run's multiprocessing semaphores (/dev/shm/sem.mp-*) outlive it: its resource
  // tracker, which unlinks them, was killed with the tree.
  if (hung) {
    removeNewSemaphores(semsBefore);
  }
  return {
    text,
    cpuTreeS: cpu.tree,
    cpuKernelS: cpu.kernel,
    requests,
    code: status.code,
    wallS: (performance.now() - t0) / 1000,
    hung,
    steal,
  };
}

function speeds(text: string, op: string): { e2e: number; task: number } {
  const title = op === "read" ? "Read" : "Write";
  const find = (what: string) => {
    const m = new RegExp(`^${what} ${title} Speed = ([0-9.e+-]+) GB/sec`, "m").exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return { e2e: find("E2E"), task: find("Task") };
}

/** Both tools' command lines for a cell (the same settings, each in its own spelling). */
function commands(o: Options, c: Cell, files: Files): { ds: string[]; ab: string[] } {
  const common = [
    "--block_size",
    sizeText(c.blockSize),
    "--queue_depth",
    String(c.queueDepth),
    "--loops",
    String(o.loops),
  ];
  if (o.ds === "legacy") {
    const target = c.op === "read"
      ? ["--read_file", files.read(c)]
      : ["--write_file", files.write(c), "--write_size", sizeText(c.size)];
    const flags = [
      ...common,
      "--threads",
      String(c.threads),
      ...(c.overlap ? ["--overlap_events"] : []),
      ...(c.ioParallel !== undefined ? ["--io_parallel", String(c.ioParallel)] : []),
      "--handle",
    ];
    const abTarget = c.op === "read"
      ? target
      : ["--write_file", files.write(c), "--io_size", sizeText(c.size), "--force"];
    return {
      ds: [o.python, join(o.legacyDir, "test_ds_aio.py"), ...target, ...flags],
      ab: [Deno.execPath(), "run", "-A", o.main, ...abTarget, ...flags, "-v", ...o.extra],
    };
  }
  // ds_io always reads and writes through pread/pwrite + wait (one thread when io_parallel is
  // not given), so aiobench gets --io_parallel 1 there: the same schedule.
  const flags = [
    ...common,
    "--multi_process",
    String(c.threads),
    "--warmup_loops",
    String(o.warmup),
    ...(c.overlap ? [] : ["--sequential_requests"]),
    ...(c.op === "read" ? ["--read"] : []),
    "--io_size",
    sizeText(c.size),
  ];
  return {
    ds: [
      o.python,
      "-c",
      "from deepspeed.nvme import ds_io_main; ds_io_main()",
      "--folder",
      files.dsFolder(c),
      ...flags,
      ...(c.ioParallel !== undefined ? ["--io_parallel", String(c.ioParallel)] : []),
    ],
    ab: [
      Deno.execPath(),
      "run",
      "-A",
      o.main,
      "--folder",
      files.abFolder(c),
      ...flags,
      "--io_parallel",
      String(c.ioParallel ?? 1),
      "--keep",
      "--force",
      "-v",
      ...o.extra,
    ],
  };
}

function markers(o: Options, c: Cell, tool: "ds" | "ab"): Markers {
  if (tool === "ds") {
    // ds_aio logs "running main task" after the barrier that ends every tasklet's pre-task.
    return {
      ready: /^tid 0: running pre-task/,
      start: new RegExp(`^tid 0: running main task ${o.warmup}\\b`),
      end: /^tid 0: running post-task/,
    };
  }
  // aiobench logs "pre-task done" before that barrier: the timed region starts when the last
  // tasklet's line comes (worker 0's alone would count the others' buffer set-up as IO CPU).
  return {
    ready: /^tid 0: schedule = /,
    start: o.warmup > 0
      ? new RegExp(`^tid 0: warmup loop ${o.warmup - 1} done`)
      : /^tid \d+: pre-task done/,
    startCount: o.warmup > 0 ? 1 : c.threads,
    end: new RegExp(`^tid 0: main task ${o.loops - 1} done`),
  };
}

interface Files {
  read(c: Cell): string;
  write(c: Cell): string;
  dsFolder(c: Cell): string;
  abFolder(c: Cell): string;
}

function makeFiles(o: Options): Files {
  const readFile = (c: Cell) => join(o.dir, `read.${sizeText(c.size)}`);
  return {
    read: readFile,
    write: (c) => join(o.dir, `write.${sizeText(c.size)}`),
    dsFolder: (c) => join(o.dir, `ds.${sizeText(c.size)}`),
    abFolder: (c) => join(o.dir, `ab.${sizeText(c.size)}`),
  };
}

/** Writes `size` random-looking bytes with direct IO (dd), once; the files are shared. */
async function layOut(path: string, size: number): Promise<void> {
  try {
    if (Deno.statSync(path).size === size) return;
  } catch {
    // not there yet
  }
  const bs = size % (1 << 20) === 0 ? "1M" : "4K";
  const count = size / (bs === "1M" ? 1 << 20 : 4096);
  const out = await new Deno.Command("dd", {
    args: [
      `if=/dev/urandom`,
      `of=${path}`,
      `bs=${bs}`,
      `count=${count}`,
      "oflag=direct",
      "status=none",
    ],
  }).output();
  if (!out.success) {
    throw new Error(`dd of ${path} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** One run of a tool on freshly prepared files, killed (`hung`) after --run_timeout. */
function runBounded(
  o: Options,
  c: Cell,
  files: Files,
  cmd: string[],
  m: Markers,
): ReturnType<typeof runTool> {
  return prepare(o, c, files).then(() =>
    runTool(
      cmd,
      { ...Deno.env.toObject(), PYTHONUNBUFFERED: "1" },
      m,
      o.runTimeoutS,
      deviceStat(o.dir),
    )
  );
}

/** Before each run: the files each tool will touch are in the same state for both. */
async function prepare(o: Options, c: Cell, files: Files): Promise<void> {
  if (o.ds === "legacy") {
    if (c.op === "read") return layOut(files.read(c), c.size);
    for (let t = 0; t < c.threads; t++) {
      const path = `${files.write(c)}.${t}`;
      if (o.writeState === "fresh") await Deno.remove(path).catch(() => {});
      else await layOut(path, c.size);
    }
    return;
  }
  for (const folder of [files.dsFolder(c), files.abFolder(c)]) {
    Deno.mkdirSync(folder, { recursive: true });
  }
  if (c.op === "write" && o.writeState === "overwrite") {
    // ds_io removes its write files in its untimed pre step and writes them in the warm-up
    // loop; aiobench overwrites in place: both time overwrites of written files.
    for (let t = 0; t < c.threads; t++) {
      await layOut(join(files.abFolder(c), `aiobench_${t}.dat`), c.size);
    }
  }
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * A 95% interval for median(ab) / median(ds) by resampling each tool's rounds (percentile
 * bootstrap, 4000 draws): where it lies wholly below 1 the cell is slower beyond its rounds'
 * spread; where it spans 1 the rounds can't tell the tools apart.
 */
function ratioInterval(ab: number[], ds: number[]): [number, number] {
  const rand = seededRandom(0x5eed);
  const draw = (xs: number[]) => xs.map(() => xs[Math.floor(rand() * xs.length)]);
  const ratios: number[] = [];
  for (let i = 0; i < 4000; i++) ratios.push(median(draw(ab)) / median(draw(ds)));
  ratios.sort((a, b) => a - b);
  return [ratios[Math.floor(0.025 * ratios.length)], ratios[Math.ceil(0.975 * ratios.length) - 1]];
}

function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

function lockFile(path?: string): { release: () => void } {
  if (!path) return { release: () => {} };
  const f = Deno.openSync(path, { read: true });
  f.lockSync(true);
  return {
    release: () => {
      f.unlockSync();
      f.close();
    },
  };
}

/**
 * --render: the cells of saved --json files as one table (a grid measured in parts); a cell in
 * more than one file is taken from the last. Cells come in grid order.
 */
function renderSaved(o: Options): string {
  const byCell = new Map<string, Row>();
  let loops: number | undefined;
  for (const path of o.render!) {
    let text: string;
    let doc: { options?: { loops?: number }; results?: Row[] };
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw new Error(`--render ${path}: can't be read (${e instanceof Error ? e.name : e})`);
    }
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error(`--render ${path}: not JSON; give files this script wrote with --json`);
    }
    if (!Array.isArray(doc.results) || typeof doc.options?.loops !== "number") {
      throw new Error(
        `--render ${path}: not a --json file of this script (no options.loops, results)`,
      );
    }
    if (loops !== undefined && loops !== doc.options.loops) {
      throw new Error(
        `--render ${path}: --loops ${doc.options.loops}, the files before it ${loops}`,
      );
    }
    loops = doc.options.loops;
    for (const row of doc.results) byCell.set(row.cell, row);
  }
  const order = grid({ ...o, grid: "full", ops: ["read", "write"], cells: undefined }).map(
    cellName,
  );
  const rank = (name: string) => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  const rows = [...byCell.values()].sort((a, b) => rank(a.cell) - rank(b.cell));
  return renderTable({ ...o, loops: loops ?? 1 }, rows);
}

async function main(): Promise<void> {
  const o = parseArgs(Deno.args);
  if (o.render) {
    const table = renderSaved(o);
    if (o.out) Deno.writeTextFileSync(o.out, table + "\n");
    console.log(table);
    return;
  }
  stopOnSignals();
  const files = makeFiles(o);
  const cells = grid(o);
  const results: Row[] = [];
  console.error(
    `bench_vs_deepspeed: ${cells.length} cells x ${o.rounds} rounds, DeepSpeed side: ${o.ds}, in ${o.dir}`,
  );
  for (const c of cells) {
    const name = cellName(c);
    const cmd = commands(o, c, files);
    console.error(
      `== ${name}\n   ds: ${cmd.ds.slice(1).join(" ")}\n   ab: ${cmd.ab.slice(3).join(" ")}`,
    );
    const row: Row = {
      cell: name,
      config: c,
      ds: [],
      ab: [],
      hangs: { ds: 0, ab: 0 },
      stolen: { ds: 0, ab: 0 },
    };
    for (let r = 0; r < o.rounds; r++) {
      const order: ("ds" | "ab")[] = r % 2 === 0 ? ["ds", "ab"] : ["ab", "ds"];
      const lock = lockFile(o.lock);
      try {
        for (const tool of order) {
          // A run that hangs (DeepSpeed's pool worker has, waiting forever in its handle's
          // teardown after the timed region) is killed after --run_timeout and run again.
          const attempt = async () => {
            let run = await runBounded(o, c, files, cmd[tool], markers(o, c, tool));
            for (let retry = 0; run.hung && retry < o.retries; retry++) {
              row.hangs[tool] += 1;
              console.error(`   ${tool} hung: killed after ${o.runTimeoutS} s; running it again`);
              run = await runBounded(o, c, files, cmd[tool], markers(o, c, tool));
            }
            return run;
          };
          // On a shared VM the hypervisor takes CPU from both tools at random: a run that lost
          // more than --max_steal of the machine's CPU over its timed region measured the
          // neighbours, not the tool. It is run again (the same rule for both tools); when
          // every try was stolen from, the least-stolen one counts.
          let run = await attempt();
          for (let retry = 0; run.steal > o.maxSteal && retry < o.stealRetries; retry++) {
            row.stolen![tool] += 1;
            console.error(
              `   ${tool}: ${fmt(run.steal * 100, 1)}% of the CPU stolen by the hypervisor ` +
                `over the timed region; running it again`,
            );
            const again = await attempt();
            if (!(again.steal >= run.steal) || again.code !== 0) run = again;
          }
          const s = speeds(run.text, c.op);
          if (run.code !== 0 || !Number.isFinite(s.e2e)) {
            const why = run.hung ? `hung ${o.retries + 1} times` : `exit ${run.code}`;
            throw new Error(`${tool} failed (${why}):\n${run.text.slice(-3000)}`);
          }
          row[tool].push({
            gibS: s.e2e,
            taskGibS: s.task,
            cpuTreeS: run.cpuTreeS,
            cpuKernelS: run.cpuKernelS,
            requests: run.requests,
            wallS: run.wallS,
            steal: run.steal,
          });
        }
      } finally {
        lock.release();
      }
      const last = (t: "ds" | "ab") => row[t][row[t].length - 1];
      console.error(
        `   round ${r + 1}: ds ${fmt(last("ds").gibS, 3)} ab ${fmt(last("ab").gibS, 3)} GB/s`,
      );
    }
    results.push(row);
    save(o, results);
  }
  console.log(save(o, results));
}

/** Writes --out and --json with the cells done so far (a stopped run keeps them); the table. */
function save(o: Options, results: Row[]): string {
  const table = renderTable(o, results);
  if (o.out) Deno.writeTextFileSync(o.out, table + "\n");
  if (o.json) {
    Deno.writeTextFileSync(
      o.json,
      JSON.stringify({ options: { ...o, cells: o.cells?.source }, results }, null, 1),
    );
  }
  return table;
}

/** One markdown row per cell: medians, spread, ratio, CPU per GiB; hung runs named. */
function renderTable(o: Options, results: Row[]): string {
  const bytesPerRun = (c: Cell) => c.size * c.threads * o.loops;
  const lines = [
    `| cell | DeepSpeed E2E GB/s (min–max) | aiobench E2E GB/s (min–max) | ratio (95% interval) | CPU s/GiB DeepSpeed (tree + kthreads) | CPU s/GiB aiobench (tree + kthreads) | device requests per IO DeepSpeed / aiobench | CPU stolen by the hypervisor, median % DeepSpeed / aiobench |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  const summary = {
    ratios: [] as number[],
    atLeastOne: 0,
    above: 0,
    below: [] as string[],
    cpuNoWorse: 0,
    cpuRatios: [] as number[],
  };
  const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
  for (const r of results) {
    const gib = bytesPerRun(r.config) / GIB;
    const side = (xs: Sample[]) => {
      const g = xs.map((x) => x.gibS);
      return `${fmt(median(g), 3)} (${fmt(Math.min(...g), 2)}–${fmt(Math.max(...g), 2)})`;
    };
    const cpu = (xs: Sample[]) =>
      `${fmt(median(xs.map((x) => x.cpuTreeS)) / gib, 3)} + ${
        fmt(median(xs.map((x) => x.cpuKernelS)) / gib, 3)
      }`;
    const ratio = median(r.ab.map((x) => x.gibS)) / median(r.ds.map((x) => x.gibS));
    // CPU per byte, the tool's tree and the kernel threads together (medians of each).
    const cpuTotal = (xs: Sample[]) =>
      median(xs.map((x) => x.cpuTreeS)) + median(xs.map((x) => x.cpuKernelS));
    if (cpuTotal(r.ab) <= cpuTotal(r.ds)) summary.cpuNoWorse += 1;
    summary.cpuRatios.push(cpuTotal(r.ab) / cpuTotal(r.ds));
    const [low, high] = ratioInterval(r.ab.map((x) => x.gibS), r.ds.map((x) => x.gibS));
    summary.ratios.push(ratio);
    if (ratio >= 1) summary.atLeastOne += 1;
    if (high < 1) summary.below.push(r.cell);
    if (low > 1) summary.above += 1;
    // IOs per run: bytes / block size (a request split by the block layer counts twice).
    const ios = bytesPerRun(r.config) / r.config.blockSize;
    const perIo = (xs: Sample[]) => fmt(median(xs.map((x) => (x.requests ?? NaN) / ios)), 2);
    const stolen = (xs: Sample[]) => fmt(median(xs.map((x) => (x.steal ?? NaN) * 100)), 1);
    const hung = [
      ...(["ds", "ab"] as const).filter((t) => r.hangs[t] > 0)
        .map((t) => `${t} hung ${r.hangs[t]}x, rerun`),
      ...(["ds", "ab"] as const).filter((t) => (r.stolen?.[t] ?? 0) > 0)
        .map((t) => `${t} ${r.stolen![t]}x rerun for steal`),
    ];
    lines.push(
      `| ${r.cell}${hung.length > 0 ? ` (${hung.join(", ")})` : ""} | ${side(r.ds)} | ${
        side(r.ab)
      } | ${fmt(ratio, 2)}x (${fmt(low, 2)}–${fmt(high, 2)}) | ${cpu(r.ds)} | ${cpu(r.ab)} | ${
        perIo(r.ds)
      } / ${perIo(r.ab)} | ${stolen(r.ds)} / ${stolen(r.ab)} |`,
    );
  }
  const n = summary.ratios.length;
  if (n > 0) {
    lines.push(
      "",
      `${n} cells: ${summary.atLeastOne} at or above 1.00x, geometric mean of the ratios ` +
        `${
          fmt(geomean(summary.ratios), 3)
        }x; 95% interval wholly above 1.00x in ${summary.above}, wholly below ` +
        `in ${summary.below.length}${
          summary.below.length > 0 ? ` (${summary.below.join("; ")})` : ""
        }. CPU per GiB (tree + kernel threads) at or below DeepSpeed's in ${summary.cpuNoWorse} ` +
        `of ${n}, geometric mean of aiobench's / DeepSpeed's ${
          fmt(geomean(summary.cpuRatios), 3)
        }.`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench_vs_deepspeed: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
