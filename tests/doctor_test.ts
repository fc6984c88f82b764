import assert from "node:assert/strict";
import { doctor, type DoctorCheck, doctorToJson, formatDoctor } from "../lib/doctor/doctor.ts";
import { captureEnv, type EnvInfo } from "../lib/run/env.ts";
import { needsRoot, stepUnless, testUnless } from "./_helpers.ts";

const decoder = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
): Promise<{ ok: boolean; out: string; err: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return {
    ok: out.success,
    out: decoder.decode(out.stdout).trim(),
    err: decoder.decode(out.stderr),
  };
}

function check(checks: DoctorCheck[], name: string): DoctorCheck {
  const found = checks.find((c) => c.name === name);
  assert.ok(found, `no check named ${name}`);
  return found;
}

const tempDir = () => Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_doctor_" });

Deno.test("doctor on the ext4 root disk", async () => {
  const dir = tempDir();
  try {
    const report = await doctor(dir);
    assert.equal(report.env.fsType, "ext4");
    assert.equal(check(report.checks, "filesystem").status, "ok");
    assert.match(check(report.checks, "filesystem").detail, /^ext4 from \/dev\//);
    assert.equal(check(report.checks, "o_direct").status, "info");
    assert.match(check(report.checks, "o_direct").detail, /not probed/);
    const soft = (await run("bash", ["-c", "ulimit -l"])).out;
    assert.equal(report.env.memlockSoftBytes, soft === "unlimited" ? soft : Number(soft) * 1024);
    const lines = formatDoctor(report);
    assert.ok(lines.some((l) => l.startsWith("[ ok ] filesystem: ext4")), lines.join("\n"));
    assert.equal(lines.at(-1), `doctor: ${report.status}`);
    const json = JSON.parse(JSON.stringify(doctorToJson(report)));
    assert.equal(json.env.fs_type, "ext4");
    assert.equal(json.checks.length, report.checks.length);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("doctor on /dev/shm warns that tmpfs measures memory", async () => {
  const report = await doctor("/dev/shm");
  assert.equal(report.env.fsType, "tmpfs");
  const fs = check(report.checks, "filesystem");
  assert.equal(fs.status, "warn");
  assert.match(fs.detail, /memory copies, not storage/);
  assert.ok(fs.fix);
  assert.equal(check(report.checks, "device").status, "info");
  assert.notEqual(report.status, "ok");
  assert.ok(formatDoctor(report).some((l) => l.startsWith("[warn] filesystem")));
});

Deno.test("doctor with probes and synthetic environments", async (t) => {
  const real = await captureEnv("/var/tmp");
  const env = (patch: Partial<EnvInfo>): EnvInfo => ({ ...real, ...patch });
  await t.step("O_DIRECT probe: ok, errno, thrown", async () => {
    const ok = await doctor("/var/tmp", {
      env: real,
      probeDirect: (dir) => {
        assert.equal(dir, real.path);
        return Promise.resolve({ ok: true, align: 512 });
      },
    });
    assert.equal(check(ok.checks, "o_direct").status, "ok");
    assert.match(check(ok.checks, "o_direct").detail, /alignment 512 B/);
    const bad = await doctor("/var/tmp", {
      env: real,
      probeDirect: () => Promise.resolve({ ok: false, errno: "EINVAL" }),
    });
    assert.equal(check(bad.checks, "o_direct").status, "fail");
    assert.match(check(bad.checks, "o_direct").detail, /EINVAL/);
    assert.equal(bad.status, "fail");
    const thrown = await doctor("/var/tmp", {
      env: real,
      probeDirect: () => Promise.reject(new Error("library not built")),
    });
    assert.match(check(thrown.checks, "o_direct").detail, /library not built/);
  });
  await t.step("memlock under 64 MiB warns unless CAP_IPC_LOCK", async () => {
    const small = env({ memlockSoftBytes: 8 << 20, memlockHardBytes: 8 << 20 });
    const warn = check((await doctor("/", { env: small, capIpcLock: false })).checks, "memlock");
    assert.equal(warn.status, "warn");
    assert.match(warn.detail, /8\.00 MiB/);
    assert.match(warn.fix ?? "", /ulimit -l unlimited/);
    const exempt = check((await doctor("/", { env: small, capIpcLock: true })).checks, "memlock");
    assert.equal(exempt.status, "ok");
    const big = env({ memlockSoftBytes: "unlimited" });
    assert.equal(check((await doctor("/", { env: big })).checks, "memlock").status, "ok");
  });
  await t.step("NVMe with a scheduler warns; governor and free space", async () => {
    const nvme = env({
      device: "nvme0n1",
      queueDevice: "nvme0n1",
      scheduler: "mq-deadline",
      governor: "powersave",
      freeBytes: 1 << 30,
    });
    const checks = (await doctor("/", { env: nvme })).checks;
    assert.equal(check(checks, "device").status, "warn");
    assert.match(check(checks, "device").fix ?? "", /\/sys\/block\/nvme0n1\/queue\/scheduler/);
    assert.equal(check(checks, "cpu_governor").status, "warn");
    assert.equal(check(checks, "free_space").status, "warn");
    const tuned = env({ ...nvme, scheduler: "none", governor: "performance", freeBytes: 1e12 });
    const good = (await doctor("/", { env: tuned })).checks;
    assert.equal(check(good, "device").status, "info");
    assert.equal(check(good, "cpu_governor").status, "ok");
    assert.equal(check(good, "free_space").status, "ok");
  });
  await t.step("io_uring sysctl and probe", async () => {
    const uring = async (patch: Partial<EnvInfo>, probe?: () => Promise<{ ok: boolean }>) =>
      check((await doctor("/", { env: env(patch), probeIoUring: probe })).checks, "io_uring");
    assert.equal((await uring({ ioUringDisabled: 0 })).status, "ok");
    assert.match((await uring({ ioUringDisabled: 0 })).detail, /not probed/);
    assert.equal((await uring({ ioUringDisabled: 1 })).status, "warn");
    assert.equal((await uring({ ioUringDisabled: 2 })).status, "fail");
    assert.equal((await uring({ ioUringDisabled: null })).status, "info");
    const blocked = await uring({ ioUringDisabled: 0 }, () => Promise.resolve({ ok: false }));
    assert.equal(blocked.status, "fail");
    assert.match(blocked.fix ?? "", /libaio/);
  });
});

testUnless(needsRoot("losetup", "mkfs.ext4"), "env and doctor on a loop-device mount", async () => {
  const script = new URL("../scripts/loopdev.sh", import.meta.url).pathname;
  const name = `test${Deno.pid}`;
  const up = await run(script, ["up", "--size", "256M", "--fs", "ext4", "--name", name]);
  try {
    assert.ok(up.ok, `loopdev.sh up failed: ${up.err}`);
    const mnt = up.out.split("\n").at(-1)!;
    assert.equal(mnt, `/mnt/aiobench-${name}`);
    const env = await captureEnv(`${mnt}/bench.dat`);
    assert.equal(env.fsType, "ext4");
    assert.equal(env.mountPoint, mnt);
    assert.match(env.device ?? "", /^loop\d+$/);
    assert.equal(env.mountSource, `/dev/${env.device}`);
    assert.equal(env.loopBackingFile, `/dev/shm/aiobench-${name}.img`);
    assert.equal(env.deviceModel, `loop (backing: /dev/shm/aiobench-${name}.img)`);
    assert.ok(env.freeBytes !== null && env.freeBytes > 100 << 20 && env.freeBytes < 256 << 20);
    const report = await doctor(mnt, { env });
    assert.match(check(report.checks, "device").detail, /backing file/);
    assert.equal(check(report.checks, "free_space").status, "warn");
  } finally {
    const down = await run(script, ["down", "--name", name]);
    assert.ok(down.ok, `loopdev.sh down failed: ${down.err}`);
  }
  assert.ok(!(await run("findmnt", [`/mnt/aiobench-${name}`])).ok, "still mounted after down");
});

Deno.test("aiobench doctor PATH: real O_DIRECT and io_uring probes, on the disk and /dev/shm", async (t) => {
  const { runCli, tempDir, removeDir } = await import("./_helpers.ts");
  const disk = tempDir("aiobench_doctor_");
  try {
    for (const [path, fs, status] of [[disk, "ext4", "ok"], ["/dev/shm", "tmpfs", "warn"]]) {
      await t.step(`${fs}: --json - on stdout, the human lines on stderr`, async () => {
        const r = await runCli(["doctor", path, "--json", "-"]);
        assert.equal(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.equal(report.path, path);
        assert.equal(report.env.fs_type, fs);
        const byName = Object.fromEntries(
          report.checks.map((c: DoctorCheck) => [c.name, c.status]),
        );
        assert.equal(byName.o_direct, "ok", "the probe really wrote and read with O_DIRECT");
        assert.equal(byName.io_uring, "ok");
        assert.equal(byName.filesystem, status);
        assert.match(r.stderr, /doctor: (ok|warn)/);
        assert.deepEqual([...Deno.readDirSync(disk)], [], "the probe file is removed");
      });
    }
  } finally {
    removeDir(disk);
  }
});

Deno.test("doctor says the same free space in its header and in its free_space check", async (t) => {
  const { runCli, tempDir, removeDir } = await import("./_helpers.ts");
  const agree = (stdout: string) => {
    const header = stdout.match(/, ([0-9.]+ [KMGT]?i?B) free$/m)?.[1];
    const checked = stdout.match(/free_space: ([0-9.]+ [KMGT]?i?B) free on /)?.[1];
    assert.ok(header !== undefined && checked !== undefined, stdout);
    assert.equal(checked, header);
  };
  const disk = tempDir("aiobench_doctor_");
  try {
    await t.step("on the disk", async () => {
      const r = await runCli(["doctor", disk]);
      assert.equal(r.code, 0, r.stderr);
      agree(r.stdout);
    });
    const tmpfs = "on a 64 MiB tmpfs with 40 MiB used (MiB, not 0.0 GiB)";
    await stepUnless(t, needsRoot(), tmpfs, async () => {
      const mnt = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_doctor_tmpfs_" });
      const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=64M", "tmpfs", mnt]);
      assert.ok(mounted.ok, mounted.err);
      try {
        Deno.writeFileSync(`${mnt}/fill`, new Uint8Array(40 << 20));
        const r = await runCli(["doctor", mnt]);
        assert.equal(r.code, 0, r.stderr);
        agree(r.stdout);
        assert.match(r.stdout, /free_space: 2[0-9]\.[0-9]{2} MiB free on /);
      } finally {
        await run("umount", [mnt]);
        Deno.removeSync(mnt, { recursive: true });
      }
    });
  } finally {
    removeDir(disk);
  }
});
