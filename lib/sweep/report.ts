/**
 * The sweep's HTML report: one self-contained file (inline CSS and SVG; no scripts, fonts or
 * network) with the best point, the ranking, a GiB/s heatmap over block_size × queue_depth per
 * policy (overlap_events × single_submit × io_parallel) and op, the best point's latency
 * histogram, and every record.
 *
 * @example
 * ```ts
 * Deno.writeTextFileSync("sweep.html", renderSweepReport(sweepDocument(outcome, "sum")));
 * ```
 *
 * @module
 */
import { bucketLow, bucketWidth } from "../common/histogram.ts";
import { formatSize } from "../common/size.ts";
import type { LatencySummary } from "../common/types.ts";
import { deepSpeedAioJson, objectiveGibS, type SweepDocument } from "./rank.ts";
import type { SweepOpStats, SweepPoint, SweepRecord } from "./record.ts";

const ops = ["write", "read"] as const;
type Op = typeof ops[number];

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

const viridis = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
] as const;

/** Viridis colour at t in [0, 1], with the text colour that reads on it. */
export function heatColor(t: number): { fill: string; text: string } {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (viridis.length - 1);
  const i = Math.min(viridis.length - 2, Math.floor(x));
  const f = x - i;
  const rgb = viridis[i].map((c, k) => Math.round(c + (viridis[i + 1][k] - c) * f));
  const luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  return { fill: `rgb(${rgb.join(",")})`, text: luminance > 140 ? "#111" : "#fff" };
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function parLabel(p: number | null): string {
  return p === null ? "sync" : `io_parallel ${p}`;
}

function samePolicy(a: SweepPoint, b: SweepPoint): boolean {
  return a.overlap_events === b.overlap_events && a.single_submit === b.single_submit &&
    a.io_parallel === b.io_parallel;
}

interface HeatLayout {
  blocks: number[];
  depths: number[];
  policies: Array<{ overlap: boolean; single: boolean }>;
  pars: Array<number | null>;
}

function layoutOf(grid: SweepPoint[]): HeatLayout {
  return {
    blocks: unique(grid.map((p) => p.block_size)),
    depths: unique(grid.map((p) => p.queue_depth)),
    policies: unique(grid.map((p) => `${p.overlap_events}|${p.single_submit}`)).map((k) => ({
      overlap: k.startsWith("true"),
      single: k.endsWith("true"),
    })),
    pars: unique(grid.map((p) => p.io_parallel)),
  };
}

/** Styles inside each SVG, so a chart reads the same when cut out of the page. */
const svg_style = "<style>text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif}" +
  ".tick{font-size:11px;fill:#444}.head{font-size:12px;font-weight:bold;fill:#222}" +
  ".axis{font-size:11px;fill:#666}.mark{font-size:11px;fill:#e4002b}</style>";

const cell_w = 62;
const cell_h = 30;
const pad_left = 150;
const pad_top = 104;
const tile_gap = 46;
const tile_label_w = 40;

function tileOrigin(layout: HeatLayout, row: number, col: number): { x: number; y: number } {
  const tile_w = tile_label_w + layout.blocks.length * cell_w;
  const tile_h = layout.depths.length * cell_h + 22;
  return { x: pad_left + col * (tile_w + tile_gap), y: pad_top + row * (tile_h + tile_gap) };
}

function heatCell(
  record: SweepRecord | undefined,
  op: Op,
  range: { min: number; max: number },
  at: { x: number; y: number; recommended: boolean; equal: boolean },
): string {
  const stats = record?.[op];
  const title = record === undefined
    ? "not measured"
    : record.status === "failed"
    ? `${record.key}: FAILED: ${record.error ?? ""}`
    : `${record.key}: ${op} ${stats?.e2e_gib_s.toFixed(3)} GiB/s (min ${
      stats?.e2e_gib_s_min.toFixed(3)
    }, max ${stats?.e2e_gib_s_max.toFixed(3)})`;
  let fill = "#eee";
  let text = "#888";
  let label = "–";
  if (record?.status === "failed") {
    fill = "#d9d9d9";
    text = "#b00";
    label = "failed";
  } else if (stats !== undefined) {
    // The scale starts at zero: a 3% difference is a 3% difference in colour, not the whole scale.
    const color = heatColor(range.max > 0 ? stats.e2e_gib_s / range.max : 1);
    fill = color.fill;
    text = color.text;
    label = stats.e2e_gib_s.toFixed(2);
  }
  const outline = at.recommended
    ? `<rect x="${at.x + 2}" y="${at.y + 2}" width="${cell_w - 4}" height="${
      cell_h - 4
    }" fill="none" stroke="#e4002b" stroke-width="3"/>`
    : at.equal
    ? `<rect x="${at.x + 3}" y="${at.y + 3}" width="${cell_w - 6}" height="${
      cell_h - 6
    }" fill="none" stroke="#e4002b" stroke-width="1.5" stroke-dasharray="3 2"/>`
    : "";
  return `<g><title>${escapeHtml(title)}</title><rect x="${at.x}" y="${at.y}" width="${cell_w}" ` +
    `height="${cell_h}" fill="${fill}" stroke="#fff"/>${outline}<text x="${at.x + cell_w / 2}" y="${
      at.y + cell_h / 2 + 4
    }" text-anchor="middle" fill="${text}" font-size="12">${label}</text></g>`;
}

function heatTile(
  doc: SweepDocument,
  op: Op,
  cells: { layout: HeatLayout; row: number; col: number; range: { min: number; max: number } },
): string {
  const { layout, row, col, range } = cells;
  const origin = tileOrigin(layout, row, col);
  const policy = layout.policies[row];
  const par = layout.pars[col];
  const parts: string[] = [];
  const grid_x = origin.x + tile_label_w;
  for (const [bi, block] of layout.blocks.entries()) {
    parts.push(
      `<text x="${grid_x + bi * cell_w + cell_w / 2}" y="${
        origin.y + layout.depths.length * cell_h + 15
      }" text-anchor="middle" class="tick">${formatSize(block)}</text>`,
    );
  }
  for (const [qi, depth] of layout.depths.entries()) {
    parts.push(
      `<text x="${grid_x - 5}" y="${
        origin.y + qi * cell_h + cell_h / 2 + 4
      }" text-anchor="end" class="tick">${depth}</text>`,
    );
    for (const [bi, block] of layout.blocks.entries()) {
      const point: SweepPoint = {
        block_size: block,
        queue_depth: depth,
        overlap_events: policy.overlap,
        single_submit: policy.single,
        io_parallel: par,
      };
      const record = doc.records.find((r) =>
        samePolicy(r.point, point) && r.point.block_size === block && r.point.queue_depth === depth
      );
      const recommended = record !== undefined && record.key === doc.recommended?.key;
      const equal = record !== undefined &&
        (doc.recommended?.within_spread ?? []).includes(record.key);
      const at = { x: grid_x + bi * cell_w, y: origin.y + qi * cell_h, recommended, equal };
      parts.push(heatCell(record, op, range, at));
    }
  }
  return parts.join("");
}

function opRange(doc: SweepDocument, op: Op): { min: number; max: number } {
  const values = doc.records.filter((r) => r.status === "ok" && r[op] !== undefined)
    .map((r) => r[op]!.e2e_gib_s);
  return { min: 0, max: values.length === 0 ? 0 : Math.max(...values) };
}

function legend(range: { min: number; max: number }, x: number, y: number): string {
  const steps = 40;
  const w = 240;
  const parts = [
    `<text x="${x}" y="${
      y - 6
    }" class="tick">E2E GiB/s (colours from 0 to this op's fastest)</text>`,
  ];
  for (let i = 0; i < steps; i++) {
    parts.push(
      `<rect x="${x + (i * w) / steps}" y="${y}" width="${w / steps + 0.5}" height="12" fill="${
        heatColor(i / (steps - 1)).fill
      }"/>`,
    );
  }
  parts.push(
    `<text x="${x}" y="${y + 26}" class="tick">${range.min.toFixed(2)}</text>`,
    `<text x="${x + w}" y="${y + 26}" text-anchor="end" class="tick">${
      range.max.toFixed(2)
    }</text>`,
    `<rect x="${
      x + w + 24
    }" y="${y}" width="16" height="12" fill="none" stroke="#e4002b" stroke-width="3"/>`,
    `<text x="${x + w + 46}" y="${y + 11}" class="tick">recommended</text>`,
    `<rect x="${x + w + 25}" y="${y + 19}" width="14" height="10" fill="none" stroke="#e4002b" ` +
      `stroke-width="1.5" stroke-dasharray="3 2"/>`,
    `<text x="${x + w + 46}" y="${y + 28}" class="tick">within the spread of the fastest</text>`,
    `<rect x="${x + w + 140}" y="${y}" width="16" height="12" fill="#d9d9d9"/>`,
    `<text x="${x + w + 162}" y="${y + 11}" class="tick">failed</text>`,
    `<rect x="${x + w + 220}" y="${y}" width="16" height="12" fill="#eee"/>`,
    `<text x="${x + w + 242}" y="${y + 11}" class="tick">not measured</text>`,
  );
  return parts.join("");
}

/** One op's heatmaps: rows = overlap × single_submit, columns = io_parallel. */
export function heatmapSvg(doc: SweepDocument, op: Op): string {
  const layout = layoutOf(doc.grid);
  const range = opRange(doc, op);
  const last = tileOrigin(layout, layout.policies.length, layout.pars.length);
  const width = Math.max(last.x - tile_gap + 20, 620);
  const height = last.y - tile_gap + 8;
  const parts: string[] = [];
  for (const [col, par] of layout.pars.entries()) {
    const o = tileOrigin(layout, 0, col);
    const center = o.x + tile_label_w + (layout.blocks.length * cell_w) / 2;
    parts.push(
      `<text x="${center}" y="${pad_top - 12}" text-anchor="middle" class="head">${
        parLabel(par)
      }</text>`,
    );
  }
  for (const [row, policy] of layout.policies.entries()) {
    const o = tileOrigin(layout, row, 0);
    const mid = o.y + (layout.depths.length * cell_h) / 2;
    parts.push(
      `<text x="8" y="${mid - 4}" class="head">overlap ${policy.overlap ? "on" : "off"}</text>`,
      `<text x="8" y="${mid + 13}" class="head">single_submit ${
        policy.single ? "on" : "off"
      }</text>`,
    );
    for (const col of layout.pars.keys()) {
      parts.push(heatTile(doc, op, { layout, row, col, range }));
    }
  }
  parts.push(
    `<text x="8" y="16" class="axis">rows of each tile: queue_depth · columns: block_size</text>`,
    legend(range, 8, 46),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${op} GiB/s heatmap">${svg_style}${
      parts.join("")
    }</svg>`;
}

/** Log-spaced bins (per decade) of a sparse ns histogram, as percentages of all IOs. */
export function latencyBins(
  histogram: [number, number][],
  perDecade = 10,
): Array<{ lowUs: number; highUs: number; pct: number }> {
  const total = histogram.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return [];
  const mids = histogram.map(([i, n]) => ({ us: (bucketLow(i) + bucketWidth(i) / 2) / 1000, n }));
  const lo = Math.floor(Math.log10(Math.max(0.1, Math.min(...mids.map((m) => m.us)))) * perDecade);
  const hi = Math.ceil(Math.log10(Math.max(0.1, ...mids.map((m) => m.us))) * perDecade);
  const bins = [];
  for (let b = lo; b <= Math.max(lo, hi); b++) {
    bins.push({ lowUs: 10 ** (b / perDecade), highUs: 10 ** ((b + 1) / perDecade), pct: 0 });
  }
  for (const m of mids) {
    const b = Math.floor(Math.log10(Math.max(0.1, m.us)) * perDecade) - lo;
    bins[Math.min(bins.length - 1, Math.max(0, b))].pct += (m.n / total) * 100;
  }
  return bins;
}

function usText(us: number): string {
  if (us >= 1e6) return `${+(us / 1e6).toPrecision(3)}s`;
  if (us >= 1000) return `${+(us / 1000).toPrecision(3)}ms`;
  return `${+us.toPrecision(3)}µs`;
}

function niceTicksUs(lo_us: number, hi_us: number): number[] {
  const ticks: number[] = [];
  for (let d = Math.floor(Math.log10(lo_us)); d <= Math.ceil(Math.log10(hi_us)); d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (v >= lo_us && v <= hi_us) ticks.push(v);
    }
  }
  return ticks.length > 8 ? ticks.filter((v) => Math.log10(v) % 1 === 0) : ticks;
}

/** The histogram plot area and its axes (log time across, share of IOs up). */
export interface HistFrame {
  left: number;
  top: number;
  plot_w: number;
  plot_h: number;
  x: (us: number) => number;
  y: (pct: number) => number;
}

function histAxes(frame: HistFrame, range: { lo_us: number; hi_us: number; top_pct: number }) {
  const { left, top, plot_w, plot_h, x, y } = frame;
  const bottom = top + plot_h;
  const parts = [
    `<line x1="${left}" y1="${bottom}" x2="${left + plot_w}" y2="${bottom}" stroke="#444"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#444"/>`,
    `<text transform="rotate(-90)" x="${-(top + plot_h / 2)}" y="14" text-anchor="middle" ` +
    `class="axis">% of IOs</text>`,
    `<text x="${left + plot_w}" y="${bottom + 32}" text-anchor="end" class="axis">` +
    `latency per IO (log scale)</text>`,
  ];
  for (const pct of [0, range.top_pct / 2, range.top_pct]) {
    parts.push(
      `<line x1="${left}" y1="${y(pct)}" x2="${left + plot_w}" y2="${y(pct)}" stroke="#ddd"/>`,
      `<text x="${left - 5}" y="${y(pct) + 4}" text-anchor="end" class="tick">${
        pct.toFixed(range.top_pct < 10 ? 1 : 0)
      }%</text>`,
    );
  }
  for (const us of niceTicksUs(range.lo_us, range.hi_us)) {
    parts.push(
      `<line x1="${x(us)}" y1="${bottom}" x2="${x(us)}" y2="${bottom + 4}" stroke="#444"/>`,
      `<text x="${x(us)}" y="${bottom + 16}" text-anchor="middle" class="tick">${
        usText(us)
      }</text>`,
    );
  }
  return parts.join("");
}

