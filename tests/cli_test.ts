import assert from "node:assert/strict";
import { closest } from "../lib/cli/scan.ts";
import { commands } from "../lib/cli/option.ts";
import { helpText } from "../lib/cli/help.ts";
import { option_table } from "../lib/cli/table.ts";
import { parseArgs, type ParsedCommand, UsageError } from "../lib/cli/parse.ts";
import { expandSweep } from "../lib/sweep/grid.ts";
import { configToJson, defaultConfig, validateConfig } from "../lib/run/config.ts";
import type { BenchConfig } from "../lib/common/types.ts";

const M = 1 << 20;

function config(argv: string[]): BenchConfig {
  const parsed = parseArgs(argv);
  assert.ok(parsed.config, `no config for ${argv.join(" ")}`);
  return parsed.config;
}

function assertUsage(argv: string[], ...parts: string[]): string {
  let message = "";
  assert.throws(() => parseArgs(argv), (error: unknown) => {
    assert.ok(
      error instanceof UsageError,
      `expected UsageError for ${argv.join(" ")}, got ${error}`,
    );
    message = error.message;
    return true;
  });
  assert.ok(!message.includes("\n"), `one line: ${message}`);
  for (const part of parts) {
    assert.ok(message.includes(part), `"${message}" should mention "${part}"`);
  }
  return message;
}

Deno.test("defaults", async (t) => {
  await t.step("no arguments is the default run", () => {
    const parsed = parseArgs([]);
    assert.equal(parsed.command, "run");
    const cfg = config([]);
    assert.equal(cfg.defaultRun, true);
    assert.equal(cfg.defaultDir, Deno.cwd());
    assert.deepEqual(cfg.workloads, ["write", "read"]);
    assert.equal(cfg.overlapEvents, true);
    assert.equal(cfg.blockSizeBytes, M);
    assert.equal(cfg.queueDepth, 32);
    assert.equal(cfg.threads, 1);
    assert.equal(cfg.ioParallel, undefined);
    assert.equal(cfg.loops, 1);
    assert.equal(cfg.warmupLoops, 0);
    assert.equal(cfg.engine, "auto");
    assert.equal(cfg.latency, true);
    assert.equal(cfg.rwmixread, 50);
    assert.equal(cfg.singleSubmit, false);
    assert.equal(cfg.validate, false);
    assert.deepEqual(cfg.folders, []);
  });
  await t.step("explicit run word gives the same config", () => {
    assert.deepEqual(config(["run"]), config([]));
  });
  await t.step("defaultConfig is valid and equals the empty run", () => {
    assert.deepEqual(validateConfig(defaultConfig()), config([]));
  });
  await t.step("a target turns the default run off and overlap_events back to off", () => {
    const cfg = config(["--read_file", "/data/f"]);
    assert.equal(cfg.defaultRun, false);
    assert.equal(cfg.defaultDir, undefined);
    assert.equal(cfg.overlapEvents, false);
    assert.equal(config(["--read_file", "/f", "--overlap_events"]).overlapEvents, true);
    assert.equal(config(["--no-overlap_events"]).overlapEvents, false);
  });
});

