// Label-free distillation end to end: `distill --objective tintem|proteus` on a flat
// (unlabelled) folder of Fashion-MNIST PNGs with the real fashion-mnist-simplecnn teacher
// and its feature tensor `19`: phase one trains the student's features, phase two fits
// its classifier head to the teacher's logits, and the exported student classifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cli } from './cli-helpers.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { loadDataset } from '../../src/data/sources.js';
import { loadModel } from '../../src/graph/serde.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'label-free-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

async function flatFolder(images: string, n: number): Promise<string> {
  const d = loadDataset(`${images}:0-${n}`);
  const folder = path.join(dir, 'unlabelled');
  fs.mkdirSync(folder, { recursive: true });
  const px = Buffer.alloc(28 * 28);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 28 * 28; k++) px[k] = Math.round(d.pixels[i * 784 + k] * 255);
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(folder, `${String(i).padStart(4, '0')}.png`));
  }
  return folder;
}

let folder: string | undefined;

for (const objective of ['tintem', 'proteus']) {
  test(`distill --objective ${objective} on an unlabelled folder: features, then a fitted head; the export classifies`, async (t) => {
    const teacher = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
    const images = assetsOrSkip(t, 'data/fashion-mnist/t10k-images-idx3-ubyte.gz');
    if (!teacher || !images) return;
    folder ??= await flatFolder(images, 800);
    const out = path.join(dir, `run-${objective}`);
    const r = cli(['distill', '--teacher', teacher, '--data', folder, '--objective', objective, '--features', '19', '--student', 'convnet',
      '--width', '8', '--epochs', '2', '--head-epochs', '4', '--batch', '64', '--out', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.equal(res.val_top1, undefined, 'unlabelled data: no accuracy');
    // 10 classes: chance agreement is about 0.1; a fitted head on distilled features does far better
    assert.ok(res.val_agreement > 0.4, `agreement with the teacher ${res.val_agreement}`);
    assert.ok(res.mapping_sv_max >= res.mapping_sv_min && res.mapping_sv_min > 0, JSON.stringify(res));
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.features, '19');
    const records = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(records.filter((x) => x.type === 'epoch').length, 2);
    assert.equal(records.filter((x) => x.type === 'head_epoch').length, 4);
    // the exported student is a classifier: logits [N, 10] and its features, no objective head inside
    const student = loadModel(res.student);
    assert.deepEqual(student.graph.outputs.map((o) => o.name).sort(), ['features', 'logits']);
    assert.ok(![...student.graph.initializers.keys()].some((k) => k.startsWith(`${objective === 'tintem' ? 'tintem' : 'proteus'}.`)));
    // `export RUNDIR` rebuilds the same student: signed features, fitted head
    const again = path.join(dir, `export-${objective}.onnx`);
    const e = cli(['export', out, '--out', again, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const exported = loadModel(again);
    assert.deepEqual([...exported.graph.initializers.keys()].sort(), [...student.graph.initializers.keys()].sort());
    for (const [k, t] of student.graph.initializers) assert.deepEqual(exported.graph.initializers.get(k)!.data, t.data, k);
  });
}

test('distill --objective tintem refuses --augment on and a teacher tensor that does not exist', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  const images = assetsOrSkip(t, 'data/fashion-mnist/t10k-images-idx3-ubyte.gz');
  if (!teacher || !images) return;
  const base = ['distill', '--teacher', teacher, '--data', `${images}:0-100`, '--objective', 'tintem', '--epochs', '1'];
  const aug = cli([...base, '--augment', 'on', '--out', path.join(dir, 'r1')]);
  assert.equal(aug.status, 2, aug.stderr);
  assert.match(aug.stderr, /--augment off/);
  const bad = cli([...base, '--features', 'no_such_tensor', '--out', path.join(dir, 'r2')]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /no tensor of that name/);
});
