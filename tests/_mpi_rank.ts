// A rank program for tests/mpi_layer_test.ts: run under mpiexec, it drives lib/mpi/world.ts
// through one scenario and rank 0 prints one JSON line with what every rank saw.
import { MpiWorld, RankStatus } from "../lib/mpi/world.ts";

const scenario = Deno.args[0] ?? "basic";
const world = await MpiWorld.open();
const me = { rank: world.rank, size: world.size, host: world.host, abi: world.library.abi };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (scenario === "basic") {
  for (let i = 0; i < 5; i++) await world.step(RankStatus.running);
  const all = await world.allgather({ ...me, payload: "x".repeat(world.rank * 1000) });
  const worst = await world.finish(RankStatus.done);
  await world.close();
  if (world.rank === 0) {
    console.log(JSON.stringify({
      worst,
      library: world.library,
      ranks: all.map((r) => ({ ...r, payload: r.payload.length })),
    }));
  }
} else if (scenario === "notice") {
  // Rank 1 fails at once; the others are "busy" and must hear of it through the notice.
  let heardMs = -1;
  let heardFrom = -1;
  let status: number = RankStatus.done;
  if (world.rank === 1) {
    status = RankStatus.failed;
    world.announce(RankStatus.failed);
  } else {
    const t0 = performance.now();
    const heard = new Promise<void>((resolve) =>
      world.onRemoteStop((stop) => {
        heardMs = performance.now() - t0;
        heardFrom = stop.rank;
        resolve();
      })
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([heard, new Promise((resolve) => timer = setTimeout(resolve, 10_000))]);
    clearTimeout(timer);
  }
  const worst = await world.finish(status as 1 | 3);
  const all = await world.allgather({ ...me, heardMs, heardFrom });
  await world.close();
  if (world.rank === 0) console.log(JSON.stringify({ worst, ranks: all }));
} else if (scenario === "hang") {
  // Rank 1 never joins the step: the others must give up at the deadline and abort the job.
  if (world.rank === 1) await sleep(60_000);
  else await world.step(RankStatus.running);
} else if (scenario === "cost") {
  const steps = Number(Deno.args[1] ?? 2000);
  for (let i = 0; i < 100; i++) await world.step(RankStatus.running);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await world.step(RankStatus.running);
  const us = ((performance.now() - t0) * 1000) / steps;
  const all = await world.allgather(us);
  await world.finish(RankStatus.done);
  await world.close();
  if (world.rank === 0) console.log(JSON.stringify({ step_us: all, abi: world.library.abi }));
} else if (scenario === "gc") {
  // Steps whose buffers MPI holds while this rank collects garbage: rank 1 joins each step late,
  // and meanwhile rank 0 allocates and runs the garbage collector, which moves young objects.
  // What MPI writes must still land in the arrays the step reads (deno run --v8-flags=--expose-gc).
  const collect = (globalThis as { gc?: (o?: { type: string }) => void }).gc;
  if (!collect) throw new Error("needs --v8-flags=--expose-gc");
  const seen: number[][] = [];
  for (let i = 0; i < 20; i++) {
    const status = world.rank === 1 ? RankStatus.failed : RankStatus.running;
    if (world.rank === 1) await sleep(20);
    const step = world.step(status);
    if (world.rank === 0) {
      let junk: unknown[] = [];
      for (let k = 0; k < 20_000; k++) junk.push(new Int32Array(2), { k });
      collect({ type: "minor" });
      junk = [];
      collect();
    }
    const r = await step;
    seen.push([r.worst, r.best]);
  }
  await world.close();
  if (world.rank === 0) console.log(JSON.stringify({ seen }));
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
