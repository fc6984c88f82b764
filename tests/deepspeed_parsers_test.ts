/**
 * DeepSpeed's own scripts parse aiobench's output: ds_nvme_tune's parse_nvme_stats.py and
 * perf_generate_param.py (in the `deepspeed` package on PyPI), and the legacy
 * csrc/aio/py_test/parse_aio_stats.py (only in DeepSpeed's git repository: set
 * AIOBENCH_DEEPSPEED_SRC to a checkout to run that part). Nothing of DeepSpeed is committed
 * here: the package files come from this machine's DeepSpeed venv, or from the pinned sdist,
 * downloaded with pip into .tools/ once.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  makeRandomFile,
  removeDir,
  ROOT,
  runCli,
  stepUnless,
  tempDir,
  testUnless,
} from "./_helpers.ts";
import type { BenchResult } from "../lib/common/types.ts";

const DEEPSPEED_VERSION = "0.18.9";
const NVME_FILES = ["parse_nvme_stats.py", "perf_sweep_utils.py", "perf_generate_param.py"];
const decoder = new TextDecoder();

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; out: string; err: string } {
  try {
    const o = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).outputSync();
    return { ok: o.success, out: decoder.decode(o.stdout), err: decoder.decode(o.stderr) };
  } catch (e) {
    return { ok: false, out: "", err: String(e) };
  }
}

const python = ["python3", "python"].find((p) => run(p, ["--version"]).ok);

/**
 * A directory holding DeepSpeed's deepspeed/nvme parsers as a package `nvme`, or the reason
 * there is none. From the venv at .tools/dsvenv when there is one, else the pinned sdist.
 */
function deepspeedNvme(): { dir: string } | { missing: string } {
  const dir = join(ROOT, ".tools", `deepspeed-${DEEPSPEED_VERSION}-nvme`, "nvme");
  if (NVME_FILES.every((f) => existsSync(join(dir, f)))) return { dir: join(dir, "..") };
  if (python === undefined) return { missing: "no python3 to run DeepSpeed's parsers" };
  const venv = run(join(ROOT, ".tools/dsvenv/bin/python"), [
    "-c",
    "import importlib.util as u, os; print(os.path.dirname(u.find_spec('deepspeed').origin))",
  ]);
  const tmp = Deno.makeTempDirSync({ dir: join(ROOT, ".tools"), prefix: "deepspeed-" });
  try {
    if (venv.ok && existsSync(join(venv.out.trim(), "nvme", NVME_FILES[0]))) {
      Deno.mkdirSync(join(tmp, "nvme"));
      for (const f of NVME_FILES) {
        Deno.copyFileSync(join(venv.out.trim(), "nvme", f), join(tmp, "nvme", f));
      }
    } else {
      const got = run(python, [
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--no-binary",
        ":all:",
        "-d",
        tmp,
        `deepspeed==${DEEPSPEED_VERSION}`,
      ]);
      if (!got.ok) {
        return {
          missing: `pip could not download deepspeed ${DEEPSPEED_VERSION}: ${
            got.err.trim().split("\n").pop()
          }`,
        };
      }
      const unpack = run(python, [
        "-c",
        `import sys, tarfile, os
t = tarfile.open(sys.argv[1])
os.makedirs(os.path.join(sys.argv[2], "nvme"))
for name in sys.argv[3:]:
    member = t.getmember(f"deepspeed-${DEEPSPEED_VERSION}/deepspeed/nvme/{name}")
    open(os.path.join(sys.argv[2], "nvme", name), "wb").write(t.extractfile(member).read())`,
        join(tmp, `deepspeed-${DEEPSPEED_VERSION}.tar.gz`),
        tmp,
        ...NVME_FILES,
      ]);
      if (!unpack.ok) return { missing: `the sdist has no deepspeed/nvme parsers: ${unpack.err}` };
    }
    Deno.writeTextFileSync(join(tmp, "nvme", "__init__.py"), "");
    Deno.mkdirSync(join(dir, ".."), { recursive: true });
    Deno.renameSync(join(tmp, "nvme"), dir);
    return { dir: join(dir, "..") };
  } finally {
    removeDir(tmp);
  }
}

/** DeepSpeed's legacy csrc/aio/py_test/parse_aio_stats.py, from AIOBENCH_DEEPSPEED_SRC. */
function legacyParser(): string | undefined {
  const src = Deno.env.get("AIOBENCH_DEEPSPEED_SRC");
  const path = src && join(src, "csrc/aio/py_test/parse_aio_stats.py");
  return path && existsSync(path) ? path : undefined;
}

const MIB = 1 << 20;

interface Point {
  /** The log file name ds_nvme_tune would give this point. */
  log: string;
  args: string[];
}

/** Two points of a ds_nvme_tune-style sweep, named as its get_log_file names them. */
function sweepPoints(op: "read" | "write"): Point[] {
  return [
    {
      log: `${op}_block_overlap_ftd1_d8_bs1M_p1.txt`,
      args: ["--queue_depth", "8", "--io_parallel", "1"],
    },
    {
      log: `${op}_single_sequential_ftd1_d4_bs512K_p2.txt`,
      args: [
        "--queue_depth",
        "4",
        "--block_size",
        "512K",
        "--single_submit",
        "--sequential_requests",
        "--io_parallel",
        "2",
      ],
    },
  ];
}

const nvme = deepspeedNvme();

