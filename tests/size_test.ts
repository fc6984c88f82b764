import assert from "node:assert/strict";
import {
  formatBytesHuman,
  formatSize,
  parseDuration,
  parseList,
  parseSize,
  showValue,
  UsageError,
} from "../lib/common/size.ts";

function assertUsage(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "message is one line");
    for (const part of parts) {
      assert.ok(error.message.includes(part), `"${error.message}" should mention "${part}"`);
    }
    return true;
  });
}

Deno.test("parseSize", async (t) => {
  await t.step("plain bytes and every suffix spelling", () => {
    const cases: Array<[string, number]> = [
      ["4096", 4096],
      ["1", 1],
      ["1K", 1024],
      ["1k", 1024],
      ["1KB", 1024],
      ["1kib", 1024],
      ["1KiB", 1024],
      ["128K", 131072],
      ["1M", 1048576],
      ["1MB", 1048576],
      ["1MiB", 1048576],
      ["8m", 8388608],
      ["1G", 1073741824],
      ["1GiB", 1073741824],
      ["2T", 2 * 2 ** 40],
      ["1tb", 2 ** 40],
      ["4096B", 4096],
      ["1.5M", 1572864],
      ["0.5K", 512],
      [" 1M ", 1048576],
      ["1 M", 1048576],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text, "--block_size"), bytes, text);
  });

  await t.step("fractions must give whole bytes", () => {
    assertUsage(() => parseSize("1.1K", "--io_size"), "--io_size", "1.1K", "whole number of bytes");
    assertUsage(() => parseSize("0.3", "--io_size"), "--io_size", "0.3");
  });

  await t.step("garbage is rejected with the flag named", () => {
    for (
      const text of ["abc", "1X", "M", "1..5M", "1e6", "0x10", "1M1", "NaN", "Infinity", "1,5M"]
    ) {
      assertUsage(() => parseSize(text, "--block_size"), "--block_size", "is not a size");
    }
    assertUsage(() => parseSize("", "--block_size"), "--block_size needs a size");
  });

  await t.step("negative and zero", () => {
    assertUsage(() => parseSize("-1M", "--io_size"), "--io_size -1M is negative");
    assertUsage(() => parseSize("0", "--io_size"), "--io_size 0 must be more than zero");
    assertUsage(() => parseSize("0K", "--io_size"), "more than zero");
    assert.equal(parseSize("0", { flag: "--io_size", allowZero: true }), 0);
  });

  await t.step("overflow beyond 2^53-1 is a clear error", () => {
    assert.equal(parseSize(String(Number.MAX_SAFE_INTEGER), "--io_size"), Number.MAX_SAFE_INTEGER);
    assertUsage(() => parseSize("9007199254740992", "--io_size"), "--io_size", "too large");
    assertUsage(() => parseSize("8192T", "--io_size"), "too large");
    assertUsage(() => parseSize("99999999999999999999999999G", "--io_size"), "too large");
    assertUsage(() => parseSize("9".repeat(500), "--io_size"), "--io_size", "is not a size");
  });

  await t.step("values with control characters stay on one line", () => {
    assertUsage(() => parseSize("1\nM", "--block_size"), "--block_size", "\\u000a");
  });
});

Deno.test("formatSize picks the largest exact binary unit", () => {
  assert.equal(formatSize(1048576), "1M");
  assert.equal(formatSize(8 * 1048576), "8M");
  assert.equal(formatSize(131072), "128K");
  assert.equal(formatSize(1 << 30), "1G");
  assert.equal(formatSize(2 ** 40), "1T");
  assert.equal(formatSize(4096), "4K");
  assert.equal(formatSize(1536), "1536");
  assert.equal(formatSize(1000), "1000");
  assert.equal(formatSize(0), "0");
  assert.equal(formatSize(1572864), "1536K");
  assert.throws(() => formatSize(-1), RangeError);
  for (const text of ["128K", "1M", "8M", "1G", "4095", "3T"]) {
    assert.equal(formatSize(parseSize(text, "--x")), text, "round trip");
  }
});

Deno.test("formatBytesHuman", () => {
  assert.equal(formatBytesHuman(1610612736), "1.50 GiB");
  assert.equal(formatBytesHuman(512), "512 B");
  assert.equal(formatBytesHuman(1024), "1.00 KiB");
  assert.equal(formatBytesHuman(1048576 * 3.25), "3.25 MiB");
  assert.equal(formatBytesHuman(2 ** 40), "1.00 TiB");
});

Deno.test("parseDuration", async (t) => {
  await t.step("units", () => {
    assert.equal(parseDuration("10", "--runtime"), 10);
    assert.equal(parseDuration("10s", "--runtime"), 10);
    assert.equal(parseDuration("500ms", "--runtime"), 0.5);
    assert.equal(parseDuration("2m", "--runtime"), 120);
    assert.equal(parseDuration("1h", "--runtime"), 3600);
    assert.equal(parseDuration("1.5s", "--runtime"), 1.5);
    assert.equal(parseDuration("0", { flag: "--ramp_time", allowZero: true }), 0);
  });
  await t.step("errors name the flag", () => {
    assertUsage(() => parseDuration("soon", "--runtime"), "--runtime soon is not a duration");
    assertUsage(() => parseDuration("-5s", "--runtime"), "--runtime -5s is negative");
    assertUsage(() => parseDuration("0s", "--runtime"), "--runtime 0s must be more than zero");
    assertUsage(() => parseDuration("200h", "--runtime"), "--runtime 200h is too long");
    assertUsage(() => parseDuration("", "--runtime"), "--runtime needs a duration");
  });
});

Deno.test("parseList", async (t) => {
  const sizes = (text: string) => parseList(text, (item) => parseSize(item, "--block_size"));
  await t.step("comma lists keep order and drop repeats", () => {
    assert.deepEqual(sizes("128K,1M,8M"), [131072, 1048576, 8388608]);
    assert.deepEqual(sizes("1M, 8M"), [1048576, 8388608]);
    assert.deepEqual(sizes("1M,1024K"), [1048576]);
  });
  await t.step("an empty item is an error naming the flag", () => {
    assertUsage(() => sizes("1M,,8M"), "--block_size");
    assertUsage(() => sizes("1M,"), "--block_size");
  });
});

Deno.test("showValue keeps messages on one line", () => {
  assert.equal(showValue("1M"), "1M");
  assert.equal(showValue(""), '""');
  assert.equal(showValue("a b"), '"a b"');
  assert.equal(showValue("a\nb"), '"a\\u000ab"');
  assert.ok(showValue("x".repeat(1000)).length < 60);
  assert.ok(!showValue("\u2028").includes("\u2028"));
  assert.equal(showValue("\ud800"), '"\\ud800"');
});
