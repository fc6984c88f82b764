/**
 * `--gpu`: the chunk schedule (pure), the one-line refusals where no CUDA driver or device is
 * (these run everywhere), the whole GPU path against tests/fixtures/fake_libcuda.c (a strict
 * stand-in whose async copies run only when synchronized, so a slot reused too early shows up
 * in --validate), and, where a real driver is, the real thing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig } from "../lib/run/config.ts";
import { defaultChunkBytes, type GpuMode, type GpuStep, planGpuSteps } from "../lib/gpu/plan.ts";
import { deviceForWorker } from "../lib/gpu/prepare.ts";
import { gpuSchedule, type GpuTaskContext } from "../lib/gpu/schedule.ts";
import { validateGpu } from "../lib/gpu/validate.ts";
import type { TaskSpec } from "../lib/tasklets/schedule.ts";
import { taskSpec } from "../lib/run/tasks.ts";
import type { BenchConfig, BenchResult } from "../lib/common/types.ts";
import {
  ensureTool,
  firstReason,
  lines,
  makeRandomFile,
  removeDir,
  ROOT,
  runCli,
  type SkipReason,
  stepUnless,
  tempDir,
  testUnless,
} from "./_helpers.ts";

const MIB = 1 << 20;

/**
 * Runs steps against a model: file chunk k holds value k, host slots and device memory hold
 * values. Copies are queued and run at the latest legal moment (`deferred`) or at once
 * (`eager`); returns what reached the destination and how many IO steps ran while a copy was
 * still pending (the overlap).
 */
function simulate(
  steps: GpuStep[],
  op: "read" | "write",
  chunks: number,
  when: "deferred" | "eager",
) {
  const slots: number[] = [-1, -1];
  const device = op === "read" ? new Array(chunks).fill(-1) : [...Array(chunks).keys()];
  const file = op === "read" ? [...Array(chunks).keys()] : new Array(chunks).fill(-1);
  const queue: Array<{ slot: number; chunk: number }> = [];
  const run = (copy: { slot: number; chunk: number }) => {
    if (op === "read") device[copy.chunk] = slots[copy.slot];
    else slots[copy.slot] = device[copy.chunk];
  };
  const drainThrough = (slot: number) => {
    const last = queue.findLastIndex((c) => c.slot === slot);
    for (const copy of queue.splice(0, last + 1)) run(copy);
  };
  let overlapped = 0;
  for (const step of steps) {
    if (step.kind === "io") {
      if (queue.length > 0) overlapped++;
      if (op === "read") slots[step.slot] = file[step.chunk];
      else file[step.chunk] = slots[step.slot];
    } else if (step.kind === "copy") {
      if (when === "eager") run(step);
      else queue.push(step);
    } else if (step.kind === "wait") drainThrough(step.slot);
    else for (const copy of queue.splice(0)) run(copy);
  }
  return { arrived: op === "read" ? device : file, overlapped, pending: queue.length };
}

