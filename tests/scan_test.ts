/** The generic argv scanner (lib/cli/scan.ts), on a small table of its own. */
import assert from "node:assert/strict";
import { findCommand, scanArgv, type ScanSpec } from "../lib/cli/scan.ts";
import { UsageError } from "../lib/common/size.ts";

const specs: ScanSpec[] = [
  { name: "size", kind: "value", example: "1M" },
  { name: "mapping", kind: "values", example: "A:0" },
  { name: "fast", kind: "switch", short: "f" },
  { name: "modes", kind: "switch_or_list" },
];
const unknown = (token: string): never => {
  throw new UsageError(`unknown ${token}`);
};
const scan = (argv: string[]) => scanArgv(argv, { specs, unknown });
const values = (argv: string[]) => scan(argv).flags.map((f) => [f.spec.name, f.value]);

Deno.test("scanArgv", async (t) => {
  await t.step("one value, inline or next; kebab-case and case-insensitive names", () => {
    assert.deepEqual(values(["--size", "1M", "--SIZE=2M"]), [["size", "1M"], ["size", "2M"]]);
  });
  await t.step("nargs='+': every word up to the next flag, each its own occurrence", () => {
    assert.deepEqual(values(["--mapping", "A:0", "B:1", "--fast"]), [
      ["mapping", "A:0"],
      ["mapping", "B:1"],
      ["fast", true],
    ]);
    assert.deepEqual(values(["--mapping=A:0"]), [["mapping", "A:0"]]);
    assert.throws(
      () => scan(["--mapping", "--fast"]),
      /--mapping needs a value, e.g. --mapping A:0/,
    );
    assert.throws(() => scan(["--no-mapping"]), /not an on\/off switch/);
  });
  await t.step("switches: bare, negated, =value, short", () => {
    assert.deepEqual(values(["--fast", "--no-fast", "--fast=off", "-f"]), [
      ["fast", true],
      ["fast", false],
      ["fast", false],
      ["fast", true],
    ]);
  });
  await t.step("switch or list", () => {
    assert.deepEqual(values(["--modes", "on,off", "--modes"]), [["modes", "on,off"], [
      "modes",
      true,
    ]]);
  });
  await t.step("words and --", () => {
    const s = scan(["a", "--fast", "b", "--", "--size"]);
    assert.deepEqual(s.positional, ["a", "b"]);
    assert.deepEqual(s.positionalIndex, [0, 2]);
    assert.deepEqual(s.rest, ["--size"]);
  });
  await t.step("unknown flags go to the caller", () => {
    assert.throws(() => scan(["--nope"]), /unknown --nope/);
  });
});

Deno.test("findCommand skips the words that flags take", () => {
  const options = { commands: ["run", "sweep"] as const, fallback: "run" as const, specs };
  assert.deepEqual(findCommand(["--size", "sweep"], options).command, "run");
  assert.deepEqual(findCommand(["--mapping", "A:0", "sweep", "x"], options).command, "run");
  assert.deepEqual(findCommand(["--mapping", "A:0", "--fast", "sweep"], options).index, 3);
  assert.equal(findCommand(["sweep", "-h"], options).help, true);
});