/** Where a percentile mark's line ends and its label sits (see `placeMarks`). */
export interface MarkPlace {
  name: string;
  text: string;
  /** x of the dashed line. */
  x: number;
  /** Baseline of the label; the line runs from the plot's bottom up to just under it. */
  y: number;
  anchor: "start" | "end";
  /** The label's box, estimated from its length (11px text). */
  box: { x0: number; x1: number; y0: number; y1: number };
}

const mark_char_px = 6.6;

/**
 * Places the p50 and p99 labels so that neither overlaps the other, nor is crossed by the other's
 * line: p99 on the upper row, right of its line (left when it has no room), p50 on the lower row,
 * left of its line (right when it has no room). p50 ≤ p99, so p99's line is right of p50's label
 * and p50's line stops below p99's row.
 */
export function placeMarks(frame: HistFrame, latency: LatencySummary | null): MarkPlace[] {
  const rows = { p99: frame.top - 18, p50: frame.top - 5 };
  const right_edge = frame.left + frame.plot_w;
  const places: MarkPlace[] = [];
  for (const [name, us] of [["p50", latency?.p50], ["p99", latency?.p99]] as const) {
    if (us === undefined || us <= 0) continue;
    const x = Math.min(right_edge, Math.max(frame.left, frame.x(us)));
    const text = `${name} ${usText(us)}`;
    const width = text.length * mark_char_px;
    const y = rows[name];
    const fitsLeft = x - 4 - width >= 0;
    const fitsRight = x + 4 + width <= right_edge + 16;
    const anchor = name === "p50" ? (fitsLeft ? "end" : "start") : (fitsRight ? "start" : "end");
    const x0 = anchor === "start" ? x + 4 : x - 4 - width;
    places.push({ name, text, x, y, anchor, box: { x0, x1: x0 + width, y0: y - 10, y1: y + 2 } });
  }
  return places;
}

