// The MPI layer (ffi/mpi.ts, lib/mpi/): launch detection from the environment, and the world's
// steps, gather, stop notices and bounded waits under real mpiexec with Open MPI's ABI, MPICH's
// ABI and the MPI-5 standard ABI (MPICH's libmpi_abi.so).
import assert from "node:assert/strict";
import { ROOT, testUnless } from "./_helpers.ts";
import { join } from "node:path";
import { detectLaunch, libraryNames, wantsMpi } from "../lib/mpi/launch.ts";
import { denoRun, install, launch, type MpiInstall, mpiSkip } from "./_mpi.ts";

Deno.test("launch detection: each launcher's variables, rank and size", () => {
  assert.equal(detectLaunch({}), null);
  assert.deepEqual(
    detectLaunch({ OMPI_COMM_WORLD_RANK: "2", OMPI_COMM_WORLD_SIZE: "4", PMIX_RANK: "2" }),
    { launcher: "openmpi", rank: 2, size: 4, via: "OMPI_COMM_WORLD_RANK" },
  );
  assert.deepEqual(detectLaunch({ PMI_RANK: "1", PMI_SIZE: "3", PMI_FD: "9" }), {
    launcher: "hydra",
    rank: 1,
    size: 3,
    via: "PMI_RANK",
  });
  assert.deepEqual(detectLaunch({ PMIX_RANK: "0", PMIX_NAMESPACE: "x" }), {
    launcher: "pmix",
    rank: 0,
    size: undefined,
    via: "PMIX_RANK",
  });
  // srun: a job step has a step id; the batch script around it is no launch.
  const step = { SLURM_PROCID: "5", SLURM_NTASKS: "8", SLURM_STEP_ID: "0", SLURM_JOB_ID: "7" };
  assert.deepEqual(detectLaunch(step), {
    launcher: "slurm",
    rank: 5,
    size: 8,
    via: "SLURM_PROCID",
  });
  assert.equal(detectLaunch({ SLURM_JOB_ID: "7", SLURM_NTASKS: "8", SLURM_PROCID: "0" }), null);
  // srun --mpi=pmix: PMIx names the rank, SLURM the size.
  assert.equal(detectLaunch({ PMIX_RANK: "3", ...step })?.size, 8);
  assert.equal(detectLaunch({ PMI_RANK: "x", PMI_SIZE: "2" }), null);
});

Deno.test("--mpi auto uses MPI only under a launcher with more than one rank; on and off force it", () => {
  const two = detectLaunch({ PMI_RANK: "0", PMI_SIZE: "2" });
  const one = detectLaunch({ PMI_RANK: "0", PMI_SIZE: "1" });
  assert.equal(wantsMpi("auto", null), false);
  assert.equal(wantsMpi("auto", one), false);
  assert.equal(wantsMpi("auto", two), true);
  assert.equal(wantsMpi("off", two), false);
  assert.equal(wantsMpi("on", null), true);
  assert.deepEqual(libraryNames("openmpi"), ["libmpi.so.40", "libmpi.so"]);
  assert.equal(libraryNames("hydra")[0], "libmpi_abi.so.1", "the standard ABI first");
});

interface Variant {
  label: string;
  mpi: MpiInstall["name"];
  abi: string;
  /** Library file under the install's lib/ to force with AIOBENCH_MPI_LIB. */
  lib?: string;
}

const variants: Variant[] = [
  { label: "Open MPI", mpi: "openmpi", abi: "openmpi" },
  { label: "MPICH, standard ABI (libmpi_abi.so)", mpi: "mpich", abi: "standard" },
  { label: "MPICH, MPICH ABI (libmpi.so.12)", mpi: "mpich", abi: "mpich", lib: "libmpi.so.12" },
];

function envFor(v: Variant, m: MpiInstall): Record<string, string> {
  return v.lib ? { AIOBENCH_MPI_LIB: join(m.prefix, "lib", v.lib) } : {};
}

function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  assert.ok(line, `no JSON line in: ${stdout}`);
  return JSON.parse(line);
}

for (const v of variants) {
  testUnless(
    mpiSkip(v.mpi),
    `MPI layer under mpiexec -n 3, ${v.label}: ranks, host, steps, gather, stop notices`,
    async () => {
      const m = install(v.mpi)!;
      const env = envFor(v, m);
      const basic = await launch(m, [{ n: 3, argv: denoRun("tests/_mpi_rank.ts", ["basic"]) }], {
        env,
      });
      assert.equal(basic.code, 0, basic.stderr);
      const b = lastJson(basic.stdout) as {
        worst: number;
        library: { abi: string; path: string };
        ranks: { rank: number; size: number; host: string; abi: string; payload: number }[];
      };
      assert.equal(b.library.abi, v.abi, b.library.path);
      assert.deepEqual(b.ranks.map((r) => [r.rank, r.size, r.payload]), [
        [0, 3, 0],
        [1, 3, 1000],
        [2, 3, 2000],
      ]);
      assert.ok(b.ranks.every((r) => r.host === Deno.hostname() && r.abi === v.abi));
      assert.equal(b.worst, 1, "every rank done");
      assert.equal(basic.stdout.trim().split("\n").length, 1, "only rank 0 prints");

      const notice = await launch(m, [{ n: 3, argv: denoRun("tests/_mpi_rank.ts", ["notice"]) }], {
        env,
      });
      assert.equal(notice.code, 0, notice.stderr);
      const n = lastJson(notice.stdout) as {
        worst: number;
        ranks: { rank: number; heardMs: number; heardFrom: number }[];
      };
      assert.equal(n.worst, 3, "the failed status reaches every rank");
      for (const r of n.ranks.filter((r) => r.rank !== 1)) {
        assert.equal(r.heardFrom, 1, `rank ${r.rank} heard of rank 1's stop`);
        assert.ok(r.heardMs >= 0 && r.heardMs < 1000, `rank ${r.rank} heard in ${r.heardMs} ms`);
      }
    },
  );
}

for (const v of variants) {
  testUnless(
    mpiSkip(v.mpi),
    `MPI layer, ${v.label}: a step's result lands right though the garbage collector ran meanwhile`,
    async () => {
      const m = install(v.mpi)!;
      const argv = [
        Deno.execPath(),
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        join(ROOT, "tests/_mpi_rank.ts"),
        "gc",
      ];
      const r = await launch(m, [{ n: 2, argv }], { env: envFor(v, m), timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
      const { seen } = lastJson(r.stdout) as { seen: number[][] };
      // Every step: the worst status is rank 1's (failed, 3), the best rank 0's (running, 0).
      assert.deepEqual(seen, Array(20).fill([3, 0]));
    },
  );
}

testUnless(
  mpiSkip("mpich"),
  "MPI layer: a rank that never arrives ends the job at the deadline with one line (MPICH)",
  async () => {
    const m = install("mpich")!;
    const r = await launch(m, [{ n: 2, argv: denoRun("tests/_mpi_rank.ts", ["hang"]) }], {
      env: { AIOBENCH_MPI_TIMEOUT: "2" },
      timeoutMs: 30_000,
    });
    assert.notEqual(r.code, 0);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    const ours = r.stderr.split("\n").filter((l) => l.startsWith("aiobench:"));
    assert.deepEqual(
      ours,
      [
        `aiobench: rank 0 (${Deno.hostname()}): not every rank reached global step 1 within 2 s ` +
        "(a rank is stuck or gone; AIOBENCH_MPI_TIMEOUT sets the bound); aborting the job",
      ],
      r.stderr,
    );
  },
);
