/** The option table is the one source of truth: help states the defaults the parser really uses. */
import assert from "node:assert/strict";
import { helpText } from "../lib/cli/help.ts";
import { type AnyOption, bench_commands, type Command, sources } from "../lib/cli/option.ts";
import { bench_options } from "../lib/cli/options.ts";
import { parseArgs } from "../lib/cli/parse.ts";
import { option_table } from "../lib/cli/table.ts";
import { completeConfig, defaultConfig, libraryConfig } from "../lib/run/config.ts";
import type { BenchConfig } from "../lib/common/types.ts";
import { axis_options, expandSweep, parseAxis } from "../lib/sweep/grid.ts";

/** Each `--name ... (default: X)` line of a help text: the option and X. */
function statedDefaults(command: Command): Array<{ def: AnyOption; text: string }> {
  const found = [];
  for (const line of helpText(command).split("\n")) {
    const name = line.match(/^\s+(?:-\w, )?--(\w+)/)?.[1];
    const text = line.match(/\(default: (.*)\)$/)?.[1];
    if (name === undefined || text === undefined) continue;
    const def = option_table.find((d) => d.name === name);
    assert.ok(def, `help of ${command} lists --${name}, which is not in the table`);
    found.push({ def, text: text.replace(/, or \$\w+$/, "") });
  }
  return found;
}

/** The config (and option values) a command line of `command` gets from `source`. */
function parsedFor(command: Command, source: string) {
  const target = source === "default_run"
    ? []
    : source === "ds_io"
    ? ["--folder", "/mnt/nvme0"]
    : ["--write_file", "/mnt/nvme0/out"];
  const gpu = ["--gpu"]; // so options that need --gpu get their defaults
  return parseArgs([command, ...target, ...gpu]);
}

function realValue(command: Command, def: AnyOption, source: string): unknown {
  const parsed = parsedFor(command, source);
  if (command === "sweep" && def.axis !== undefined) {
    return parsed.sweep?.[def.key as keyof typeof parsed.sweep];
  }
  if (def.key !== undefined) return parsed.config?.[def.key];
  return parsed.options?.[def.name];
}

Deno.test("help's stated defaults are the parser's defaults", async (t) => {
  // doctor takes no measuring options: its help states no defaults.
  for (const command of bench_commands.filter((c) => c !== "doctor")) {
    await t.step(command, () => {
      const stated = statedDefaults(command);
      assert.ok(stated.length >= 5, `${command} help states defaults`);
      let checked = 0;
      for (const { def, text } of stated) {
        if (def.defaultText !== undefined && def.default === undefined) continue; // words
        const [base, ...variants] = text.split("; ");
        const axis = command === "sweep" && def.axis !== undefined;
        const parse = (value: string) =>
          axis ? parseAxis(def, value, `--${def.name}`) : def.type.parse(value, `--${def.name}`);
        assert.deepEqual(
          realValue(command, def, "ds_aio"),
          parse(base),
          `${command} --${def.name}`,
        );
        for (const variant of variants) {
          const source = sources.find((s) => variant.endsWith(` ${s.label}`));
          assert.ok(source, `${command} --${def.name}: "${variant}" names no source`);
          const value = variant.slice(0, -source.label.length - 1);
          assert.deepEqual(
            realValue(command, def, source.name),
            parse(value),
            `${command} --${def.name} ${source.label}`,
          );
        }
        checked += 1;
      }
      assert.ok(checked >= 5, `${command}: ${checked} defaults checked`);
    });
  }
  await t.step("every option with a default that sets something says so", () => {
    for (const def of option_table) {
      if (def.default === undefined || def.default === false) continue;
      for (const command of def.commands) {
        const line = helpText(command).split("\n").find((l) =>
          new RegExp(`^\\s+(-\\w, )?--${def.name}\\b`).test(l)
        );
        assert.ok(line?.includes("(default: "), `${command} --${def.name}: ${line}`);
      }
    }
  });
  await t.step("the sweep's point count in help is the grid's size", () => {
    const parsed = parseArgs(["sweep"]);
    const count = expandSweep(parsed.config!, parsed.sweep!).length;
    assert.match(helpText("sweep"), new RegExp(`default grid: ${count} points`));
    assert.equal(count, 64);
  });
  await t.step("a changed table default changes help and the parser together", () => {
    const def = bench_options.find((d) => d.name === "queue_depth")!;
    const saved = def.default;
    try {
      def.default = 48;
      assert.equal(parseArgs(["--folder", "/d"]).config?.queueDepth, 48);
      assert.match(helpText("run"), /--queue_depth N .*\(default: 48\)/);
    } finally {
      def.default = saved;
    }
  });
});

