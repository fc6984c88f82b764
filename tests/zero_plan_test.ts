/**
 * The ZeRO-Infinity planner against DeepSpeed 0.18's formulas, written out here on their own:
 * io-aligned numel (1024 bytes × intra_op_parallelism), partition = ceil(numel / world),
 * sub-groups closed at sub_group_size, gradient pieces, swappable minimum (max(1 MiB, block)),
 * max_in_cpu, buffer counts. No IO.
 */
import assert from "node:assert/strict";
import { buildModel, type Model, parseParamCount, shapeForParams } from "../lib/zero/model.ts";
import {
  gradientPieces,
  ioAlignedNumel,
  minAioBytes,
  numelAlignment,
  planZero,
  subGroupParamsOnNvme,
  subGroupTensors,
  type ZeroPlan,
} from "../lib/zero/plan.ts";
import { defaultSettings, settingsFromDsConfig, type ZeroSettings } from "../lib/zero/settings.ts";
import { UsageError } from "../lib/common/size.ts";

const MiB = 1 << 20;
function assertEquals(actual: unknown, expected: unknown): void {
  assert.deepEqual(actual, expected);
}

function assertMatch(text: string, pattern: RegExp): void {
  assert.match(text, pattern);
}

function assertThrows(fn: () => unknown, type: new (...args: never[]) => Error): Error {
  try {
    fn();
  } catch (e) {
    assert(e instanceof type, `threw ${e}`);
    return e;
  }
  throw new assert.AssertionError({ message: "expected an exception" });
}

// hidden 520 makes partitions that are not multiples of the alignment (DeepSpeed pads them).
const small: Model = buildModel({ hidden: 520, layers: 2, vocab: 3001, positions: 128 });

function settings(overrides: Partial<ZeroSettings>): ZeroSettings {
  return {
    ...defaultSettings(),
    optimizerPaths: ["/nvme"],
    paramPaths: ["/nvme"],
    worldSize: 2,
    subGroupSize: 1_000_000,
    maxInCpu: 0,
    ...overrides,
  };
}

const ceilTo = (n: number, a: number) => Math.ceil(n / a) * a;
const parts = (m: Model, world: number) => m.tensors.map((t) => Math.ceil(t.numel / world));

/** stage3.py `_create_fp16_sub_groups`, restated: close a group at >= sub_group_size. */
function groups(p: number[], size: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let acc = 0;
  p.forEach((n, i) => {
    cur.push(i);
    acc += n;
    if (acc >= size || i === p.length - 1) {
      out.push(cur);
      cur = [];
      acc = 0;
    }
  });
  return out;
}

/** Optimizer bytes per step and rank, straight from the swappers' arithmetic (intra_op 1). */
function optimizerBytes(m: Model, s: ZeroSettings): { state: number; gradient: number } {
  const p = parts(m, s.worldSize);
  let state = 0;
  let gradient = 0;
  for (const g of groups(p, s.subGroupSize)) {
    const numel = g.reduce((a, t) => a + p[t], 0);
    if (numel * 4 < MiB) continue;
    state += 3 * ceilTo(numel, 256) * 4;
    for (const t of g) {
      if (p[t] * 4 < MiB) continue;
      const head = Math.floor(p[t] / 256) * 256;
      if (head * 4 >= MiB) gradient += head * 4;
    }
  }
  return { state, gradient };
}

/** Parameter partitions on NVMe (max_in_cpu 0): those of at least 1 MiB in fp16, aligned to 512. */
function paramFileBytes(m: Model, s: ZeroSettings): Map<number, number> {
  const files = new Map<number, number>();
  parts(m, s.worldSize).forEach((n, t) => {
    if (n * 2 >= MiB) files.set(t, ceilTo(n, 512) * 2);
  });
  return files;
}

function readsOf(plan: ZeroPlan, lane: string): string[] {
  return (plan.step.lanes[lane as keyof ZeroPlan["step"]["lanes"]] ?? [])
    .map((op) => `${op.op} ${plan.files[op.file].name}`);
}

