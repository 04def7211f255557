// The run report page: one self-contained HTML file (inline CSS, plots embedded as
// data: URIs, no script, no network). Every number shown is an element with
// data-metric="KEY" (and data-record="report" or "final": the metrics.jsonl record it
// comes from) whose text is the value, formatted: "12.34%" for fractions shown as
// percentages, "1,234" for counts, "0.123 ms", "12.3×"; scripts read metrics.jsonl instead.
import path from 'node:path';
import { esc } from './report-plots.js';
import type { ReportData, MetricRecord } from './report-data.js';

type Kind = 'pct' | 'int' | 'bytes' | 'ms' | 'ratio' | 'num';

/** The text a number is shown as (see the header comment). */
export function formatMetric(v: number, kind: Kind): string {
  switch (kind) {
    case 'pct': return `${(100 * v).toFixed(2)}%`;
    case 'int': return Math.round(v).toLocaleString('en-US');
    case 'bytes': return `${Math.round(v).toLocaleString('en-US')} B`;
    case 'ms': return `${Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1e-4 ? v.toPrecision(3) : v.toFixed(6)} ms`;
    case 'ratio': return `${Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)}×`;
    case 'num': return v.toFixed(4);
  }
}

const human = (bytes: number): string => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
const mflops = (f: number): string => (f >= 1e9 ? `${(f / 1e9).toFixed(2)} GFLOPs` : `${(f / 1e6).toFixed(2)} MFLOPs`);

