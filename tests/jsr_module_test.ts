/**
 * The JSR module as a user gets it: mod.ts, lib/ and ffi/ with the native libraries embedded
 * (what scripts/publish.sh publishes), copied to a directory with no checkout and no built
 * library around, then imported and used as the README's example does.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { readmeLibraryExample, removeDir, ROOT, tempDir } from "./_helpers.ts";

const DENO = join(ROOT, "scripts/deno");

function sh(cmd: string, args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  const out = new Deno.Command(cmd, { args, env, cwd, stdout: "piped", stderr: "piped" })
    .outputSync();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("the published module carries the library and runs the README example", async (t) => {
  const dir = tempDir("aiobench_jsr_");
  try {
    const pkg = join(dir, "pkg");
    for (const part of ["mod.ts", "lib", "ffi", "deno.json"]) {
      cpSync(join(ROOT, part), join(pkg, part), { recursive: true });
    }
    const build = sh("bash", [join(ROOT, "scripts/build_all.sh")]);
    assert.equal(build.code, 0, build.stderr);
    const gen = sh(DENO, [
      "run",
      "-A",
      join(ROOT, "scripts/gen_embedded.ts"),
      join(ROOT, "dist/lib"),
      join(pkg, "ffi/embedded_libs.ts"),
    ]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.ok(!existsSync(join(pkg, "zig")), "no checkout build next to the package");

    await t.step(
      "README example: benchmark() writes with 2 workers, library from the cache",
      () => {
        const work = join(dir, "work");
        const cache = join(dir, "cache");
        mkdirSync(work);
        const script = join(dir, "example.ts");
        Deno.writeTextFileSync(
          script,
          `import { benchmark } from "${join(pkg, "mod.ts")}";\n` +
            `const result = await benchmark({ writeFile: "${work}/probe", ioSizeBytes: 8 << 20, threads: 2 });\n` +
            `for (const op of result.results) console.log(op.op, op.bytes, op.errors, op.e2e_gib_s > 0);\n` +
            `console.log(JSON.stringify(result.env.native_library));\n`,
        );
        const run = sh(DENO, ["run", "-A", script], { XDG_CACHE_HOME: cache }, dir);
        assert.equal(run.code, 0, run.stderr);
        const lines = run.stdout.trim().split("\n");
        assert.equal(lines[0], `write ${2 * (8 << 20)} 0 true`);
        const info = JSON.parse(lines[1]);
        assert.equal(info.source, "embedded");
        assert.ok(info.path.startsWith(join(cache, "aiobench")), info.path);
        assert.deepEqual([...Deno.readDirSync(work)], [], "created files removed");
      },
    );

    await t.step("the README example as written, in a project that maps the package", () => {
      // JSR is out of reach here: the project's import map points at the package directory,
      // as `deno add jsr:@aiobench/aiobench` would point at the published one.
      const project = join(dir, "project");
      mkdirSync(project);
      Deno.writeTextFileSync(
        join(project, "deno.json"),
        JSON.stringify({ imports: { "@aiobench/aiobench": join(pkg, "mod.ts") } }),
      );
      Deno.writeTextFileSync(join(project, "main.ts"), readmeLibraryExample());
      const run = sh(
        DENO,
        ["run", "-A", "main.ts"],
        { XDG_CACHE_HOME: join(dir, "cache") },
        project,
      );
      assert.equal(run.code, 0, run.stderr);
      const ops = run.stdout.trim().split("\n").map((l) => l.split(" ")[0]);
      assert.deepEqual(ops, ["write", "read"], run.stdout);
      assert.deepEqual([...Deno.readDirSync(project)].map((e) => e.name).sort(), [
        "deno.json",
        "main.ts",
      ]);
    });
  } finally {
    removeDir(dir);
  }
});