function histMarks(frame: HistFrame, latency: LatencySummary | null): string {
  return placeMarks(frame, latency).map((m) =>
    `<line x1="${m.x}" y1="${frame.top + frame.plot_h}" x2="${m.x}" y2="${m.y + 3}" ` +
    `stroke="#e4002b" stroke-dasharray="4 3"/>` +
    `<text x="${m.anchor === "start" ? m.x + 4 : m.x - 4}" y="${m.y}" text-anchor="${m.anchor}" ` +
    `class="mark">${m.text}</text>`
  ).join("");
}

/** The best point's latency histogram for one op (log time axis, share of IOs). */
export function histogramSvg(stats: SweepOpStats, op: Op): string {
  const bins = latencyBins(stats.latency_histogram);
  if (bins.length === 0) {
    return `<p class="muted">no latency recorded for ${op} (run without --no_latency)</p>`;
  }
  const width = 560;
  const height = 260;
  const lo_us = bins[0].lowUs;
  const hi_us = bins[bins.length - 1].highUs;
  const top_pct = Math.max(...bins.map((b) => b.pct));
  const left = 64;
  const top = 56;
  const plot_w = width - left - 20;
  const plot_h = height - top - 44;
  const frame: HistFrame = {
    left,
    top,
    plot_w,
    plot_h,
    x: (us) => left + ((Math.log10(us) - Math.log10(lo_us)) / Math.log10(hi_us / lo_us)) * plot_w,
    y: (pct) => top + plot_h - (pct / top_pct) * plot_h,
  };
  const bars = bins.filter((b) => b.pct > 0).map((b) =>
    `<rect x="${frame.x(b.lowUs) + 0.5}" y="${frame.y(b.pct)}" width="${
      Math.max(1, frame.x(b.highUs) - frame.x(b.lowUs) - 1)
    }" height="${top + plot_h - frame.y(b.pct)}" fill="#3b528b"><title>${usText(b.lowUs)}–${
      usText(b.highUs)
    }: ${b.pct.toFixed(2)}%</title></rect>`
  );
  const title = `${op}: ${stats.latency_us?.count ?? 0} IOs, mean ${
    usText(stats.latency_us?.mean ?? 0)
  }, max ${usText(stats.latency_us?.max ?? 0)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${op} latency histogram">` +
    `${svg_style}<text x="8" y="16" class="head">${escapeHtml(title)}</text>` +
    histAxes(frame, { lo_us, hi_us, top_pct }) + bars.join("") +
    histMarks(frame, stats.latency_us) +
    `</svg>`;
}

