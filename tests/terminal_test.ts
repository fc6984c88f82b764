/**
 * aiobench on a real terminal (a tmux pane): the live progress line (GiB/s, IOPS, the loop or
 * "time-based", elapsed and remaining time) redrawn in place and gone at the end, and the
 * `--log_interval` lines appearing while the run goes, not only in the JSON.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureTool, removeDir, ROOT, tempDir, testUnless } from "./_helpers.ts";

const decoder = new TextDecoder();

function run(cmd: string, args: string[]): { ok: boolean; out: string; err: string } {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
    return { ok: out.success, out: decoder.decode(out.stdout), err: decoder.decode(out.stderr) };
  } catch (e) {
    return { ok: false, out: "", err: String(e) };
  }
}

/**
 * A tmux server of our own, one pane running `command`, read by snapshots. Its socket lives in a
 * directory of its own that `close` removes (with `-L`, tmux leaves the socket in /tmp/tmux-UID).
 */
class Pane {
  readonly #dir = Deno.makeTempDirSync({ prefix: "aiobench-tmux-" });
  readonly #socket = join(this.#dir, "s");
  constructor(command: string, cwd: string) {
    const started = run("tmux", [
      "-S",
      this.#socket,
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-x",
      "200",
      "-y",
      "60",
      "-c",
      cwd,
      `${command}; echo "exit=$?"; sleep 120`,
    ]);
    if (!started.ok) Deno.removeSync(this.#dir, { recursive: true });
    assert.ok(started.ok, started.err);
  }

  /** The visible lines, trailing blanks dropped. */
  snapshot(): string[] {
    const r = run("tmux", ["-S", this.#socket, "capture-pane", "-p"]);
    const lines = r.out.split("\n").map((l) => l.trimEnd());
    while (lines.length > 0 && lines.at(-1) === "") lines.pop();
    return lines;
  }

  close(): void {
    run("tmux", ["-S", this.#socket, "kill-server"]);
    Deno.removeSync(this.#dir, { recursive: true });
  }
}

/** Snapshots every 100 ms until the command printed `exit=N` (bounded); returns them all. */
async function watch(pane: Pane, limitMs: number): Promise<string[][]> {
  const snapshots: string[][] = [];
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const lines = pane.snapshot();
    snapshots.push(lines);
    if (lines.some((l) => /^exit=\d+$/.test(l))) return snapshots;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`the run did not finish in ${limitMs} ms:\n${snapshots.at(-1)?.join("\n")}`);
}

const DENO = join(ROOT, "scripts/deno");
const progressLine = new RegExp(
  "^(write|read): (warm-up \\d+/\\d+|loop \\d+/\\d+|time-based(, loop \\d+/\\d+)?|ramp|setting up|" +
    "finishing) {2}(\\d+\\.\\d{3}|-\\.---) GiB/s {2}(\\d+|-) IOPS {2}elapsed \\d+:\\d\\d {2}" +
    "left (~?\\d+:\\d\\d|\\?)$",
);

testUnless(
  ensureTool("tmux"),
  "terminal: live progress line and --log_interval lines in a tmux pane",
  async (t) => {
    const dir = tempDir("aiobench_terminal_");
    try {
      await t.step(
        "time-based: the loop, elapsed and a falling remaining time; interval lines live",
        async () => {
          const cmd = `${DENO} run -A ${join(ROOT, "main.ts")} --folder ${dir} --io_size 64M ` +
            "--block_size 64K --queue_depth 2 --runtime 1s --time_based --loops 3 --warmup_loops 1 " +
            "--log_interval 1s";
          const pane = new Pane(cmd, dir);
          let snapshots: string[][];
          try {
            snapshots = await watch(pane, 60_000);
          } finally {
            pane.close();
          }
          const final = snapshots.at(-1)!;
          assert.ok(final.includes("exit=0"), final.join("\n"));
          const progress = snapshots.map((s) => s.at(-1)!).filter((l) => /elapsed \d/.test(l));
          assert.ok(progress.length >= 5, `too few progress lines seen: ${progress.length}`);
          for (const line of progress) assert.match(line, progressLine);
          const labels = new Set(progress.map((l) => l.split("  ")[0]));
          assert.ok(labels.has("write: warm-up 1/1"), [...labels].join(", "));
          assert.ok(
            [
              "write: time-based, loop 1/3",
              "write: time-based, loop 2/3",
              "write: time-based, loop 3/3",
            ]
              .filter((l) => labels.has(l)).length >= 2,
            [...labels].join(", "),
          );
          // Measured runs show a rate, and the time left counts down towards 0:00.
          const measured = progress.filter((l) => l.includes("time-based"));
          assert.ok(measured.some((l) => / {2}[1-9]\d* IOPS/.test(l)), measured.join("\n"));
          const left = measured.map((l) => Number(l.match(/left (\d+):(\d\d)$/)![2]));
          assert.ok(left[0] >= left.at(-1)! && left[0] >= 1, left.join(","));
          // Interval lines show up while the progress line is still being drawn below them.
          const live = snapshots.find((s) =>
            s.some((l) => l.startsWith("interval write")) && /elapsed \d/.test(s.at(-1)!)
          );
          assert.ok(live, "an interval line was on the screen while the run was still going");
          const intervals = final.filter((l) => l.startsWith("interval write"));
          assert.ok(intervals.length >= 3 && intervals.length <= 4, intervals.join("\n"));
          for (const line of intervals) {
            assert.match(
              line,
              /^interval write +\d+\.\d\ds +\d+\.\d{3} GiB\/s +\d+ IOPS {2}p99 +\d+\.\d{3} ms$/,
            );
          }
          // The report follows; the progress line left nothing behind.
          assert.ok(final.some((l) => l.startsWith("Task Write Speed = ")), final.join("\n"));
          assert.ok(!final.some((l) => /elapsed \d/.test(l)), final.join("\n"));
        },
      );

      await t.step("by loops: loop k/N and an estimate of the time left", async () => {
        const cmd = `${DENO} run -A ${join(ROOT, "main.ts")} --folder ${dir} --io_size 96M ` +
          "--block_size 64K --queue_depth 1 --loops 4";
        const pane = new Pane(cmd, dir);
        let snapshots: string[][];
        try {
          snapshots = await watch(pane, 60_000);
        } finally {
          pane.close();
        }
        assert.ok(snapshots.at(-1)!.includes("exit=0"), snapshots.at(-1)!.join("\n"));
        const progress = snapshots.map((s) => s.at(-1)!).filter((l) => /elapsed \d/.test(l));
        for (const line of progress) assert.match(line, progressLine);
        const loops = progress.map((l) => l.match(/^write: loop (\d)\/4/)?.[1]).filter((x) => x);
        assert.ok(loops.length >= 2, progress.join("\n"));
        assert.deepEqual([...loops].sort(), loops, "the loop number never goes back");
        assert.ok(progress.some((l) => /left ~\d+:\d\d$/.test(l)), progress.join("\n"));
      });
    } finally {
      removeDir(dir);
    }
  },
);
