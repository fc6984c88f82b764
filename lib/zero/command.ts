/**
 * `aiobench zero`: the command line → settings (config, then flags) → plan → replay → report,
 * `--json`, `--report`; signals stop the replay and the swap files are removed.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { EXIT } from "../common/exit.ts";
import { detectLaunch, wantsMpi } from "../mpi/launch.ts";
import { errLine, writeLines } from "../common/output.ts";
import { formatBytesHuman, UsageError } from "../common/size.ts";
import { renderZeroReport } from "./html.ts";
import { buildModel, type Model, shapeForParams } from "./model.ts";
import type { ParsedCommand } from "../cli/parse.ts";
import { type ZeroCli, zeroCliOf } from "./options.ts";
import { planZero, type ZeroPlan } from "./plan.ts";
import { addAioTrial, planSummary, zeroDocument, zeroText } from "./report.ts";
import { checkPaths, checkSpace, rankDirs, runZero, spaceNeeds, ZeroRunFailure } from "./run.ts";
import { defaultSettings, settingsFromDsConfig, type ZeroSettings } from "./settings.ts";

/** The program version the document records (set by main.ts). */
export interface ZeroCommandOptions {
  version: string;
}

/** Settings from `--ds_config` (if any), then the flags. */
export function settingsFromCli(cli: ZeroCli): ZeroSettings {
  const s = cli.dsConfig === undefined ? defaultSettings() : readConfig(cli.dsConfig);
  if (cli.offload !== undefined || cli.dsConfig === undefined) {
    const what = cli.offload ?? "both";
    s.offloadOptimizer = what !== "param";
    s.offloadParam = what !== "optimizer";
  }
  if (cli.nvmePaths.length > 0) {
    s.optimizerPaths = [...cli.nvmePaths];
    s.paramPaths = [...cli.nvmePaths];
  } else if (cli.dsConfig !== undefined) {
    // One path in the config serves both swappers when only one of them names it.
    if (s.optimizerPaths.length === 0) s.optimizerPaths = [...s.paramPaths];
    if (s.paramPaths.length === 0) s.paramPaths = [...s.optimizerPaths];
  }
  s.worldSize = cli.ranks;
  const set = <K extends keyof ZeroSettings>(key: K, value: ZeroSettings[K] | undefined) => {
    if (value !== undefined) s[key] = value;
  };
  set("pipelineRead", cli.pipelineRead);
  set("pipelineWrite", cli.pipelineWrite);
  set("optimizerBufferCount", cli.bufferCount);
  set("subGroupSize", cli.subGroupSize);
  set("maxInCpu", cli.maxInCpu);
  set("paramBufferCount", cli.paramBufferCount);
  set("maxReuseDistance", cli.maxReuseDistance);
  set("paramDtype", cli.dtype);
  const aio = s.aio;
  if (cli.blockSizeBytes !== undefined) aio.blockSizeBytes = cli.blockSizeBytes;
  if (cli.queueDepth !== undefined) aio.queueDepth = cli.queueDepth;
  if (cli.intraOpParallelism !== undefined) aio.intraOpParallelism = cli.intraOpParallelism;
  if (cli.singleSubmit !== undefined) aio.singleSubmit = cli.singleSubmit;
  if (cli.overlapEvents !== undefined) aio.overlapEvents = cli.overlapEvents;
  if (aio.blockSizeBytes % 512 !== 0) {
    throw new UsageError(`aio block_size ${aio.blockSizeBytes} is not a multiple of 512; try 1M`);
  }
  return s;
}

function readConfig(path: string): ZeroSettings {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : String(e).split(" (os error")[0];
    throw new UsageError(`--ds_config ${path}: can't read it (${why})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return settingsFromDsConfig(json, path);
}

/** The model from --params and/or --hidden/--layers/--vocab. */
export function modelFromCli(cli: ZeroCli): Model {
  if (cli.params === undefined && (cli.hidden === undefined || cli.layers === undefined)) {
    throw new UsageError(
      "aiobench zero needs a model: --params COUNT (e.g. 70B), or --hidden N and --layers N",
    );
  }
  if (cli.params === undefined) {
    return buildModel({
      hidden: cli.hidden!,
      layers: cli.layers!,
      vocab: cli.vocab ?? 50304,
      positions: 2048,
    });
  }
  return buildModel(
    shapeForParams(cli.params, { hidden: cli.hidden, layers: cli.layers, vocab: cli.vocab }),
  );
}

function checkOutputPath(flag: string, path: string | undefined): void {
  if (path === undefined || path === "-") return;
  const dir = dirname(resolve(path));
  let ok = false;
  try {
    ok = Deno.statSync(dir).isDirectory;
  } catch {
    // reported below
  }
  if (!ok) {
    throw new UsageError(`${flag} ${path}: directory ${dir} does not exist; create it first`);
  }
}

function writeFile(flag: string, path: string, text: string): void {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: can't write it (${String(e).split(" (os error")[0]})`);
  }
}

