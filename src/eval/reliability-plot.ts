// Reliability diagrams (Guo et al. 2017): per equal-width confidence bin, a bar of the
// bin's accuracy; the gap between that accuracy and the bin's mean confidence (what ECE
// weighs) shaded red; the diagonal of perfect calibration; axes with ticks and labels; a
// title with the model name and ECE, and the number of samples above each bin. One panel per model, side by side (student, then
// teacher). Drawn as SVG and rasterised by sharp (librsvg); if rendering with text fails
// (no usable fonts), the same plot is rendered without text. Written atomically.
import path from 'node:path';
import sharp from 'sharp';
import type { ReliabilityBin } from './calibration.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

export interface ReliabilityPanel {
  /** shown in the title, e.g. the model's file name */
  name: string;
  bins: ReliabilityBin[];
  ece: number;
  /** optional extra line under the title (e.g. accuracy and sample count) */
  subtitle?: string;
}

const W = 520, H = 540;
const M = { left: 70, right: 24, top: 72, bottom: 64 };
const PW = W - M.left - M.right, PH = H - M.top - M.bottom;

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
const f = (v: number): string => (Math.round(v * 100) / 100).toString();
const pct = (v: number): string => (Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : 'n/a');
/** At most `max` characters, shortened in the middle (file names keep their ends). */
const fit = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, Math.ceil((max - 1) / 2))}…${s.slice(s.length - Math.floor((max - 1) / 2))}`);

function panel(p: ReliabilityPanel, dx: number, text: boolean): string {
  const x = (v: number) => dx + M.left + v * PW;
  const y = (v: number) => M.top + (1 - v) * PH;
  const out: string[] = [];
  out.push(`<rect x="${dx}" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<rect x="${f(x(0))}" y="${f(y(1))}" width="${PW}" height="${PH}" fill="#f7f7f7" stroke="none"/>`);
  // grid
  for (let k = 0; k <= 5; k++) {
    const v = k / 5;
    out.push(`<line x1="${f(x(0))}" y1="${f(y(v))}" x2="${f(x(1))}" y2="${f(y(v))}" stroke="#e0e0e0" stroke-width="1"/>`);
    out.push(`<line x1="${f(x(v))}" y1="${f(y(0))}" x2="${f(x(v))}" y2="${f(y(1))}" stroke="#e0e0e0" stroke-width="1"/>`);
  }
  // bars and gaps
  for (const b of p.bins) {
    if (!b.count) continue;
    const x0 = x(b.lo), bw = x(b.hi) - x0;
    out.push(`<rect x="${f(x0)}" y="${f(y(b.accuracy))}" width="${f(bw)}" height="${f(y(0) - y(b.accuracy))}" fill="#3b6fb6" stroke="#1f3f6e" stroke-width="1"/>`);
    const top = Math.max(b.accuracy, b.confidence), bot = Math.min(b.accuracy, b.confidence);
    if (top > bot) {
      out.push(`<rect x="${f(x0)}" y="${f(y(top))}" width="${f(bw)}" height="${f(y(bot) - y(top))}" fill="#e04040" fill-opacity="0.45" stroke="#b02020" stroke-width="1"/>`);
    }
  }
  // diagonal and axes
  out.push(`<line x1="${f(x(0))}" y1="${f(y(0))}" x2="${f(x(1))}" y2="${f(y(1))}" stroke="#444444" stroke-width="2" stroke-dasharray="6,4"/>`);
  out.push(`<line x1="${f(x(0))}" y1="${f(y(0))}" x2="${f(x(1))}" y2="${f(y(0))}" stroke="#000000" stroke-width="1.5"/>`);
  out.push(`<line x1="${f(x(0))}" y1="${f(y(0))}" x2="${f(x(0))}" y2="${f(y(1))}" stroke="#000000" stroke-width="1.5"/>`);
  for (let k = 0; k <= 5; k++) {
    const v = k / 5;
    out.push(`<line x1="${f(x(v))}" y1="${f(y(0))}" x2="${f(x(v))}" y2="${f(y(0) + 6)}" stroke="#000000" stroke-width="1.5"/>`);
    out.push(`<line x1="${f(x(0) - 6)}" y1="${f(y(v))}" x2="${f(x(0))}" y2="${f(y(v))}" stroke="#000000" stroke-width="1.5"/>`);
    if (text) {
      out.push(`<text x="${f(x(v))}" y="${f(y(0) + 22)}" font-size="14" text-anchor="middle">${v.toFixed(1)}</text>`);
      out.push(`<text x="${f(x(0) - 10)}" y="${f(y(v) + 5)}" font-size="14" text-anchor="end">${v.toFixed(1)}</text>`);
    }
  }
  if (text) {
    const cx = dx + M.left + PW / 2;
    out.push(`<text x="${f(cx)}" y="${H - 18}" font-size="16" text-anchor="middle">Confidence</text>`);
    out.push(`<text x="${dx + 20}" y="${f(M.top + PH / 2)}" font-size="16" text-anchor="middle" transform="rotate(-90 ${dx + 20} ${f(M.top + PH / 2)})">Accuracy</text>`);
    out.push(`<text x="${f(cx)}" y="28" font-size="15" font-weight="bold" text-anchor="middle">${esc(fit(p.name, 38))} — ECE ${pct(p.ece)}</text>`);
    if (p.subtitle) out.push(`<text x="${f(cx)}" y="50" font-size="13" text-anchor="middle" fill="#444444">${esc(fit(p.subtitle, 64))}</text>`);
    // samples per bin, in a row above the plot
    for (const b of p.bins) if (b.count) out.push(`<text x="${f((x(b.lo) + x(b.hi)) / 2)}" y="${M.top - 6}" font-size="9" text-anchor="middle" fill="#666666">${b.count}</text>`);
    // legend
    const lx = x(0) + 12, ly = y(1) + 12;
    out.push(`<rect x="${f(lx)}" y="${f(ly)}" width="14" height="14" fill="#3b6fb6"/><text x="${f(lx + 20)}" y="${f(ly + 12)}" font-size="13">Accuracy</text>`);
    out.push(`<rect x="${f(lx)}" y="${f(ly + 20)}" width="14" height="14" fill="#e04040" fill-opacity="0.45" stroke="#b02020"/><text x="${f(lx + 20)}" y="${f(ly + 32)}" font-size="13">Gap to mean confidence</text>`);
  }
  return out.join('\n');
}

/** The SVG of one panel per model, side by side. */
export function reliabilitySvg(panels: ReliabilityPanel[], opts: { text?: boolean } = {}): string {
  if (!panels.length) throw new RangeError('reliability diagram: no panels');
  const text = opts.text ?? true;
  const width = W * panels.length;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif">\n`
    + panels.map((p, i) => panel(p, i * W, text)).join('\n') + '\n</svg>\n';
}

/** The PNG bytes of the diagram; falls back to a text-free plot if text cannot be rendered. */
export async function reliabilityPng(panels: ReliabilityPanel[], log?: (l: string) => void): Promise<Buffer> {
  try {
    return await sharp(Buffer.from(reliabilitySvg(panels))).png().toBuffer();
  } catch (e) {
    log?.(`reliability diagram: rendering text failed (${(e as Error).message}); writing it without text`);
    return sharp(Buffer.from(reliabilitySvg(panels, { text: false }))).png().toBuffer();
  }
}

/** Render and write the diagram to `file` atomically (temporary file, then rename). */
export async function writeReliabilityPng(file: string, panels: ReliabilityPanel[], log?: (l: string) => void): Promise<void> {
  writeFileAtomic(file, await reliabilityPng(panels, log));
}

/** A panel title from a model path: its file name. */
export const panelName = (file: string): string => path.basename(file);
