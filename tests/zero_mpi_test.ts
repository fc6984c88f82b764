// aiobench zero under real mpiexec (MPICH and Open MPI): every process replays its own ranks of a
// world of processes × --ranks, one merged report (bytes = every rank's planned bytes, one row per
// rank), no swap files left; a problem on one process is one line and every process exits 2.
import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, listing, removeDir, tempDir } from "./_helpers.ts";
import { denoRun, install, launch, missingReason, type MpiInstall, spawnLaunch } from "./_mpi.ts";

const tiny = ["--hidden", "520", "--layers", "2", "--vocab", "3001", "--sub_group_size", "1e6"];

interface Doc {
  world_size: number;
  read_bytes_per_step: number;
  write_bytes_per_step: number;
  per_rank: { read_bytes: number; write_bytes: number };
  ranks: { rank: number }[];
  steps: { warmup: boolean; ranks: { rank: number }[] }[];
  env: { mpi: { processes: number } };
  partial: boolean;
}

for (const name of ["mpich", "openmpi"] as MpiInstall["name"][]) {
  Deno.test({
    name: `zero under mpiexec -n 2 (${name}) with --ranks 2: 4 ranks, one report, no files left`,
    ignore: missingReason(name) !== null,
    async fn() {
      const dir = tempDir("aiobench_zero_mpi_");
      try {
        const r = await launch(install(name)!, [{
          n: 2,
          argv: denoRun("main.ts", [
            "zero",
            ...tiny,
            "--ranks",
            "2",
            "--max_in_cpu",
            "0",
            "--max_reuse_distance",
            "0",
            "--nvme_path",
            dir,
            "--steps",
            "2",
            "--json",
            "-",
          ]),
        }], { timeoutMs: 120_000 });
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout) as Doc;
        assert.equal(doc.world_size, 4);
        assert.equal(doc.env.mpi.processes, 2);
        assert.deepEqual(doc.ranks.map((x) => x.rank), [0, 1, 2, 3]);
        assert.equal(doc.read_bytes_per_step, 4 * doc.per_rank.read_bytes);
        assert.equal(doc.write_bytes_per_step, 4 * doc.per_rank.write_bytes);
        assert.deepEqual(doc.steps.map((s) => s.ranks.length), [4, 4, 4]);
        assert.equal(doc.partial, false);
        // One report for the job: one verdict, printed by rank 0 only.
        assert.equal(lines(r.stderr).filter((l) => / per rank per step, /.test(l)).length, 1);
        assert.deepEqual(listing(dir), []);
      } finally {
        removeDir(dir);
      }
    },
  });
}

Deno.test({
  name: "zero under mpiexec -n 2 (mpich): a missing nvme_path is one line, every rank exits 2",
  ignore: missingReason("mpich") !== null,
  async fn() {
    const dir = tempDir("aiobench_zero_mpi_");
    try {
      const r = await launch(install("mpich")!, [{
        n: 2,
        argv: denoRun("main.ts", [
          "zero",
          ...tiny,
          "--offload",
          "optimizer",
          "--nvme_path",
          join(dir, "nope"),
        ]),
      }], { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      assert.deepEqual(lines(r.stderr), [
        `aiobench: nvme_path ${join(dir, "nope")} does not exist; create it or give another folder`,
      ]);
    } finally {
      removeDir(dir);
    }
  },
});

/** Files and folders left under `dir`, recursively. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    out.push(e.name);
    if (e.isDirectory) out.push(...leftovers(join(dir, e.name)).map((n) => `${e.name}/${n}`));
  }
  return out;
}

for (const name of ["mpich", "openmpi"] as MpiInstall["name"][]) {
  Deno.test({
    name: `zero under mpiexec -n 2 (${name}): Ctrl-C on mpiexec removes every process's swap files`,
    ignore: missingReason(name) !== null,
    async fn() {
      const m = install(name)!;
      const dir = tempDir("aiobench_zero_mpi_");
      let release = () => {};
      try {
        const argv = denoRun("main.ts", [
          "zero",
          ...tiny,
          "--nvme_path",
          dir,
          "--steps",
          "50",
          "--compute_s",
          "1",
        ]);
        const job = spawnLaunch(m, [{ n: 2, argv }]);
        const child = job.child;
        release = job.release;
        const output = child.output();
        let exited = false;
        output.finally(() => (exited = true));
        // Both processes' rank folders hold a gradient file: the replay is in its first step.
        const gradients = () =>
          leftovers(dir).filter((f) => /rank[01]\/.*_gradient_\d+_\d+\.tensor\.swp$/.test(f));
        const ranksWriting = () => new Set(gradients().map((f) => f.match(/rank(\d)/)![1])).size;
        const t0 = performance.now();
        while (!exited && ranksWriting() < 2 && performance.now() - t0 < 30_000) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const started = !exited && ranksWriting() === 2;
        if (!exited) child.kill("SIGINT");
        const o = await output;
        const stderr = new TextDecoder().decode(o.stderr);
        assert.ok(started, `the replay never wrote gradients on both processes:\n${stderr}`);
        assert.notEqual(o.code, 0, stderr);
        if (name === "mpich") assert.equal(o.code, 130, stderr);
        assert.deepEqual(leftovers(dir), [], "swap files left behind");
      } finally {
        release();
        removeDir(dir);
      }
    },
  });
}

/** The pid of the aiobench process of MPI rank `rank` whose environment holds `tag` (/proc). */
function rankPid(tag: string, rank: number): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0");
      if (!env.includes(`AIOBENCH_TEST_TAG=${tag}`) || !env.includes(`PMI_RANK=${rank}`)) continue;
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes("main.ts")) {
        return Number(entry.name);
      }
    } catch {
      // The process ended, or isn't ours to read.
    }
  }
  return null;
}

Deno.test({
  name:
    "zero under mpiexec -n 2 (mpich): a frozen process ends the job at the deadline, the other's swap files go",
  ignore: missingReason("mpich") !== null,
  async fn() {
    const dir = tempDir("aiobench_zero_mpi_");
    let frozen: number | null = null;
    try {
      const job = launch(install("mpich")!, [{
        n: 2,
        argv: denoRun("main.ts", [
          "zero",
          ...tiny,
          "--nvme_path",
          dir,
          "--steps",
          "50",
          "--compute_s",
          "1",
        ]),
      }], { env: { AIOBENCH_MPI_TIMEOUT: "3", AIOBENCH_TEST_TAG: dir }, timeoutMs: 60_000 });
      const writing = () =>
        new Set(
          leftovers(dir).filter((f) => /_gradient_\d+_\d+\.tensor\.swp$/.test(f))
            .map((f) => f.match(/rank(\d)\//)?.[1]),
        ).size;
      const t0 = performance.now();
      while (writing() < 2 && performance.now() - t0 < 30_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      frozen = rankPid(dir, 1);
      assert.ok(frozen !== null, "MPI process 1");
      Deno.kill(frozen, "SIGSTOP");
      const r = await job;
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /^aiobench: rank 0 \(.*\): not every rank reached .* within 3 s/m);
      // A stopped process can't remove anything; process 0 removed its ranks' swap files.
      const left = leftovers(dir).filter((f) => f.endsWith(".swp"));
      assert.ok(left.length > 0 && left.every((f) => f.includes("/rank1/")), left.join("\n"));
    } finally {
      if (frozen !== null) {
        try {
          Deno.kill(frozen, "SIGKILL");
        } catch {
          // The launcher ended it already.
        }
      }
      removeDir(dir);
    }
  },
});