function fmt(n: number | undefined | null, digits = 2): string {
  return n === undefined || n === null ? "–" : n.toFixed(digits);
}

function opCell(stats: SweepOpStats | undefined): string {
  if (stats === undefined) return "<td>–</td><td>–</td><td>–</td>";
  return `<td>${fmt(stats.e2e_gib_s)} <span class="muted">±${fmt(stats.e2e_gib_s_stddev)}</span>` +
    `</td><td>${fmt(stats.e2e_gib_s_min)}–${fmt(stats.e2e_gib_s_max)}</td><td>${
      fmt(stats.latency_us?.p50, 0)
    } / ${fmt(stats.latency_us?.p99, 0)}</td>`;
}

function recordsTable(doc: SweepDocument, records: SweepRecord[], withRank: boolean): string {
  const rank = new Map(doc.ranking.map((r) => [r.key, r]));
  const head = `<tr>${withRank ? "<th>rank</th>" : ""}<th>config</th><th>status</th>` +
    ops.map((op) => `<th>${op} GiB/s</th><th>${op} min–max</th><th>${op} p50/p99 µs</th>`)
      .join("") +
    `<th>${doc.objective}</th><th>vs best</th></tr>`;
  const rows = records.map((r) => {
    const ranked = rank.get(r.key);
    const picked = r.key === doc.recommended?.key;
    const versus = (ranked === undefined
      ? "–"
      : ranked.rank === 1
      ? "best"
      : `−${ranked.below_best_pct.toFixed(1)}%`) + (picked ? " (recommended)" : "");
    const status = r.status === "ok"
      ? "ok"
      : `<span class="bad">${escapeHtml(r.error ?? "")}</span>`;
    return `<tr${picked ? ' class="best"' : ""}>${
      withRank ? `<td>${ranked?.rank ?? "–"}</td>` : ""
    }<td class="key">${escapeHtml(r.key)}</td><td>${status}</td>${
      ops.map((op) =>
        opCell(r[op])
      ).join("")
    }<td>${fmt(objectiveGibS(r, doc.objective))}</td><td>${versus}</td></tr>`;
  });
  return `<table>${head}${rows.join("")}</table>`;
}

