// aiobench under real mpiexec (Open MPI and MPICH, both ABIs): one report for the job with
// ds_aio's lines across ranks (bytes = ranks × threads × loops × io_size exactly), per-rank rows,
// files named per rank and none left, a rank that fails is one line naming it, Ctrl-C stops every
// rank and removes every rank's files, and a run outside MPI is unchanged.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  lines,
  listing,
  needsRoot,
  removeDir,
  ROOT,
  runCli,
  sh,
  sha256Sync,
  tempDir,
  testUnless,
  writeRandomFile,
} from "./_helpers.ts";
import {
  denoRun,
  install,
  launch,
  type MpiInstall,
  mpiSkip,
  type RankProgram,
  spawnLaunch,
} from "./_mpi.ts";
import type { BenchResult } from "../lib/common/types.ts";

const MiB = 1 << 20;

function aiobench(args: string[]): string[] {
  return denoRun("main.ts", args);
}

function jsonOf(stdout: string): BenchResult {
  return JSON.parse(stdout) as BenchResult;
}

function countLines(text: string, prefix: string): number {
  return lines(text).filter((l) => l.startsWith(prefix)).length;
}

interface Case {
  mpi: MpiInstall["name"];
  ranks: number;
}

const cases: Case[] = [
  { mpi: "openmpi", ranks: 2 },
  { mpi: "openmpi", ranks: 3 },
  { mpi: "mpich", ranks: 2 },
  { mpi: "mpich", ranks: 3 },
];

for (const c of cases) {
  testUnless(
    mpiSkip(c.mpi),
    `mpiexec -n ${c.ranks} (${c.mpi}): one report across ranks, per-rank files, none left`,
    async () => {
      const m = install(c.mpi)!;
      const dir = tempDir("aiobench_mpi_");
      try {
        const threads = 2;
        const loops = 2;
        const io = 4 * MiB;
        const r = await launch(m, [{
          n: c.ranks,
          argv: aiobench([
            "--folder",
            dir,
            "--io_size",
            "4M",
            "--threads",
            String(threads),
            "--loops",
            String(loops),
            "--warmup_loops",
            "0",
            "--json",
            "-",
          ]),
        }]);
        assert.equal(r.code, 0, r.stderr);
        const doc = jsonOf(r.stdout);
        assert.equal(doc.results.length, 1);
        const write = doc.results[0];
        assert.equal(
          write.bytes,
          c.ranks * threads * loops * io,
          "bytes: ranks × threads × loops × io_size",
        );
        assert.equal(write.workers.length, c.ranks * threads);
        assert.equal(countLines(r.stderr, "Task Write Latency = "), 1, "one report for the job");
        assert.equal(countLines(r.stderr, "E2E Write Speed = "), 1);
        // Latency across ranks is the slowest worker of any rank.
        const slowest = Math.max(...write.workers.map((w) => w.task_latency_s));
        assert.equal(write.task_latency_s, slowest);
        assert.equal(doc.mpi?.size, c.ranks);
        assert.deepEqual(
          doc.ranks?.map((x) => [x.rank, x.status, x.results[0].bytes]),
          [
            ...Array(c.ranks).keys(),
          ].map((rank) => [rank, "done", threads * loops * io]),
        );
        assert.deepEqual(doc.hosts?.map((h) => h.ranks), [[...Array(c.ranks).keys()]]);
        const paths = write.workers.map((w) => [w.rank, w.worker, w.path]);
        const expected = [...Array(c.ranks).keys()].flatMap((rank) =>
          [...Array(threads).keys()].map((t) => [rank, t, join(dir, `aiobench_r${rank}_${t}.dat`)])
        );
        assert.deepEqual(paths, expected, "each rank writes its own files");
        const rows = lines(r.stderr).filter((l) => /^\d+\s+\S+\s+write\s/.test(l));
        assert.equal(rows.length, c.ranks, `a table row per rank:\n${r.stderr}`);
        // The skew line names the slowest and the fastest rank of the per-rank results.
        const speeds = doc.ranks!.map((x) => ({ rank: x.rank, gib: x.results[0].task_gib_s }))
          .sort((a, b) => a.gib - b.gib);
        const [slow, fast] = [speeds[0], speeds[speeds.length - 1]];
        const apart = (((fast.gib - slow.gib) / fast.gib) * 100).toFixed(1);
        const skew = lines(r.stderr).filter((l) => l.startsWith("skew write: "));
        assert.deepEqual(skew, [
          `skew write: slowest rank ${slow.rank} (${Deno.hostname()}) ${slow.gib.toFixed(3)} ` +
          `GiB/s, fastest rank ${fast.rank} (${Deno.hostname()}) ${fast.gib.toFixed(3)} GiB/s: ` +
          `${apart}% below the fastest`,
        ], r.stderr);
        assert.deepEqual(listing(dir), [], "every rank removed its files");
      } finally {
        removeDir(dir);
      }
    },
  );
}

