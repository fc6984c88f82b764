// sweep and doctor across MPI ranks, and ranks on different "hosts": each rank of an MPMD launch
// can run in its own UTS namespace (unshare -u) with its own host name, so the per-host tables
// and the differences between hosts are tested on one machine.
import assert from "node:assert/strict";
import { isRoot, lines, listing, removeDir, tempDir, testUnless } from "./_helpers.ts";
import { denoRun, install, launch, mpiSkip } from "./_mpi.ts";
import type { BenchResult } from "../lib/common/types.ts";
import type { SweepDocument } from "../lib/sweep/rank.ts";

function aiobench(args: string[]): string[] {
  return denoRun("main.ts", args);
}

/** argv that runs aiobench in a new UTS namespace whose host name is `host` (after `setup`). */
function onHost(host: string, args: string[], setup = "true"): string[] {
  const command = aiobench(args).map((a) => `'${a}'`).join(" ");
  return ["unshare", "-u", "sh", "-c", `hostname ${host} && ${setup} && exec ${command}`];
}

const unshareMissing: string | undefined = (() => {
  if (!isRoot()) return "needs root (unshare -u for a second host name)";
  try {
    const ok = new Deno.Command("unshare", { args: ["-u", "true"] }).outputSync().success;
    return ok ? undefined : "unshare -u fails here";
  } catch {
    return "no unshare";
  }
})();

testUnless(
  mpiSkip("mpich"),
  "sweep across 2 ranks (MPICH): each point runs on every rank, rank 0 reports once",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const r = await launch(m, [{
        n: 2,
        argv: aiobench([
          "sweep",
          "--folder",
          dir,
          "--io_size",
          "2M",
          "--block_size",
          "256K,1M",
          "--queue_depth",
          "4",
          "--overlap_events=on",
          "--single_submit=off",
          "--io_parallel",
          "1",
          "--loops",
          "1",
          "--warmup_loops",
          "0",
          "--json",
          "-",
        ]),
      }]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as SweepDocument;
      assert.equal(doc.mpi?.size, 2);
      assert.equal(doc.records.length, 2);
      assert.ok(doc.records.every((x) => x.status === "ok" && x.read && x.write), r.stdout);
      // Every point ran on both ranks: 2 ranks × 2 MiB / block size IOs per op, not one rank's.
      const ios = (h: [number, number][]) => h.reduce((a, [, count]) => a + count, 0);
      assert.deepEqual(
        doc.records.map((x) => [x.point.block_size, ios(x.read!.latency_histogram)]),
        [[256 * 1024, 16], [1024 * 1024, 4]],
      );
      assert.deepEqual(doc.records.map((x) => ios(x.write!.latency_histogram)), [16, 4]);
      const progress = lines(r.stderr).filter((l) => l.startsWith("config "));
      assert.equal(progress.length, 2, `one progress line per point:\n${r.stderr}`);
      assert.equal(
        lines(r.stderr).filter((l) => l.startsWith("aiobench sweep: 2 configs")).length,
        1,
      );
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich") ?? unshareMissing,
  "doctor on 2 hosts (MPICH, unshare -u): one summary, the differing facts (fs, device, scheduler, memlock) called out",
  async () => {
    const m = install("mpich")!;
    const r = await launch(m, [
      { n: 1, argv: aiobench(["doctor", "/var/tmp"]) },
      // Host b also locks less memory (its own RLIMIT_MEMLOCK), as a node set up apart might.
      { n: 1, argv: onHost("aiobench-b", ["doctor", "/dev/shm"], "ulimit -l 64") },
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(
      out.filter((l) => l.startsWith("doctor: 2 ranks on 2 host(s)")).length,
      1,
      r.stdout,
    );
    const head = out.find((l) => l.startsWith("host "))!;
    for (const fact of ["fs", "device", "scheduler", "memlock"]) {
      assert.match(head, new RegExp(`\\b${fact}\\*`), `${fact} differs and is marked`);
    }
    assert.doesNotMatch(head, /kernel\*|io_uring\*|o_direct\*/, "what is the same is not marked");
    assert.ok(out.some((l) => /^\s+fs: \S+ ext4, aiobench-b tmpfs$/.test(l)), r.stdout);
    assert.ok(
      out.some((l) => /^\s+memlock: \S+ .+, aiobench-b 64.00 KiB$/.test(l)),
      r.stdout,
    );
    assert.ok(out.some((l) => l.startsWith("aiobench-b ") && /\btmpfs\b/.test(l)), r.stdout);
    assert.ok(out.includes("aiobench-b (rank 1):"), "the host's own warnings follow");
  },
);

testUnless(
  mpiSkip("openmpi") ?? unshareMissing,
  "a run on 2 hosts (Open MPI, unshare -u): per-host totals add up to the job's bytes",
  async () => {
    const m = install("openmpi")!;
    const dirs = [tempDir("aiobench_mpi_a_"), tempDir("aiobench_mpi_b_")];
    try {
      const common = ["--io_size", "4M", "--threads", "2", "--loops", "2", "--warmup_loops", "0"];
      const r = await launch(m, [
        { n: 1, argv: aiobench(["--folder", dirs[0], ...common, "--json", "-"]) },
        { n: 1, argv: onHost("aiobench-b", ["--folder", dirs[1], ...common]) },
      ]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as BenchResult;
      const total = 2 * 2 * 2 * 4 * 2 ** 20;
      assert.equal(doc.results[0].bytes, total);
      assert.deepEqual(doc.hosts?.map((h) => [h.ranks, h.results[0].bytes]), [
        [[0], total / 2],
        [[1], total / 2],
      ]);
      assert.equal(doc.hosts?.[1].host, "aiobench-b");
      assert.equal(doc.mpi?.hosts, 2);
      const table = lines(r.stderr).filter((l) => /^\S+\s+[01]\s+write\s/.test(l));
      assert.equal(table.length, 2, `a row per host:\n${r.stderr}`);
      for (const dir of dirs) assert.deepEqual(listing(dir), []);
    } finally {
      for (const dir of dirs) removeDir(dir);
    }
  },
);
