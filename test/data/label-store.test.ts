// The label store: a small Builder-made teacher labelled over `mnist:0-300` in shards
// of 64, read back and compared with the teacher run directly; top-k and float16
// variants; deterministic bytes; a 2-way split joined by the reader; refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from '../../src/graph/builder.js';
import { newModel } from '../../src/graph/ir.js';
import { saveModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { loadDataset } from '../../src/data/sources.js';
import { preprocessingFor, toModelInput } from '../../src/data/preprocess.js';
import { TeacherRunner } from '../../src/runtime/teacher.js';
import { labelDataset, sha256File, type LabelOptions } from '../../src/data/label-run.js';
import { openLabelStore, readShard, readStoreLogits, TOPK_FILL_GAP } from '../../src/data/label-store-read.js';
import { LABEL_FORMAT, readManifest } from '../../src/data/label-store.js';
import { loadSafetensors } from '../../src/util/safetensors.js';
import { float32ToHalfArray, halfArrayToFloat32 } from '../../src/util/float16.js';
import { UsageError } from '../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'label-store-test-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

const wave = (n: number, f: number, s = 0.05) => Array.from({ length: n }, (_, i) => s * Math.sin(i * f + 0.3));

/** input [N,1,28,28] -> Flatten -> MatMul 784x16 + b -> Relu ('hidden') -> MatMul 16x10 + b -> 'scores' */
function makeTeacher(file: string, seed = 0.37): string {
  const g = new Builder('tiny-teacher');
  const x = g.input('input', 'float32', ['N', 1, 28, 28]);
  const flat = g.op('Flatten', [x], { axis: 1 });
  const h = g.op('Add', [g.op('MatMul', [flat, g.constant(tensor('float32', [784, 16], wave(784 * 16, seed)))]), g.constant(tensor('float32', [16], wave(16, 1.1)))]);
  const hidden = g.op('Relu', [h], {}, { outputs: ['hidden'] });
  const y = g.op('Add', [g.op('MatMul', [hidden, g.constant(tensor('float32', [16, 10], wave(160, 0.71, 2)))]), g.constant(tensor('float32', [10], wave(10, 0.9)))]);
  g.output(y, 'scores');
  saveModel(newModel(g.graph), file);
  return file;
}

const teacher = makeTeacher(path.join(dir, 'teacher.onnx'));
const other = makeTeacher(path.join(dir, 'other.onnx'), 0.41);
const DATA = 'mnist:0-300';
const base = (out: string, extra: Partial<LabelOptions> = {}): LabelOptions =>
  ({ teacher, data: DATA, out: path.join(dir, out), ep: 'cpu', batch: 32, shardSize: 64, ...extra });

/** The teacher run directly on the same samples, one batch of 32 at a time (as `label` does). */
async function direct(): Promise<{ logits: Float32Array; hidden: Float32Array }> {
  const r = await TeacherRunner.open(teacher, { ep: 'cpu', features: ['hidden'] });
  const d = loadDataset(DATA);
  const prep = preprocessingFor(r.inputInfo);
  const logits = new Float32Array(300 * 10), hidden = new Float32Array(300 * 16);
  for (let s = 0; s < 300; s += 64) {
    for (let b = s; b < Math.min(300, s + 64); b += 32) {
      const e = Math.min(b + 32, s + 64, 300);
      const out = await r.run(toModelInput(d.pixels.subarray(b * 784, e * 784), e - b, d.shape, prep));
      logits.set(out.logits, b * 10);
      hidden.set(out.features!.hidden.data as Float32Array, b * 16);
    }
  }
  await r.release();
  return { logits, hidden };
}

const ref = direct();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

test('round trip: shards of 64, logits and auto features equal the teacher run directly; manifest content', async () => {
  const { logits, hidden } = await ref;
  const r = await labelDataset(base('plain', { features: 'auto' }));
  assert.equal(r.complete, true);
  assert.equal(r.shards_total, 5);
  assert.equal(r.samples_stored, 300);
  const store = openLabelStore(path.join(dir, 'plain'));
  assert.deepEqual(readStoreLogits(store, range(300)), logits);
  const m = readManifest(path.join(dir, 'plain', 'manifest.json'));
  assert.equal(m.format, LABEL_FORMAT);
  assert.equal(m.teacher.sha256, sha256File(teacher));
  assert.equal(m.teacher.output, 'scores');
  assert.equal(m.options.features, 'hidden', '--features auto finds the input of the final MatMul');
  assert.deepEqual(m.preprocessing, preprocessingFor({ dtype: 'float32', shape: ['N', 1, 28, 28] }));
  assert.equal(m.classes, 10);
  assert.equal(m.data_spec, DATA);
  assert.deepEqual([m.data.n, m.data.first, m.data.last, m.data.base_n], [300, 0, 299, 10000]);
  assert.deepEqual(m.shards.map((s) => [s.shard, s.file, s.start, s.end, s.samples]), [
    [0, 'shard-00000.safetensors', 0, 64, 64], [1, 'shard-00001.safetensors', 64, 128, 64], [2, 'shard-00002.safetensors', 128, 192, 64],
    [3, 'shard-00003.safetensors', 192, 256, 64], [4, 'shard-00004.safetensors', 256, 300, 44]]);
  assert.deepEqual(m.outputs.map((o) => [o.name, o.dtype, o.shape, o.kind]), [['index', 'int32', [], undefined], ['logits', 'float32', [10], 'logits'], ['features', 'float32', [16], undefined]]);
  assert.equal(m.samples_skipped, 0);
  assert.equal(m.complete, true);
  // the shard as PyTorch/NumPy see it
  const st = loadSafetensors(path.join(dir, 'plain', 'shard-00004.safetensors'));
  assert.deepEqual([...st.tensors.keys()], ['index', 'logits', 'features']);
  assert.deepEqual(Array.from(st.tensors.get('index')!.data as Int32Array), Array.from({ length: 44 }, (_, i) => 256 + i));
  assert.deepEqual(st.tensors.get('features')!.dims, [44, 16]);
  assert.deepEqual(st.tensors.get('features')!.data, hidden.slice(256 * 16));
  assert.deepEqual(Object.keys(st.metadata).sort(), ['end', 'format', 'shard', 'start', 'teacher_sha256']);
  // a slice of the store, in any order
  assert.deepEqual(readStoreLogits(store, [299, 5]), Float32Array.from([...logits.subarray(2990, 3000), ...logits.subarray(50, 60)]));
  assert.throws(() => readStoreLogits(store, [300, 1]), (e: unknown) => e instanceof UsageError && /1 of 2 samples have no labels/.test(e.message));
});

test('same inputs give byte-identical shards', async () => {
  await labelDataset(base('again', { features: 'auto' }));
  for (let g = 0; g < 5; g++) {
    const f = `shard-0000${g}.safetensors`;
    assert.ok(fs.readFileSync(path.join(dir, 'plain', f)).equals(fs.readFileSync(path.join(dir, 'again', f))), f);
  }
});

test('--top-k 3: sorted values and indices; KD logits keep the top 3 and put the rest 1e4 below', async () => {
  const { logits } = await ref;
  await labelDataset(base('topk', { topK: 3 }));
  const store = openLabelStore(path.join(dir, 'topk'));
  const st = loadSafetensors(path.join(dir, 'topk', 'shard-00000.safetensors')).tensors;
  assert.deepEqual([...st.keys()], ['index', 'topk_values', 'topk_indices']);
  const rec = readStoreLogits(store, range(300));
  for (let i = 0; i < 300; i++) {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    const order = row.map((v, c) => [v, c]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map((x) => x[1]);
    const got = Array.from(rec.subarray(i * 10, i * 10 + 10));
    const kth = row[order[2]];
    for (let c = 0; c < 10; c++) assert.equal(got[c], order.indexOf(c) < 3 ? row[c] : Math.fround(kth - TOPK_FILL_GAP), `sample ${i} class ${c}`);
    if (i < 64) {
      assert.deepEqual(Array.from((st.get('topk_indices')!.data as Int32Array).subarray(i * 3, i * 3 + 3)), order.slice(0, 3));
    }
  }
});

test('--dtype float16: stored as F16, read back as the half-rounded logits', async () => {
  const { logits } = await ref;
  await labelDataset(base('half', { dtype: 'float16', features: 'hidden' }));
  const st = loadSafetensors(path.join(dir, 'half', 'shard-00001.safetensors')).tensors;
  assert.equal(st.get('logits')!.dtype, 'float16');
  assert.equal(st.get('features')!.dtype, 'float16');
  const rec = readStoreLogits(openLabelStore(path.join(dir, 'half')), range(300));
  assert.deepEqual(rec, halfArrayToFloat32(float32ToHalfArray(logits)));
  const s = readShard(openLabelStore(path.join(dir, 'half')), openLabelStore(path.join(dir, 'half')).shards[0]);
  assert.deepEqual(s.features!.dims, [64, 16]);
});

test('--shard 0/2 and 1/2: the reader names a missing part, then joins both into the unsplit store', async () => {
  const split = path.join(dir, 'split');
  const r0 = await labelDataset(base('split', { features: 'auto', worker: 0, workers: 2 }));
  assert.equal(r0.shards_written, 3);
  assert.throws(() => openLabelStore(split), (e: unknown) => e instanceof UsageError && /missing 1 of 2 parts: manifest-1-of-2\.json/.test(e.message) && /--shard I\/2/.test(e.oneLine()));
  // worker 1 joins the folder worker 0 wrote (no --resume needed for another part)
  const r1 = await labelDataset(base('split', { features: 'auto', worker: 1, workers: 2 }));
  assert.equal(r1.shards_written, 2);
  assert.deepEqual(fs.readdirSync(split).sort(), ['manifest-0-of-2.json', 'manifest-1-of-2.json', ...[0, 1, 2, 3, 4].map((g) => `shard-0000${g}.safetensors`)]);
  for (let g = 0; g < 5; g++) {
    const f = `shard-0000${g}.safetensors`;
    assert.ok(fs.readFileSync(path.join(split, f)).equals(fs.readFileSync(path.join(dir, 'plain', f))), f);
  }
  const store = openLabelStore(split);
  assert.equal(store.samples, 300);
  assert.deepEqual(readStoreLogits(store, range(300)), (await ref).logits);
  // an unsplit run cannot write into a split store
  await assert.rejects(labelDataset(base('split', { features: 'auto' })), (e: unknown) => e instanceof UsageError && /split 2 ways/.test(e.message));
});

test('refusals: another teacher, other options, this store again without --resume, a foreign folder; nothing changes', async () => {
  const plain = path.join(dir, 'plain');
  const before = fs.readdirSync(plain).map((f) => fs.readFileSync(path.join(plain, f)).toString('base64'));
  await assert.rejects(labelDataset(base('plain', { teacher: other, features: 'auto', resume: true })), (e: unknown) => e instanceof UsageError && /another teacher/.test(e.message));
  await assert.rejects(labelDataset(base('plain', { features: 'auto', topK: 2, resume: true })), (e: unknown) => e instanceof UsageError && /differs in: options/.test(e.message));
  await assert.rejects(labelDataset(base('plain', { features: 'auto', data: 'mnist:0-200', resume: true })), (e: unknown) => e instanceof UsageError && /differs in: data/.test(e.message));
  await assert.rejects(labelDataset(base('plain', { features: 'auto' })), (e: unknown) => e instanceof UsageError && /already holds this label store/.test(e.message) && /--resume/.test(e.hint));
  assert.deepEqual(fs.readdirSync(plain).map((f) => fs.readFileSync(path.join(plain, f)).toString('base64')), before);
  const foreign = path.join(dir, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  await assert.rejects(labelDataset(base('foreign')), (e: unknown) => e instanceof UsageError && /not empty and holds no label store/.test(e.message));
  assert.deepEqual(fs.readdirSync(foreign), ['notes.txt']);
  await assert.rejects(labelDataset(base('nothing-here', { resume: true })), (e: unknown) => e instanceof UsageError && /nothing to resume/.test(e.message));
  // a complete store resumed: nothing to do, shards kept
  const r = await labelDataset(base('plain', { features: 'auto', resume: true }));
  assert.deepEqual([r.shards_written, r.shards_kept, r.complete], [0, 5, true]);
});

test('an image folder with an unreadable file: skipped, counted and listed with id and reason; --strict fails instead', async () => {
  const { default: sharp } = await import('sharp');
  const folder = path.join(dir, 'images');
  for (const [cls, name, v] of [['c0', 'a.png', 10], ['c0', 'b.png', 200], ['c1', 'c.png', 90]] as const) {
    fs.mkdirSync(path.join(folder, cls), { recursive: true });
    await sharp(Buffer.alloc(784, v), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(folder, cls, name));
  }
  fs.writeFileSync(path.join(folder, 'c1', 'broken.png'), 'not a png at all');
  const opts = { teacher, data: folder, out: path.join(dir, 'folder-store'), ep: 'cpu' as const, batch: 2, shardSize: 2 };
  await assert.rejects(labelDataset({ ...opts, strict: true }), (e: unknown) => e instanceof UsageError && /c1\/broken\.png/.test(e.message) && /--strict/.test(e.hint));
  const r = await labelDataset({ ...opts, resume: true }); // the strict run left a valid, resumable store
  assert.deepEqual([r.samples, r.samples_stored, r.samples_skipped, r.complete], [4, 3, 1, true]);
  const m = readManifest(path.join(dir, 'folder-store', 'manifest.json'));
  // byte order of relative paths: c0/a, c0/b, c1/broken, c1/c
  assert.deepEqual(m.shards.map((s) => s.skipped.map((f) => [f.index, f.id])), [[], [[2, 'c1/broken.png']]]);
  assert.ok(m.shards[1].skipped[0].reason.length > 0);
  const store = openLabelStore(path.join(dir, 'folder-store'));
  assert.deepEqual(store.skipped.map((f) => f.id), ['c1/broken.png']);
  assert.throws(() => readStoreLogits(store, [0, 1, 2, 3]), (e: unknown) => e instanceof UsageError && /2 \(skipped: /.test(e.message));
  assert.equal(readStoreLogits(store, [0, 1, 3]).length, 30);
});
