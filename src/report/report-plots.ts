// Plots of the run report (report.html): line charts of the training curves and the
// student's confusion matrix. Drawn as SVG (plain strings, no plotting library) and
// rasterised to PNG by sharp (librsvg); if rendering with text fails (no usable fonts),
// the same plot is rendered without text, as eval/reliability-plot.ts does.
// Every series is a <g data-series="NAME"> holding one <circle data-x data-y> per point,
// and every confusion cell a <rect data-row data-col data-count>, so tests can read them.
import sharp from 'sharp';

export interface Series {
  name: string;
  /** [x, y] points; non-finite y values are left out */
  points: [number, number][];
  color?: string;
  /** dashed line (e.g. the teacher's constant reference) */
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** fixed y range, else from the data */
  yMin?: number;
  yMax?: number;
  /** logarithmic y axis (all y > 0) */
  logY?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ['#3b6fb6', '#e0703a', '#3a9d5d', '#b04aa5', '#8c6d31', '#d62728', '#17becf', '#7f7f7f'];
const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
const f = (v: number): string => (Math.round(v * 100) / 100).toString();

/** Tick values: about `n` round numbers covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let i = first; i * step <= hi + step * 1e-9; i++) out.push(i === 0 ? 0 : +(i * step).toPrecision(12));
  return out;
}

const tickLabel = (v: number): string => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(1) : String(+v.toPrecision(4)));

/** The SVG of a line chart with points, axes, ticks, grid and a legend. */
export function lineChartSvg(c: LineChart, opts: { text?: boolean } = {}): string {
  const text = opts.text ?? true;
  const W = c.width ?? 600, H = c.height ?? 340;
  // the legend sits right of the plot, so it never hides a line
  const legend = text && c.series.length ? 34 + 7 * Math.max(...c.series.map((s) => s.name.length)) : 0;
  const M = { left: 72, right: 18 + legend, top: 44, bottom: 54 };
  const PW = W - M.left - M.right, PH = H - M.top - M.bottom;
  const series = c.series.map((s, i) => ({ ...s, color: s.color ?? COLORS[i % COLORS.length], points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!c.logY || y > 0)) }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const ty = (v: number) => (c.logY ? Math.log10(v) : v);
  let x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  let y0 = c.yMin ?? (ys.length ? ty(Math.min(...ys)) : 0), y1 = c.yMax ?? (ys.length ? ty(Math.max(...ys)) : 1);
  if (c.yMin === undefined || c.yMax === undefined) {
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 0.5; y1 += Math.abs(y1) * 0.1 || 0.5; }
    const pad = (y1 - y0) * 0.06;
    if (c.yMin === undefined) y0 -= pad;
    if (c.yMax === undefined) y1 += pad;
  }
  const X = (v: number) => M.left + ((v - x0) / (x1 - x0)) * PW;
  const Y = (v: number) => M.top + (1 - (ty(v) - y0) / (y1 - y0)) * PH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="#f7f7f7"/>`);
  const yTicks = c.logY
    ? niceTicks(Math.floor(y0), Math.ceil(y1), Math.max(1, Math.min(6, Math.ceil(y1) - Math.floor(y0)))).filter((v) => v >= y0 - 1e-9 && v <= y1 + 1e-9).map((v) => 10 ** v)
    : niceTicks(y0, y1);
  const xTicks = niceTicks(x0, x1, Math.min(8, Math.max(1, Math.round(x1 - x0)))).filter((v) => v >= x0 - 1e-9 && v <= x1 + 1e-9);
  for (const v of yTicks) {
    out.push(`<line x1="${M.left}" y1="${f(Y(v))}" x2="${M.left + PW}" y2="${f(Y(v))}" stroke="#e0e0e0"/>`);
    if (text) out.push(`<text x="${M.left - 8}" y="${f(Y(v) + 4)}" font-size="12" text-anchor="end">${esc(tickLabel(v))}</text>`);
  }
  for (const v of xTicks) {
    out.push(`<line x1="${f(X(v))}" y1="${M.top}" x2="${f(X(v))}" y2="${M.top + PH}" stroke="#e0e0e0"/>`);
    if (text) out.push(`<text x="${f(X(v))}" y="${M.top + PH + 18}" font-size="12" text-anchor="middle">${esc(tickLabel(v))}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#000" stroke-width="1.5"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PH}" stroke="#000" stroke-width="1.5"/>`);
  for (const s of series) {
    out.push(`<g data-series="${esc(s.name)}">`);
    if (s.points.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''} points="${s.points.map(([x, y]) => `${f(X(x))},${f(Y(y))}`).join(' ')}"/>`);
    }
    for (const [x, y] of s.points) out.push(`<circle cx="${f(X(x))}" cy="${f(Y(y))}" r="3.5" fill="${s.color}" data-x="${x}" data-y="${y}"/>`);
    out.push('</g>');
  }
  if (text) {
    out.push(`<text x="${W / 2}" y="24" font-size="15" font-weight="bold" text-anchor="middle">${esc(c.title)}</text>`);
    out.push(`<text x="${M.left + PW / 2}" y="${H - 12}" font-size="13" text-anchor="middle">${esc(c.xLabel)}</text>`);
    const cy = M.top + PH / 2;
    out.push(`<text x="18" y="${f(cy)}" font-size="13" text-anchor="middle" transform="rotate(-90 18 ${f(cy)})">${esc(c.yLabel)}</text>`);
    series.forEach((s, i) => {
      const lx = M.left + PW + 12, ly = M.top + 4 + i * 18;
      out.push(`<line x1="${lx}" y1="${ly + 6}" x2="${lx + 18}" y2="${ly + 6}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
      out.push(`<text x="${lx + 24}" y="${ly + 10}" font-size="12">${esc(s.name)}</text>`);
    });
    if (!series.some((s) => s.points.length)) out.push(`<text x="${M.left + PW / 2}" y="${M.top + PH / 2}" font-size="14" text-anchor="middle" fill="#666">no data</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Counts [true class][predicted class] from row-major logits and labels (labels outside 0..C-1 are left out). */
export function confusionMatrix(logits: Float32Array, labels: ArrayLike<number>, classes: number): number[][] {
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < classes)) continue;
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    m[y][best]++;
  }
  return m;
}

/** The SVG of a confusion matrix: cell shade = fraction of the true class (row), count written in each cell. */
export function confusionSvg(matrix: number[][], opts: { title?: string; classNames?: string[]; text?: boolean } = {}): string {
  const text = opts.text ?? true;
  const C = matrix.length;
  const cell = Math.max(14, Math.min(48, Math.floor(480 / Math.max(1, C))));
  const M = { left: 96, top: 56, right: 20, bottom: 70 };
  const W = M.left + C * cell + M.right, H = M.top + C * cell + M.bottom;
  const name = (i: number) => opts.classNames?.[i] ?? String(i);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  for (let r = 0; r < C; r++) {
    const total = matrix[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) {
      const v = matrix[r][c], frac = total ? v / total : 0;
      // white -> blue by row fraction
      const shade = (a: number, b: number) => Math.round(a + (b - a) * Math.sqrt(frac));
      const fill = `rgb(${shade(255, 31)},${shade(255, 63)},${shade(255, 140)})`;
      const x = M.left + c * cell, y = M.top + r * cell;
      out.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#dddddd" data-row="${r}" data-col="${c}" data-count="${v}"/>`);
      if (text && cell >= 22 && v > 0) {
        out.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" font-size="${cell >= 36 ? 12 : 9}" text-anchor="middle" fill="${frac > 0.45 ? '#ffffff' : '#222222'}">${v}</text>`);
      }
    }
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${C * cell}" height="${C * cell}" fill="none" stroke="#000" stroke-width="1.5"/>`);
  if (text) {
    const fs = cell >= 28 ? 12 : 9;
    for (let i = 0; i < C; i++) {
      out.push(`<text x="${M.left - 6}" y="${M.top + i * cell + cell / 2 + 4}" font-size="${fs}" text-anchor="end">${esc(name(i))}</text>`);
      out.push(`<text x="${M.left + i * cell + cell / 2}" y="${M.top + C * cell + 16}" font-size="${fs}" text-anchor="middle">${esc(name(i))}</text>`);
    }
    out.push(`<text x="${W / 2}" y="24" font-size="15" font-weight="bold" text-anchor="middle">${esc(opts.title ?? 'Confusion matrix')}</text>`);
    out.push(`<text x="${M.left + (C * cell) / 2}" y="${H - 22}" font-size="13" text-anchor="middle">Predicted class</text>`);
    const cy = M.top + (C * cell) / 2;
    out.push(`<text x="22" y="${cy}" font-size="13" text-anchor="middle" transform="rotate(-90 22 ${cy})">True class</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Rasterise an SVG made by `draw` to PNG; falls back to the text-free drawing if text cannot be rendered. */
export async function svgPng(draw: (text: boolean) => string, log?: (l: string) => void): Promise<Buffer> {
  try {
    return await sharp(Buffer.from(draw(true))).png().toBuffer();
  } catch (e) {
    log?.(`report plot: rendering text failed (${(e as Error).message}); drawing it without text`);
    return sharp(Buffer.from(draw(false))).png().toBuffer();
  }
}

export const lineChartPng = (c: LineChart, log?: (l: string) => void): Promise<Buffer> => svgPng((text) => lineChartSvg(c, { text }), log);
export const confusionPng = (m: number[][], opts: { title?: string; classNames?: string[] } = {}, log?: (l: string) => void): Promise<Buffer> =>
  svgPng((text) => confusionSvg(m, { ...opts, text }), log);