Deno.test("names: aliases, kebab-case, = forms", async (t) => {
  await t.step("snake, kebab, = and space forms agree", () => {
    for (
      const argv of [
        ["--block_size", "8M"],
        ["--block-size", "8M"],
        ["--block_size=8M"],
        ["--block-size=8M"],
        ["--BLOCK_SIZE", "8M"],
      ]
    ) {
      assert.equal(config(argv).blockSizeBytes, 8 * M, argv.join(" "));
    }
  });
  await t.step("--write_size is --io_size; --multi_process is --threads", () => {
    assert.equal(config(["--folder", "/d", "--io_size", "1G"]).ioSizeBytes, 1 << 30);
    assert.equal(config(["--folder", "/d", "--write_size", "1G"]).ioSizeBytes, 1 << 30);
    assert.equal(config(["--folder", "/d", "--write-size=2G"]).ioSizeBytes, 2 * 2 ** 30);
    assert.equal(config(["--threads", "4"]).threads, 4);
    assert.equal(config(["--multi_process", "8"]).threads, 8);
    assert.equal(config(["--multi-process=8"]).threads, 8);
  });
  await t.step("every option in the table parses in snake and kebab form", () => {
    for (const spec of option_table) {
      const command = spec.commands[0];
      const names = [spec.name, ...(spec.aliases ?? [])];
      for (const name of names) {
        for (const spelled of [name, name.replaceAll("_", "-")]) {
          const value = spec.type.kind === "switch" ? [] : [spec.example ?? "x"];
          const argv = [command, `--${spelled}`, ...value, ...needs(spec.name)];
          assert.doesNotThrow(() => parseArgs(argv), argv.join(" "));
        }
      }
    }
  });
  await t.step("-v is --verbose", () => {
    assert.equal(config(["-v"]).verbose, true);
    assert.equal(config(["--verbose"]).verbose, true);
  });
  await t.step("the subcommand may follow flags", () => {
    assert.equal(parseArgs(["--block_size", "1M", "sweep"]).command, "sweep");
    assert.equal(parseArgs(["--json", "-", "doctor"]).command, "doctor");
    assert.equal(parseArgs(["--verbose", "compare"]).command, "compare");
  });
  await t.step("values that start with a dash", () => {
    assert.equal(config(["--json", "-"]).json, "-");
    assert.equal(config(["--read_file=-odd"]).readFile, "-odd");
  });
});

/** Flags an option needs alongside it to make a valid config. */
function needs(name: string): string[] {
  const extra: Record<string, string[]> = {
    sqthread_poll_cpu: ["--sqthread_poll"],
    time_based: ["--runtime", "1s"],
    use_gds: ["--gpu"],
    gpu_mode: ["--gpu"],
    gpu_chunk: ["--gpu"],
    read: ["--folder", "/d"],
    different_file_each_iteration: ["--folder", "/d"],
    slow_bounce_buffer: ["--gpu"],
    rw: ["--io_size", "1G"],
    rwmixread: ["--rw", "randrw", "--io_size", "1G"],
  };
  return extra[name] ?? [];
}

Deno.test("switch forms", async (t) => {
  const on = ["--validate", "--validate=true", "--validate=on", "--validate=1", "--validate=YES"];
  const off = [
    "--no-validate",
    "--no_validate",
    "--validate=false",
    "--validate=off",
    "--validate=0",
    "--validate=no",
    "--no-validate=true",
  ];
  await t.step("on", () => {
    for (const flag of on) assert.equal(config([flag]).validate, true, flag);
  });
  await t.step("off", () => {
    for (const flag of off) assert.equal(config(["--validate", flag]).validate, false, flag);
  });
  await t.step("last one wins", () => {
    assert.equal(config(["--validate", "--no-validate"]).validate, false);
    assert.equal(config(["--no-validate", "--validate"]).validate, true);
    assert.equal(config(["--queue_depth", "8", "--queue_depth", "64"]).queueDepth, 64);
  });
  await t.step("--no_latency and --sequential_requests", () => {
    assert.equal(config(["--no_latency"]).latency, false);
    assert.equal(config(["--no-latency"]).latency, false);
    assert.equal(config(["--latency"]).latency, true);
    assert.equal(config(["--sequential_requests"]).overlapEvents, false);
    assert.equal(config(["--sequential-requests"]).overlapEvents, false);
  });
  await t.step("--handle is accepted and changes nothing", () => {
    assert.deepEqual(config(["--handle"]), config([]));
  });
  await t.step("bad switch values name the flag", () => {
    assertUsage(["--validate=maybe"], "--validate=maybe", "--no-validate");
    assertUsage(["--validate", "true"], "unexpected argument true", "--validate=true");
    const stray = assertUsage(["--validate", "/x"], "unexpected argument /x");
    assert.ok(!stray.includes("--validate=/x"), stray);
    assertUsage(["--validate=on,off"], "lists are for aiobench sweep");
    assertUsage(["--validate=constructor"], "--validate=constructor is not on or off");
  });
});

