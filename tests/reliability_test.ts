// Bad input through the real CLI (a subprocess per case): every case exits non-zero (2 for
// usage), prints exactly one line on stderr naming the flag/path/value, no stack frames, leaves
// the user's file byte-identical and leaves no temporary files behind.
import assert from "node:assert/strict";
import {
  type CliOptions,
  type CliResult,
  listing,
  needsRoot,
  NOBODY,
  runCli,
  runnableByNobody,
  sha256Sync as sha256,
  testUnless,
} from "./_helpers.ts";

const decoder = new TextDecoder();
const cli = (args: string[], options: CliOptions = {}) => runCli(args, options);

/** Exactly one stderr line `aiobench: ...` naming every `mention`, no stack, the given exit. */
function assertCleanError(r: CliResult, code: number | "nonzero", mentions: (string | RegExp)[]) {
  const context = `exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
  if (code === "nonzero") assert.notEqual(r.code, 0, context);
  else assert.equal(r.code, code, context);
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `want exactly one stderr line\n${context}`);
  assert.match(lines[0], /^aiobench: /, context);
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m, `stack frame in output\n${context}`);
  assert.doesNotMatch(lines[0], /internal error|undefined|NaN|\[object/, context);
  for (const m of mentions) {
    if (typeof m === "string") assert.ok(lines[0].includes(m), `want "${m}" in: ${lines[0]}`);
    else assert.match(lines[0], m, context);
  }
}

/** A scratch dir with a user file `data.bin` (8 MiB of random bytes). */
function scratch(): { dir: string; data: string; hash: string } {
  const dir = Deno.makeTempDirSync({ dir: "/var/tmp", prefix: "aiobench_rel_" });
  const data = `${dir}/data.bin`;
  const bytes = new Uint8Array(8 << 20);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  Deno.writeFileSync(data, bytes);
  return { dir, data, hash: sha256(data) };
}

Deno.test("bad options: exit 2, one line naming the flag and value, nothing changed", async (t) => {
  const s = scratch();
  const f = s.data;
  // [argv, what the line must name]
  const cases: [string[], (string | RegExp)[]][] = [
    [["--read_fil", f], ["--read_fil", "did you mean --read_file"]],
    [["--read_file", f, "--queue-dept", "8"], ["--queue-dept", "did you mean --queue_depth"]],
    [["--bogus_flag", "--read_file", f], ["--bogus_flag"]],
    [["--read_file"], ["--read_file", "needs a value"]],
    [["--read_file", f, "--block_size"], ["--block_size", "needs a value"]],
    [["--read_file", f, "--block_size", "abc"], ["--block_size abc"]],
    [["--read_file", f, "--block_size", "-4K"], ["--block_size -4K"]],
    [["--read_file", f, "--block_size", "0"], ["--block_size 0"]],
    [["--read_file", f, "--block_size", "1.5Q"], ["--block_size 1.5Q"]],
    [["--read_file", f, "--io_size", "0"], ["--io_size"]],
    [["--read_file", f, "--io_size", "99999999999999999999G"], ["--io_size", "too large"]],
    [["--read_file", f, "--io_size", "9007199254740993"], ["--io_size"]],
    [["--read_file", f, "--block_size", "2T"], ["--block_size"]],
    // not a multiple of the O_DIRECT alignment (4096 here: the config check, then the target's)
    [["--read_file", f, "--block_size", "1000"], ["--block_size 1000", "4096"]],
    [["--read_file", f, "--block_size", "6K"], ["--block_size 6144", "4096"]],
    [["--read_file", f, "--queue_depth", "0"], ["--queue_depth 0", "1..4096"]],
    [["--read_file", f, "--queue_depth", "4097"], ["--queue_depth 4097", "1..4096"]],
    [["--read_file", f, "--queue_depth", "-3"], ["--queue_depth"]],
    [["--read_file", f, "--threads", "0"], ["--threads 0"]],
    [["--read_file", f, "--threads", "100000"], ["--threads 100000"]],
    [["--read_file", f, "--threads", "1e9"], ["--threads"]],
    [["--read_file", f, "--io_parallel", "100000"], ["--io_parallel"]],
    [["--read_file", f, "--loops", "-1"], ["--loops"]],
    // an output that can't be written is found before measuring, not after
    [["--read_file", f, "--json", "/nonexistent/out.json"], ["--json /nonexistent/out.json"]],
    [["--read_file", f, "--json", "/tmp"], ["--json /tmp is a directory"]],
    // ds_aio's pair (read, then write) needs the write's size
    [["--read_file", f, "--write_file", `${s.dir}/w`], ["--write_file needs --io_size"]],
    [["--read_file", f, "--time_based"], ["--time_based", "--runtime"]],
    [["--read_file", f, "--hipri", "--buffered"], ["--hipri", "--buffered"]],
    [["--read_file", f, "--sqthread_poll_cpu", "1"], ["--sqthread_poll"]],
    [["--read_file", f, "--runtime", "-5s"], ["--runtime"]],
    [["--read_file", f, "--rwmixread", "101"], ["--rwmixread"]],
    [["--read_file", f, "--engine", "spdk"], ["--engine", "spdk"]],
  ];
  try {
    const before = listing(s.dir);
    const batch = 4; // two cores: a few Deno start-ups at a time
    for (let i = 0; i < cases.length; i += batch) {
      const chunk = cases.slice(i, i + batch);
      const results = await Promise.all(chunk.map(([args]) => cli(args, { cwd: s.dir })));
      for (const [j, r] of results.entries()) {
        const [args, mentions] = chunk[j];
        await t.step(args.map((a) => a === f ? "FILE" : a).join(" "), () => {
          assertCleanError(r, 2, mentions);
          assert.equal(r.stdout, "", "nothing on stdout for a usage error");
        });
      }
    }
    assert.equal(sha256(f), s.hash, "the user's file changed");
    assert.deepEqual(listing(s.dir), before, "files appeared in the working directory");
  } finally {
    Deno.removeSync(s.dir, { recursive: true });
  }
});

Deno.test("bad paths: missing, directory, too short, foreign write target", async (t) => {
  const s = scratch();
  const foreign = `${s.dir}/out.0`; // what --write_file out would write for worker 0
  Deno.copyFileSync(s.data, foreign);
  const foreign_hash = sha256(foreign);
  try {
    const before = listing(s.dir);
    await t.step("missing --read_file", async () => {
      const r = await cli(["--read_file", `${s.dir}/nope.bin`], { cwd: s.dir });
      assertCleanError(r, 2, [`${s.dir}/nope.bin`, "does not exist"]);
    });
    await t.step("directory as --read_file", async () => {
      const r = await cli(["--read_file", s.dir], { cwd: s.dir });
      assertCleanError(r, 2, [s.dir, "is a directory"]);
    });
    await t.step("file shorter than --io_size", async () => {
      const r = await cli(["--read_file", s.data, "--io_size", "16M"], { cwd: s.dir });
      assertCleanError(r, 2, [s.data, "--io_size 16M", String(8 << 20)]);
    });
    await t.step("missing --folder", async () => {
      const r = await cli(["--folder", `${s.dir}/nodir`, "--io_size", "1M"], { cwd: s.dir });
      assertCleanError(r, 2, [`${s.dir}/nodir`, "does not exist"]);
    });
    await t.step("a file as --folder", async () => {
      const r = await cli(["--folder", s.data, "--io_size", "1M"], { cwd: s.dir });
      assertCleanError(r, 2, [s.data, "not a directory"]);
    });
    await t.step("--write_file over a file aiobench did not create", async () => {
      const r = await cli(["--write_file", `${s.dir}/out`, "--io_size", "1M"], { cwd: s.dir });
      assertCleanError(r, 2, [foreign, "--force"]);
    });
    await t.step("--write_file into a missing directory", async () => {
      const r = await cli(["--write_file", `${s.dir}/nodir/out`, "--io_size", "1M"]);
      assertCleanError(r, 2, [`${s.dir}/nodir`]);
    });
    assert.equal(sha256(s.data), s.hash, "the user's file changed");
    assert.equal(sha256(foreign), foreign_hash, "the foreign write target changed");
    assert.deepEqual(listing(s.dir), before, "files appeared or vanished");
  } finally {
    Deno.removeSync(s.dir, { recursive: true });
  }
});

/** A loop device over a small /dev/shm file. */
function attachLoop(backing: string): { dev: string } {
  const out = new Deno.Command("losetup", { args: ["--find", "--show", backing] }).outputSync();
  if (!out.success) throw new Error(`losetup failed: ${decoder.decode(out.stderr).trim()}`);
  return { dev: decoder.decode(out.stdout).trim() };
}

const block_name = "a block device as target without --force is refused, device untouched";
testUnless(needsRoot("losetup"), block_name, async (t) => {
  const backing = `/dev/shm/aiobench_rel_blk_${Deno.pid}.img`;
  const bytes = new Uint8Array(4 << 20);
  crypto.getRandomValues(bytes.subarray(0, 65536));
  Deno.writeFileSync(backing, bytes);
  const hash = sha256(backing);
  let loop: { dev: string } | undefined;
  try {
    loop = attachLoop(backing);
    const dev = loop.dev;
    await t.step("--write_file DEVICE", async () => {
      const r = await cli(["--write_file", dev, "--io_size", "1M"]);
      assertCleanError(r, 2, [dev, "block device", "--force"]);
    });
    await t.step("--read_file DEVICE", async () => {
      const r = await cli(["--read_file", dev]);
      assertCleanError(r, 2, [dev, "block device", "--force"]);
    });
    new Deno.Command("sync").outputSync();
    assert.equal(sha256(backing), hash, "the device's data changed");
  } finally {
    if (loop !== undefined) new Deno.Command("losetup", { args: ["-d", loop.dev] }).outputSync();
    Deno.removeSync(backing);
  }
});

const prefix = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];
const nobody = runnableByNobody();

testUnless(
  typeof nobody === "string" ? nobody : undefined,
  "no permission (run as nobody): one line naming the path",
  async (t) => {
    if (typeof nobody === "string") return;
    try {
      await noPermission(t, nobody.cli);
    } finally {
      nobody.cleanup();
    }
  },
);

async function noPermission(t: Deno.TestContext, as: CliOptions): Promise<void> {
  const s = scratch();
  // nobody may enter the dir but not read data.bin (0600) nor create files in the dir (0755).
  Deno.chmodSync(s.dir, 0o755);
  Deno.chmodSync(s.data, 0o600);
  const cli = (args: string[], options: CliOptions) => runCli(args, { ...as, ...options });
  const env = as.env ?? {};
  try {
    const before = listing(s.dir);
    await t.step("--read_file of a 0600 file", async () => {
      const r = await cli(["--read_file", s.data], { prefix, env, cwd: "/" });
      assertCleanError(r, "nonzero", [s.data, "permission denied", "read"]);
    });
    await t.step("--write_file in a directory nobody can't write", async () => {
      const r = await cli(["--write_file", `${s.dir}/w`, "--io_size", "1M"], {
        prefix,
        env,
        cwd: "/",
      });
      assertCleanError(r, "nonzero", [`${s.dir}/w.0`, "permission denied"]);
    });
    await t.step("--folder DIR --read that nobody can't write into", async () => {
      const r = await cli(["--folder", s.dir, "--read", "--io_size", "1M"], {
        prefix,
        env,
        cwd: "/",
      });
      assertCleanError(r, "nonzero", [s.dir, "permission denied"]);
    });
    assert.equal(sha256(s.data), s.hash);
    assert.deepEqual(listing(s.dir), before);
  } finally {
    Deno.removeSync(s.dir, { recursive: true });
  }
}
