/** lib/common/progress.ts: the terminal progress line (phase, elapsed, time left) and lines above it. */
import assert from "node:assert/strict";
import { Progress } from "../lib/common/progress.ts";

Deno.test("progress: phase, elapsed of the expected total, lines printed above, cleared at stop", () => {
  let written = "";
  const out = {
    writeSync: (p: Uint8Array) => ((written += new TextDecoder().decode(p)), p.length),
  };
  let clock = 1000;
  const progress = new Progress(out, { totalSeconds: 60, intervalMs: 3_600_000, now: () => clock });
  try {
    progress.phase("write: 4 worker(s), 1.00 GiB each, 1 loop(s)");
    clock += 12_500;
    assert.equal(progress.text(), "write: 4 worker(s), 1.00 GiB each, 1 loop(s)  12s of ~60s");
    progress.draw();
    progress.line("note: something");
    assert.equal(
      written,
      "\r\x1b[Kwrite: 4 worker(s), 1.00 GiB each, 1 loop(s)  12s of ~60s" +
        "\r\x1b[Knote: something\n" +
        "\r\x1b[Kwrite: 4 worker(s), 1.00 GiB each, 1 loop(s)  12s of ~60s",
    );
  } finally {
    progress.stop();
  }
  assert.ok(written.endsWith("\r\x1b[K"), "the line is cleared at the end");
  const quiet = new Progress(out, { intervalMs: 3_600_000, now: () => clock });
  assert.equal(quiet.text(), "running  0s");
  quiet.stop();
});
