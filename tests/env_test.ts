import assert from "node:assert/strict";
import {
  captureEnv,
  envHeader,
  envToJson,
  findMount,
  parseMemlock,
  parseMountinfo,
} from "../lib/run/env.ts";

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", script], stdout: "piped" }).output();
  assert.ok(out.success, `bash -c ${script} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("parseMountinfo and findMount", async (t) => {
  const text = [
    "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=100k",
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
    "30 25 0:27 / /dev/shm rw,relatime - tmpfs shm2 rw,size=200k",
    "31 27 259:3 / /mnt/my\\040disk rw - xfs /dev/nvme0n1p2 rw,inode64",
    "44 27 0:40 / /mnt/opt rw shared:5 master:1 - btrfs /dev/sdb rw",
    "garbage line",
  ].join("\n");
  const mounts = parseMountinfo(text);
  await t.step("parses fields, unescapes octal, skips garbage", () => {
    assert.equal(mounts.length, 5);
    assert.equal(mounts[3].mountPoint, "/mnt/my disk");
    assert.equal(mounts[3].deviceNumber, "259:3");
    assert.equal(mounts[4].fsType, "btrfs");
    assert.equal(mounts[4].source, "/dev/sdb");
  });
  await t.step("longest prefix wins; the later mount wins on the same point", () => {
    assert.equal(findMount(mounts, "/dev/shm/a")?.source, "shm2");
    assert.equal(findMount(mounts, "/mnt/my disk/f")?.fsType, "xfs");
    assert.equal(findMount(mounts, "/mnt/my diskette")?.fsType, "ext4");
    assert.equal(findMount(mounts, "/")?.fsType, "ext4");
  });
});

Deno.test("parseMemlock", () => {
  const limits = "Limit  Soft Limit  Hard Limit  Units\n" +
    "Max locked memory         65536                unlimited            bytes     \n";
  assert.deepEqual(parseMemlock(limits), { soft: 65536, hard: "unlimited" });
  assert.deepEqual(parseMemlock(null), { soft: null, hard: null });
});

Deno.test("captureEnv on the root disk agrees with findmnt, df and ulimit", async () => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_env_" });
  try {
    const env = await captureEnv(`${dir}/not/yet/made`);
    assert.equal(env.path, dir);
    const [fsType, source, target] = (await sh(`findmnt -n -o FSTYPE,SOURCE,TARGET -T ${dir}`))
      .split(/\s+/);
    assert.equal(env.fsType, fsType);
    assert.equal(env.mountSource, source);
    assert.equal(env.mountPoint, target);
    assert.equal(env.kernel, await sh("uname -r"));
    assert.equal(env.cpuCount, Number(await sh("nproc --all")));
    const soft = await sh("ulimit -l");
    assert.equal(env.memlockSoftBytes, soft === "unlimited" ? soft : Number(soft) * 1024);
    const avail = Number((await sh(`df -B1 --output=avail ${dir} | tail -1`)).trim());
    assert.ok(env.freeBytes !== null && Math.abs(env.freeBytes - avail) < 256 << 20);
    if (source.startsWith("/dev/")) {
      const disk = await sh(`lsblk -n -d -o PKNAME ${source}`) || source.slice(5);
      assert.equal(env.device, disk);
      const sched = await sh(`cat /sys/block/${disk}/queue/scheduler`);
      assert.ok(sched.includes(`[${env.scheduler}]`) || sched === env.scheduler, sched);
      assert.equal(env.logicalBlockSize, Number(await sh(`lsblk -n -d -o LOG-SEC ${source}`)));
      assert.notEqual(env.deviceModel, null);
    }
    assert.equal(env.dioAlign, null);
    assert.equal((await captureEnv(dir, { dioAlign: 512 })).dioAlign, 512);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("captureEnv on tmpfs has no block device and does not throw", async () => {
  const env = await captureEnv("/dev/shm");
  assert.equal(env.fsType, "tmpfs");
  assert.equal(env.device, null);
  assert.equal(env.scheduler, null);
  assert.equal(env.rotational, null);
  const header = envHeader(env);
  assert.equal(header.length, 2);
  assert.match(header[1], /tmpfs/);
});

Deno.test("envToJson uses snake_case and keeps every field", async () => {
  const env = await captureEnv("/tmp");
  const json = envToJson(env);
  assert.equal(Object.keys(json).length, Object.keys(env).length);
  assert.equal(json.fs_type, env.fsType);
  assert.equal(json.memlock_soft_bytes, env.memlockSoftBytes);
  assert.ok(Object.keys(json).every((k) => /^[a-z0-9_]+$/.test(k)));
  assert.ok(envHeader(env).length >= 2 && envHeader(env).length <= 3);
});
