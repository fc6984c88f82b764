/**
 * `aiobench zero --report FILE`: one self-contained HTML file in the sweep report's style (inline
 * CSS and SVG; no scripts, fonts or network): the verdict, a timeline per rank of one measured
 * step (compute, then each aio handle's swap-ins and swap-outs as bars over time), the steps, the
 * ranks, what would help, and what is and is not modelled.
 *
 * @example
 * ```ts
 * Deno.writeTextFileSync("zero.html", renderZeroReport(doc));
 * ```
 *
 * @module
 */
import { formatBytesHuman } from "../common/size.ts";
import { escapeHtml } from "../sweep/report.ts";
import type { Phase } from "./plan.ts";
import type { TimelineBar, TimelineRank, ZeroDocument } from "./report.ts";

const rows = [
  "compute",
  "param_read",
  "param_write",
  "optimizer",
  "optimizer_read",
  "optimizer_write",
] as const;
const row_labels: Record<(typeof rows)[number], string> = {
  compute: "compute (sleep)",
  param_read: "param read handle",
  param_write: "param write handle",
  optimizer: "optimizer handle",
  optimizer_read: "optimizer read handle",
  optimizer_write: "optimizer write handle",
};
const colours = { read: "#3b528b", write: "#e07b00", compute: "#9a9a9a" } as const;
const phase_fill: Record<Phase, string> = {
  forward: "#f2f7ff",
  backward: "#fff7ef",
  optimizer: "#f3fbf1",
};

const style = `
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:24px;color:#222;background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#777} .bad{color:#b00} .box{border:2px solid #e4002b;border-radius:6px;padding:10px 14px;display:inline-block}
table{border-collapse:collapse;font-size:12px} th,td{border:1px solid #ddd;padding:3px 7px;text-align:right} td{white-space:nowrap}
th{background:#f3f3f3} td.key{text-align:left} ul{font-size:13px}
`;

const svg_style = "<style>text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif}" +
  ".tick{font-size:11px;fill:#444}.head{font-size:12px;font-weight:bold;fill:#222}</style>";

const label_w = 150;
const row_h = 22;
const plot_w = 1100;

function fmt(n: number, digits = 3): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

function niceStep(span: number): number {
  const raw = span / 8;
  const power = 10 ** Math.floor(Math.log10(raw > 0 ? raw : 1));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? power * 10;
}

function bar(b: TimelineBar, y: number, scale: number): string {
  const x = label_w + b.start_s * scale;
  const w = Math.max(0.8, (b.end_s - b.start_s) * scale);
  const what = b.op === "compute"
    ? `${b.label}: ${fmt(b.end_s - b.start_s)} s`
    : `${b.label}: ${b.op} ${formatBytesHuman(b.bytes)} in ${fmt(b.end_s - b.start_s)} s`;
  return `<g><title>${escapeHtml(`${what} (at ${fmt(b.start_s)} s)`)}</title><rect x="${
    x.toFixed(2)
  }" y="${y + 3}" width="${w.toFixed(2)}" height="${row_h - 6}" fill="${
    colours[b.op]
  }" stroke="#fff" stroke-width="0.5"/></g>`;
}

