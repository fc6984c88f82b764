// aiobench zero under real mpiexec (MPICH and Open MPI): every process replays its own ranks of a
// world of processes × --ranks, one merged report (bytes = every rank's planned bytes, one row per
// rank), no swap files left; a problem on one process is one line and every process exits 2.
import assert from "node:assert/strict";
import { join } from "node:path";
import { lines, listing, removeDir, tempDir } from "./_helpers.ts";
import { denoRun, install, launch, missingReason, type MpiInstall } from "./_mpi.ts";

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
