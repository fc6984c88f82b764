/**
 * The FFI symbol table (ffi/symbols.ts) says what every parameter is, and matches the library's
 * exports (zig/src/root.zig): the same functions, with as many parameters, of matching types.
 */
import assert from "node:assert/strict";
import { symbols } from "../ffi/symbols.ts";

const root = Deno.readTextFileSync(new URL("../zig/src/root.zig", import.meta.url));
const table = Deno.readTextFileSync(new URL("../ffi/symbols.ts", import.meta.url));

/** `export fn name(a: T, b: U) R` of root.zig, by name. */
function zigExports(): Map<string, { params: string[]; result: string }> {
  const found = new Map<string, { params: string[]; result: string }>();
  for (const m of root.matchAll(/^export fn (\w+)\(([^)]*)\) ([^{]+?) \{/gm)) {
    const params = m[2].trim() === "" ? [] : m[2].split(",").map((p) => p.split(":")[1].trim());
    found.set(m[1], { params, result: m[3].trim() });
  }
  return found;
}

/** The FFI types a Zig parameter or result type may be declared as. */
function ffiTypesOf(zig: string): string[] {
  if (/^(u32|i32|u64|i64|void)$/.test(zig)) return [zig];
  if (zig === "usize") return ["usize", "u64"];
  // Handles cross as their address (u64); other pointers are JS buffers or raw pointers.
  if (/Handle$/.test(zig)) return ["u64"];
  if (zig.includes("*")) return ["buffer", "pointer"];
  return [];
}

Deno.test("the FFI symbol table matches root.zig's exports and says what every parameter is", async (t) => {
  const zig = zigExports();
  await t.step("the same functions", () => {
    assert.ok(zig.size >= 20, `found ${zig.size} exports in root.zig`);
    assert.deepEqual([...Object.keys(symbols)].sort(), [...zig.keys()].sort());
  });
  for (const [name, def] of Object.entries(symbols)) {
    await t.step(name, () => {
      const z = zig.get(name)!;
      const params = def.parameters as readonly string[];
      assert.equal(params.length, z.params.length, `${name}: parameters ${params} vs ${z.params}`);
      params.forEach((p, i) => {
        assert.ok(
          ffiTypesOf(z.params[i]).includes(p),
          `${name} #${i}: ${p} for Zig ${z.params[i]}`,
        );
      });
      assert.ok(
        ffiTypesOf(z.result).includes(def.result),
        `${name}: ${def.result} for ${z.result}`,
      );
      // Its declaration: a doc comment, then one commented line per parameter.
      const at = table.indexOf(`  ${name}: {`);
      assert.ok(at > 0, `${name} is declared on a line of its own`);
      assert.match(table.slice(0, at).trimEnd(), /\*\/$/, `${name} has a /** doc */ comment`);
      const body = table.slice(at, table.indexOf("result:", at));
      const lines = [...body.matchAll(/^\s+"(\w+)", \/\/ (.+)$/gm)];
      assert.equal(
        lines.length,
        params.length,
        `${name}: one "type", // meaning line per parameter`,
      );
      lines.forEach((l, i) => {
        assert.equal(l[1], params[i]);
        assert.ok(l[2].trim().length >= 3, `${name} #${i}: the comment says what it is`);
      });
    });
  }
});
