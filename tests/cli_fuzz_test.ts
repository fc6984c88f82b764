import assert from "node:assert/strict";
import { commands } from "../lib/cli/option.ts";
import { parseArgs, UsageError } from "../lib/cli/parse.ts";
import { option_table } from "../lib/cli/table.ts";
import { expandSweep } from "../lib/sweep/grid.ts";
import { validateConfig } from "../lib/run/config.ts";
import { seededRandom } from "../lib/common/random.ts";

const fuzz_seconds = Number(Deno.env.get("AIOBENCH_FUZZ_SECONDS") ?? "3");
const fuzz_seed = Number(Deno.env.get("AIOBENCH_FUZZ_SEED") ?? "20240601");
const forbidden = ["undefined", "NaN", "[object", "Infinity"];

const flag_names = option_table.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]);
const good_values = [
  ...new Set(option_table.map((spec) => spec.example ?? "").filter((v) => v !== "")),
  "1",
  "0",
  "on",
  "off",
  "true",
  "4K",
  "1M,8M",
  "sync,1",
  "/mnt/nvme0",
  "-",
  "30s",
  "randread",
];
const bad_values = [
  "",
  " ",
  "-1",
  "-0",
  "+5",
  "1e309",
  "9".repeat(40),
  "9007199254740993",
  "1.0000001M",
  "0x10",
  "1,,2",
  ",",
  "=",
  "==",
  "--",
  "-",
  "\n",
  "a\nb",
  "\u0000",
  "\u2028",
  "ünïcødé",
  "😀",
  "\ud800",
  "1M\n",
  "__proto__",
  "constructor",
  "toString",
  "__proto__:1",
  "/a:99999",
  ":",
  "x".repeat(300),
];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function randomFlag(random: () => number): string {
  const name = pick(random, flag_names);
  const roll = random();
  const spelled = roll < 0.3 ? name.replaceAll("_", "-") : roll < 0.35 ? name.toUpperCase() : name;
  if (random() < 0.1) return `--no-${spelled}`;
  if (random() < 0.05) return `-${spelled}`;
  if (random() < 0.05) return `--${spelled.slice(0, -1)}`;
  return `--${spelled}`;
}

function randomValue(random: () => number): string {
  const roll = random();
  if (roll < 0.45) return pick(random, good_values);
  if (roll < 0.85) return pick(random, bad_values);
  const length = Math.floor(random() * 12);
  return Array.from(
    { length },
    () => String.fromCodePoint(Math.floor(random() * (random() < 0.8 ? 128 : 0x11000))),
  ).join("");
}

function randomArgv(random: () => number): string[] {
  const argv: string[] = [];
  if (random() < 0.5) argv.push(pick(random, [...commands, "swep", "RUN", ""]));
  const count = Math.floor(random() * 10);
  for (let i = 0; i < count; i++) {
    const roll = random();
    if (roll < 0.45) argv.push(randomFlag(random), randomValue(random));
    else if (roll < 0.65) argv.push(`${randomFlag(random)}=${randomValue(random)}`);
    else if (roll < 0.85) argv.push(randomFlag(random));
    else if (roll < 0.9) argv.push("--");
    else argv.push(randomValue(random));
  }
  return argv;
}

function checkOne(argv: string[]): "ok" | "usage" {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    const shown = JSON.stringify(argv);
    assert.ok(error instanceof UsageError, `${shown} threw ${error}`);
    const message = error.message;
    assert.ok(
      message.length > 0 && !message.includes("\n"),
      `${shown}: ${JSON.stringify(message)}`,
    );
    assert.ok(!message.includes("\r") && !message.includes("\u2028"), `${shown}: ${message}`);
    assert.ok(message.length < 400, `${shown}: message too long`);
    const typed = argv.join(" ");
    for (const word of forbidden) {
      assert.ok(!message.includes(word) || typed.includes(word), `${shown}: ${message}`);
    }
    return "usage";
  }
  assert.ok(commands.includes(parsed.command), JSON.stringify(argv));
  if (parsed.config !== undefined) {
    assert.doesNotThrow(
      () => validateConfig(structuredClone(parsed.config!)),
      JSON.stringify(argv),
    );
    assert.ok(Number.isSafeInteger(parsed.config.blockSizeBytes));
  }
  if (parsed.sweep !== undefined) {
    assert.ok(expandSweep(parsed.config!, parsed.sweep).length > 0);
  }
  return "ok";
}

Deno.test("fuzz: parseArgs returns a valid config or a one-line UsageError", () => {
  const random = seededRandom(fuzz_seed);
  const deadline = performance.now() + fuzz_seconds * 1000;
  const counts = { ok: 0, usage: 0 };
  let slowest_ms = 0;
  while (performance.now() < deadline) {
    const argv = randomArgv(random);
    const start = performance.now();
    counts[checkOne(argv)] += 1;
    slowest_ms = Math.max(slowest_ms, performance.now() - start);
    assert.ok(slowest_ms < 1000, `${JSON.stringify(argv)} took ${slowest_ms} ms`);
  }
  assert.ok(counts.ok > 0 && counts.usage > 0, `both outcomes seen: ${JSON.stringify(counts)}`);
});

Deno.test("fuzz: known hard inputs", () => {
  const cases = [
    ["--block_size", "9".repeat(100000)],
    ["--" + "a".repeat(100000)],
    ["--queue_depth=" + "\n".repeat(10)],
    ["--folder_to_device_mapping", "__proto__:1"],
    ["--folder_to_device_mapping", "constructor:1"],
    ["sweep", "--single_submit", "on,off,on,off"],
    ["--=1"],
    ["--validate=constructor"],
    ["--engine", "__proto__"],
    ["--no-"],
    ["--no"],
    ["-"],
    ["="],
    [""],
    ["--", "--", "--"],
    ["--read_file", "\u0000"],
    ["--json="],
    ["help", ""],
  ];
  for (const argv of cases) checkOne(argv);
});