Deno.test("zero plan: DeepSpeed's alignment and size rules", async (t) => {
  await t.step("numel alignment is 1024 bytes × intra_op_parallelism over the element size", () => {
    assertEquals(numelAlignment(4, 1), 256);
    assertEquals(numelAlignment(2, 1), 512);
    assertEquals(numelAlignment(4, 2), 512);
    assertEquals(ioAlignedNumel(1000, 256), 1024);
    assertEquals(ioAlignedNumel(1024, 256), 1024);
    assertEquals(minAioBytes(4096), MiB);
    assertEquals(minAioBytes(8 * MiB), 8 * MiB);
  });
  await t.step(
    "a gradient partition splits into an aligned head and an in-memory remainder",
    () => {
      assertEquals(gradientPieces(262144 + 100, 0, 256, MiB), {
        swapped: [{ offset: 0, numel: 262144 }],
        unswappedNumel: 100,
      });
      assertEquals(gradientPieces(262143, 7, 256, MiB), { swapped: [], unswappedNumel: 262143 });
      assertEquals(gradientPieces(512 * 1024, 5, 256, MiB).swapped, [{ offset: 5, numel: 524288 }]);
    },
  );
  await t.step("sub-groups close once they reach sub_group_size", () => {
    assertEquals(subGroupTensors([5, 5, 5, 5, 1], 10), [[0, 1], [2, 3], [4]]);
    assertEquals(subGroupTensors([5, 5, 5], 15), [[0, 1, 2]]);
    assertEquals(subGroupTensors([12, 1, 9], 10), [[0], [1, 2]]);
  });
  await t.step("max_in_cpu keeps whole leading sub-groups in CPU memory", () => {
    assertEquals(subGroupParamsOnNvme([4, 4, 4], 8), [false, false, true]);
    assertEquals(subGroupParamsOnNvme([4, 4, 4], 7), [false, true, true]);
    assertEquals(subGroupParamsOnNvme([4, 4, 4], 12), [false, false, false]);
    assertEquals(subGroupParamsOnNvme([4, 4], 0), [true, true]);
  });
  await t.step("parameter counts and shapes", () => {
    assertEquals(parseParamCount("70B"), 70e9);
    assertEquals(parseParamCount("1.3b"), 1.3e9);
    assertEquals(parseParamCount("355M"), 355e6);
    assertEquals(parseParamCount("7e9"), 7e9);
    assertEquals(parseParamCount("lots"), undefined);
    const m = buildModel(shapeForParams(70e9));
    assert(Math.abs(m.params / 70e9 - 1) < 0.02, `70B shape has ${m.params}`);
    const tiny = buildModel(shapeForParams(10e6));
    assert(tiny.shape.layers >= 1 && Math.abs(tiny.params / 10e6 - 1) < 0.35, `${tiny.params}`);
  });
});

Deno.test("zero plan: optimizer offload bytes per step equal DeepSpeed's formulas", async (t) => {
  for (
    const [name, extra] of [
      ["partitioned", {}],
      ["pipeline_read", { pipelineRead: true, optimizerBufferCount: 8 }],
      ["pipeline_write", { pipelineWrite: true, optimizerBufferCount: 8 }],
      ["pipeline_read + pipeline_write", {
        pipelineRead: true,
        pipelineWrite: true,
        optimizerBufferCount: 12,
      }],
    ] as const
  ) {
    await t.step(name, () => {
      const s = settings({ offloadOptimizer: true, ...extra });
      const plan = planZero(small, s);
      const want = optimizerBytes(small, s);
      assert(want.state > 0 && want.gradient > 0);
      const k = plan.perRank.byKind;
      assertEquals(k.fp32.read + k.exp_avg.read + k.exp_avg_sq.read, want.state);
      assertEquals(k.fp32.write + k.exp_avg.write + k.exp_avg_sq.write, want.state);
      assertEquals(k.gradient.write, want.gradient);
      assertEquals(k.gradient.read, want.gradient);
      assertEquals(plan.perRank.read, want.state + want.gradient);
      assertEquals(plan.perRank.write, want.state + want.gradient);
      assertEquals(plan.perRank.byPhase.backward, { read: 0, write: want.gradient });
      assertEquals(plan.perRank.byPhase.forward, { read: 0, write: 0 });
    });
  }
  await t.step("file names follow DeepSpeed's swap_info paths", () => {
    const plan = planZero(small, settings({ offloadOptimizer: true }));
    const names = plan.files.map((f) => f.name);
    const g0 = plan.subGroups[0].id;
    assertMatch(g0, /^0_\d+$/);
    assert(names.includes(`${g0}.tensor.swp`));
    assert(names.includes(`exp_avg-${g0}.tensor.swp`));
    assert(names.includes(`exp_avg_sq-${g0}.tensor.swp`));
    assert(
      names.some((n) => new RegExp(`^${g0}_gradient_0_\\d+\\.tensor\\.swp$`).test(n)),
      names.join(),
    );
  });
  await t.step("several sub-groups, and the largest sets DeepSpeed's buffer size", () => {
    const plan = planZero(small, settings({ offloadOptimizer: true }));
    assert(plan.subGroups.length >= 3, `${plan.subGroups.length} sub-groups`);
    const largest = Math.max(...plan.subGroups.map((g) => g.numel));
    assertEquals(plan.deepSpeedBufferBytes.optimizer, 4 * ceilTo(largest, 256) * 4);
  });
});

