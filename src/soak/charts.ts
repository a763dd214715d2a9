/**
 * Line charts as inline SVG for the soak report: one file that opens anywhere without a
 * script or a network. Hand-written because the report must be self-contained and a
 * charting library would bring a browser runtime for a few polylines.
 */
import type { FaultMark } from './series.js';

export interface Line {
  name: string;
  points: { t: number; y: number }[];
}

const W = 860;
const H = 240;
const PAD = { l: 64, r: 16, t: 62, b: 34 };
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

export function formatValue(v: number, unit: string): string {
  if (unit === 'bytes') return v >= 1 << 30 ? `${(v / (1 << 30)).toFixed(1)} GiB` : v >= 1 << 20 ? `${(v / (1 << 20)).toFixed(0)} MiB` : `${(v / 1024).toFixed(0)} KiB`;
  return `${Math.round(v * 10) / 10}${unit ? ` ${unit}` : ''}`;
}

/** A chart of lines over time (seconds), with each fault as a shaded band from its start to its recovery. */
export function lineChart(title: string, lines: Line[], opts: { unit: string; durationSec: number; faults: FaultMark[] }): string {
  const maxT = Math.max(opts.durationSec, ...lines.flatMap((l) => l.points.map((p) => p.t)), 1);
  const maxY = niceMax(Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p.y))));
  const x = (t: number) => PAD.l + (t / maxT) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / maxY) * (H - PAD.t - PAD.b);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const gy = y(maxY * f);
    return `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${gy}" y2="${gy}" stroke="#e5e7eb"/><text x="${PAD.l - 6}" y="${gy + 4}" text-anchor="end" font-size="11" fill="#6b7280">${esc(formatValue(maxY * f, opts.unit))}</text>`;
  });
  // Ticks on round seconds (every 10, 20, 50, 100, 200, 500 ... s), about five of them.
  const tickStep = niceMax(maxT / 6);
  const ticks = Array.from({ length: Math.floor(maxT / tickStep) + 1 }, (_, i) => i * tickStep).map(
    (t) => `<text x="${x(t)}" y="${H - PAD.b + 16}" text-anchor="middle" font-size="11" fill="#6b7280">${Math.round(t)} s</text>`,
  );
  const bands = opts.faults.map((f, i) => {
    const end = f.recoveredAt ?? maxT;
    // Labels on three staggered rows above the plot, so that faults close together stay readable.
    const ly = PAD.t - 24 + (i % 3) * 10;
    return `<rect x="${x(f.at)}" y="${PAD.t}" width="${Math.max(2, x(end) - x(f.at))}" height="${H - PAD.t - PAD.b}" fill="#fca5a5" opacity="0.35"><title>${esc(`${f.kind} ${f.target}: ${f.at} s to ${f.recoveredAt ?? '-'} s`)}</title></rect><line x1="${x(f.at)}" x2="${x(f.at)}" y1="${ly + 2}" y2="${PAD.t}" stroke="#fca5a5"/><text x="${x(f.at) + 2}" y="${ly}" font-size="9" fill="#991b1b">${esc(`${f.kind} ${f.target}`)}</text>`;
  });
  const paths = lines.map((l, i) => {
    const d = l.points.map((p, j) => `${j ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`).join('');
    return `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`;
  });
  const legend = lines.map((l, i) => `<tspan fill="${COLORS[i % COLORS.length]}">■ ${esc(l.name)}</tspan>`).join('  ');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="${PAD.l}" y="16" font-size="13" font-weight="600" fill="#111827">${esc(title)}</text>`,
    `<text x="${PAD.l}" y="31" font-size="11">${legend}</text>`,
    ...grid,
    ...bands,
    ...ticks,
    `<line x1="${PAD.l}" x2="${PAD.l}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="#9ca3af"/>`,
    ...paths,
    '</svg>',
  ].join('\n');
}