Deno.test("GPU chunk schedule", async (t) => {
  const cases: Array<{ total: number; chunk: number; mode: GpuMode }> = [
    { total: 64 * MIB, chunk: 8 * MIB, mode: "overlap" },
    { total: 64 * MIB + 4096, chunk: 8 * MIB, mode: "overlap" },
    { total: 3 * MIB, chunk: MIB, mode: "overlap" },
    { total: 2 * MIB, chunk: MIB, mode: "overlap" },
    { total: MIB, chunk: 4 * MIB, mode: "overlap" },
    { total: 64 * MIB, chunk: 8 * MIB, mode: "bounce" },
  ];
  for (const op of ["read", "write"] as const) {
    for (const c of cases) {
      await t.step(`${op} ${c.mode} ${c.total} bytes in ${c.chunk}-byte chunks`, () => {
        const steps = planGpuSteps({ op, totalBytes: c.total, chunkBytes: c.chunk, mode: c.mode });
        const chunks = c.mode === "bounce" ? 1 : Math.ceil(c.total / c.chunk);
        for (const kind of ["io", "copy"] as const) {
          const ranges = steps.flatMap((s) => s.kind === kind ? [[s.offset, s.bytes]] : []);
          assert.deepEqual(ranges.length, chunks, `${kind} steps`);
          let end = 0;
          for (const [offset, bytes] of ranges.toSorted((a, b) => a[0] - b[0])) {
            assert.deepEqual(offset, end, `${kind} ranges are contiguous`);
            assert(bytes > 0 && bytes <= (c.mode === "bounce" ? c.total : c.chunk));
            end = offset + bytes;
          }
          assert.deepEqual(end, c.total, `${kind} steps cover every byte once`);
        }
        assert.deepEqual(steps.at(-1), { kind: "sync" });
        for (const when of ["deferred", "eager"] as const) {
          const sim = simulate(steps, op, chunks, when);
          assert.deepEqual(
            sim.arrived,
            [...Array(chunks).keys()],
            `every chunk arrives intact (${when})`,
          );
          assert.deepEqual(sim.pending, 0);
          if (when === "deferred") {
            const expected = c.mode === "overlap" ? chunks - 1 : 0;
            assert.deepEqual(sim.overlapped, expected, "IO steps that overlap a pending copy");
          }
        }
      });
    }
  }

  await t.step("without the waits, a reused slot corrupts the data (the model can fail)", () => {
    for (const op of ["read", "write"] as const) {
      const steps = planGpuSteps({ op, totalBytes: 4 * MIB, chunkBytes: MIB, mode: "overlap" })
        .filter((s) => s.kind !== "wait");
      assert(simulate(steps, op, 4, "deferred").arrived.some((v, k) => v !== k), op);
    }
  });

  await t.step("gds is one IO straight into device memory, no copies", () => {
    const steps = planGpuSteps({ op: "read", totalBytes: 8 * MIB, chunkBytes: MIB, mode: "gds" });
    assert.deepEqual(steps, [{ kind: "io", chunk: 0, slot: 0, offset: 0, bytes: 8 * MIB }]);
  });

  await t.step("bad sizes are refused", () => {
    assert.throws(() =>
      planGpuSteps({ op: "read", totalBytes: 0, chunkBytes: MIB, mode: "overlap" })
    );
    assert.throws(() =>
      planGpuSteps({ op: "read", totalBytes: MIB, chunkBytes: 0, mode: "overlap" })
    );
    assert.throws(() =>
      planGpuSteps({ op: "read", totalBytes: 2 ** 40, chunkBytes: 1, mode: "overlap" })
    );
  });

  await t.step(
    "default chunk: two queue fills, at least 64 MiB, a block multiple, ≤ io_size",
    () => {
      const config = { ...defaultConfig(), blockSizeBytes: MIB, queueDepth: 32 };
      assert.deepEqual(defaultChunkBytes(config, 1 << 30), 64 * MIB);
      assert.deepEqual(
        defaultChunkBytes({ ...config, blockSizeBytes: 8 * MIB }, 1 << 30),
        512 * MIB,
      );
      assert.deepEqual(defaultChunkBytes(config, 10 * MIB), 10 * MIB);
      assert.deepEqual(
        defaultChunkBytes({ ...config, blockSizeBytes: 3 * MIB, queueDepth: 1 }, 1 << 30),
        66 * MIB,
      );
    },
  );

  await t.step("device per worker: its folder's mapping, else --gpu_id", () => {
    const config: BenchConfig = {
      ...defaultConfig(),
      gpuId: 5,
      folders: ["/mnt/a", "/mnt/b/", "/mnt/c"],
      folderToDeviceMapping: { "/mnt/a": 0, "/mnt/b": 1 },
    };
    assert.deepEqual([0, 1, 2, 3, 4].map((w) => deviceForWorker(config, w)), [0, 1, 5, 0, 1]);
    assert.deepEqual(deviceForWorker({ ...config, folderToDeviceMapping: {} }, 1), 5);
  });
});

function folderEntries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name);
}

/**
 * The stand-in driver (tests/fixtures/fake_libcuda.c), built once into zig/zig-out/test (git
 * ignored); the reason instead when it can't be built here.
 */