Deno.test("run options map onto BenchConfig", () => {
  const cfg = config([
    "--folder",
    "/mnt/a",
    "--folder",
    "/mnt/b",
    "--io_size",
    "4G",
    "--block_size",
    "128K",
    "--queue_depth",
    "128",
    "--threads",
    "8",
    "--single_submit",
    "--overlap_events",
    "--io_parallel",
    "4",
    "--loops",
    "3",
    "--warmup_loops",
    "2",
    "--include_warmup_time",
    "--validate",
    "--force",
    "--keep",
    "--json",
    "out.json",
    "--engine",
    "io_uring",
    "--mlock",
    "--fixedbufs",
    "--registerfiles",
    "--sqthread_poll",
    "--sqthread_poll_cpu",
    "3",
    "--hipri",
    "--nonvectored",
    "--seed",
    "7",
    "--runtime",
    "2m",
    "--time_based",
    "--ramp_time",
    "500ms",
    "--log_interval",
    "1s",
    "--gpu",
    "--gpu_id",
    "1",
    "--use_gds",
    "--use_accelerator_pin_memory",
  ]);
  assert.deepEqual(cfg.folders, ["/mnt/a", "/mnt/b"]);
  assert.deepEqual(cfg.workloads, ["write"]);
  assert.equal(cfg.ioSizeBytes, 4 * 2 ** 30);
  assert.equal(cfg.blockSizeBytes, 128 * 1024);
  assert.equal(cfg.queueDepth, 128);
  assert.equal(cfg.threads, 8);
  assert.equal(cfg.singleSubmit, true);
  assert.equal(cfg.overlapEvents, true);
  assert.equal(cfg.ioParallel, 4);
  assert.equal(cfg.loops, 3);
  assert.equal(cfg.warmupLoops, 2);
  assert.equal(cfg.includeWarmupTime, true);
  assert.equal(cfg.validate && cfg.force && cfg.keep, true);
  assert.equal(cfg.json, "out.json");
  assert.equal(cfg.engine, "io_uring");
  assert.equal(cfg.mlock && cfg.fixedbufs && cfg.registerfiles && cfg.sqthreadPoll, true);
  assert.equal(cfg.sqthreadPollCpu, 3);
  assert.equal(cfg.hipri && cfg.nonvectored, true);
  assert.equal(cfg.seed, 7);
  assert.equal(cfg.runtimeS, 120);
  assert.equal(cfg.timeBased, true);
  assert.equal(cfg.rampTimeS, 0.5);
  assert.equal(cfg.logIntervalS, 1);
  assert.equal(cfg.gpu && cfg.useGds && cfg.useAcceleratorPinMemory, true);
  assert.equal(cfg.gpuId, 1);
  assert.equal(config(["--buffered", "--block_size", "1000"]).blockSizeBytes, 1000);
  assert.equal(config(["--engine", "io-uring"]).engine, "io_uring");
  assert.equal(config(["--engine", "PSYNC"]).engine, "psync");
  assert.equal(config(["--io_parallel", "1"]).ioParallel, 1);
});

Deno.test("workloads", async (t) => {
  await t.step("targets pick the workload", () => {
    assert.deepEqual(config(["--read_file", "/f"]).workloads, ["read"]);
    assert.deepEqual(config(["--write_file", "/f"]).workloads, ["write"]);
    assert.deepEqual(config(["--folder", "/d"]).workloads, ["write"]);
    assert.deepEqual(config(["--folder", "/d", "--read"]).workloads, ["read"]);
    assert.deepEqual(config([]).workloads, ["write", "read"]);
  });
  await t.step("--rw overrides", () => {
    assert.deepEqual(config(["--read_file", "/f", "--rw", "randread"]).workloads, ["randread"]);
    assert.deepEqual(
      config(["--write_file", "/f", "--rw", "randwrite", "--io_size", "1G"]).workloads,
      ["randwrite"],
    );
    const mixed = config([
      "--folder",
      "/d",
      "--rw",
      "randrw",
      "--io_size",
      "1G",
      "--rwmixread",
      "70",
    ]);
    assert.deepEqual(mixed.workloads, ["randrw"]);
    assert.equal(mixed.rwmixread, 70);
    assert.deepEqual(config(["--rw", "read"]).workloads, ["read"]);
  });
  await t.step("random workloads need a known size", () => {
    assertUsage(["--folder", "/d", "--rw", "randread"], "--rw randread", "--io_size");
    assertUsage(["--rw", "randrw"], "--rw randrw", "--io_size");
  });
  await t.step("a read file can't be written", () => {
    assertUsage(["--read_file", "/f", "--rw", "write"], "--rw write", "--read_file");
    assertUsage(["--read_file", "/f", "--rw", "randrw"], "--rw randrw", "--read_file");
  });
  await t.step("--read needs --folder and a read --rw", () => {
    assertUsage(["--read"], "--read needs --folder");
    assertUsage(["--folder", "/d", "--read", "--rw", "write"], "--read and --rw write");
  });
  await t.step("--folder_to_device_mapping supplies folders", () => {
    const cfg = config([
      "--folder_to_device_mapping",
      "/mnt/a:0",
      "--folder_to_device_mapping",
      "/mnt/b:1",
    ]);
    assert.deepEqual(cfg.folders, ["/mnt/a", "/mnt/b"]);
    assert.deepEqual(cfg.folderToDeviceMapping, { "/mnt/a": 0, "/mnt/b": 1 });
    assertUsage(["--folder_to_device_mapping", "/mnt/a"], "--folder_to_device_mapping", "DIR:GPU");
    assertUsage(["--folder_to_device_mapping", "/mnt/a:x"], "--folder_to_device_mapping");
  });
});

