// Faults: the native test-only switch AIOBENCH_FAULT ("eio@N" / "short@N", read once per handle)
// fails the Nth completion; real failures come from a full loop-mounted ext4 and ramfs. aiobench
// must name worker, file and offset, never count the failed bytes, exit non-zero, and release
// every other worker so the run ends within a bound.
import assert from "node:assert/strict";
import { AlignedBuffer } from "../ffi/buffer.ts";
import { AioError } from "../ffi/errors.ts";
import { AioFile } from "../ffi/file.ts";
import { AioHandle } from "../ffi/handle.ts";
import {
  type CliResult,
  listing,
  needsRoot,
  runCli,
  sha256Sync as sha256,
  stepUnless,
  writeRandomFile as writeRandom,
} from "./_helpers.ts";

const decoder = new TextDecoder();
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { env, cwd: "/" });
const is_root = Deno.uid() === 0;
const block = 64 << 10;

function sh(cmd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: o.success, out: decoder.decode(o.stdout).trim(), err: decoder.decode(o.stderr) };
}

/** The single stderr line of a failed run, checked for shape; returns its parts. */
function failureLine(r: CliResult): { worker: number; line: string } {
  const context = `exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
  assert.equal(r.code, 1, context);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `want exactly one stderr line\n${context}`);
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m, `stack frame\n${context}`);
  const m = lines[0].match(/^aiobench: worker (\d+): /);
  assert.ok(m, `the error names no worker: ${lines[0]}`);
  return { worker: Number(m[1]), line: lines[0] };
}

/** Whatever a failed run printed must be sane: partial, no failed worker, bytes add up. */
function checkPrinted(json: string, failed: number, bytes_max: number): void {
  let doc;
  try {
    doc = JSON.parse(Deno.readTextFileSync(json));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return; // nothing measured, nothing printed
    throw e;
  }
  assert.equal(doc.partial, true, "a failed run's report must be marked partial");
  for (const op of doc.results) {
    const workers = op.workers as { worker: number; bytes: number }[];
    assert.ok(!workers.some((w) => w.worker === failed), "the failed worker's bytes were counted");
    assert.equal(op.bytes, workers.reduce((s, w) => s + w.bytes, 0));
    assert.ok(op.bytes <= bytes_max, `${op.bytes} bytes > ${bytes_max}`);
    for (const w of workers) assert.equal(w.bytes % block, 0, `worker ${w.worker}: ${w.bytes}`);
  }
}

Deno.test("AIOBENCH_FAULT through the CLI: worker, file and offset named; exit 1", async (t) => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_faults_" });
  const data = `${dir}/data.bin`;
  const size = 4 << 20;
  const hash = writeRandom(data, size);
  const json = `${dir}/r.json`;
  const cases: [string, string[], RegExp][] = [
    ["eio@3", ["--read_file", data], /read .*data\.bin at offset (\d+) failed: EIO/],
    ["short@3", ["--read_file", data], /read .*data\.bin at offset (\d+) failed: ESHORT/],
    ["eio@5", ["--read_file", data, "--io_parallel", "2"], /read .*data\.bin at offset (\d+).*EIO/],
    ["eio@2", ["--write_file", `${dir}/w`, "--io_size", "4M"], /write .*w\.0 at offset (\d+).*EIO/],
    ["short@7", ["--write_file", `${dir}/w`, "--io_size", "4M"], /write .*w\.0 at offset (\d+)/],
  ];
  try {
    for (const [fault, args, want] of cases) {
      await t.step(`${fault} ${args.slice(2).join(" ") || "read"}`, async () => {
        const r = await cli([...args, "--block_size", "64K", "--loops", "2", "--json", json], {
          AIOBENCH_FAULT: fault,
        });
        const { worker, line } = failureLine(r);
        assert.equal(worker, 0);
        const m = line.match(want);
        assert.ok(m, `${line} does not match ${want}`);
        const offset = Number(m[1]);
        assert.ok(offset % 4096 === 0 && offset < size, `offset ${offset}`);
        assert.doesNotMatch(r.stdout, /Speed = /, "a failed single worker printed a speed");
        checkPrinted(json, worker, 0);
        assert.deepEqual(listing(dir), ["data.bin"], "a created file or report was left");
      });
    }
    await t.step("control: without the fault the same runs pass", async () => {
      const r = await cli(["--read_file", data, "--block_size", "64K", "--loops", "2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Task Read Speed = /);
    });
    assert.equal(sha256(data), hash, "the user's file changed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AIOBENCH_FAULT at the handle: the failed IO's bytes are never counted", async (t) => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_faults_h_" });
  const path = `${dir}/data.bin`;
  const size = 1 << 20;
  writeRandom(path, size);
  const file = AioFile.open(path);
  const buffer = AlignedBuffer.alloc(size);
  const attempt = (fault: string | null, queueDepth: number) => {
    if (fault) Deno.env.set("AIOBENCH_FAULT", fault);
    else Deno.env.delete("AIOBENCH_FAULT");
    let handle: AioHandle;
    try {
      handle = new AioHandle({ blockSize: block, queueDepth }); // reads the switch now
    } finally {
      Deno.env.delete("AIOBENCH_FAULT");
    }
    try {
      let error: unknown = null;
      try {
        handle.read(buffer, file);
      } catch (e) {
        error = e;
      }
      return { error, stats: handle.stats() };
    } finally {
      handle.close();
    }
  };
  try {
    await t.step("control: no fault moves every byte", () => {
      const { error, stats } = attempt(null, 4);
      assert.equal(error, null);
      assert.equal(stats.bytes, size);
      assert.equal(stats.errors, 0);
    });
    for (const [fault, code] of [["eio@3", "EIO"], ["short@3", "ESHORT"]]) {
      for (const qd of [1, 8]) {
        await t.step(`${fault}, queue depth ${qd}`, () => {
          const { error, stats } = attempt(fault, qd);
          assert.ok(error instanceof AioError, String(error));
          assert.equal(error.code, code);
          assert.equal(error.path, path);
          assert.ok(error.offset !== undefined && error.offset % 4096 === 0, error.message);
          assert.ok(stats.errors >= 1);
          assert.equal(stats.bytes, stats.ios * block, "bytes counted beyond whole good IOs");
          assert.ok(stats.bytes <= size - block, `${stats.bytes} bytes counted of ${size}`);
          if (qd === 1) assert.equal(stats.ios, 2, "IOs after the failure were counted");
        });
      }
    }
    await t.step("the switch is read per handle: one made after unsetting it is clean", () => {
      assert.equal(Deno.env.get("AIOBENCH_FAULT"), undefined);
      const { error, stats } = attempt(null, 8);
      assert.equal(error, null);
      assert.equal(stats.bytes, size);
    });
  } finally {
    buffer.free();
    file.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

const bound_ms = 5000;

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Unmounts, retrying while io_uring teardown keeps the fs busy (see DESIGN.md). */
async function unmount(mnt: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (sh("umount", [mnt]).ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`could not unmount ${mnt}`);
}

/** Mounts a 16 MiB ext4 (loop over /dev/shm) or ramfs at a new dir; a string says why not. */
function scratchMount(kind: "ext4" | "ramfs"): { mnt: string; drop: () => Promise<void> } | string {
  if (!is_root) return "needs root to mount";
  const mnt = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: `aiobench_faults_${kind}_` });
  if (kind === "ramfs") {
    const m = sh("mount", ["-t", "ramfs", "none", mnt]);
    if (!m.ok) {
      Deno.removeSync(mnt);
      return `mount -t ramfs failed: ${m.err.trim()}`;
    }
    return { mnt, drop: async () => (await unmount(mnt), Deno.removeSync(mnt)) };
  }
  const backing = `/dev/shm/aiobench_faults_${Deno.pid}.img`;
  Deno.writeFileSync(backing, new Uint8Array(0));
  Deno.truncateSync(backing, 16 << 20);
  const mkfs = sh("mkfs.ext4", ["-q", "-F", backing]);
  const loop = mkfs.ok ? sh("losetup", ["--find", "--show", backing]) : mkfs;
  const mount = loop.ok ? sh("mount", [loop.out, mnt]) : loop;
  const drop = async () => {
    if (mount.ok) await unmount(mnt);
    if (loop.ok) sh("losetup", ["-d", loop.out]);
    Deno.removeSync(backing);
    Deno.removeSync(mnt);
  };
  if (!mount.ok) {
    drop();
    return `loop ext4 failed: ${mount.err.trim()}`;
  }
  return { mnt, drop };
}

Deno.test("a failing worker releases the others: a 30 s run ends within 5 s", async (t) => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_faults_w_" });
  const json = `${dir}/r.json`;
  const timed = ["--runtime", "30s", "--time_based", "--block_size", "64K", "--json", json];
  try {
    await t.step("fault switch, 4 workers reading time-based", async () => {
      const data = `${dir}/data.bin`;
      const hash = writeRandom(data, 8 << 20);
      const r = await cli(["--read_file", data, "--threads", "4", ...timed], {
        AIOBENCH_FAULT: "eio@300",
      });
      const { worker, line } = failureLine(r);
      assert.match(line, /read .*data\.bin at offset \d+ failed: EIO/);
      assert.ok(r.ms < bound_ms, `took ${r.ms.toFixed(0)} ms`);
      checkPrinted(json, worker, Number.MAX_SAFE_INTEGER);
      assert.equal(sha256(data), hash);
      Deno.removeSync(data);
      removeIfThere(json);
    });
    const enospc = "worker 1 hits ENOSPC while worker 0 writes for 30 s";
    await stepUnless(t, needsRoot("mkfs.ext4", "losetup"), enospc, async () => {
      const full = scratchMount("ext4");
      if (typeof full === "string") throw new Error(full);
      try {
        const before = listing(full.mnt);
        const r = await cli([
          "--folder",
          dir,
          "--folder",
          full.mnt,
          "--io_size",
          "64M",
          "--threads",
          "2",
          "--warmup_loops",
          "0",
          ...timed,
        ]);
        const { worker, line } = failureLine(r);
        assert.equal(worker, 1, line);
        assert.ok(line.includes(`${full.mnt}/aiobench_1.dat`) && line.includes("ENOSPC"), line);
        assert.match(line, /at offset \d+/);
        assert.ok(r.ms < bound_ms, `took ${r.ms.toFixed(0)} ms`);
        checkPrinted(json, 1, Number.MAX_SAFE_INTEGER);
        const doc = JSON.parse(Deno.readTextFileSync(json));
        assert.deepEqual(doc.results[0].workers.map((w: { worker: number }) => w.worker), [0]);
        assert.match(r.stdout, /\(partial/, "the printed report is not marked partial");
        assert.deepEqual(listing(full.mnt), before);
        assert.deepEqual(listing(dir).filter((n) => n !== "r.json"), []);
      } finally {
        await full.drop();
        removeIfThere(json);
      }
    });
    await stepUnless(
      t,
      needsRoot(),
      "worker 1 fails in pre (ramfs open) while worker 0 waits at the barrier",
      async () => {
        const ram = scratchMount("ramfs");
        if (typeof ram === "string") throw new Error(ram);
        try {
          const hash0 = writeRandom(`${dir}/aiobench_0.dat`, 4 << 20);
          writeRandom(`${ram.mnt}/aiobench_1.dat`, 4 << 20);
          const r = await cli([
            "--folder",
            dir,
            "--folder",
            ram.mnt,
            "--read",
            "--io_size",
            "4M",
            "--threads",
            "2",
            ...timed,
          ]);
          const { worker, line } = failureLine(r);
          assert.equal(worker, 1, line);
          assert.ok(line.includes(`${ram.mnt}/aiobench_1.dat`), line);
          assert.match(line, /EINVAL|O_DIRECT/);
          assert.ok(r.ms < bound_ms, `took ${r.ms.toFixed(0)} ms`);
          assert.equal(sha256(`${dir}/aiobench_0.dat`), hash0);
          assert.deepEqual(listing(ram.mnt), ["aiobench_1.dat"], "the user's file was removed");
          Deno.removeSync(`${dir}/aiobench_0.dat`);
        } finally {
          await ram.drop();
        }
      },
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
