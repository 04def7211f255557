// `eval` calibration metrics and `--reliability` end to end: the Fashion-MNIST teacher as
// model and as teacher on 500 test images, so the model's and the teacher's calibration
// agree exactly; the diagram has two panels side by side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cli } from './cli-helpers.js';
import { assetsOrSkip } from '../helpers/assets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-calibration-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const KEYS = ['ece', 'ece_adaptive', 'mce', 'nll', 'brier'];

test('eval: ece, ece_adaptive, mce, nll, brier and --reliability through the CLI', async (t) => {
  const teacher = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  const t10k = assetsOrSkip(t, 'data/fashion-mnist/t10k-images-idx3-ubyte.gz');
  if (!teacher || !t10k) return;
  const png = path.join(tmp, 'r.png');
  const r = cli(['eval', '--model', teacher, '--teacher', teacher, '--data', `${t10k}:0-500`, '--ep', 'cpu', '--json', '--reliability', png]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.samples, 500);
  const keys = Object.keys(out);
  // placed after top1/top5 and after teacher_top1; the existing keys stay
  assert.deepEqual(keys.slice(keys.indexOf('top5') + 1, keys.indexOf('top5') + 6), KEYS);
  assert.deepEqual(keys.slice(keys.indexOf('teacher_top1') + 1, keys.indexOf('teacher_top1') + 6), KEYS.map((k) => `teacher_${k}`));
  for (const k of ['top1', 'top5', 'params', 'latency_ms_per_sample_b64', 'agreement', 'teacher_top1', 'speedup_b64']) assert.ok(k in out, k);
  for (const k of KEYS) {
    assert.equal(typeof out[k], 'number', k);
    assert.equal(out[k], out[`teacher_${k}`], k);
  }
  assert.ok(out.ece >= 0 && out.ece < 0.2, `ece ${out.ece}`);
  assert.ok(out.ece_adaptive >= 0 && out.ece_adaptive < 0.2, `ece_adaptive ${out.ece_adaptive}`);
  assert.ok(out.mce >= out.ece && out.mce <= 1, `mce ${out.mce}`);
  assert.ok(out.nll > 0 && out.nll < 1.5, `nll ${out.nll}`);
  assert.ok(out.brier > 0 && out.brier < 0.6, `brier ${out.brier}`);
  assert.equal(out.reliability_png, png);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! > meta.height!, `${meta.width}x${meta.height}: two panels side by side`);
  assert.deepEqual(fs.readdirSync(tmp), ['r.png'], 'written atomically, no temporary file left');

  // one panel without --teacher; no teacher_ keys
  const one = path.join(tmp, 'one.png');
  const s = cli(['eval', '--model', teacher, '--data', `${t10k}:0-100`, '--ep', 'cpu', '--json', '--reliability', one]);
  assert.equal(s.status, 0, s.stderr);
  const so = JSON.parse(s.stdout);
  for (const k of KEYS) assert.equal(typeof so[k], 'number', k);
  assert.ok(!('teacher_ece' in so));
  const m1 = await sharp(one).metadata();
  assert.ok(m1.width! < m1.height! * 1.5 && m1.width! * 2 === meta.width, `${m1.width}x${m1.height}`);

  // usage errors: not a .png; help lists the flag
  const bad = cli(['eval', '--model', teacher, '--data', `${t10k}:0-10`, '--ep', 'cpu', '--reliability', path.join(tmp, 'r.svg')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--reliability .*r\.svg: the diagram is a PNG/);
  assert.match(cli(['eval', '--help']).stdout, /--reliability\b/);
});