testUnless(
  mpiSkip("mpich"),
  "mpiexec -n 2 (MPICH ABI, libmpi.so.12): a shared --read_file is read by every rank",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const file = join(dir, "shared.bin");
      const digest = writeRandomFile(file, 8 * MiB);
      const r = await launch(m, [{
        n: 2,
        argv: aiobench(["--read_file", file, "--threads", "2", "--loops", "3", "--json", "-"]),
      }], { env: { AIOBENCH_MPI_LIB: join(m.prefix, "lib", "libmpi.so.12") } });
      assert.equal(r.code, 0, r.stderr);
      const doc = jsonOf(r.stdout);
      assert.equal(doc.mpi?.library.abi, "mpich");
      assert.equal(doc.results[0].bytes, 2 * 2 * 3 * 8 * MiB);
      assert.ok(doc.results[0].workers.every((w) => w.path === file), "every rank reads the file");
      assert.deepEqual(listing(dir), ["shared.bin"]);
      assert.equal(sha256Sync(file), digest, "the shared file is untouched");
    } finally {
      removeDir(dir);
    }
  },
);

for (const name of ["openmpi", "mpich"] as const) {
  testUnless(
    mpiSkip(name),
    `MPMD launch (${name}): rank 1 with a missing file ends the job in one line naming it`,
    async () => {
      const m = install(name)!;
      const dir = tempDir("aiobench_mpi_");
      try {
        const file = join(dir, "F");
        writeRandomFile(file, 4 * MiB);
        const programs: RankProgram[] = [
          { n: 1, argv: aiobench(["--read_file", file, "--loops", "2"]) },
          { n: 1, argv: aiobench(["--read_file", join(dir, "missing")]) },
        ];
        const r = await launch(m, programs, { timeoutMs: 30_000 });
        assert.notEqual(r.code, 0, r.stderr);
        assert.ok(r.ms < 10_000, `took ${r.ms.toFixed(0)} ms`);
        const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
        assert.deepEqual(ours, [
          `aiobench: rank 1 (${Deno.hostname()}): --read_file ${join(dir, "missing")} does not ` +
          "exist; create it first, or use --folder DIR --read to let aiobench make one",
        ], r.stderr);
        assert.equal(r.stdout, "", "no report: nothing was measured");
        assert.deepEqual(listing(dir), ["F"]);
      } finally {
        removeDir(dir);
      }
    },
  );
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts mpiexec, waits until every rank's files exist, sends SIGINT to mpiexec, waits. */
async function interrupt(m: MpiInstall, dir: string, ranks: number) {
  // No warm-up loop (ds_io's default for --folder has one): the signal lands in the measured one.
  const timed = ["--runtime", "30s", "--time_based", "--warmup_loops", "0"];
  const argv = aiobench(["--folder", dir, "--io_size", "64M", ...timed]);
  const { child, release } = spawnLaunch(m, [{ n: ranks, argv }]);
  const output = child.output();
  const t0 = performance.now();
  let out: Deno.CommandOutput;
  let t1 = t0;
  try {
    while (listing(dir).length < ranks && performance.now() - t0 < 20_000) await sleep(50);
    assert.equal(listing(dir).length, ranks, "every rank created its file");
    await sleep(500);
    t1 = performance.now();
  } finally {
    try {
      child.kill("SIGINT");
    } catch {
      // mpiexec has ended already (every rank failed): nothing to stop.
    }
    out = await output;
    release();
  }
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    stop_ms: performance.now() - t1,
  };
}

