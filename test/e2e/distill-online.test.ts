// `distill --online` end to end on CIFAR-10 (bdkd with the WinML tutorial CNN as the
// fine-tuned teacher; dml with a resnet preset trained from scratch) and the refusals.
// Needs the shared assets (skipped with the reason otherwise). About a minute on 2 cores:
// one online bdkd run on the whole training folder (10,000 images, sorted by class; the
// validation split is shuffled), one dml run on a two-class slice, two quick refusals.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/graph/serde.js';
import { readDataset } from '../../src/data/dataset-read.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { cli } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-online-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const TEACHER = 'teachers/cifar10-winml-tutorial-cnn.onnx';
const TRAIN = 'data/cifar10/train';
const TEST = 'data/cifar10/test';

function assets(t: test.TestContext): { teacher: string; train: string; test: string } | undefined {
  const teacher = assetsOrSkip(t, TEACHER);
  const train = teacher && assetsOrSkip(t, TRAIN);
  const testDir = train && assetsOrSkip(t, TEST);
  return teacher && train && testDir ? { teacher, train, test: testDir } : undefined;
}

const common = ['--mean', '0.5', '--std', '0.5', '--val-split', '0.1', '--augment', 'off', '--student', 'convnet', '--width', '8',
  '--epochs', '1', '--batch', '128', '--json', '--quiet', '--ep', 'cpu'];

/** 20 test images of each class (the folder is sorted by class), normalised as in training */
async function testImages(dir: string) {
  const xs: Float32Array[] = [], ys: number[] = [];
  for (let c = 0; c < 10; c++) {
    const d = await readDataset(`${dir}:${c * 1000}-${c * 1000 + 20}`);
    assert.deepEqual(d.shape, [3, 32, 32]);
    xs.push(d.pixels.map((v) => (v - 0.5) / 0.5));
    ys.push(...Array.from(d.labels!));
  }
  const x = new Float32Array(xs.reduce((a, v) => a + v.length, 0));
  let off = 0;
  for (const v of xs) { x.set(v, off); off += v.length; }
  return { x, y: ys, n: ys.length };
}

/** logits of an .onnx file, run by onnxruntime directly */
async function logitsOf(file: string, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(file);
  try {
    const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [n, 3, 32, 32]) });
    const name = s.outputNames.includes('logits') ? 'logits' : s.outputNames[0];
    assert.deepEqual(out[name].dims, [n, 10], `${file}: logits shape`);
    return out[name].data as Float32Array;
  } finally {
    await s.release();
  }
}

const top1 = (l: Float32Array, y: number[]) => y.filter((c, i) => {
  const row = Array.from(l.subarray(i * 10, i * 10 + 10));
  return row.indexOf(Math.max(...row)) === c;
}).length / y.length;

test('bdkd --online with a .onnx teacher: student.onnx and a fine-tuned teacher.onnx, both classify', async (t) => {
  const a = assets(t);
  if (!a) return;
  const out = path.join(tmp, 'bdkd');
  const r = cli(['distill', '--teacher', a.teacher, '--data', a.train, ...common, '--objective', 'bdkd', '--online', '--out', out], 180_000);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.stopped, false);
  for (const f of ['student.onnx', 'teacher.onnx']) assert.ok(fs.existsSync(path.join(out, f)), `${f} in the run folder`);
  assert.equal(path.resolve(res.teacher), path.join(out, 'teacher.onnx'));
  assert.equal(res.teacher_params, 50182, 'the tutorial CNN has 50,182 parameters');
  assert.ok(typeof res.val_teacher_top1 === 'number' && res.val_teacher_top1 > 0.4, `val_teacher_top1 ${res.val_teacher_top1}`);
  assert.ok(typeof res.val_top1 === 'number' && res.val_top1 > 0.15, `student val_top1 ${res.val_top1} (above chance after one epoch)`);

  // the exported teacher has the original's weights, fine-tuned: same names and shapes, changed values
  const orig = loadModel(a.teacher).graph.initializers, tuned = loadModel(path.join(out, 'teacher.onnx')).graph.initializers;
  let changed = 0, compared = 0;
  for (const [k, v] of orig) {
    if (v.dtype !== 'float32' || v.data.length < 2) continue;
    const w = tuned.get(k);
    assert.ok(w, `teacher.onnx lacks the original's initializer '${k}'`);
    assert.deepEqual(w.dims, v.dims, k);
    compared++;
    const d = Math.max(...Array.from(v.data as Float32Array, (x, i) => Math.abs(x - (w.data as Float32Array)[i])));
    if (d > 0) changed++;
  }
  assert.ok(compared >= 10 && changed === compared, `${changed} of ${compared} weight tensors changed by fine-tuning`);

  // both exports load in onnxruntime and give finite logits; the teacher still classifies held-out images
  const imgs = await testImages(a.test);
  const ls = await logitsOf(path.join(out, 'student.onnx'), imgs.x, imgs.n);
  const lt = await logitsOf(path.join(out, 'teacher.onnx'), imgs.x, imgs.n);
  assert.ok(ls.every(Number.isFinite) && lt.every(Number.isFinite), 'finite logits');
  assert.ok(top1(lt, imgs.y) > 0.4, `fine-tuned teacher top-1 ${top1(lt, imgs.y)} on 200 test images`);
  // the original teacher under the same preprocessing, for scale (the fine-tune must not have wrecked it)
  const lo = await logitsOf(a.teacher, imgs.x, imgs.n);
  assert.ok(top1(lt, imgs.y) >= top1(lo, imgs.y) - 0.15, `fine-tuned ${top1(lt, imgs.y)} vs original ${top1(lo, imgs.y)}`);
});

test('dml --online with a resnet preset teacher (width 8, depth 1): exit 0, teacher.onnx exported', async (t) => {
  const a = assets(t);
  if (!a) return;
  const out = path.join(tmp, 'dml');
  // a two-class slice (deer, dog) keeps this run short
  const r = cli(['distill', '--teacher', 'resnet', '--teacher-width', '8', '--teacher-depth', '1', '--data', `${a.train}:4000-6000`, ...common,
    '--objective', 'dml', '--online', '--out', out], 120_000);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.ok(fs.existsSync(path.join(out, 'teacher.onnx')) && fs.existsSync(path.join(out, 'student.onnx')));
  assert.equal(typeof res.val_teacher_top1, 'number');
  assert.ok(res.teacher_params > 0);
  const imgs = await testImages(a.test);
  assert.ok((await logitsOf(path.join(out, 'teacher.onnx'), imgs.x, imgs.n)).every(Number.isFinite));
});

test('refused with exit 2: dml without --online, kd with --online', (t) => {
  const a = assets(t);
  if (!a) return;
  const small = ['--data', `${a.train}:0-50`, ...common];
  const dml = cli(['distill', '--teacher', a.teacher, ...small, '--objective', 'dml', '--out', path.join(tmp, 'refused-dml')]);
  assert.equal(dml.status, 2, dml.stderr);
  assert.match(dml.stderr, /--online/);
  const kd = cli(['distill', '--teacher', a.teacher, ...small, '--objective', 'kd', '--online', '--out', path.join(tmp, 'refused-kd')]);
  assert.equal(kd.status, 2, kd.stderr);
  assert.match(kd.stderr, /no online mode/);
});