Deno.test("errors name the flag and the fix", async (t) => {
  await t.step("ranges", () => {
    assertUsage(["--queue_depth", "0"], "--queue_depth 0 is out of range: use 1..4096");
    assertUsage(["--queue_depth", "4097"], "--queue_depth 4097", "1..4096");
    assertUsage(["--queue_depth", "-3"], "--queue_depth -3", "1..4096");
    assertUsage(["--queue_depth", "1e3"], "--queue_depth 1e3 is not a whole number");
    assertUsage(["--queue_depth", "99999999999999999999999"], "--queue_depth", "out of range");
    assertUsage(["--threads", "257"], "--threads 257", "1..256");
    assertUsage(["--multi_process", "0"], "--multi_process 0", "1..256");
    assertUsage(["--io_parallel", "0"], "--io_parallel 0", "1..64");
    assertUsage(["--io_parallel", "65"], "--io_parallel 65", "1..64");
    assertUsage(["--loops", "0"], "--loops 0");
    assertUsage(["--rwmixread", "101"], "--rwmixread 101", "0..100");
    assertUsage(["--gpu_id", "x"], "--gpu_id x");
  });
  await t.step("sizes", () => {
    assertUsage(
      ["--block_size", "1000"],
      "--block_size 1000 is not a multiple of 4096",
      "try 4K, 1M or 8M",
    );
    assertUsage(["--block_size", "2G"], "--block_size", "out of range");
    assertUsage(["--block_size", "lots"], "--block_size lots is not a size");
    assertUsage(["--io_size", "0"], "--io_size 0");
    assertUsage(["--write_size", "-1"], "--write_size");
    assertUsage(["--io_size", "9000T"], "--io_size 9000T is too large");
  });
  await t.step("missing values", () => {
    assertUsage(["--block_size"], "--block_size needs a value, e.g. --block_size 1M");
    assertUsage(["--block_size", "--queue_depth", "8"], "--block_size needs a value");
    assertUsage(["--block_size="], "--block_size needs a value");
    assertUsage(["--read_file"], "--read_file needs a value");
    assertUsage(["--block-size"], "--block_size needs a value");
  });
  await t.step("choices", () => {
    assertUsage(["--engine", "iouring"], "--engine iouring is unknown", "did you mean io_uring?");
    assertUsage(["--rw", "rand"], "--rw rand is unknown");
    assertUsage(["--runtime", "soon", "--time_based"], "--runtime soon");
  });
  await t.step("typos get the closest option", () => {
    assertUsage(["--blok_size", "1M"], "unknown option --blok_size; did you mean --block_size?");
    assertUsage(["--queue-dept", "8"], "did you mean --queue_depth?");
    assertUsage(["--valdate"], "did you mean --validate?");
    assertUsage(["--no-valdate"], "did you mean --no_validate?");
    assertUsage(["-block_size", "1M"], "unknown option -block_size; did you mean --block_size?");
    assertUsage(["--zzzzzzzzzzzzzz"], "unknown option --zzzzzzzzzzzzzz", "--help");
    assertUsage(["-x"], "unknown option -x");
    assertUsage(["--no-block_size"], "--block_size is not an on/off switch");
  });
  await t.step("options of another command", () => {
    assertUsage(["--rounds", "3"], "--rounds is not an option of aiobench run", "aiobench compare");
    assertUsage(["--objective", "read"], "--objective", "aiobench sweep");
    const owned = assertUsage(["--fio=/bin/fio"], "--fio is not an option of aiobench run");
    assert.ok(!owned.includes("/bin/fio"), owned);
    assertUsage(["sweep", "--rw", "read"], "--rw", "aiobench run");
  });
  await t.step("stray words", () => {
    assertUsage(["swep"], "unexpected argument swep; did you mean aiobench sweep?");
    assertUsage(["--folder", "/d", "extra"], "unexpected argument extra");
    assertUsage(["--", "x"], "x");
  });
});

