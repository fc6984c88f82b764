/**
 * A one-line progress indicator for a terminal: the current phase, elapsed seconds and, for
 * time-based runs, the time left. Other lines are printed above it, never through it.
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

  /** Prints a whole line above the indicator. */
  line(text: string): void {
    this.#write(`${this.#shown ? CLEAR : ""}${text}\n`);
    if (this.#shown) this.draw();
  }

  /** Stops redrawing and removes the indicator line. */
  stop(): void {
    clearInterval(this.#timer);
    if (this.#shown) this.#write(CLEAR);
    this.#shown = false;
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let done = 0;
    while (done < bytes.length) done += this.#out.writeSync(bytes.subarray(done));
  }
}
