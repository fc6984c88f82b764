/**
 * Lists that exist in both languages agree: engines, request modes, queue depth and io_parallel
 * limits, the io_uring-only flags (TypeScript: ffi/symbols.ts and lib/common/limits.ts; Zig:
 * zig/src/handle.zig and root.zig, read through aiob_table_name/aiob_table_value).
 */
import assert from "node:assert/strict";
import { AioError } from "../ffi/errors.ts";
import { AioHandle, type NativeEngine } from "../ffi/handle.ts";
import { native } from "../ffi/native.ts";
import { ENGINE, MODE } from "../ffi/symbols.ts";
import { engines, io_uring_only, limits, workloads } from "../lib/common/limits.ts";
import { defaultConfig } from "../lib/run/config.ts";
import { chooseEngine } from "../lib/run/run.ts";
import { UsageError } from "../lib/common/size.ts";

const TABLE_ENGINES = 0, TABLE_MODES = 1;
const VALUE_QUEUE_DEPTH_MAX = 0, VALUE_IO_PARALLEL_MAX = 1, VALUE_IO_URING_ONLY = 2;

/** Every name of a native table, in order. */
function nativeNames(table: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < 64; i++) {
    const pointer = native().aiob_table_name(table, i);
    if (pointer === null) return names;
    names.push(Deno.UnsafePointerView.getCString(pointer));
  }
  throw new Error(`native table ${table} has no end`);
}

Deno.test("TypeScript and Zig tables agree", async (t) => {
  await t.step("engines: names and numbers", () => {
    const zig = nativeNames(TABLE_ENGINES);
    assert.deepEqual(zig, Object.keys(ENGINE));
    zig.forEach((name, i) => assert.equal(ENGINE[name as keyof typeof ENGINE], i));
    assert.deepEqual(engines, ["auto", ...zig]);
  });
  await t.step("request modes (the workloads): names and numbers", () => {
    const zig = nativeNames(TABLE_MODES);
    assert.deepEqual(zig, Object.keys(MODE));
    zig.forEach((name, i) => assert.equal(MODE[name as keyof typeof MODE], i));
    assert.deepEqual(workloads, zig);
  });
  await t.step("limits: queue depth and io_parallel", () => {
    assert.equal(native().aiob_table_value(VALUE_QUEUE_DEPTH_MAX), BigInt(limits.queueDepth[1]));
    assert.equal(native().aiob_table_value(VALUE_IO_PARALLEL_MAX), BigInt(limits.ioParallel[1]));
    assert.equal(native().aiob_table_name(7, 0), null);
    assert.equal(native().aiob_table_value(99), 0n);
  });
  await t.step("the io_uring-only flags", () => {
    const bits = io_uring_only.reduce((all, o) => all | o.bit, 0n);
    assert.equal(native().aiob_table_value(VALUE_IO_URING_ONLY), bits);
  });
  await t.step("another engine refuses each io_uring-only option (none is dropped)", () => {
    const options = {
      fixedbufs: "fixedbufs",
      registerfiles: "registerfiles",
      sqthreadPoll: "sqthreadPoll",
      hipri: "hipri",
      nonvectored: "nonvectored",
    } as const;
    for (const { key } of io_uring_only) {
      for (const engine of ["libaio", "psync"] as const) {
        assert.throws(
          () => new AioHandle({ blockSize: 4096, queueDepth: 4, engine, [options[key]]: true }),
          (e: unknown) => e instanceof AioError && e.code === "EINVAL",
          `${engine} with ${key}`,
        );
      }
      new AioHandle({ blockSize: 4096, queueDepth: 4, [options[key]]: key !== "sqthreadPoll" })
        .close();
    }
  });
});

Deno.test("auto without io_uring: io_uring options are refused by name, never dropped", async (t) => {
  const noUring = (engine: NativeEngine) =>
    engine === "io_uring" ? new AioError(1, { op: "io_uring_setup" }) : null;
  for (const { key, flag } of io_uring_only) {
    await t.step(flag, () => {
      const config = { ...defaultConfig(), [key]: true };
      assert.throws(
        () => chooseEngine(config, noUring),
        (e: unknown) =>
          e instanceof UsageError && e.message.includes(`so ${flag} can't be used`) &&
          e.message.includes("enable io_uring"),
      );
    });
  }
  await t.step("without them, auto falls back to libaio with the reason", () => {
    const choice = chooseEngine(defaultConfig(), noUring);
    assert.equal(choice.engine, "libaio");
    assert.match(choice.reason, /^io_uring unavailable \(EPERM.*\); using libaio$/);
  });
});
