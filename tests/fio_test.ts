import assert from "node:assert/strict";
import {
  findFio,
  fioArgs,
  FioError,
  type FioOptions,
  fioTimeoutMs,
  parseFioJson,
  runFio,
  runFioArgs,
} from "../lib/compare/fio.ts";
import { testUnless } from "./_helpers.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`./fixtures/${name}`, import.meta.url));

const close = (actual: number | null, expected: number, what: string) => {
  assert.ok(actual !== null, `${what} is null`);
  assert.ok(
    Math.abs(actual - expected) <= Math.abs(expected) * 1e-9,
    `${what}: ${actual} != ${expected}`,
  );
};

const base: FioOptions = {
  file: "/tmp/f",
  rw: "read",
  blockSizeBytes: 1 << 20,
  queueDepth: 8,
  numjobs: 2,
  sizeBytes: 64 << 20,
  direct: true,
  engine: "io_uring",
};

Deno.test("fioArgs", async (t) => {
  await t.step("maps options one to one and asks for JSON", () => {
    const args = fioArgs({ ...base, runtimeS: 5, timeBased: true, fixedbufs: true, hipri: true });
    for (
      const want of [
        "--filename=/tmp/f",
        "--rw=read",
        "--bs=1048576",
        "--ioengine=io_uring",
        "--iodepth=8",
        "--numjobs=2",
        "--size=67108864",
        "--direct=1",
        "--runtime=5",
        "--time_based",
        "--fixedbufs",
        "--hipri",
        "--group_reporting",
        "--output-format=json",
      ]
    ) assert.ok(args.includes(want), `${want} missing from ${args.join(" ")}`);
    assert.ok(!args.includes("--registerfiles") && !args.includes("--sqthread_poll"));
  });
  await t.step("psync runs at queue depth 1; buffered maps to direct=0", () => {
    const args = fioArgs({ ...base, engine: "psync", direct: false });
    assert.ok(args.includes("--ioengine=psync") && args.includes("--iodepth=1"));
    assert.ok(args.includes("--direct=0"));
  });
  await t.step("rwmixread only for randrw", () => {
    assert.ok(fioArgs({ ...base, rw: "randrw", rwmixread: 70 }).includes("--rwmixread=70"));
    assert.ok(!fioArgs({ ...base, rwmixread: 70 }).some((a) => a.startsWith("--rwmixread")));
  });
  await t.step("rejects bad values with the option's name", () => {
    assert.throws(() => fioArgs({ ...base, blockSizeBytes: 0 }), /blockSizeBytes=0/);
    assert.throws(() => fioArgs({ ...base, engine: "libaio", sqthreadPoll: true }), /io_uring/);
    assert.throws(() => fioArgs({ ...base, rw: "trim" as "read" }), /rw=trim/);
  });
});

