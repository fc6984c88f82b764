/**
 * AlignedBuffer: page alignment, pre-faulting, huge pages only when asked (--hugepages), and the
 * physical page order (zig/src/buffer.zig; --kernel_page_order).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AlignedBuffer } from "../ffi/buffer.ts";
import {
  isRoot,
  NOBODY,
  removeDir,
  runCli,
  runnableByNobody,
  stepUnless,
  tempDir,
  testUnless,
  writeRandomFile,
} from "./_helpers.ts";

const thp_policy = Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");

/** AnonHugePages (bytes) of the mapping that starts at `address`, from /proc/self/smaps. */
function anonHugeBytes(address: bigint): number {
  const smaps = Deno.readTextFileSync("/proc/self/smaps").split("\n");
  const start = address.toString(16);
  let inside = false;
  for (const line of smaps) {
    const range = line.match(/^([0-9a-f]+)-[0-9a-f]+ /);
    if (range) inside = range[1] === start;
    const huge = inside && line.match(/^AnonHugePages:\s+(\d+) kB/);
    if (huge) return Number(huge[1]) * 1024;
  }
  return 0;
}

testUnless(
  thp_policy.includes("[never]")
    ? "transparent huge pages are disabled on this machine ([never])"
    : undefined,
  "buffers use huge pages only with hugePages (as DeepSpeed's pinned buffers don't)",
  () => {
    const policy = thp_policy;
    const size = 64 << 20;
    const plain = AlignedBuffer.alloc(size);
    const huge = AlignedBuffer.alloc(size, { hugePages: true });
    try {
      assert.equal(plain.address % 4096n, 0n);
      assert.equal(plain.bytes().length, size);
      if (policy.includes("[madvise]")) {
        assert.equal(anonHugeBytes(plain.address), 0, "no huge pages unless asked");
      }
      assert.ok(anonHugeBytes(huge.address) >= size / 2, "most of the buffer on huge pages");
    } finally {
      plain.free();
      huge.free();
    }
  },
);

/** Fractions of a buffer's neighbouring page pairs in ascending and descending physical order. */
function orderOf(buf: AlignedBuffer): { up: number; down: number } {
  const o = buf.pageOrder();
  assert.ok(o !== null, "root sees physical frame numbers");
  assert.equal(o.pairs, buf.size / 4096 - 1);
  return { up: o.ascending / o.pairs, down: o.descending / o.pairs };
}

testUnless(
  isRoot() ? undefined : "physical frame numbers (/proc/self/pagemap) need root",
  "a buffer whose pages the kernel hands out reversed is put in ascending order (unless kernelPageOrder)",
  () => {
    // The allocator's free lists are LIFO: pages freed in one order come back in the other. A
    // buffer freed with its pages ascending makes the next one of its size come out reversed.
    const size = 256 << 20;
    const kernel = { kernelPageOrder: true };
    const freedAscending = () => {
      let buf = AlignedBuffer.alloc(size, kernel);
      let order = orderOf(buf);
      for (let i = 0; i < 4 && order.up <= 0.5; i++) {
        buf.free(); // one that came out reversed leaves ascending pages behind it
        buf = AlignedBuffer.alloc(size, kernel);
        order = orderOf(buf);
      }
      buf.free();
      return order;
    };
    // Control: what the kernel hands out next, kept as it is.
    const before = freedAscending();
    const control = AlignedBuffer.alloc(size, kernel);
    const kept = orderOf(control);
    control.free();
    const state = `after a freed buffer ${pct(before.up)} ascending, the kernel's order: ` +
      `${pct(kept.up)} ascending, ${pct(kept.down)} reversed`;
    freedAscending();
    const ordered = AlignedBuffer.alloc(size);
    try {
      const fixed = orderOf(ordered);
      assert.ok(fixed.down < 0.05, `reversed pairs left: ${pct(fixed.down)} (${state})`);
      // Ascending pages are the kernel's to give: only when the buffer freed before was
      // ascending (so the next one comes out reversed, and reversed chunks are what gets fixed).
      if (before.up > 0.5) {
        assert.ok(fixed.up > 0.5, `ascending pairs: ${pct(fixed.up)} (${state})`);
      }
      // The buffer is whole: every byte is there and writable.
      ordered.fillPattern(7, 0);
      assert.equal(ordered.checkPattern(7, 0), -1);
    } finally {
      ordered.free();
    }
  },
);

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

testUnless(
  isRoot() ? undefined : "physical frame numbers (/proc/self/pagemap) need root",
  "-v reports the buffer's page order, and --kernel_page_order is in the config",
  async () => {
    const dir = tempDir();
    try {
      const file = join(dir, "r.bin");
      writeRandomFile(file, 8 << 20);
      const args = ["--read_file", file, "--block_size", "1M", "--queue_depth", "4", "-v"];
      const plain = await runCli([...args, "--json", join(dir, "a.json")]);
      assert.equal(plain.code, 0, plain.stderr);
      const line =
        /tid 0: pre-task done in [0-9.]+ sec, buffer pages in physical order ([0-9.]+)% \(reversed ([0-9.]+)%\)/
          .exec(plain.stdout + plain.stderr);
      assert.ok(line, plain.stdout + plain.stderr);
      // An 8 MiB buffer is mostly what the per-CPU lists held: its order is shown, not fixed to
      // a bound here (the 256 MiB test above bounds it).
      const [up, down] = [Number(line[1]), Number(line[2])];
      assert.ok(up >= 0 && down >= 0 && up + down <= 100, line[0]);
      const a = JSON.parse(Deno.readTextFileSync(join(dir, "a.json")));
      assert.equal(a.config.kernel_page_order, false);
      const kernel = await runCli([...args, "--kernel_page_order", "--json", join(dir, "b.json")]);
      assert.equal(kernel.code, 0, kernel.stderr);
      assert.match(kernel.stdout, /kernel page order/);
      const b = JSON.parse(Deno.readTextFileSync(join(dir, "b.json")));
      assert.equal(b.config.kernel_page_order, true);
    } finally {
      removeDir(dir);
    }
  },
);

Deno.test("as another user the page order can't be seen: the run works, -v says nothing of it", async (t) => {
  const nobody = runnableByNobody();
  const reason = typeof nobody === "string" ? nobody : undefined;
  await stepUnless(t, reason, "read as nobody with -v", async () => {
    if (typeof nobody === "string") return;
    const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_order_" });
    try {
      Deno.chmodSync(dir, 0o755);
      const file = join(dir, "r.bin");
      writeRandomFile(file, 4 << 20);
      Deno.chmodSync(file, 0o644);
      const as = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];
      const r = await runCli(["--read_file", file, "--block_size", "1M", "-v"], {
        ...nobody.cli,
        prefix: as,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /E2E Read Speed = /);
      assert.match(r.stdout + r.stderr, /tid 0: pre-task done in [0-9.]+ sec\n/);
      assert.doesNotMatch(r.stdout + r.stderr, /physical order/);
    } finally {
      removeDir(dir);
      nobody.cleanup();
    }
  });
});