Deno.test("contradictions", async (t) => {
  await t.step("targets", () => {
    assertUsage(
      ["--read_file", "a", "--folder_to_device_mapping", "/d:0"],
      "--folder_to_device_mapping names ds_io's folders, and --read_file names a file",
    );
    assertUsage(
      ["--read_file", "a", "--write_file", "b", "--rw", "randrw", "--io_size", "1M"],
      "--rw randrw needs one file to read and write",
    );
    assertUsage(
      ["--read_file", "a", "--folder", "d"],
      "--read_file and --folder can't be combined",
    );
    assertUsage(["--write_file", "a", "--folder", "d"], "--write_file and --folder");
  });
  await t.step("time and engine", () => {
    assertUsage(["--time_based"], "--time_based needs --runtime");
    assertUsage(["--sqthread_poll_cpu", "1"], "--sqthread_poll_cpu needs --sqthread_poll");
    for (
      const flag of [
        "--fixedbufs",
        "--registerfiles",
        "--sqthread_poll",
        "--hipri",
        "--nonvectored",
      ]
    ) {
      for (const engine of ["libaio", "psync"]) {
        assertUsage(["--engine", engine, flag], flag, `--engine ${engine}`, "io_uring");
      }
      assert.doesNotThrow(() => parseArgs(["--engine", "io_uring", flag]));
      assert.doesNotThrow(() => parseArgs([flag]));
    }
    assertUsage(["--hipri", "--buffered"], "--hipri", "--buffered");
    assertUsage(["--use_gds"], "--use_gds", "--gpu");
  });
  await t.step("allowed combinations", () => {
    assert.equal(config(["--folder", "/d", "--io_size", "5000"]).ioSizeBytes, 5000);
    assert.equal(
      config(["--folder", "/d", "--io_size", "4K", "--block_size", "1M"]).ioSizeBytes,
      4096,
    );
  });
});