/** One rank's timeline as an SVG: phases shaded, one row per handle that moved something. */
export function timelineSvg(t: TimelineRank, spanS: number): string {
  const used = rows.filter((r) => t.bars.some((b) => b.lane === r));
  const scale = plot_w / Math.max(spanS, 1e-6);
  const top = 24;
  const height = top + used.length * row_h + 30;
  const parts: string[] = [svg_style];
  for (const phase of ["forward", "backward", "optimizer"] as const) {
    const bars = t.bars.filter((b) => b.phase === phase);
    if (bars.length === 0) continue;
    const start = Math.min(...bars.map((b) => b.start_s));
    const end = Math.max(...bars.map((b) => b.end_s));
    parts.push(
      `<rect x="${label_w + start * scale}" y="${top - 16}" width="${
        Math.max(1, (end - start) * scale)
      }" height="${used.length * row_h + 16}" fill="${phase_fill[phase]}"/>`,
      `<text x="${label_w + start * scale + 3}" y="${top - 4}" class="tick">${phase}</text>`,
    );
  }
  used.forEach((row, i) => {
    const y = top + i * row_h;
    parts.push(
      `<text x="${label_w - 6}" y="${y + row_h / 2 + 4}" text-anchor="end" class="tick">${
        row_labels[row]
      }</text>`,
      `<line x1="${label_w}" y1="${y + row_h}" x2="${label_w + plot_w}" y2="${
        y + row_h
      }" stroke="#eee"/>`,
    );
    for (const b of t.bars.filter((b) => b.lane === row)) parts.push(bar(b, y, scale));
  });
  const axisY = top + used.length * row_h;
  const step = niceStep(spanS);
  for (let s = 0; s <= spanS + 1e-9; s += step) {
    const x = label_w + s * scale;
    parts.push(
      `<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="#888"/>`,
      `<text x="${x}" y="${axisY + 16}" text-anchor="middle" class="tick">${
        s.toFixed(step < 0.01 ? 3 : step < 0.1 ? 2 : step < 1 ? 1 : 0)
      } s</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${
    label_w + plot_w + 20
  }" height="${height}" ` +
    `role="img" aria-label="rank ${t.rank} timeline">${parts.join("")}</svg>`;
}

function legend(): string {
  const item = (colour: string, text: string) =>
    `<span style="display:inline-block;width:14px;height:10px;background:${colour};margin:0 4px 0 12px"></span>${text}`;
  return `<p class="muted">${item(colours.read, "swap-in (read)")}${
    item(colours.write, "swap-out (write)")
  }${item(colours.compute, "compute (--compute_s / --update_s)")}${
    item(phase_fill.forward, "forward")
  }${item(phase_fill.backward, "backward")}${item(phase_fill.optimizer, "optimizer step")}</p>`;
}

function stepsTable(doc: ZeroDocument): string {
  const multi = doc.ranks_on_node > 1;
  const head = "<tr><th>step</th><th>wall s</th><th>IO s</th><th>GiB/s</th><th>forward s</th>" +
    `<th>backward s</th><th>optimizer s</th>${multi ? "<th>IO s per rank</th>" : ""}</tr>`;
  const body = doc.steps.map((s) =>
    `<tr><td>${s.warmup ? "warm-up" : s.step}</td><td>${fmt(s.step_s)}</td><td>${
      fmt(s.io_s)
    }</td><td>${fmt(s.gib_s, 2)}</td><td>${fmt(s.phases.forward.s)}</td><td>${
      fmt(s.phases.backward.s)
    }</td><td>${fmt(s.phases.optimizer.s)}</td>${
      multi ? `<td>${s.ranks.map((r) => fmt(r.io_s, 2)).join(" ")}</td>` : ""
    }</tr>`
  ).join("");
  return `<table>${head}${body}</table>`;
}

function ranksTable(doc: ZeroDocument): string {
  const head = "<tr><th>rank</th><th>read / step</th><th>written / step</th><th>IO s median</th>" +
    "<th>min–max</th><th>GiB/s</th><th>handles: p50 / p99 µs per IO</th><th>optimizer folder</th>" +
    "<th>parameter folder</th></tr>";
  const body = doc.ranks.map((r) =>
    `<tr><td>${r.rank}</td><td>${formatBytesHuman(r.read_bytes_per_step)}</td><td>${
      formatBytesHuman(r.write_bytes_per_step)
    }</td><td>${fmt(r.io_s_median)}</td><td>${fmt(r.io_s_min)}–${fmt(r.io_s_max)}</td><td>${
      fmt(r.gib_s, 2)
    }</td><td class="key">${
      r.lanes.map((l) =>
        `${escapeHtml(l.lane)} ${fmt(l.latency_us?.p50 ?? NaN, 0)} / ${
          fmt(l.latency_us?.p99 ?? NaN, 0)
        }`
      ).join("<br>")
    }</td><td class="key">${escapeHtml(r.optimizer_dir || "–")}</td><td class="key">${
      escapeHtml(r.param_dir || "–")
    }</td></tr>`
  ).join("");
  return `<table>${head}${body}</table>`;
}

function list(items: readonly string[]): string {
  return `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>`;
}

/** The whole report as one HTML document. */
export function renderZeroReport(doc: ZeroDocument): string {
  const span = Math.max(0, ...doc.timeline.map((t) => t.step_s));
  const shown = doc.timeline[0]?.step;
  const m = doc.model as { layers: number; hidden: number; vocab: number; params: number };
  const settings = doc.settings as { dtype: string; sub_group_size: number };
  const timelines = doc.timeline.map((t) =>
    `<h3 style="font-size:14px;margin:14px 0 2px">rank ${t.rank}: ${fmt(t.step_s)} s</h3>${
      timelineSvg(t, span)
    }`
  ).join("\n");
  const suggestions = doc.suggestions.map((s) =>
    `<li>${escapeHtml(s.what)}: ${
      escapeHtml(s.effect)
    } <span class="muted">[${s.basis}]</span></li>`
  ).join("");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>aiobench zero</title><style>${style}</style></head><body>
<h1>aiobench zero: ZeRO-Infinity swap traffic replayed</h1>
<p class="muted">${escapeHtml(doc.started_at)} · aiobench ${escapeHtml(doc.version)} · ${
    escapeHtml(doc.offload)
  } · GPT-style ${m.layers} layers × hidden ${m.hidden}, vocab ${m.vocab} (${
    (m.params / 1e9).toFixed(2)
  }B parameters, ${
    escapeHtml(settings.dtype)
  }) · ${doc.world_size} rank(s), ${doc.ranks_on_node} here · sub_group_size ${settings.sub_group_size} · engine ${
    escapeHtml(String(doc.env.engine))
  }${doc.partial ? ' · <span class="bad">stopped before the end</span>' : ""}</p>
<div class="box"><b>${escapeHtml(doc.verdict)}</b></div>
<h2>Timeline of step ${shown ?? "–"} per rank</h2>
${legend()}
${timelines || '<p class="muted">no measured step finished</p>'}
<h2>Steps</h2>
${stepsTable(doc)}
<h2>Ranks</h2>
${ranksTable(doc)}
<h2>What would help</h2>
<ul>${suggestions || "<li>nothing to suggest</li>"}</ul>
<h2>What is modelled</h2>
${list(doc.modelled)}
<h2>What is not</h2>
${list(doc.not_modelled)}
${doc.notes.length ? `<h2>Notes</h2>${list(doc.notes)}` : ""}
<p class="muted">Measured speeds depend on what else the machine was doing; rerun on a quiet machine before you rely on small differences.</p>
</body></html>
`;
}