export function renderReportHtml(d: ReportData): string {
  const r = d.record as Record<string, unknown>;
  const fin = (d.final ?? {}) as MetricRecord;
  const has = (rec: Record<string, unknown>, k: string) => typeof rec[k] === 'number' && Number.isFinite(rec[k] as number);
  /** a number from the report record (or `final`), or an en dash when absent */
  const m = (key: string, kind: Kind, from: 'report' | 'final' = 'report', cls = ''): string => {
    const rec = from === 'report' ? r : fin;
    if (!has(rec, key)) return '<span class="na">–</span>';
    return `<span class="metric${cls ? ' ' + cls : ''}" data-metric="${esc(key)}" data-record="${from}">${esc(formatMetric(rec[key] as number, kind))}</span>`;
  };
  const extra = (key: string, fn: (v: number) => string) => (has(r, key) ? ` <span class="sub">(${esc(fn(r[key] as number))})</span>` : '');
  const teacher = !!d.teacherFile;
  const row = (label: string, key: string, kind: Kind, sub?: (v: number) => string, studentOnly = false) =>
    `<tr><th>${esc(label)}</th>${teacher ? `<td>${studentOnly ? '' : m(`teacher_${key}`, kind)}${sub ? extra(`teacher_${key}`, sub) : ''}</td>` : ''}<td>${m(key, kind)}${sub ? extra(key, sub) : ''}</td></tr>`;
  const cfg = d.config as Record<string, unknown>;
  const title = `Distillation report: ${path.basename(path.resolve(d.runDir))}`;
  const parts: string[] = [];
  parts.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:"DejaVu Sans","Liberation Sans",Arial,Helvetica,sans-serif;margin:0;padding:24px 32px;color:#222;background:#fff;max-width:1280px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px;margin-bottom:18px}
.big{display:flex;gap:18px;flex-wrap:wrap;margin:14px 0}
.tile{border:1px solid #d8dee8;border-radius:8px;padding:12px 20px;background:#f5f8fc;min-width:180px}
.tile .label{font-size:13px;color:#555}.tile .metric{font-size:40px;font-weight:bold;color:#1f3f6e}.tile .na{font-size:40px}
table{border-collapse:collapse;font-size:14px}th,td{padding:5px 14px;border-bottom:1px solid #eee;text-align:right}th{text-align:left;font-weight:normal;color:#333}
thead th{font-weight:bold;text-align:right}thead th:first-child{text-align:left}
.sub{color:#777;font-size:12px}.na{color:#aaa}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;flex:0 1 auto;max-width:100%}figure img{max-width:100%;border:1px solid #eee}
.plots.curves figure{flex:0 1 590px}.plots.curves figure img{width:100%}figcaption{font-size:12px;color:#555;max-width:560px}
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
ul.notes{font-size:13px;color:#555}
</style></head><body>`);
  parts.push(`<h1>${esc(title)}</h1>`);
  parts.push(`<div class="meta">objective <b>${esc(String(cfg.objective))}</b>, student <b>${esc(String(cfg.student))}</b>${teacher ? `, teacher <b>${esc(path.basename(d.teacherFile!))}</b>` : ', no teacher'}; `
    + `evaluated on ${m('val_samples', 'int')} of ${m('val_samples_total', 'int')} validation samples on this machine; generated ${esc(d.generated)}</div>`);
  if (teacher) {
    parts.push(`<div class="big">
<div class="tile"><div class="label">compression (teacher / student parameters)</div>${m('compression_ratio', 'ratio')}</div>
<div class="tile"><div class="label">speed-up, batch 64 (teacher / student latency)</div>${m('speedup_b64', 'ratio')}</div>
<div class="tile"><div class="label">speed-up, batch 1</div>${m('speedup_b1', 'ratio')}</div>
<div class="tile"><div class="label">agreement with the teacher</div>${m('agreement', 'pct')}</div>
</div>`);
  }
  parts.push(`<h2>${teacher ? 'Teacher and student' : 'Student (no teacher)'}</h2><table><thead><tr><th></th>${teacher ? '<th>teacher</th>' : ''}<th>student</th></tr></thead><tbody>
${row('parameters', 'params', 'int')}
${row('file size', 'file_bytes', 'bytes', human)}
${row('FLOPs per sample', 'flops', 'int', mflops)}
${row('latency per sample, batch 1', 'latency_ms_per_sample_b1', 'ms')}
${row('latency per sample, batch 64', 'latency_ms_per_sample_b64', 'ms')}
${row('top-1 accuracy', 'top1', 'pct')}
${has(r, 'top5') ? row('top-5 accuracy', 'top5', 'pct') : ''}
${teacher ? row('agreement with the teacher', 'agreement', 'pct', undefined, true) : ''}
${row('ECE (15 bins)', 'ece', 'pct')}
${row('NLL', 'nll', 'num')}
</tbody></table>`);

  // training
  parts.push('<h2>Training</h2>');
  if (d.final) {
    const items: string[] = [];
    if (has(fin, 'best_epoch')) items.push(`best epoch ${m('best_epoch', 'int', 'final')}`);
    if (has(fin, 'val_top1')) items.push(`final val top-1 ${m('val_top1', 'pct', 'final')}`);
    if (has(fin, 'val_agreement')) items.push(`final val agreement ${m('val_agreement', 'pct', 'final')}`);
    if (has(fin, 'teacher_val_top1')) items.push(`teacher val top-1 ${m('teacher_val_top1', 'pct', 'final')}`);
    const last = d.epochs[d.epochs.length - 1];
    if (last) items.push(`${d.epochs.length} epoch${d.epochs.length === 1 ? '' : 's'} recorded`);
    parts.push(`<p>${items.join(' · ')} <span class="sub">(as measured during training, on all validation samples)</span></p>`);
  } else parts.push('<p class="na">no final record in metrics.jsonl</p>');
  const figs = (ids: string[]) => d.plots.filter((p) => ids.includes(p.id)).map((p) =>
    `<figure><img alt="${esc(p.title)}" data-plot="${p.id}" src="data:image/png;base64,${p.png.toString('base64')}">${p.caption ? `<figcaption>${esc(p.caption)}</figcaption>` : ''}</figure>`).join('\n');
  parts.push(`<div class="plots curves">${figs(['loss', 'accuracy', 'lr', 'head'])}</div>`);

  // label-free
  if (['tintem', 'proteus'].includes(String(cfg.objective))) {
    const fr = (label: string, key: string, kind: Kind) => `<tr><th>${esc(label)}</th>${teacher ? `<td>${m(`teacher_${key}`, kind)}</td>` : ''}<td>${m(key, kind)}</td></tr>`;
    parts.push(`<h2>Representation (label-free distillation)</h2><table><thead><tr><th></th>${teacher ? '<th>teacher</th>' : ''}<th>student</th></tr></thead><tbody>
${fr('kNN top-1', 'knn_top1', 'pct')}
${fr('linear probe top-1', 'linear_probe_top1', 'pct')}
${fr('OOD AUROC', 'ood_auroc', 'pct')}
<tr><th>linear CKA student vs teacher</th>${teacher ? '<td></td>' : ''}<td>${m('cka', 'num')}</td></tr>
</tbody></table>`);
  }
  // noisy labels
  const almKeys = Object.keys(fin).filter((k) => /^alm_w_.+_(clean|corrupted)_(mean|median)$/.test(k));
  if (almKeys.length || d.almMeta.length) {
    const terms = [...new Set(almKeys.map((k) => k.replace(/^alm_w_/, '').replace(/_(clean|corrupted)_(mean|median)$/, '')))];
    parts.push(`<h2>Learned mixing weights (noisy labels)</h2><table><thead><tr><th>term</th><th>clean mean</th><th>clean median</th><th>corrupted mean</th><th>corrupted median</th></tr></thead><tbody>
${terms.map((t) => `<tr><th>${esc(t)}</th>${['clean_mean', 'clean_median', 'corrupted_mean', 'corrupted_median'].map((g) => `<td>${m(`alm_w_${t}_${g}`, 'num', 'final')}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>${has(fin, 'label_noise_count') ? `<p>corrupted training labels: ${m('label_noise_count', 'int', 'final')}</p>` : ''}
<div class="plots curves">${figs(['alm'])}</div>`);
  }
  parts.push(`<h2>Calibration and errors</h2><div class="plots">${figs(['reliability', 'confusion'])}</div>`);
  if (d.notes.length) parts.push(`<h2>Notes</h2><ul class="notes">${d.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  parts.push(`<h2>Reproduce</h2><pre><code>${esc(d.reproduce)}</code></pre>`);
  parts.push(`<p class="sub">Rebuild this page with <code>npx onnx-distill report ${esc(d.runDir)}</code>; its numbers are in <code>metrics.jsonl</code> (the <code>report</code> and <code>final</code> records).</p>`);
  parts.push(`<h2>Configuration (config.json)</h2><pre><code>${esc(JSON.stringify(d.config, null, 2))}</code></pre>`);
  parts.push('</body></html>\n');
  return parts.join('\n');
}