Deno.test("sweep", async (t) => {
  await t.step("defaults: a grid of 64", () => {
    const parsed = parseArgs(["sweep"]);
    assert.equal(parsed.command, "sweep");
    assert.deepEqual(parsed.sweep, {
      blockSizeBytes: [M, 8 * M],
      queueDepth: [32, 128],
      overlapEvents: [true, false],
      singleSubmit: [false, true],
      ioParallel: [1, 2, 4, 8],
    });
    assert.equal(parsed.sweepOptions?.objective, "sum");
    const points = expandSweep(parsed.config!, parsed.sweep!);
    assert.equal(points.length, 64);
    const keys = new Set(
      points.map((p) =>
        [p.blockSizeBytes, p.queueDepth, p.overlapEvents, p.singleSubmit, p.ioParallel].join()
      ),
    );
    assert.equal(keys.size, 64);
    assert.deepEqual(parsed.config, points[0]);
  });
  await t.step("axis lists", () => {
    const parsed = parseArgs([
      "sweep",
      "--folder",
      "/mnt/a",
      "--block_size",
      "128K,1M,8M",
      "--queue-depth=32,128",
      "--overlap_events",
      "on,off",
      "--single_submit=off,on",
      "--io_parallel",
      "sync,1,2,4,8",
      "--objective",
      "read",
      "--config_out",
      "aio.json",
      "--report",
      "r.txt",
      "--resume",
      "s.jsonl",
      "--csv",
      "s.csv",
      "--json",
      "s.json",
      "--io_size",
      "1G",
      "--loops",
      "2",
      "--warmup_loops",
      "1",
    ]);
    const axes = parsed.sweep!;
    assert.deepEqual(axes.blockSizeBytes, [128 * 1024, M, 8 * M]);
    assert.deepEqual(axes.queueDepth, [32, 128]);
    assert.deepEqual(axes.overlapEvents, [true, false]);
    assert.deepEqual(axes.singleSubmit, [false, true]);
    assert.deepEqual(axes.ioParallel, [undefined, 1, 2, 4, 8]);
    assert.deepEqual(parsed.sweepOptions, {
      objective: "read",
      configOut: "aio.json",
      report: "r.txt",
      resume: "s.jsonl",
      csv: "s.csv",
    });
    const cfg = parsed.config!;
    assert.equal(cfg.json, "s.json");
    assert.deepEqual(cfg.folders, ["/mnt/a"]);
    assert.equal(cfg.ioSizeBytes, 1 << 30);
    assert.equal(cfg.loops, 2);
    assert.equal(cfg.warmupLoops, 1);
    assert.deepEqual(cfg.workloads, ["write", "read"]);
    const points = expandSweep(cfg, axes);
    assert.equal(points.length, 3 * 2 * 2 * 2 * 5);
    assert.equal(points[0].ioParallel, undefined);
    assert.ok(!("ioParallel" in points[0]));
  });
  await t.step("bare and negated switch axes fix one value", () => {
    assert.deepEqual(parseArgs(["sweep", "--single_submit"]).sweep?.singleSubmit, [true]);
    assert.deepEqual(parseArgs(["sweep", "--no-overlap_events"]).sweep?.overlapEvents, [false]);
    assert.equal(parseArgs(["sweep", "--single_submit", "--verbose"]).config?.verbose, true);
  });
  await t.step("objective picks workloads", () => {
    assert.deepEqual(parseArgs(["sweep", "--objective", "write"]).config?.workloads, ["write"]);
    assert.deepEqual(
      parseArgs(["sweep", "--read_file", "/f", "--objective", "read"]).config?.workloads,
      ["read"],
    );
    assertUsage(["sweep", "--read_file", "/f"], "--objective sum", "--read_file");
  });
  await t.step("axis errors name the flag", () => {
    assertUsage(["sweep", "--block_size", "1M,,8M"], "--block_size");
    assertUsage(
      ["sweep", "--block_size", "1M,1000"],
      "--block_size 1000 is not a multiple of 4096",
    );
    assertUsage(["sweep", "--queue_depth", "32,0"], "--queue_depth 0 is out of range");
    assertUsage(["sweep", "--io_parallel", "1,99"], "--io_parallel 99");
    assertUsage(["sweep", "--single_submit=on,maybe"], "--single_submit", "maybe");
    assertUsage(["sweep", "--objective", "max"], "--objective max is unknown");
    assertUsage(["sweep", "--config_out"], "--config_out needs a value");
  });
  await t.step("a grid too large is refused", () => {
    const many = Array.from({ length: 64 }, (_, i) => String(i + 1)).join(",");
    assertUsage(
      ["sweep", "--queue_depth", many, "--io_parallel", many, "--block_size", "4K,8K"],
      "points",
      "4096",
    );
  });
});