/** The plan as JSON for `--dry_run --json` (what a DeepSpeed-side check needs to rebuild it). */
export function planDocument(plan: ZeroPlan, version: string): Record<string, unknown> {
  return {
    schema: "aiobench-zero-plan/1",
    version,
    model: { family: "gpt", ...plan.model.shape, params: plan.model.params },
    world_size: plan.settings.worldSize,
    per_rank: {
      read_bytes: plan.perRank.read,
      write_bytes: plan.perRank.write,
      by_phase: plan.perRank.byPhase,
      by_kind: plan.perRank.byKind,
      file_bytes: plan.perRank.fileBytes,
      deepspeed_pinned_bytes: plan.deepSpeedBufferBytes,
    },
    sub_groups: plan.subGroups.map((g) => ({
      id: g.id,
      numel: g.numel,
      swappable: g.swappable,
      params_on_nvme: g.paramsOnNvme,
      tensors: g.tensors.map((t) => ({
        ds_id: plan.model.tensors[t].id,
        name: plan.model.tensors[t].name,
        numel: plan.model.tensors[t].numel,
        partition_numel: plan.partitionNumel[t],
        param_on_nvme: plan.paramOnNvme[t],
      })),
    })),
    // A gradient is complete at the tensor's last use in the backward pass.
    backward_order: [...plan.model.modules].reverse().flatMap((m) => m.tensors)
      .filter((t, i, all) => all.lastIndexOf(t) === i),
    files: plan.files,
  };
}