Deno.test("zero plan: pipelining reorders the same bytes", async (t) => {
  await t.step("partitioned: each sub-group's writes come before the next one's reads", () => {
    const lane = readsOf(planZero(small, settings({ offloadOptimizer: true })), "optimizer");
    const g1Read = lane.findIndex((x) => /^read .*exp_avg-/.test(x) && !x.includes("-0_"));
    const g0Write = lane.findIndex((x) => x.startsWith("write exp_avg-0_"));
    assert(g0Write >= 0 && g1Read > g0Write, lane.slice(0, 12).join("\n"));
  });
  await t.step("pipeline_read: sub-group 1 is read before sub-group 0 is written back", () => {
    const plan = planZero(
      small,
      settings({ offloadOptimizer: true, pipelineRead: true, optimizerBufferCount: 8 }),
    );
    const actions = plan.step.actions.filter((a) => a.kind === "issue" && a.phase === "optimizer")
      .map((a) => a.kind === "issue" ? a.label : "");
    const read1 = actions.indexOf("sub-group 1: swap in (pipelined)");
    const write0 = actions.indexOf("sub-group 0: swap out");
    assert(read1 >= 0 && write0 > read1, actions.join("\n"));
  });
  await t.step("too few optimizer buffers for the pipeline is one line naming buffer_count", () => {
    const e = assertThrows(
      () =>
        planZero(
          small,
          settings({ offloadOptimizer: true, pipelineRead: true, pipelineWrite: true }),
        ),
      UsageError,
    );
    assertMatch(
      e.message,
      /^offload_optimizer\.buffer_count 4 is too few: .* set buffer_count to 12$/,
    );
  });
});

Deno.test("zero plan: parameter offload bytes per step", async (t) => {
  await t.step("every use reads when nothing is kept (stage3_max_reuse_distance 0)", () => {
    const s = settings({ offloadParam: true, maxReuseDistance: 0 });
    const plan = planZero(small, s);
    const files = paramFileBytes(small, s);
    const once = [...files.values()].reduce((a, b) => a + b, 0);
    // Forward + backward read every partition; the tied head reads the embedding twice more.
    const twice = 2 * once + 2 * files.get(0)!;
    assertEquals(plan.perRank.byKind.param.read, twice);
    assertEquals(plan.perRank.byKind.param.write, once);
    assertEquals(plan.perRank.byPhase.optimizer, { read: 0, write: once });
    assertEquals(plan.perRank.read, twice);
    assertEquals(plan.perRank.fileBytes.param, once);
  });
  await t.step("partitions kept for reuse are read once per pass", () => {
    const s = settings({ offloadParam: true });
    const plan = planZero(small, s);
    const once = [...paramFileBytes(small, s).values()].reduce((a, b) => a + b, 0);
    assertEquals(paramFileBytes(small, s).size, 5);
    assertEquals(plan.perRank.byKind.param.read, once);
  });
  await t.step("gradient accumulation reads the parameters per micro-step", () => {
    const s = settings({ offloadParam: true, maxReuseDistance: 0, gradientAccumulationSteps: 3 });
    const files = paramFileBytes(small, s);
    const once = [...files.values()].reduce((a, b) => a + b, 0);
    assertEquals(planZero(small, s).perRank.byKind.param.read, 3 * (2 * once + 2 * files.get(0)!));
  });
  await t.step("too few parameter buffers for what reuse keeps is one line", () => {
    const e = assertThrows(
      () => planZero(small, settings({ offloadParam: true, paramBufferCount: 4 })),
      UsageError,
    );
    assertMatch(
      e.message,
      /^offload_param\.buffer_count 4 is too few: DeepSpeed would stop .*"Not enough buffers".*raise offload_param\.buffer_count to 5 /,
    );
  });
  await t.step("a partition larger than buffer_size is refused as DeepSpeed does", () => {
    const e = assertThrows(
      () => planZero(small, settings({ offloadParam: true, paramBufferSize: 500_000 })),
      UsageError,
    );
    assertMatch(e.message, /buffer_size 500000 elements is smaller than .*wte\.weight/);
  });
  await t.step("everything within max_in_cpu: nothing to swap, said in one line", () => {
    const e = assertThrows(
      () => planZero(small, settings({ offloadParam: true, maxInCpu: 1_000_000_000 })),
      UsageError,
    );
    assertMatch(e.message, /^nothing would be swapped to NVMe: .*max_in_cpu/);
  });
});