const style = `
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:24px;color:#222;background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#777} .bad{color:#b00} .why{max-width:900px;margin:6px 0} .box{border:2px solid #e4002b;border-radius:6px;padding:10px 14px;display:inline-block}
pre{background:#f5f5f5;padding:8px;border-radius:4px;font-size:13px;white-space:pre-wrap}
table{border-collapse:collapse;font-size:12px} th,td{border:1px solid #ddd;padding:3px 7px;text-align:right} td{white-space:nowrap}
th{background:#f3f3f3} td.key{text-align:left;font-family:"DejaVu Sans Mono",monospace;white-space:nowrap}
tr.best td{background:#fff1f1;font-weight:bold}
.hists{display:flex;flex-wrap:wrap;gap:24px}
`;

function settingsText(doc: SweepDocument): string {
  const s = doc.settings;
  const target = s.read_file ?? s.write_file ?? (s.folders as string[] | undefined)?.join(", ") ??
    s.default_dir;
  const io = typeof s.io_size_bytes === "number" ? formatSize(s.io_size_bytes) : "file size";
  return `target ${target} · io_size ${io} · ${s.threads} worker(s) · ${s.warmup_loops} warm-up + ` +
    `${s.loops} timed loop(s) per config · engine ${doc.env?.engine ?? s.engine}`;
}