Deno.test("compare, doctor, help, version", async (t) => {
  await t.step("compare", () => {
    const parsed = parseArgs(["compare", "--read_file", "/f", "--block_size", "8M"]);
    assert.equal(parsed.command, "compare");
    assert.deepEqual(parsed.compare, { rounds: 3 });
    assert.equal(parsed.config?.blockSizeBytes, 8 * M);
    const more = parseArgs(["compare", "--rounds", "5", "--fio", "/opt/fio"]);
    assert.deepEqual(more.compare, { rounds: 5, fio: "/opt/fio" });
    assertUsage(["compare", "--rounds", "0"], "--rounds 0", "1..100");
  });
  await t.step("doctor", () => {
    const parsed: ParsedCommand = parseArgs(["doctor", "--folder", "/mnt/a"]);
    assert.equal(parsed.command, "doctor");
    assert.deepEqual(parsed.config?.folders, ["/mnt/a"]);
    assertUsage(["doctor", "--rounds", "2"], "--rounds");
    assert.deepEqual(parseArgs(["doctor", "/mnt/nvme"]).positional, ["/mnt/nvme"]);
    assert.deepEqual(parseArgs(["doctor", "--json", "-", "/mnt/nvme"]).positional, ["/mnt/nvme"]);
    assertUsage(["doctor", "/mnt/a", "/mnt/b"], "unexpected argument /mnt/b", "one PATH");
    assertUsage(["/mnt/a"], "unexpected argument /mnt/a");
  });
  await t.step("help anywhere, with a topic", () => {
    assert.deepEqual(parseArgs(["--help"]), {
      command: "help",
      helpTopic: undefined,
      positional: [],
    });
    assert.equal(parseArgs(["-h"]).command, "help");
    assert.equal(parseArgs(["sweep", "--block_size", "bad", "-h"]).helpTopic, "sweep");
    assert.equal(parseArgs(["--bogus", "--help"]).command, "help");
    assert.equal(parseArgs(["help", "compare"]).helpTopic, "compare");
    assert.equal(parseArgs(["help"]).helpTopic, undefined);
    assert.equal(parseArgs(["help", "--verbose", "x"]).helpTopic, undefined);
    assertUsage(["help", "swep"], "no help for swep; did you mean sweep?");
  });
  await t.step("version", () => {
    assert.equal(parseArgs(["version"]).command, "version");
    assert.equal(parseArgs(["--version"]).command, "version");
    assert.equal(parseArgs(["-V"]).command, "version");
  });
  await t.step("-- ends the options; nothing may follow it", () => {
    assert.deepEqual(parseArgs(["doctor", "--"]).positional, []);
    assertUsage(["doctor", "--", "--whatever"], "unexpected argument --whatever");
  });
});

Deno.test("helpText", async (t) => {
  await t.step("explains every option of each command", () => {
    for (const command of ["run", "sweep", "compare", "doctor"] as const) {
      const text = helpText(command);
      for (const spec of option_table.filter((s) => s.commands.includes(command))) {
        assert.ok(text.includes(`--${spec.name}`), `${command} help lacks --${spec.name}`);
      }
      assert.ok(text.includes(`aiobench ${command === "run" ? "" : command}`), "an example");
      assert.ok(text.includes("Examples:"));
    }
  });
  await t.step("groups, defaults, suffixes and spellings", () => {
    const text = helpText();
    for (
      const title of [
        "Target",
        "IO shape",
        "Schedule",
        "Output",
        "Safety",
        "Engine",
        "Workloads",
        "GPU",
      ]
    ) {
      assert.ok(text.includes(`${title}`), title);
    }
    assert.ok(text.includes("(default: 1M)"));
    assert.ok(text.includes("(default: 32)"));
    assert.ok(text.includes("K/M/G"));
    assert.ok(text.includes("kebab-case"));
    for (const command of commands) assert.ok(text.includes(`  ${command}`), command);
    assert.ok(helpText("sweep").includes("(default: 1M,8M)"));
    assert.ok(helpText("compare").includes("--rounds N"));
  });
});

Deno.test("configToJson", () => {
  const json = configToJson(config(["--folder", "/d", "--io_parallel", "2", "--io_size", "1G"]));
  assert.equal(json.block_size, M);
  assert.equal(json.queue_depth, 32);
  assert.equal(json.io_parallel, 2);
  assert.equal(json.io_size, 1 << 30);
  assert.deepEqual(json.folders, ["/d"]);
  const plain = configToJson(config([]));
  assert.equal(plain.io_parallel, null);
  assert.equal(plain.io_size, null);
  assert.equal(plain.threads, 1);
  assert.equal(plain.loops, 1);
  for (const key of Object.keys(plain)) assert.match(key, /^[a-z0-9_]+$/);
  assert.deepEqual(JSON.parse(JSON.stringify(plain)), plain);
});

Deno.test("closest", () => {
  assert.equal(closest("blok_size", ["block_size", "queue_depth"]), "block_size");
  assert.equal(closest("qqqqqqqq", ["block_size", "queue_depth"]), undefined);
  assert.equal(closest("x".repeat(1000), ["block_size"]), undefined);
});