async function buildFakeDriver(): Promise<{ path: string } | { reason: string }> {
  const dir = join(ROOT, "zig", "zig-out", "test");
  Deno.mkdirSync(dir, { recursive: true });
  const out = join(dir, "libcuda.so.1");
  const cc = await new Deno.Command(join(ROOT, "scripts/zig"), {
    args: ["cc", "-shared", "-fPIC", "-O1", "-o", out, join(ROOT, "tests/fixtures/fake_libcuda.c")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (cc.success) return { path: out };
  const why = new TextDecoder().decode(cc.stderr).split("\n")[0];
  return { reason: `the stand-in libcuda did not build: ${why}` };
}

/** Whether the real driver loads here (asked before the stand-in is loaded in this process). */
function hasCudaDriver(): boolean {
  try {
    Deno.dlopen("libcuda.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

const cuda_driver = hasCudaDriver();
const fake_build = await buildFakeDriver();
const no_fake: SkipReason = "reason" in fake_build ? fake_build.reason : undefined;
const fake = "path" in fake_build ? fake_build.path : "";

Deno.test("--gpu refusals: one line, non-zero exit, nothing created", async (t) => {
  const dir = tempDir("aiobench_gpu_");
  const refuse = async (args: string[], env: Record<string, string>, pattern: RegExp) => {
    const r = await runCli(args, { env: { AIOBENCH_LIBCUDA: "", ...env } });
    assert.deepEqual(r.code, 2, r.stderr);
    const errs = lines(r.stderr);
    assert.deepEqual(errs.length, 1, r.stderr);
    assert.match(errs[0], pattern);
    assert.deepEqual(r.stdout, "");
    assert.deepEqual(folderEntries(dir), [], "no file was created");
  };
  try {
    await t.step("no libcuda.so.1 (AIOBENCH_LIBCUDA names a missing file)", async () => {
      await refuse(
        ["--gpu", "--folder", dir, "--io_size", "8M"],
        { AIOBENCH_LIBCUDA: "/nonexistent/libcuda.so.1" },
        /^aiobench: --gpu: no CUDA driver \(\/nonexistent\/libcuda\.so\.1 not found\); run on a machine with an NVIDIA driver, or drop --gpu$/,
      );
    });
    const has_driver = cuda_driver ? "a CUDA driver is installed here" : undefined;
    await stepUnless(
      t,
      has_driver,
      "no CUDA driver on this machine (default library name)",
      async () => {
        await refuse(
          ["--gpu", "--folder", dir, "--io_size", "8M"],
          {},
          /^aiobench: --gpu: no CUDA driver \(libcuda\.so\.1 not found\)/,
        );
      },
    );
    await t.step(
      "random workloads and --runtime are refused before the driver is needed",
      async () => {
        const env = { AIOBENCH_LIBCUDA: "/nonexistent/libcuda.so.1" };
        await refuse(
          ["--gpu", "--folder", dir, "--rw", "randread", "--io_size", "8M"],
          env,
          /^aiobench: --gpu moves sequential reads and writes, not randread/,
        );
        await refuse(
          ["--gpu", "--folder", dir, "--io_size", "8M", "--runtime", "2"],
          env,
          /^aiobench: --gpu runs whole loops/,
        );
      },
    );
    await t.step(
      "--gpu_mode and --gpu_chunk: need --gpu, a known mode, a block multiple",
      async () => {
        const env = { AIOBENCH_LIBCUDA: "/nonexistent/libcuda.so.1" };
        const base = ["--folder", dir, "--io_size", "8M"];
        await refuse([...base, "--gpu_mode", "bounce"], env, /^aiobench: --gpu_mode needs --gpu/);
        await refuse(
          [...base, "--gpu", "--gpu_mode", "x"],
          env,
          /^aiobench: --gpu_mode x is unknown/,
        );
        await refuse(
          [...base, "--gpu", "--gpu_chunk", "3M", "--block_size", "2M"],
          env,
          /^aiobench: --gpu_chunk 3145728 is not a multiple of --block_size 2097152$/,
        );
      },
    );
    await stepUnless(t, no_fake, "--gpu_id beyond the visible devices", async () => {
      await refuse(
        ["--gpu", "--gpu_id", "3", "--folder", dir, "--io_size", "8M"],
        { AIOBENCH_LIBCUDA: fake, FAKE_CUDA_DEVICES: "1" },
        /^aiobench: --gpu_id 3: only 1 GPU\(s\) visible; use 0\.\.0$/,
      );
    });
    await stepUnless(
      t,
      no_fake,
      "--folder_to_device_mapping beyond the visible devices",
      async () => {
        await refuse(
          ["--gpu", "--folder_to_device_mapping", `${dir}:2`, "--io_size", "8M"],
          { AIOBENCH_LIBCUDA: fake, FAKE_CUDA_DEVICES: "2" },
          new RegExp(`^aiobench: --folder_to_device_mapping ${dir}:2: only 2 GPU\\(s\\) visible`),
        );
      },
    );
    await stepUnless(t, no_fake, "--use_gds without libcufile", async () => {
      await refuse(
        ["--gpu", "--use_gds", "--folder", dir, "--io_size", "8M"],
        { AIOBENCH_LIBCUDA: fake, AIOBENCH_LIBCUFILE: "/nonexistent/libcufile.so.0" },
        /^aiobench: --use_gds: no cuFile library \(\/nonexistent\/libcufile\.so\.0 not found\); install GPUDirect Storage/,
      );
    });
    await stepUnless(t, no_fake, "a bad AIOBENCH_GPU_MODE", async () => {
      await refuse(
        ["--gpu", "--folder", dir, "--io_size", "8M"],
        { AIOBENCH_LIBCUDA: fake, AIOBENCH_GPU_MODE: "fast" },
        /^aiobench: AIOBENCH_GPU_MODE=fast is not a GPU mode; use overlap or bounce$/,
      );
    });
  } finally {
    removeDir(dir);
  }
});

async function gpuRun(args: string[], env: Record<string, string>): Promise<BenchResult> {
  const r = await runCli([...args, "--json", "-"], { env });
  assert.deepEqual(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.slice(r.stdout.indexOf("{\n"))) as BenchResult;
}

testUnless(
  no_fake,
  "--gpu through the stand-in driver: write and read with --validate",
  async (t) => {
    const dir = tempDir("aiobench_gpu_");
    try {
      for (const mode of ["overlap", "bounce"] as const) {
        for (const extra of [["--threads", "2"], ["--io_parallel", "2"]]) {
          await t.step(`${mode} ${extra.join(" ")}`, async () => {
            const env = {
              AIOBENCH_LIBCUDA: fake,
              AIOBENCH_GPU_MODE: mode,
              AIOBENCH_GPU_CHUNK: "4M",
            };
            const folder = Deno.makeTempDirSync({ dir });
            const base = ["--gpu", "--folder", folder, "--io_size", "10M", "--block_size", "1M"];
            base.push("--validate");
            const written = await gpuRun([...base, ...extra, "--keep"], env);
            const read = await gpuRun([...base, ...extra, "--read"], env);
            for (const [doc, op] of [[written, "write"], [read, "read"]] as const) {
              const r = doc.results[0];
              assert.deepEqual(r.op, op);
              assert.deepEqual(r.errors, 0);
              const gpu = r.gpu;
              assert(gpu, "results[].gpu is present");
              assert.deepEqual(gpu.mode, mode);
              assert.deepEqual(gpu.chunk_bytes, mode === "overlap" ? 4 * MIB : 10 * MIB);
              assert.deepEqual(gpu.devices, [0]);
              assert(gpu.io_gib_s > 0 && gpu.e2e_gib_s > 0);
              assert(gpu.io_latency_s <= gpu.e2e_latency_s, "IO time is part of the task time");
              assert.deepEqual(gpu.e2e_gib_s, r.task_gib_s);
              assert.deepEqual((doc.env.gpu as { mode: string }).mode, mode);
            }
          });
        }
      }
    } finally {
      removeDir(dir);
    }
  },
);

testUnless(
  firstReason(no_fake, ensureTool("strace")),
  "--slow_bounce_buffer: the bounce path, its host buffer pinned inside every call",
  async () => {
    const dir = tempDir("aiobench_gpu_slow_");
    try {
      const base = ["--gpu", "--folder", dir, "--io_size", "8M", "--loops", "3", "--validate"];
      const env = { AIOBENCH_LIBCUDA: fake };
      const mlocks: Record<string, number> = {};
      for (const slow of [false, true]) {
        const args = [...base, "--warmup_loops", "0", ...(slow ? ["--slow_bounce_buffer"] : [])];
        const log = join(dir, "strace.log");
        const argv = ["-f", "-qq", "-e", "trace=mlock,mlock2", "-o", log];
        const r = await runCli([...args, "--json", "-"], { env, prefix: ["strace", ...argv] });
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout) as BenchResult;
        assert.equal(doc.results[0].gpu?.mode, slow ? "bounce" : "overlap");
        assert.equal(doc.results[0].validate?.ok, true);
        assert.equal(doc.config.slow_bounce_buffer, slow);
        mlocks[String(slow)] = Deno.readTextFileSync(log).split("\n")
          .filter((l) => /mlock2?\(/.test(l) && / = 0$/.test(l)).length;
        Deno.removeSync(log);
      }
      // Three timed calls, each pinning its own buffer; the ordinary path pins nothing.
      assert.equal(mlocks.false, 0, JSON.stringify(mlocks));
      assert.equal(mlocks.true, 3, JSON.stringify(mlocks));
    } finally {
      removeDir(dir);
    }
  },
);

function gpuSpec(config: BenchConfig, workload: "read" | "write", path: string): TaskSpec {
  const target = { worker: 0, workload, path, ioSizeBytes: 12 * MIB };
  const gpu = { device: 0, mode: "overlap", chunkBytes: 4 * MIB } as const;
  return { ...taskSpec(config, target, { engine: "io_uring", alignBytes: 4096, gpu }), seed: 99 };
}

testUnless(
  no_fake,
  "--validate reads GPU memory back: a slot reused before its copy finished is caught",
  async (t) => {
    Deno.env.set("AIOBENCH_LIBCUDA", fake);
    const dir = tempDir("aiobench_gpu_");
    const config: BenchConfig = {
      ...defaultConfig(),
      gpu: true,
      blockSizeBytes: MIB,
      queueDepth: 4,
    };
    try {
      for (const workload of ["read", "write"] as const) {
        await t.step(workload, () => {
          const path = join(dir, `${workload}.dat`);
          makeRandomFile(path, 12 * MIB);
          const schedule = gpuSchedule(gpuSpec(config, workload, path));
          const ctx = schedule.pre(gpuSpec(config, workload, path)) as GpuTaskContext;
          try {
            assert.deepEqual(schedule.main(ctx), 12 * MIB);
            validateGpu(ctx);
            ctx.gpu.steps = ctx.gpu.steps.filter((s) => s.kind !== "wait");
            schedule.main(ctx);
            assert.throws(() => validateGpu(ctx), /differs from/);
          } finally {
            schedule.post(ctx);
          }
        });
      }
    } finally {
      Deno.env.delete("AIOBENCH_LIBCUDA");
      removeDir(dir);
    }
  },
);

testUnless(
  cuda_driver ? undefined : "no CUDA driver",
  "--gpu on a real GPU: write then read 64 MiB, overlapped and bounce, validated",
  async (t) => {
    const dir = tempDir("aiobench_gpu_");
    try {
      for (const mode of ["overlap", "bounce"]) {
        await t.step(mode, async () => {
          const env = { AIOBENCH_LIBCUDA: "", AIOBENCH_GPU_MODE: mode, AIOBENCH_GPU_CHUNK: "16M" };
          const folder = Deno.makeTempDirSync({ dir });
          const args = ["--gpu", "--folder", folder, "--io_size", "64M", "--block_size", "1M"];
          args.push("--validate");
          const w = await gpuRun([...args, "--keep"], env);
          const r = await gpuRun([...args, "--read"], env);
          for (const doc of [w, r]) {
            assert.deepEqual(doc.results[0].errors, 0);
            assert.deepEqual(doc.results[0].gpu?.mode, mode);
            assert((doc.results[0].gpu?.e2e_gib_s ?? 0) > 0);
          }
        });
      }
    } finally {
      removeDir(dir);
    }
  },
);