Deno.test("parseFioJson", async (t) => {
  await t.step("with --lat_percentiles=1: total latency (lat_ns), not completion only", () => {
    const text = fixture("fio_read_1m_qd1_lat.json");
    const read = JSON.parse(text).jobs[0].read;
    const r = parseFioJson(text);
    close(r.latencyUs.p50, read.lat_ns.percentile["50.000000"] / 1000, "p50");
    close(r.latencyUs.mean, read.lat_ns.mean / 1000, "mean");
    assert.ok(r.latencyUs.p50! > read.clat_ns.percentile["50.000000"] / 1000);
  });
  await t.step("sequential 1M read fixture", () => {
    const r = parseFioJson(fixture("fio_read_1m.json"));
    assert.equal(r.fioVersion, "fio-3.33");
    assert.equal(r.readBytes, 67108864);
    assert.equal(r.writeBytes, 0);
    close(r.readGiBs, 1342177280 / 2 ** 30, "readGiBs");
    assert.equal(r.writeGiBs, 0);
    close(r.iops, 1280, "iops");
    assert.equal(r.latencyOp, "read");
    close(r.latencyUs.p50, 6062.08, "p50");
    close(r.latencyUs.p99, 10551.296, "p99");
    close(r.latencyUs.mean, 5818.0761875, "mean");
    close(r.latencyUs.min, 1974.103, "min");
    close(r.latencyUs.max, 10548.503, "max");
    close(r.runtimeS, 0.05, "runtimeS");
    assert.equal(r.cpuUserPct, 0);
    close(r.cpuSysPct, 12.244898, "cpuSysPct");
    close(r.cpuSecondsPerIo, 0.12244898 * 0.049 / 64, "cpuSecondsPerIo");
  });
  await t.step("random 4K read fixture", () => {
    const r = parseFioJson(fixture("fio_randread_4k.json"));
    assert.equal(r.readBytes, 750120960);
    close(r.readGiBs, 374873043 / 2 ** 30, "readGiBs");
    close(r.iops, 91521.73913, "iops");
    close(r.latencyUs.p50, 325.632, "p50");
    close(r.latencyUs.p99, 403.456, "p99");
    close(r.runtimeS, 2.001, "runtimeS");
    close(r.cpuUserPct, 2.65, "cpuUserPct");
    close(r.cpuSysPct, 41.8, "cpuSysPct");
    close(r.cpuSecondsPerIo, (2.65 + 41.8) / 100 * 2 / 183135, "cpuSecondsPerIo");
  });
  await t.step("warnings before the JSON are skipped", () => {
    const text = "fio: file hash not empty on exit\n" + fixture("fio_read_1m.json");
    assert.equal(parseFioJson(text).readBytes, 67108864);
  });
  await t.step("a write-only job reports write latency", () => {
    const doc = JSON.parse(fixture("fio_read_1m.json"));
    const job = doc.jobs[0];
    [job.read, job.write] = [job.write, job.read];
    const r = parseFioJson(JSON.stringify(doc));
    assert.equal(r.latencyOp, "write");
    assert.equal(r.writeBytes, 67108864);
    close(r.latencyUs.p99, 10551.296, "p99");
  });
  await t.step("malformed input is a clear error", () => {
    assert.throws(() => parseFioJson(""), /fio output is not JSON/);
    assert.throws(() => parseFioJson("fio: engine io_uring not loadable"), /not JSON/);
    assert.throws(() => parseFioJson('{"jobs": [ {'), /not valid JSON/);
    assert.throws(() => parseFioJson('{"fio version": "fio-3.33"}'), /'jobs' is missing/);
    const doc = JSON.parse(fixture("fio_read_1m.json"));
    delete doc.jobs[0].read.bw_bytes;
    assert.throws(() => parseFioJson(JSON.stringify(doc)), /jobs\[0\]\.read\.bw_bytes/);
    doc.jobs[0].error = 5;
    assert.throws(() => parseFioJson(JSON.stringify(doc)), /failed with error 5/);
  });
});

const no_fio = findFio() === null
  ? "fio is not installed (scripts/install_fio.sh installs it)"
  : undefined;

testUnless(no_fio, "runFio on a small temp file", async () => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_fio_" });
  try {
    const file = `${dir}/f`;
    const size = 8 << 20;
    const opts = { ...base, file, numjobs: 1, sizeBytes: size, blockSizeBytes: 1 << 17 };
    const write = await runFio({ ...opts, rw: "write" });
    assert.equal(write.writeBytes, size);
    assert.equal(write.latencyOp, "write");
    assert.equal(Deno.statSync(file).size, size);
    const read = await runFio({ ...opts, rw: "randread", blockSizeBytes: 4096 });
    assert.equal(read.readBytes, size);
    assert.ok(read.iops > 0 && read.readGiBs > 0);
    const lat = read.latencyUs;
    assert.ok(lat.min! <= lat.p50! && lat.p50! <= lat.p99! && lat.p99! <= lat.max! * 1.02);
    assert.ok(read.cpuSecondsPerIo !== null && read.cpuSecondsPerIo >= 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("fio is run with a time bound: a hung fio is stopped with one clear error", async () => {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_fio_hang_" });
  try {
    const fake = `${dir}/fio`;
    Deno.writeTextFileSync(fake, "#!/bin/sh\nexec sleep 60\n");
    Deno.chmodSync(fake, 0o755);
    const t0 = performance.now();
    await assert.rejects(
      () => runFioArgs(fake, ["--output-format=json"], 300),
      (e: unknown) => e instanceof FioError && /ran longer than 0\.3 s, its bound/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 5000, "stopped promptly");
    Deno.writeTextFileSync(fake, "#!/bin/sh\necho 'fio: bad option' >&2\nexit 1\n");
    await assert.rejects(
      () => runFioArgs(fake, [], 10_000),
      (e: unknown) => e instanceof FioError && /exited with 1 .*fio: bad option/.test(e.message),
    );
    assert.equal(fioTimeoutMs(2, 1), 63_000);
    assert.equal(fioTimeoutMs(undefined), 600_000);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
