/** Writing whole lines to stdout/stderr for the subcommands (no partial writes, no interleaving). */

const encoder = new TextEncoder();

/** A stream with a synchronous write, like `Deno.stdout` and `Deno.stderr`. */
export interface SyncWriter {
  writeSync(p: Uint8Array): number;
}

/** Writes each line followed by a newline, looping until every byte is written. */
export function writeLines(stream: SyncWriter, lines: string[]): void {
  const bytes = encoder.encode(lines.map((l) => `${l}\n`).join(""));
  let done = 0;
  while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
}

/** One line to stderr. */
export function errLine(line: string): void {
  writeLines(Deno.stderr, [line]);
}
