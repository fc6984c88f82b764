/**
 * The README's library example runs as written from a checkout: deno.json maps
 * `@aiobench/aiobench` to ./mod.ts (tests/jsr_module_test.ts runs it from the published package).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listing, readmeLibraryExample, removeDir, ROOT, tempDir } from "./_helpers.ts";

Deno.test("README library example, as written, from the checkout", () => {
  const dir = tempDir("aiobench_readme_");
  try {
    const example = readmeLibraryExample();
    assert.match(example, /^import \{ benchmark \} from "@aiobench\/aiobench";$/m);
    Deno.writeTextFileSync(join(dir, "example.ts"), example);
    const out = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", join(ROOT, "deno.json"), "example.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 2, stdout);
    assert.match(lines[0], /^write \d+(\.\d+)?(e-?\d+)? \d+(\.\d+)?$/);
    assert.match(lines[1], /^read \d+(\.\d+)?(e-?\d+)? \d+(\.\d+)?$/);
    assert.deepEqual(listing(dir), ["example.ts"], "the probe file is removed");
  } finally {
    removeDir(dir);
  }
});