testUnless(
  "missing" in nvme ? nvme.missing : undefined,
  "DeepSpeed's parsers read aiobench's output",
  async (t) => {
    if ("missing" in nvme || python === undefined) return;
    const dir = tempDir("aiobench_dsparse_");
    try {
      const data = join(dir, "data");
      Deno.mkdirSync(data);
      const logs = join(dir, "logs");
      const speeds: Record<string, number> = {};
      for (const op of ["read", "write"] as const) {
        const logDir = join(logs, `_aio_bench_${op}_logs`);
        Deno.mkdirSync(logDir, { recursive: true });
        for (const point of sweepPoints(op)) {
          const json = join(dir, `${point.log}.json`);
          const r = await runCli([
            "--folder",
            data,
            ...(op === "read" ? ["--read"] : []),
            "--io_size",
            "8M",
            ...point.args,
            "--json",
            json,
          ]);
          assert.equal(r.code, 0, r.stderr);
          Deno.writeTextFileSync(join(logDir, point.log), r.stdout);
          const result = JSON.parse(Deno.readTextFileSync(json)) as BenchResult;
          speeds[point.log] = result.results[0].e2e_gib_s;
        }
      }

      await t.step(
        "parse_nvme_stats.py --metric read_speed|write_speed: aiobench's E2E speeds",
        () => {
          for (const op of ["read", "write"] as const) {
            const r = run(python, [
              join(nvme.dir, "nvme", "parse_nvme_stats.py"),
              "--log_dir",
              join(logs, `_aio_bench_${op}_logs`),
              "--metric",
              `${op}_speed`,
            ]);
            assert.ok(r.ok, r.err);
            const values = r.out.split("\n").filter((l) => l.startsWith("(")).map((l) =>
              l.split(" = ")
            );
            assert.equal(values.length, 2, r.out);
            for (const point of sweepPoints(op)) {
              const key = point.log.replace(/\.txt$/, "").split("_")[0];
              const found = values.find(([k]) =>
                k.startsWith(`('${key}'`) &&
                k.includes(point.log.includes("single") ? "'single'" : "'block'")
              );
              assert.ok(found, `${point.log} in ${r.out}`);
              assert.equal(Number(found[1]), speeds[point.log], point.log);
            }
          }
        },
      );

      await t.step(
        "perf_generate_param: the best read + write point as DeepSpeed's aio config",
        () => {
          const r = run(python, [
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); from nvme.perf_generate_param import generate_main; generate_main(sys.argv[2])",
            nvme.dir,
            logs,
          ]);
          assert.ok(r.ok, r.err);
          const best = Object.entries({
            block: speeds["read_block_overlap_ftd1_d8_bs1M_p1.txt"] +
              speeds["write_block_overlap_ftd1_d8_bs1M_p1.txt"],
            single: speeds["read_single_sequential_ftd1_d4_bs512K_p2.txt"] +
              speeds["write_single_sequential_ftd1_d4_bs512K_p2.txt"],
          }).sort((a, b) => b[1] - a[1])[0][0];
          const config = JSON.parse(r.out.slice(r.out.indexOf("{")));
          assert.deepEqual(
            config.aio,
            best === "block"
              ? {
                single_submit: "false",
                overlap_events: "true",
                num_threads: 1,
                queue_depth: 8,
                block_size: MIB,
              }
              : {
                single_submit: "true",
                overlap_events: "false",
                num_threads: 2,
                queue_depth: 4,
                block_size: MIB / 2,
              },
          );
          assert.match(r.out, /^Best performance \(GB\/sec\): read = +[0-9.]+, write = +[0-9.]+$/m);
        },
      );

      const parser = legacyParser();
      const noLegacy = parser === undefined
        ? "parse_aio_stats.py is only in DeepSpeed's git repository (csrc/aio/py_test), in no pip " +
          "package; set AIOBENCH_DEEPSPEED_SRC to a DeepSpeed checkout"
        : undefined;
      await stepUnless(t, noLegacy, "legacy parse_aio_stats.py", () => {
        if (parser === undefined) return;
        for (const op of ["read", "write"] as const) {
          const r = run(python, [
            parser,
            "--log_dir",
            join(logs, `_aio_bench_${op}_logs`),
            "--metric",
            `${op}_speed`,
          ]);
          assert.ok(r.ok, r.err);
          const values = r.out.split("\n").filter((l) => l.startsWith("(")).map((l) =>
            Number(l.split(" = ")[1])
          );
          assert.deepEqual(values.sort(), sweepPoints(op).map((p) => speeds[p.log]).sort());
        }
        // One log of ds_aio's legacy read + write pair: both metrics come from the same file.
        const legacy = join(logs, "legacy");
        Deno.mkdirSync(legacy);
        const input = join(data, "in.bin");
        makeRandomFile(input, 8 << 20);
        const args = [
          "--read_file",
          input,
          "--write_file",
          join(data, "out"),
          "--write_size",
          "4M",
        ];
        const json = join(dir, "pair.json");
        const pair = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(ROOT, "main.ts"), ...args, "--handle", "--json", json],
          stdout: "piped",
          stderr: "piped",
        }).outputSync();
        assert.ok(pair.success, new TextDecoder().decode(pair.stderr));
        Deno.writeFileSync(join(legacy, "t1_p1_d32_bs1M.txt"), pair.stdout);
        const doc = JSON.parse(Deno.readTextFileSync(json));
        for (const [index, op] of (["read", "write"] as const).entries()) {
          const r = run(python, [parser, "--log_dir", legacy, "--metric", `${op}_speed`]);
          assert.ok(r.ok, r.err);
          assert.equal(
            r.out.trim().split("\n").at(-1),
            `(1, 1, 32, 1048576) = ${doc.results[index].e2e_gib_s}`,
          );
        }
      });
    } finally {
      removeDir(dir);
    }
  },
);
