// The run report end to end, as a user sees it: a short real distill run writes
// report.html; headless Chromium (Debian's `chromium`, driven by puppeteer-core) opens it
// from disk with the network cut off, every image loads, and every number on the page
// (elements with data-metric) equals the value in metrics.jsonl to the precision shown.
// `report RUNDIR` rebuilds it and replaces the report record instead of adding one.
// Skipped with a message without the shared assets or without chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { cli } from './cli-helpers.js';
import { assetsOrSkip } from '../helpers/assets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'report-e2e-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** The system chromium, or undefined. */
function chromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

type Rec = Record<string, unknown>;
const records = (dir: string): Rec[] => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** The shown text equals `value` to the shown precision ("12.34%" is a fraction in percent). */
function assertShown(key: string, text: string, value: unknown): void {
  assert.equal(typeof value, 'number', `${key}: shown as '${text}' but metrics.jsonl has ${JSON.stringify(value)}`);
  const pct = text.trim().endsWith('%');
  const digits = text.replace(/[^0-9.eE+-]/g, '').replace(/^[^0-9-]+|[^0-9]+$/g, '');
  const shown = Number(digits);
  assert.ok(Number.isFinite(shown), `${key}: '${text}' is not a number`);
  const decimals = digits.includes('.') ? digits.split('.')[1].length : 0;
  const v = pct ? 100 * (value as number) : (value as number);
  assert.ok(Math.abs(shown - v) <= 0.5 * 10 ** -decimals + 1e-9 * Math.abs(v), `${key}: shown '${text}', metrics.jsonl ${value}`);
}

test('distill writes report.html; chromium renders it offline and its numbers match metrics.jsonl', { timeout: 300_000 }, async (t) => {
  const teacher = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  const train = assetsOrSkip(t, 'data/fashion-mnist/train-images-idx3-ubyte.gz');
  if (!teacher || !train) return;
  const out = path.join(tmp, 'run');
  const r = cli(['distill', '--teacher', teacher, '--data', `${train}:0-2000`, '--val', `${train}:59000-59500`, '--student', 'convnet', '--width', '8',
    '--epochs', '2', '--objective', 'kd', '--out', out, '--ep', 'cpu', '--json'], 240_000);
  assert.equal(r.status, 0, r.stderr);
  const html = path.join(out, 'report.html');
  assert.ok(fs.existsSync(html), 'report.html written by distill');
  const page = fs.readFileSync(html, 'utf8');
  assert.doesNotMatch(page, /<script|(src|href)="https?:/i, 'self-contained: no script, no network resources');
  let recs = records(out);
  assert.equal(recs.filter((x) => x.type === 'report').length, 1);

  // rebuilding replaces the report record, metrics.jsonl stays valid JSONL
  const again = cli(['report', out, '--ep', 'cpu', '--json']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).report, html);
  recs = records(out);
  assert.equal(recs.filter((x) => x.type === 'report').length, 1, 'one report record after a rebuild');
  assert.deepEqual(recs.map((x) => x.type).slice(0, 3), ['epoch', 'epoch', 'final']);
  const report = recs.find((x) => x.type === 'report')!, final = recs.find((x) => x.type === 'final')!;
  for (const k of ['top1', 'agreement', 'ece', 'params', 'file_bytes', 'flops', 'latency_ms_per_sample_b1', 'latency_ms_per_sample_b64',
    'teacher_top1', 'teacher_ece', 'teacher_params', 'teacher_flops', 'compression_ratio', 'speedup_b64']) assert.equal(typeof report[k], 'number', k);
  assert.equal(report.val_samples, 500);
  // the same validation set and student as distill measured (BN folding may flip a rare argmax)
  assert.ok(Math.abs((report.top1 as number) - (final.val_top1 as number)) <= 1 / 500 + 1e-9, `top1 ${report.top1} vs final val_top1 ${final.val_top1}`);
  assert.ok(Math.abs((report.teacher_top1 as number) - (final.teacher_val_top1 as number)) <= 1e-9, `teacher ${report.teacher_top1} vs ${final.teacher_val_top1}`);

  const exe = chromium();
  if (!exe) {
    t.skip('chromium not installed (apt-get install -y --no-install-recommends chromium): the page was not rendered');
    return;
  }
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    executablePath: exe, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${fs.mkdtempSync(path.join(tmp, 'profile-'))}`],
  });
  try {
    const tab = await browser.newPage();
    const requests: string[] = [];
    await tab.setRequestInterception(true);
    tab.on('request', (q) => {
      const u = q.url();
      if (u.startsWith('file:') || u.startsWith('data:')) void q.continue();
      else { requests.push(u); void q.abort(); }
    });
    await tab.setViewport({ width: 1280, height: 900 });
    await tab.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    assert.deepEqual(requests, [], 'no network requests');
    const imgs = await tab.$$eval('img', (els) => els.map((e) => ({ plot: e.getAttribute('data-plot'), ok: e.complete && e.naturalWidth > 0 })));
    assert.deepEqual(imgs.map((i) => i.plot).sort(), ['accuracy', 'confusion', 'loss', 'lr', 'reliability']);
    for (const i of imgs) assert.ok(i.ok, `image ${i.plot} did not load`);
    const shown = await tab.$$eval('[data-metric]', (els) => els.map((e) => ({ key: e.getAttribute('data-metric')!, from: e.getAttribute('data-record')!, text: e.textContent ?? '' })));
    const keys = new Set(shown.map((s) => s.key));
    for (const k of ['compression_ratio', 'speedup_b64', 'params', 'teacher_params', 'file_bytes', 'flops', 'teacher_flops', 'latency_ms_per_sample_b1',
      'teacher_latency_ms_per_sample_b64', 'top1', 'teacher_top1', 'agreement', 'ece', 'teacher_ece', 'val_top1', 'best_epoch']) assert.ok(keys.has(k), `page shows ${k}`);
    for (const s of shown) assertShown(s.key, s.text, (s.from === 'final' ? final : report)[s.key]);
    const shot = path.join(tmp, 'report.png');
    await tab.screenshot({ path: shot, fullPage: true });
    const meta = await sharp(shot).metadata();
    assert.ok(meta.width! >= 1000 && meta.height! > 900, `${meta.width}x${meta.height}`);
    // REPORT_SCREENSHOT=FILE keeps a <= 1200 px wide copy (docs/report-example.png is made so)
    if (process.env.REPORT_SCREENSHOT) await sharp(shot).resize({ width: 1200, withoutEnlargement: true }).png({ palette: true, compressionLevel: 9 }).toFile(process.env.REPORT_SCREENSHOT);
  } finally {
    await browser.close();
  }
});

test('report: a folder without a run is a usage error', () => {
  const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
  const r = cli(['report', empty]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /holds no onnx-distill run/);
});
