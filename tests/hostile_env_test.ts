// Hostile filesystems and kernels, made real: ramfs (no O_DIRECT), a full 16 MiB ext4 loop
// mount (ENOSPC), a read-only remount, RLIMIT_MEMLOCK with CAP_IPC_LOCK dropped, and
// kernel.io_uring_disabled (always restored). Each failure: one clear line, non-zero exit, the
// user's data unchanged, aiobench's own files removed.
import assert from "node:assert/strict";
import {
  type CliOptions,
  type CliResult,
  firstReason,
  listing,
  needsRoot,
  NOBODY,
  runCli,
  runnableByNobody,
  sha256Sync as sha256,
  stepUnless,
  testUnless,
  writeRandomFile as writeRandom,
} from "./_helpers.ts";
import { probeEngine } from "../ffi/handle.ts";

const decoder = new TextDecoder();
const cli = (args: string[], options: CliOptions = {}) => runCli(args, { ...options, cwd: "/" });

function assertCleanError(r: CliResult, mentions: (string | RegExp)[]): void {
  const context = `exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
  assert.notEqual(r.code, 0, context);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `want exactly one stderr line\n${context}`);
  assert.match(lines[0], /^aiobench: /, context);
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m, `stack frame in output\n${context}`);
  for (const m of mentions) {
    if (typeof m === "string") assert.ok(lines[0].includes(m), `want "${m}" in: ${lines[0]}`);
    else assert.match(lines[0], m, context);
  }
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: o.success, out: decoder.decode(o.stdout).trim(), err: decoder.decode(o.stderr) };
}

/** Unmounts, retrying while io_uring teardown keeps the fs busy (see DESIGN.md). */
async function unmount(mnt: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (sh("umount", [mnt]).ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`could not unmount ${mnt}`);
}

interface LoopFs {
  dev: string;
  mnt: string;
  backing: string;
}

/** Why a test that makes a loop ext4 can't run here, if so. */
const no_loop_fs = needsRoot("losetup", "mkfs.ext4");

/** A fresh ext4 of `mib` MiB on a loop device over /dev/shm (the test needs `no_loop_fs`). */
function loopFs(name: string, mib: number): LoopFs {
  const backing = `/dev/shm/aiobench_hostile_${name}_${Deno.pid}.img`;
  Deno.writeFileSync(backing, new Uint8Array(0));
  Deno.truncateSync(backing, mib << 20);
  const mkfs = sh("mkfs.ext4", ["-q", "-F", backing]);
  const loop = mkfs.ok ? sh("losetup", ["--find", "--show", backing]) : mkfs;
  if (!loop.ok) {
    Deno.removeSync(backing);
    throw new Error(`mkfs/losetup failed: ${loop.err.trim()}`);
  }
  const mnt = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: `aiobench_hostile_${name}_` });
  const mount = sh("mount", [loop.out, mnt]);
  if (!mount.ok) {
    sh("losetup", ["-d", loop.out]);
    Deno.removeSync(backing);
    Deno.removeSync(mnt);
    throw new Error(`mount failed: ${mount.err.trim()}`);
  }
  return { dev: loop.out, mnt, backing };
}

async function dropLoopFs(fs: LoopFs): Promise<void> {
  await unmount(fs.mnt);
  sh("losetup", ["-d", fs.dev]);
  Deno.removeSync(fs.backing);
  Deno.removeSync(fs.mnt);
}

const ramfs_name = "ramfs refuses O_DIRECT: a clear error; --buffered runs and is marked";
testUnless(needsRoot(), ramfs_name, async (t) => {
  const mnt = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_hostile_ramfs_" });
  const mounted = sh("mount", ["-t", "ramfs", "none", mnt]);
  if (!mounted.ok) {
    Deno.removeSync(mnt);
    throw new Error(`mount -t ramfs failed: ${mounted.err.trim()}`);
  }
  try {
    const data = `${mnt}/data.bin`;
    const hash = writeRandom(data, 4 << 20);
    await t.step("--read_file on ramfs suggests --buffered", async () => {
      const r = await cli(["--read_file", data]);
      assertCleanError(r, [data, "O_DIRECT", "--buffered"]);
    });
    await t.step("--write_file on ramfs: error, nothing left behind", async () => {
      const r = await cli(["--write_file", `${mnt}/w`, "--io_size", "1M"]);
      assertCleanError(r, [`${mnt}/w.0`, "O_DIRECT", "--buffered"]);
      assert.deepEqual(listing(mnt), ["data.bin"]);
    });
    await t.step("--folder --read on ramfs: the half-made read file is removed", async () => {
      const r = await cli(["--folder", mnt, "--read", "--io_size", "1M"]);
      assertCleanError(r, [`${mnt}/aiobench_0.dat`, "O_DIRECT", "--buffered"]);
      assert.deepEqual(listing(mnt), ["data.bin"]);
    });
    await t.step("--buffered runs; JSON o_direct false; header says buffered", async () => {
      const json = `${mnt}/report.json`;
      const r = await cli(["--read_file", data, "--buffered", "--json", json]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^aiobench .*buffered \(no O_DIRECT\)/m, r.stdout);
      const doc = JSON.parse(Deno.readTextFileSync(json));
      assert.equal(doc.env.o_direct, false);
      assert.equal(doc.config.buffered, true);
      assert.equal(doc.results[0].bytes, 4 << 20);
      Deno.removeSync(json);
    });
    await t.step("the O_DIRECT header carries no buffered mark", async () => {
      const ext4 = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_hostile_d_" });
      try {
        writeRandom(`${ext4}/d.bin`, 1 << 20);
        const direct = await cli(["--read_file", `${ext4}/d.bin`]);
        assert.equal(direct.code, 0, direct.stderr);
        assert.match(direct.stdout, /^aiobench .*engine/m);
        assert.doesNotMatch(direct.stdout, /buffered/);
      } finally {
        Deno.removeSync(ext4, { recursive: true });
      }
    });
    assert.equal(sha256(data), hash, "the user's file changed");
  } finally {
    await unmount(mnt);
    Deno.removeSync(mnt);
  }
});

const enospc_name = "ENOSPC mid-write on a 16 MiB ext4: one line naming ENOSPC and the file";
testUnless(no_loop_fs, enospc_name, async (t) => {
  const fs = loopFs("nospc", 16);
  try {
    const before = listing(fs.mnt);
    await t.step("--write_file --io_size 64M", async () => {
      const r = await cli(["--write_file", `${fs.mnt}/w`, "--io_size", "64M"]);
      assertCleanError(r, [`${fs.mnt}/w.0`, "ENOSPC"]);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(listing(fs.mnt), before, "the created file was not removed");
    });
    await t.step("--folder --read --io_size 64M (creating the read file)", async () => {
      const r = await cli(["--folder", fs.mnt, "--read", "--io_size", "64M"]);
      assertCleanError(r, [`${fs.mnt}/aiobench_0.dat`, "ENOSPC"]);
      assert.deepEqual(listing(fs.mnt), before, "the half-made read file was not removed");
    });
    await t.step("sweep --folder --io_size 64M (creating the sweep's file)", async () => {
      const r = await cli(["sweep", "--folder", fs.mnt, "--io_size", "64M"]);
      assertCleanError(r, [`${fs.mnt}/aiobench_0.dat`, "ENOSPC"]);
      assert.deepEqual(listing(fs.mnt), before, "the half-made sweep file was not removed");
    });
    await t.step("the space is free again: a run that fits succeeds", async () => {
      const r = await cli(["--write_file", `${fs.mnt}/w`, "--io_size", "4M"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(listing(fs.mnt), before);
    });
  } finally {
    await dropLoopFs(fs);
  }
});

const ro_name = "read-only filesystem: writes refused in one line, reads still work";
testUnless(no_loop_fs, ro_name, async (t) => {
  const fs = loopFs("ro", 16);
  try {
    const data = `${fs.mnt}/aiobench_0.dat`;
    const hash = writeRandom(data, 2 << 20);
    Deno.mkdirSync(`${fs.mnt}/empty`);
    const ro = sh("mount", ["-o", "remount,ro", fs.mnt]);
    if (!ro.ok) throw new Error(`remount,ro failed: ${ro.err.trim()}`);
    const before = listing(fs.mnt);
    await t.step("--write_file", async () => {
      const r = await cli(["--write_file", `${fs.mnt}/w`, "--io_size", "1M"]);
      assertCleanError(r, [`${fs.mnt}/w.0`, "read-only"]);
    });
    await t.step("--folder (write)", async () => {
      const r = await cli(["--folder", `${fs.mnt}/empty`, "--io_size", "1M"]);
      assertCleanError(r, [`${fs.mnt}/empty/aiobench_0.dat`, "read-only"]);
    });
    await t.step("--folder --read of existing data works", async () => {
      const r = await cli(["--folder", fs.mnt, "--read", "--io_size", "2M", "--json", "-"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).results[0].bytes, 3 * (2 << 20), "ds_io's 3 loops");
    });
    assert.deepEqual(listing(fs.mnt), before);
    assert.equal(sha256(data), hash);
  } finally {
    await dropLoopFs(fs);
  }
});

const memlock_name = "RLIMIT_MEMLOCK too low for --mlock / --fixedbufs: says ulimit -l";
testUnless(needsRoot("prlimit", "setpriv"), memlock_name, async (t) => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_hostile_ml_" });
  Deno.chmodSync(dir, 0o755);
  const data = `${dir}/data.bin`;
  writeRandom(data, 8 << 20);
  Deno.chmodSync(data, 0o644);
  const limit = ["prlimit", "--memlock=65536:65536"];
  // root keeps CAP_IPC_LOCK (which ignores the limit) unless it is dropped from the bounding set
  const no_ipc_lock = [...limit, "setpriv", "--inh-caps=-all", "--bounding-set=-ipc_lock"];
  try {
    await t.step("--mlock (root without CAP_IPC_LOCK)", async () => {
      const r = await cli(["--read_file", data, "--mlock"], { prefix: no_ipc_lock });
      assertCleanError(r, ["ulimit -l", "--mlock", /ENOMEM|RLIMIT_MEMLOCK/]);
    });
    const no_uring = probeEngine("io_uring") === null ? undefined : "io_uring is unavailable here";
    await stepUnless(t, no_uring, "--fixedbufs (root without CAP_IPC_LOCK)", async () => {
      const r = await cli(["--read_file", data, "--fixedbufs"], { prefix: no_ipc_lock });
      assertCleanError(r, ["ulimit -l", "--fixedbufs", data]);
    });
    const nobody = runnableByNobody();
    const no_nobody = typeof nobody === "string" ? nobody : undefined;
    await stepUnless(t, no_nobody, "--mlock as nobody", async () => {
      if (typeof nobody === "string") return;
      try {
        const as = [
          ...limit,
          "setpriv",
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          "--clear-groups",
        ];
        const r = await cli(["--read_file", data, "--mlock"], { ...nobody.cli, prefix: as });
        assertCleanError(r, ["ulimit -l", "--mlock"]);
      } finally {
        nobody.cleanup();
      }
    });
    await t.step("control: the same run without the low limit succeeds", async () => {
      const r = await cli(["--read_file", data, "--mlock"]);
      assert.equal(r.code, 0, r.stderr);
    });
    assert.deepEqual(listing(dir), ["data.bin"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const sysctl_path = "/proc/sys/kernel/io_uring_disabled";

function readSysctl(path: string): string | null {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return null;
  }
}

const sysctl_original = readSysctl(sysctl_path);
const uring_group = readSysctl("/proc/sys/kernel/io_uring_group");
const no_sysctl = firstReason(
  needsRoot("setpriv"),
  sysctl_original === null ? `no ${sysctl_path} here` : undefined,
);

testUnless(
  no_sysctl,
  "io_uring disabled by sysctl: auto falls back to libaio with one note",
  async (t) => {
    const original = sysctl_original!;
    const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_hostile_uring_" });
    const data = `${dir}/data.bin`;
    writeRandom(data, 4 << 20);
    const json = `${dir}/r.json`;
    const checkFallback = (r: CliResult, value: string) => {
      assert.equal(r.code, 0, r.stderr);
      const notes = r.stderr.split("\n").filter((l) => l.startsWith("note:"));
      assert.equal(notes.length, 1, r.stderr);
      assert.match(notes[0], new RegExp(`io_uring.*io_uring_disabled=${value}.*libaio`));
      const doc = JSON.parse(Deno.readTextFileSync(json));
      assert.equal(doc.env.engine, "libaio");
      assert.match(doc.env.engine_reason, /io_uring/);
      assert.deepEqual(doc.env.io_uring_options, []);
      assert.equal(doc.results[0].bytes, 4 << 20);
    };
    // Mode 1 blocks io_uring only for processes without CAP_SYS_ADMIN, so other root
    // processes on this machine keep io_uring while the runs below (CAP_SYS_ADMIN dropped) lose it.
    const mode1 = uring_group === null || uring_group === "-1"
      ? undefined
      : `kernel.io_uring_group is ${uring_group}`;
    // Mode 2 disables io_uring for every process on the machine, so a suite running beside
    // this one (seen here: another session's benchmarks failed with EPERM) would break: opt in.
    const mode2 = Deno.env.get("AIOBENCH_TEST_GLOBAL_SYSCTL") === "1"
      ? undefined
      : "disables io_uring machine-wide; set AIOBENCH_TEST_GLOBAL_SYSCTL=1 on a machine of your own";
    const unprivileged = ["setpriv", "--inh-caps=-all", "--bounding-set=-sys_admin"];
    try {
      if (mode1 === undefined) Deno.writeTextFileSync(sysctl_path, "1");
      try {
        await stepUnless(t, mode1, "=1 (without CAP_SYS_ADMIN): auto → libaio", async () => {
          checkFallback(
            await cli(["--read_file", data, "--json", json], { prefix: unprivileged }),
            "1",
          );
        });
        await stepUnless(t, mode1, "=1: --engine io_uring fails in one line", async () => {
          const r = await cli(["--read_file", data, "--engine", "io_uring"], {
            prefix: unprivileged,
          });
          assertCleanError(r, ["--engine io_uring", "io_uring_disabled=1", "--engine auto"]);
        });
        for (const flag of ["--fixedbufs", "--nonvectored"]) {
          await stepUnless(t, mode1, `=1: ${flag} with auto fails in one line`, async () => {
            const r = await cli(["--read_file", data, flag], { prefix: unprivileged });
            assertCleanError(r, ["io_uring_disabled=1", `so ${flag} can't be used`]);
          });
        }
      } finally {
        Deno.writeTextFileSync(sysctl_path, original);
      }
      await stepUnless(t, mode2, "=2: auto → libaio", async () => {
        let r: CliResult;
        Deno.writeTextFileSync(sysctl_path, "2");
        try {
          r = await cli(["--read_file", data, "--json", json]);
        } finally {
          Deno.writeTextFileSync(sysctl_path, original);
        }
        checkFallback(r, "2");
      });
      assert.equal(readSysctl(sysctl_path), original);
    } finally {
      Deno.writeTextFileSync(sysctl_path, original);
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