/** Runs `aiobench zero ...`; returns the exit code (throws UsageError for bad input). */
export async function runZeroCommand(
  parsed: ParsedCommand,
  options: ZeroCommandOptions,
): Promise<number> {
  const cli = zeroCliOf(parsed);
  if (!cli.dryRun && underMpi()) {
    if (cli.tryAioConfig !== undefined) {
      throw new UsageError("--try_aio_config is not supported under MPI yet; run it on one node");
    }
    return await runUnderMpi(cli, options.version);
  }
  const settings = settingsFromCli(cli);
  const model = modelFromCli(cli);
  const plan = planZero(model, settings, { computeS: cli.computeS, updateS: cli.updateS });
  const trialPlan = cli.tryAioConfig === undefined ? undefined : planZero(model, {
    ...settings,
    aio: readConfig(cli.tryAioConfig).aio,
  }, { computeS: cli.computeS, updateS: cli.updateS });
  checkOutputPath("--json", cli.json);
  checkOutputPath("--report", cli.report);
  const ranks = [...Array(cli.ranks).keys()];
  const human = cli.json === "-" ? Deno.stderr : Deno.stdout;
  if (cli.dryRun) return dryRun(plan, cli, ranks, options.version);
  const controller = new AbortController();
  let signalExit = 0;
  const onSignal = (code: number) => () => {
    if (signalExit !== 0) return;
    signalExit = code;
    errLine(
      `aiobench: stopping (${code === EXIT.sigint ? "SIGINT" : "SIGTERM"}): removing swap files`,
    );
    controller.abort();
  };
  const sigint = onSignal(EXIT.sigint);
  const sigterm = onSignal(EXIT.sigterm);
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  try {
    // Checked and said before any IO: the folders, and the space the swap files need.
    checkPaths(plan);
    const space = spaceNeeds(plan, ranks);
    writeLines(human, [planSummary(plan, ranks), ...spaceLines(space, cli.keep)]);
    checkSpace(space);
    const runOptions = {
      ranks,
      steps: cli.steps,
      engine: cli.engine,
      signal: controller.signal,
      log: (line: string) => {
        if (cli.verbose || line.startsWith("warning:") || line.startsWith("preparing")) {
          errLine(line);
        }
      },
    };
    const run = await runZero(plan, { ...runOptions, keep: cli.keep && !trialPlan });
    const doc = zeroDocument(run, { version: options.version });
    if (trialPlan && !controller.signal.aborted && !doc.partial) {
      errLine(`again with the aio section of ${cli.tryAioConfig}`);
      const trial = await runZero(trialPlan, { ...runOptions, keep: cli.keep });
      const trialDoc = zeroDocument(trial, { version: options.version });
      if (!trialDoc.partial) addAioTrial(doc, trialDoc, cli.tryAioConfig!);
    }
    writeLines(human, zeroText(doc, plan).slice(1));
    if (cli.json === "-") writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
    else if (cli.json) writeFile("--json", cli.json, JSON.stringify(doc, null, 2) + "\n");
    if (cli.report) writeFile("--report", cli.report, renderZeroReport(doc));
    return signalExit !== 0 ? signalExit : EXIT.ok;
  } catch (e) {
    if (e instanceof ZeroRunFailure) {
      errLine(`aiobench: ${e.message.split("\n")[0]}`);
      return signalExit !== 0 ? signalExit : EXIT.failed;
    }
    throw e;
  } finally {
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}

/** Launched by mpiexec/srun with more than one rank (lib/mpi/launch.ts decides). */
function underMpi(): boolean {
  let env: Record<string, string> = {};
  try {
    env = Deno.env.toObject();
  } catch {
    return false; // no --allow-env: no launcher can be seen
  }
  return wantsMpi("auto", detectLaunch(env));
}

async function runUnderMpi(cli: ZeroCli, version: string): Promise<number> {
  const { runZeroUnderMpi } = await import("./mpi.ts");
  return await runZeroUnderMpi({
    cli,
    version,
    settingsFor: (worldSize) => settingsFromCli({ ...cli, ranks: worldSize }),
    model: () => modelFromCli(cli),
    check: (plan) => {
      checkOutputPath("--json", cli.json);
      checkOutputPath("--report", cli.report);
      checkPaths(plan);
    },
    emit: (plan, doc) => {
      const human = cli.json === "-" ? Deno.stderr : Deno.stdout;
      writeLines(human, [
        planSummary(plan, doc.ranks.map((r) => r.rank), "by the MPI job"),
        `under MPI: ${
          (doc.env.mpi as { processes: number }).processes
        } processes × ${cli.ranks} rank(s) each`,
        ...zeroText(doc, plan).slice(1),
      ]);
      if (cli.json === "-") writeLines(Deno.stdout, [JSON.stringify(doc, null, 2)]);
      else if (cli.json) writeFile("--json", cli.json, JSON.stringify(doc, null, 2) + "\n");
      if (cli.report) writeFile("--report", cli.report, renderZeroReport(doc));
    },
  });
}

function spaceLines(space: ReturnType<typeof spaceNeeds>, kept: boolean): string[] {
  return space.map((s) =>
    `swap files: ${formatBytesHuman(s.neededBytes)} on ${s.paths.join(", ")} (${
      s.freeBytes === null ? "free space unknown" : `${formatBytesHuman(s.freeBytes)} free`
    }); ${kept ? "kept (--keep)" : "removed afterwards"}`
  );
}

function dryRun(plan: ZeroPlan, cli: ZeroCli, ranks: number[], version: string): number {
  const human = cli.json === "-" ? Deno.stderr : Deno.stdout;
  const lines = [planSummary(plan, ranks)];
  checkPaths(plan);
  const space = spaceNeeds(plan, ranks);
  lines.push(...spaceLines(space, cli.keep).map((l) => l.replace(/; .*$/, "")));
  for (const d of rankDirs(plan, ranks.slice(0, 2))) {
    lines.push(`rank ${d.rank}: ${[d.optimizer, d.param].filter(Boolean).join(" and ")}`);
  }
  writeLines(human, lines);
  if (cli.json === "-") {
    writeLines(Deno.stdout, [JSON.stringify(planDocument(plan, version), null, 2)]);
  } else if (cli.json) {
    writeFile("--json", cli.json, JSON.stringify(planDocument(plan, version), null, 2) + "\n");
  }
  try {
    checkSpace(space);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeLines(human, [`warning: ${e.message}`]);
  }
  return EXIT.ok;
}