testUnless(
  mpiSkip("mpich"),
  "Ctrl-C on MPICH's mpiexec: every rank stops, one partial report, exit 130, no files left",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const r = await interrupt(m, dir, 2);
      assert.equal(r.code, 130, r.stderr);
      assert.ok(r.stop_ms < 5000, `stopped ${r.stop_ms.toFixed(0)} ms after SIGINT`);
      assert.equal(countLines(r.stdout, "Task Write Latency = "), 1, r.stdout);
      assert.match(r.stdout, /^write \(partial\)/m);
      assert.equal(countLines(r.stderr, "aiobench: stopping (SIGINT)"), 1, r.stderr);
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("openmpi"),
  "Ctrl-C on Open MPI's mpiexec (SIGTERM, then SIGKILL soon after): no rank's files left",
  async () => {
    const m = install("openmpi")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const r = await interrupt(m, dir, 2);
      assert.notEqual(r.code, 0);
      assert.ok(r.stop_ms < 5000, `stopped ${r.stop_ms.toFixed(0)} ms after SIGINT`);
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

Deno.test("outside MPI nothing changes: no mpi line, ds_aio's <write_file>.<worker> names", async () => {
  const dir = tempDir("aiobench_mpi_");
  try {
    const base = join(dir, "w");
    const r = await runCli(["--write_file", base, "--io_size", "1M", "--threads", "2", "--keep"]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^mpi:/m);
    assert.doesNotMatch(r.stdout, /^rank\s+host/m);
    assert.deepEqual(listing(dir), ["w.0", "w.1"]);
    // --mpi off under a launcher's environment is a plain run too.
    const off = await runCli(["--write_file", join(dir, "x"), "--io_size", "1M", "--mpi", "off"], {
      env: { PMI_RANK: "0", PMI_SIZE: "2" },
    });
    assert.equal(off.code, 0, off.stderr);
    assert.doesNotMatch(off.stdout, /^mpi:/m);
  } finally {
    removeDir(dir);
  }
});

testUnless(
  mpiSkip("mpich"),
  "EIO on rank 1 in the middle of a 30 s run (MPICH): the job ends in seconds, one line",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const args = ["--folder", dir, "--io_size", "64M", "--runtime", "30s", "--time_based"];
      args.push("--warmup_loops", "0"); // the fault lands in the measured loop, not a warm-up
      // Hydra's -env sets a variable for one program of an MPMD launch: only rank 1 gets the fault.
      const r = await launch(m, [
        { n: 1, argv: aiobench(args) },
        { n: 1, argv: ["-env", "AIOBENCH_FAULT", "eio@200", ...aiobench(args)] },
      ], { timeoutMs: 40_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.ms < 10_000, `took ${r.ms.toFixed(0)} ms`);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
      assert.equal(ours.length, 1, r.stderr);
      assert.match(
        ours[0],
        new RegExp(`^aiobench: rank 1 \\(${Deno.hostname()}\\): worker 0: write .* failed: EIO`),
      );
      assert.match(r.stdout, /^1\s+\S+\s.*\sfailed$/m, "rank 1's row says failed");
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

/** The pid of the aiobench process of `rank` whose environment holds `tag` (from /proc). */
function rankPid(tag: string, rank: number): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let env: string[];
    try {
      env = Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0");
    } catch {
      continue;
    }
    if (env.includes(`AIOBENCH_TEST_TAG=${tag}`) && env.includes(`PMI_RANK=${rank}`)) {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("main.ts")) return Number(entry.name);
    }
  }
  return null;
}

testUnless(
  mpiSkip("mpich"),
  "a rank that stops answering (SIGSTOP, MPICH -n 3): the others give up at AIOBENCH_MPI_TIMEOUT, remove their files, the job ends",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    let stoppedPid: number | null = null;
    try {
      const args = [
        "--folder",
        dir,
        "--io_size",
        "16M",
        "--loops",
        "100000",
        "--warmup_loops",
        "0",
      ];
      const job = launch(m, [{ n: 3, argv: aiobench(args) }], {
        env: { AIOBENCH_MPI_TIMEOUT: "3", AIOBENCH_TEST_TAG: dir },
        timeoutMs: 30_000,
      });
      const t0 = performance.now();
      while (listing(dir).length < 3 && performance.now() - t0 < 20_000) await sleep(50);
      stoppedPid = rankPid(dir, 2);
      assert.ok(stoppedPid !== null, "rank 2's process");
      Deno.kill(stoppedPid, "SIGSTOP");
      const t1 = performance.now();
      const r = await job;
      const ms = performance.now() - t1;
      assert.notEqual(r.code, 0, r.stderr);
      assert.ok(ms < 8_000, `the job ended ${ms.toFixed(0)} ms after rank 2 stopped`);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
      assert.ok(ours.length >= 1, r.stderr);
      for (const line of ours) {
        assert.match(line, /^aiobench: rank [01] \(.*\): not every rank reached .* within 3 s/);
      }
      // A stopped process can't remove anything; every rank still running removed its own.
      assert.deepEqual(listing(dir), ["aiobench_r2_0.dat"]);
    } finally {
      if (stoppedPid !== null) {
        try {
          Deno.kill(stoppedPid, "SIGKILL");
        } catch {
          // The launcher ended it already.
        }
      }
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich"),
  "--json FILE under mpiexec -n 2 (MPICH): written once, by rank 0, the job's document",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const common = ["--folder", dir, "--io_size", "1M", "--loops", "1", "--warmup_loops", "0"];
      // Every rank's stdout reaches mpiexec's: a second writer would show as a second document.
      const out = await launch(m, [{ n: 2, argv: aiobench([...common, "--json", "/dev/stdout"]) }]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.split('"schema"').length - 1, 1, out.stdout);
      const file = join(dir, "job.json");
      const r = await launch(m, [{ n: 2, argv: aiobench([...common, "--json", file]) }]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(Deno.readTextFileSync(file)) as BenchResult;
      assert.equal(doc.mpi?.size, 2);
      assert.deepEqual(doc.ranks?.map((x) => x.rank), [0, 1]);
      assert.equal(doc.results[0].bytes, 2 * MiB, "the job's bytes, not one rank's");
      assert.deepEqual(listing(dir), ["job.json"]);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich"),
  "never clobber on every rank (MPICH -n 2): rank 1's file exists already, one line, untouched",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const theirs = join(dir, "aiobench_r1_0.dat");
      const digest = writeRandomFile(theirs, 1 * MiB);
      const r = await launch(m, [{
        n: 2,
        argv: aiobench(["--folder", dir, "--io_size", "1M", "--loops", "1", "--warmup_loops", "0"]),
      }]);
      assert.notEqual(r.code, 0, r.stderr);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
      assert.deepEqual(ours, [
        `aiobench: rank 1 (${Deno.hostname()}): ${theirs} already exists and aiobench did not ` +
        "create it; add --force to overwrite it, or pick another path",
      ], r.stderr);
      assert.equal(sha256Sync(theirs), digest, "the existing file is untouched");
      assert.deepEqual(listing(dir), ["aiobench_r1_0.dat"], "rank 0 removed its own");
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich"),
  "SIGTERM to rank 1 alone (MPICH -n 2): every rank stops within seconds, one line, no files left",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const args = ["--folder", dir, "--io_size", "64M", "--runtime", "30s", "--time_based"];
      const job = launch(m, [{ n: 2, argv: aiobench([...args, "--warmup_loops", "0"]) }], {
        env: { AIOBENCH_TEST_TAG: dir },
        timeoutMs: 40_000,
      });
      const t0 = performance.now();
      while (listing(dir).length < 2 && performance.now() - t0 < 20_000) await sleep(50);
      await sleep(500);
      const pid = rankPid(dir, 1);
      assert.ok(pid !== null, "rank 1's process");
      Deno.kill(pid, "SIGTERM");
      const t1 = performance.now();
      const r = await job;
      const ms = performance.now() - t1;
      assert.equal(r.code, 143, r.stderr);
      assert.ok(ms < 5_000, `the job ended ${ms.toFixed(0)} ms after the signal`);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
      assert.deepEqual(ours, [
        `aiobench: rank 1 (${Deno.hostname()}) was stopped (SIGTERM); so were the rest`,
      ], r.stderr);
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich") ?? needsRoot("losetup", "mkfs.ext4"),
  "ENOSPC on rank 1 (MPICH, MPMD, a 32 MiB ext4 loop device): one line naming rank 1, no files left",
  async () => {
    const m = install("mpich")!;
    const dir = tempDir("aiobench_mpi_");
    const script = join(ROOT, "scripts/loopdev.sh");
    const name = `mpi_enospc_${Deno.pid}`;
    let mnt = "";
    try {
      mnt = (await sh(script, ["up", "--size", "32M", "--name", name])).split("\n").pop()!;
      const timed = ["--io_size", "64M", "--runtime", "30s", "--time_based", "--warmup_loops", "0"];
      const r = await launch(m, [
        { n: 1, argv: aiobench(["--folder", dir, ...timed]) },
        { n: 1, argv: aiobench(["--folder", mnt, ...timed]) },
      ], { timeoutMs: 40_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.ms < 10_000, `took ${r.ms.toFixed(0)} ms`);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench"));
      assert.equal(ours.length, 1, r.stderr);
      assert.match(
        ours[0],
        new RegExp(
          `^aiobench: rank 1 \\(${Deno.hostname()}\\): worker 0: write ${mnt}/aiobench_r1_0\\.dat ` +
            "at offset \\d+ failed: ENOSPC",
        ),
      );
      assert.match(r.stdout, /^1\s+\S+\s.*\sfailed$/m, "rank 1's row says failed");
      assert.deepEqual(listing(dir), []);
      assert.deepEqual(listing(mnt).filter((f) => f !== "lost+found"), []);
    } finally {
      if (mnt) await sh(script, ["down", "--name", name]);
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("mpich") ?? mpiSkip("openmpi"),
  "Open MPI's libmpi under MPICH's mpiexec (AIOBENCH_MPI_LIB): refused in one line per rank",
  async () => {
    const m = install("mpich")!;
    const wrong = join(install("openmpi")!.prefix, "lib", "libmpi.so.40");
    const dir = tempDir("aiobench_mpi_");
    try {
      const r = await launch(m, [{
        n: 2,
        argv: aiobench(["--folder", dir, "--io_size", "1M", "--loops", "1"]),
      }], { env: { AIOBENCH_MPI_LIB: wrong } });
      assert.notEqual(r.code, 0, r.stderr);
      const ours = lines(r.stderr).filter((l) => l.startsWith("aiobench")).sort();
      assert.deepEqual(
        ours,
        [0, 1].map((rank) =>
          `aiobench: rank ${rank}: MPICH's mpiexec (Hydra) started this rank but ${wrong} is ` +
          "Open MPI's library; set AIOBENCH_MPI_LIB to the libmpi of the MPI whose mpiexec you use"
        ),
      );
      assert.equal(r.stdout, "");
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("openmpi"),
  "--write_file F under mpiexec -n 2 (Open MPI): F.<rank>.<worker> on every rank",
  async () => {
    const m = install("openmpi")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      const base = join(dir, "F");
      const r = await launch(m, [{
        n: 2,
        argv: aiobench(["--write_file", base, "--io_size", "1M", "--threads", "2", "--keep"]),
      }]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(listing(dir), ["F.0.0", "F.0.1", "F.1.0", "F.1.1"]);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("openmpi"),
  "a PMIx launch (Open MPI's prterun, its OMPI_COMM_WORLD_* removed): found by PMIX_RANK, one job",
  async () => {
    const m = install("openmpi")!;
    const dir = tempDir("aiobench_mpi_");
    try {
      // What a PMIx-only launcher (e.g. srun --mpi=pmix) leaves a rank: PMIX_RANK, no size.
      const pmixOnly = ["env", "-u", "OMPI_COMM_WORLD_RANK", "-u", "OMPI_COMM_WORLD_SIZE"];
      const args = ["--folder", dir, "--io_size", "1M", "--loops", "1", "--warmup_loops", "0"];
      const r = await launch(m, [{
        n: 2,
        argv: [...pmixOnly, ...aiobench([...args, "--json", "-"])],
      }]);
      assert.equal(r.code, 0, r.stderr);
      const doc = jsonOf(r.stdout);
      assert.equal(doc.mpi?.launcher, "pmix");
      assert.equal(doc.mpi?.size, 2);
      assert.equal(doc.results[0].bytes, 2 * MiB);
      assert.deepEqual(listing(dir), []);
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  mpiSkip("openmpi"),
  "Open MPI: ranks keep PMIx's job data in its hash store, not in fixed-address segments (gds/shmem2 can't always map in a Deno process)",
  async () => {
    const m = install("openmpi")!;
    const dir = tempDir("aiobench_mpi_gds_");
    try {
      // The verbose setting reaches the ranks only (through env), so each rank prints the stores
      // it may use once, at MPI_Init; the launcher's own choice is not printed.
      const argv = [
        "env",
        "PMIX_MCA_gds_base_verbose=5",
        ...aiobench(["--folder", dir, "--io_size", "1M", "--threads", "1", "--loops", "1"]),
      ];
      const r = await launch(m, [{ n: 2, argv }]);
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      const chosen = lines(out).filter((l) => /\bgds: \w+ Priority/.test(l));
      assert.equal(countLines(out.replace(/^\[[^\]]*\] /gm, ""), "Final gds priorities"), 2, out);
      assert.ok(chosen.length >= 2, out);
      assert.deepEqual(chosen.filter((l) => !/gds: hash Priority/.test(l)), [], out);
    } finally {
      removeDir(dir);
    }
  },
);