function bestSection(doc: SweepDocument): string {
  if (doc.best === null || doc.recommended === null) {
    return `<p class="bad">No config succeeded: nothing to recommend.</p>`;
  }
  const r = doc.recommended;
  const read = r.read_e2e_gib_s === null ? "" : ` · read ${fmt(r.read_e2e_gib_s)} GiB/s`;
  const write = r.write_e2e_gib_s === null ? "" : ` · write ${fmt(r.write_e2e_gib_s)} GiB/s`;
  const others = r.within_spread.length - 1;
  const why = others === 0
    ? "It is ahead of every other config by more than the loop-to-loop spread."
    : `${others} other config(s) are within the loop-to-loop spread of the fastest ` +
      `(${escapeHtml(r.fastest_key)}, ${fmt(doc.best.objective_gib_s)} GiB/s), so they are ` +
      `equals; the pick among them follows a rule: ${escapeHtml(r.rule)}.`;
  return `<div class="box"><b>Recommended (${escapeHtml(doc.objective)}): ${
    escapeHtml(r.key)
  }</b>` +
    `<br>${fmt(r.objective_gib_s)} GiB/s ${escapeHtml(doc.objective)}${read}${write}` +
    `<p class="why">${why}</p><pre>${escapeHtml(deepSpeedAioJson(r.deepspeed))}</pre></div>`;
}

/** The whole report as one HTML document. */
export function renderSweepReport(doc: SweepDocument): string {
  const summary = (doc.env?.summary as string[] | undefined) ?? [];
  const best = doc.recommended === null
    ? undefined
    : doc.records.find((r) => r.key === doc.recommended!.key);
  const byRank = doc.ranking.slice(0, 10).map((r) => doc.records.find((x) => x.key === r.key)!);
  const measuredOps = ops.filter((op) => doc.records.some((r) => r[op] !== undefined));
  const hist = best === undefined ? "" : ops.filter((op) => best[op] !== undefined)
    .map((op) => histogramSvg(best[op]!, op)).join("");
  const status = doc.complete
    ? `${doc.records.length} configs`
    : `${doc.records.length} of ${doc.grid.length} configs (stopped before the end)`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>aiobench sweep</title><style>${style}</style></head><body>
<h1>aiobench sweep</h1>
<p class="muted">${escapeHtml(doc.started_at)} · aiobench ${escapeHtml(doc.version)} · ${status}${
    doc.failed > 0 ? ` · <span class="bad">${doc.failed} failed</span>` : ""
  }<br>${escapeHtml(settingsText(doc))}${
    summary.map((line) => `<br>${escapeHtml(line)}`).join("")
  }</p>
${bestSection(doc)}
<h2>Top configs (E2E GiB/s over the timed loops, ± sample std. dev.)</h2>
${recordsTable(doc, byRank, true)}
${
    measuredOps.map((op) =>
      `<h2>${op} GiB/s by block_size × queue_depth, per policy</h2>${heatmapSvg(doc, op)}`
    ).join("\n")
  }
<h2>Latency of the recommended config${best === undefined ? "" : `: ${escapeHtml(best.key)}`}</h2>
<div class="hists">${hist || '<p class="muted">no successful config</p>'}</div>
<h2>Every config</h2>
${recordsTable(doc, doc.records, false)}
<p class="muted">Measured speeds depend on what else the machine was doing; re-measure the top configs on a quiet machine before you rely on small differences.</p>
</body></html>
`;
}
