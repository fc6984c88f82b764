/**
 * A one-line progress indicator for a terminal, redrawn in place: by default the current phase,
 * elapsed seconds and, for time-based runs, the time left; a `render` function can supply the
 * whole line instead. Other lines are printed above it, never through it.
 *
 * @module
 */
import type { SyncWriter } from "./output.ts";

const encoder = new TextEncoder();
const CLEAR = "\r\x1b[K";

/** Options of `Progress`. */
export interface ProgressOptions {
  /** Expected seconds of the whole run, when known (time-based runs). */
  totalSeconds?: number;
  /** Milliseconds between redraws (default 1000). */
  intervalMs?: number;
  now?: () => number;
  /** The whole line to show (replaces the phase and elapsed text). */
  render?: () => string;
}

/** Redraws `phase  12s` (or `phase  12s of 60s`) on one terminal line until stopped. */
export class Progress {
  #out: SyncWriter;
  #phase = "";
  #start: number;
  #shown = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #options: ProgressOptions;
  #now: () => number;

  constructor(out: SyncWriter, options: ProgressOptions = {}) {
    this.#out = out;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#timer = setInterval(() => this.draw(), options.intervalMs ?? 1000);
  }

  /** The text the indicator shows now. */
  text(): string {
    if (this.#options.render) return this.#options.render();
    const elapsed = (this.#now() - this.#start) / 1000;
    const total = this.#options.totalSeconds;
    const of = total ? ` of ~${Math.round(total)}s` : "";
    return `${this.#phase || "running"}  ${Math.floor(elapsed)}s${of}`;
  }

  /** Sets what is being done now (e.g. "write: 4 worker(s) …"). */
  phase(text: string): void {
    this.#phase = text;
  }

  draw(): void {
    this.#write(`${CLEAR}${this.text()}`);
    this.#shown = true;
  }

  /** Prints a whole line above the indicator (on `to`, e.g. stdout, when given). */
  line(text: string, to?: SyncWriter): void {
    if (to === undefined || to === this.#out) {
      this.#write(`${this.#shown ? CLEAR : ""}${text}\n`);
    } else {
      if (this.#shown) this.#write(CLEAR);
      writeAll(to, `${text}\n`);
    }
    if (this.#shown) this.draw();
  }

  /** Stops redrawing and removes the indicator line. */
  stop(): void {
    clearInterval(this.#timer);
    if (this.#shown) this.#write(CLEAR);
    this.#shown = false;
  }

  #write(text: string): void {
    writeAll(this.#out, text);
  }
}

function writeAll(out: SyncWriter, text: string): void {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += out.writeSync(bytes.subarray(done));
}