Deno.test("benchmark() starts from the command line's defaults", async (t) => {
  const cases: Array<[string[], Partial<BenchConfig>]> = [
    [[], {}],
    [["--read_file", "/mnt/nvme0/f"], { readFile: "/mnt/nvme0/f" }],
    [["--write_file", "/mnt/nvme0/w", "--io_size", "1G"], {
      writeFile: "/mnt/nvme0/w",
      ioSizeBytes: 1 << 30,
    }],
    [["--folder", "/mnt/a", "--folder", "/mnt/b", "--threads", "4"], {
      folders: ["/mnt/a", "/mnt/b"],
      threads: 4,
    }],
    [["--read_file", "/f", "--overlap_events", "--io_parallel", "2"], {
      readFile: "/f",
      overlapEvents: true,
      ioParallel: 2,
    }],
    [["--folder_to_device_mapping", "/mnt/a:1", "--gpu"], {
      folderToDeviceMapping: { "/mnt/a": 1 },
      gpu: true,
    }],
  ];
  for (const [argv, partial] of cases) {
    await t.step(argv.join(" ") || "(no arguments)", () => {
      assert.deepEqual(libraryConfig(partial), parseArgs(argv).config);
    });
  }
  await t.step("undefined fields count as not given", () => {
    assert.deepEqual(
      libraryConfig({ readFile: "/f", ioParallel: undefined }),
      libraryConfig({ readFile: "/f" }),
    );
  });
});

Deno.test("defaults come from the table", async (t) => {
  await t.step("every config default is a table default", () => {
    const cfg = defaultConfig();
    for (const def of bench_options) {
      if (def.key === undefined || def.default === undefined || def.needs !== undefined) continue;
      const expected = def.defaults?.default_run ?? def.default;
      assert.deepEqual(cfg[def.key], expected, def.name);
    }
  });
  await t.step("per-source and per-subcommand defaults", () => {
    assert.equal(completeConfig({}).overlapEvents, true);
    assert.equal(completeConfig({ readFile: "/f" }).overlapEvents, false);
    assert.equal(completeConfig({ folders: ["/d"] }, { command: "sweep" }).loops, 3);
    assert.equal(completeConfig({ writeFile: "/f" }).loops, 1);
    // ds_io's command lines get ds_io's defaults; explicit values win.
    const dsIo = completeConfig({ folders: ["/d"] });
    assert.deepEqual(
      [dsIo.loops, dsIo.warmupLoops, dsIo.overlapEvents, dsIo.ioParallel],
      [3, 1, true, 1],
    );
    const compare = completeConfig({ folders: ["/d"] }, { command: "compare" });
    assert.deepEqual([compare.loops, compare.warmupLoops, compare.ioParallel], [1, 0, undefined]);
    const given = completeConfig({ folders: ["/d"], loops: 1, overlapEvents: false });
    assert.deepEqual([given.loops, given.overlapEvents], [1, false]);
    const dsAio = completeConfig({ readFile: "/f" });
    assert.deepEqual(
      [dsAio.loops, dsAio.warmupLoops, dsAio.overlapEvents, dsAio.ioParallel],
      [1, 0, false, undefined],
    );
  });
  await t.step("options that need another get their default only with it", () => {
    assert.equal(completeConfig({}).gpuMode, undefined);
    assert.equal(completeConfig({ gpu: true }).gpuMode, "overlap");
  });
  await t.step("environment variables are read once, into the config, where they apply", () => {
    const env = (name: string) =>
      ({ AIOBENCH_GPU_MODE: "bounce", AIOBENCH_GPU_CHUNK: "8M" } as Record<string, string>)[name];
    assert.equal(completeConfig({ gpu: true }, { env }).gpuMode, "bounce");
    assert.equal(
      completeConfig({ gpu: true }, { env }).gpuChunkBytes,
      undefined,
      "bounce: no chunk",
    );
    assert.equal(completeConfig({}, { env }).gpuMode, undefined, "without --gpu it is ignored");
    const overlap = completeConfig({ gpu: true, gpuMode: "overlap" }, { env });
    assert.equal(overlap.gpuChunkBytes, 8 << 20);
    assert.equal(completeConfig({ gpu: true, gpuMode: "overlap" }).gpuChunkBytes, undefined);
  });
  await t.step("the sweep axes are the table's axis options, in grid order", () => {
    assert.deepEqual(axis_options.map((d) => d.name), [
      "block_size",
      "queue_depth",
      "overlap_events",
      "single_submit",
      "io_parallel",
    ]);
  });
});