Deno.test("zero plan: optimizer and parameters together", () => {
  for (const pipeline of [false, true]) {
    const s = settings({
      offloadOptimizer: true,
      offloadParam: true,
      maxReuseDistance: 0,
      pipelineRead: pipeline,
      pipelineWrite: pipeline,
      optimizerBufferCount: pipeline ? 12 : 4,
    });
    const plan = planZero(small, s);
    const opt = optimizerBytes(small, s);
    const files = paramFileBytes(small, s);
    const once = [...files.values()].reduce((a, b) => a + b, 0);
    assertEquals(plan.perRank.read, opt.state + opt.gradient + 2 * once + 2 * files.get(0)!);
    assertEquals(plan.perRank.write, opt.state + opt.gradient + once);
  }
});

Deno.test("zero plan: DeepSpeed config", async (t) => {
  await t.step('offload sections, aio, sub_group_size, bf16 and HF\'s "auto"', () => {
    const s = settingsFromDsConfig({
      bf16: { enabled: true },
      gradient_accumulation_steps: "auto",
      zero_optimization: {
        stage: 3,
        sub_group_size: 1e8,
        offload_optimizer: {
          device: "nvme",
          nvme_path: "/local_nvme",
          buffer_count: 8,
          pipeline_read: true,
        },
        offload_param: { device: "nvme", nvme_path: "/p", buffer_count: 6, buffer_size: 2e8 },
      },
      aio: { block_size: 262144, queue_depth: 32, overlap_events: true, single_submit: false },
    }, "ds.json");
    assertEquals(s.offloadOptimizer && s.offloadParam, true);
    assertEquals([s.optimizerPaths, s.paramPaths], [["/local_nvme"], ["/p"]]);
    assertEquals([s.optimizerBufferCount, s.pipelineRead, s.pipelineWrite], [8, true, false]);
    assertEquals([s.paramBufferCount, s.paramBufferSize, s.subGroupSize], [6, 2e8, 1e8]);
    assertEquals([s.aio.blockSizeBytes, s.aio.queueDepth, s.paramDtype], [262144, 32, "bfloat16"]);
    assertEquals(s.gradientAccumulationSteps, 1);
    assert(s.notes.some((n) => n.includes("gradient_accumulation_steps")));
  });
  await t.step("NVMe offload outside stage 3 and bad values are one line naming the key", () => {
    const stage2 = assertThrows(() =>
      settingsFromDsConfig({
        zero_optimization: { stage: 2, offload_optimizer: { device: "nvme" } },
      }, "ds.json"), UsageError);
    assertMatch(stage2.message, /^ds\.json: NVMe offload needs ZeRO stage 3/);
    const bad = assertThrows(
      () => settingsFromDsConfig({ aio: { queue_depth: "deep" } }, "ds.json"),
      UsageError,
    );
    assertEquals(bad.message, 'ds.json: aio.queue_depth is "deep"; it must be a number >= 1');
  });
  await t.step("a config without NVMe offload plans nothing, and says so", () => {
    const s = settingsFromDsConfig({
      zero_optimization: { stage: 3, offload_optimizer: { device: "cpu" } },
    }, "ds.json");
    const e = assertThrows(() => planZero(small, s), UsageError);
    assertMatch(e.message, /^nothing is offloaded to NVMe: /);
  });
});

Deno.test("zero plan: --compute_s is spread over the modules by size, forward 1 : backward 2", () => {
  const plan = planZero(small, settings({ offloadOptimizer: true }), { computeS: 3, updateS: 0.5 });
  const compute = plan.step.actions.flatMap((a) => a.kind === "compute" ? [a] : []);
  const total = (phase: string) =>
    compute.filter((a) => a.phase === phase).reduce((s, a) => s + a.seconds, 0);
  const close = (a: number, b: number) => assert(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
  close(total("forward"), 1);
  close(total("backward"), 2);
  close(total("optimizer"), 0.5);
  // Each module's forward share follows its size (the tied head counts the embedding again).
  const numel = small.modules.map((m) => m.tensors.reduce((s, t) => s + small.tensors[t].numel, 0));
  const all = numel.reduce((a, b) => a + b, 0);
  const forward = compute.filter((a) => a.phase === "forward");
  assertEquals(forward.length, small.modules.length);
  forward.forEach((a, i) => close(a.seconds, (numel[i] / all) * 1));
  // Backward runs the modules in reverse, twice the forward time each.
  const backward = compute.filter((a) => a.phase === "backward");
  backward.forEach((a, i) => close(a.seconds, 2 * forward[forward.length - 1 - i].seconds));
});
