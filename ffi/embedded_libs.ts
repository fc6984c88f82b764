// The native libraries a published JSR package carries (scripts/publish.sh fills this file just
// for `deno publish`, then restores it). Empty in a checkout, which loads zig/zig-out instead.
import type { EmbeddedLibrary } from "./native.ts";

/** The native library for each supported CPU, as bytes with their sha256 (none in a checkout). */
export const libraries: EmbeddedLibrary[] = [];
