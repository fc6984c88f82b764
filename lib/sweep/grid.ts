/**
 * The sweep grid: its axes are the benchmark options with an `axis` in lib/cli/options.ts (their
 * default values too); the grid is their cross product, first axis outermost.
 *
 * @example
 * ```ts
 * const parsed = parseArgs(["sweep"]);
 * expandSweep(parsed.config!, parsed.sweep!).length; // 64
 * ```
 *
 * @module
 */
import { bench_options } from "../cli/options.ts";
import type { AnyOption } from "../cli/option.ts";
import { UsageError } from "../common/size.ts";
import type { BenchConfig } from "../common/types.ts";
import { validateConfig } from "../run/config.ts";

/** The values each sweep axis takes; `undefined` is "not set" (io_parallel's `sync`). */
export interface SweepAxes {
  blockSizeBytes: number[];
  queueDepth: number[];
  overlapEvents: boolean[];
  singleSubmit: boolean[];
  ioParallel: Array<number | undefined>;
}

/** The most points a grid may have. */
export const sweep_points_max = 4096;

/** The options that are sweep axes, outermost first. */
export const axis_options: readonly AnyOption[] = bench_options.filter((def) =>
  def.axis !== undefined && def.key !== undefined
);

/** The grid's default axes (from the option table). */
export function defaultAxes(): SweepAxes {
  return Object.fromEntries(
    axis_options.map((def) => [def.key!, [...def.axis!.default]]),
  ) as unknown as SweepAxes;
}

/** How many points the axes make. */
export function gridSize(axes: SweepAxes): number {
  return axis_options.reduce(
    (count, def) => count * (axes[def.key as keyof SweepAxes]?.length ?? 1),
    1,
  );
}

/** Parses one axis list (`128K,1M`, `on,off`, `sync,1,2`); each item as the option parses it. */
export function parseAxis(def: AnyOption, text: string, flag: string): unknown[] {
  const unset = def.axis?.unset ?? [];
  const values: unknown[] = [];
  for (const item of text.split(",").map((word) => word.trim())) {
    const value = unset.includes(item.toLowerCase()) ? undefined : def.type.parse(item, flag);
    if (!values.includes(value)) values.push(value);
  }
  return values;
}

/**
 * Every point of a sweep grid, validated: the first axis (block_size) outermost, the last
 * (io_parallel) innermost.
 */
export function expandSweep(base: BenchConfig, axes: SweepAxes): BenchConfig[] {
  const count = gridSize(axes);
  if (count > sweep_points_max) {
    throw new UsageError(
      `the sweep grid has ${count} points; the most is ${sweep_points_max}: shorten the axis lists`,
    );
  }
  let points: BenchConfig[] = [{ ...base }];
  for (const def of axis_options) {
    const key = def.key as keyof SweepAxes;
    const values: unknown[] = axes[key] ?? [base[key]];
    points = points.flatMap((point) =>
      values.map((value) => {
        const next = { ...point } as Record<string, unknown>;
        if (value === undefined) delete next[key];
        else next[key] = value;
        return next as unknown as BenchConfig;
      })
    );
  }
  return points.map(validateConfig);
}

/**
 * The grid as the sweep prints it before starting: each axis with its values (and whether they
 * are its default list), and the number of points they make.
 *
 * @example
 * ```ts
 * gridLines(defaultAxes())[0];
 * // "grid: 64 points = block_size 1M,8M (default) × queue_depth 32,128 (default) × ..."
 * ```
 */
export function gridLines(axes: SweepAxes): string[] {
  const defaults = defaultAxes();
  const show = (def: AnyOption, values: readonly unknown[]) =>
    values.map((v) => (v === undefined ? def.axis?.unset?.[0] ?? "unset" : def.type.show(v)))
      .join(",");
  let defaulted = 0;
  const parts = axis_options.map((def) => {
    const key = def.key as keyof SweepAxes;
    const values = axes[key] as readonly unknown[];
    const same = show(def, values) === show(def, defaults[key] as readonly unknown[]);
    if (same && values.length > 1) defaulted += 1;
    return `${def.name} ${show(def, values)}${same ? " (default)" : ""}`;
  });
  const lines = [`grid: ${gridSize(axes)} points = ${parts.join(" × ")}`];
  if (defaulted > 0) {
    lines.push(
      `  the ${defaulted} axis(es) marked (default) were not given and sweep their default ` +
        "lists; give one value to hold an axis still (e.g. --overlap_events on --io_parallel 1)",
    );
  }
  return lines;
}
