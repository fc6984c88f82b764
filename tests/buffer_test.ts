/** AlignedBuffer: page alignment, pre-faulting, and huge pages only when asked (--hugepages). */
import assert from "node:assert/strict";
import { AlignedBuffer } from "../ffi/buffer.ts";
import { testUnless } from "./_helpers.ts";

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
