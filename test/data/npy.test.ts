// .npy sources: layouts, uint8 and float32 pixels, labels beside, slices, bad headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeNpy } from '../../src/data/npy.js';
import { loadDataset, openSource } from '../../src/data/sources.js';
import { preprocessingFor } from '../../src/data/preprocess.js';
import { UsageError } from '../../src/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, data: Uint8Array | Float32Array | Int32Array, shape: number[]) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, encodeNpy(data, shape));
  return f;
};

test('uint8 [N,H,W] round trip with labels beside, and slices', async () => {
  const px = Uint8Array.from({ length: 5 * 2 * 3 }, (_, i) => (i * 37) % 256);
  const f = write('digits.npy', px, [5, 2, 3]);
  write('digits.labels.npy', Int32Array.from([4, 0, 9, 1, 2]), [5]);
  const d = loadDataset(f);
  assert.deepEqual([d.n, d.shape, d.classes, Array.from(d.labels!)], [5, [1, 2, 3], 10, [4, 0, 9, 1, 2]]);
  assert.ok(d.pixels.every((v, i) => Math.abs(v - px[i] / 255) < 1e-7));
  const src = await openSource(`${f}:1-4`);
  assert.deepEqual([src.n, src.indexOf(0), src.id(2), Array.from(src.labels!)], [3, 1, '3', [0, 9, 1]]);
  const r = await src.read(1, 3, preprocessingFor({ dtype: 'uint8', shape: [1, 1, 2, 3] }));
  assert.deepEqual(Array.from(r.index), [2, 3]);
  assert.deepEqual(Array.from(r.input.data as Uint8Array), Array.from(px.subarray(12, 24)));
  const sliced = loadDataset(`${f}:3-5`);
  assert.deepEqual([sliced.n, Array.from(sliced.index), Array.from(sliced.labels!)], [2, [3, 4], [1, 2]]);
});

test('float32 [N,C,H,W] is 0..1 pixels; uint8 [N,H,W,C] is read as channels last', async () => {
  const chw = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i / 24);
  const d = loadDataset(write('chw.npy', chw, [2, 3, 2, 2]));
  assert.deepEqual(d.shape, [3, 2, 2]);
  assert.deepEqual(Array.from(d.pixels), Array.from(chw));
  assert.equal(d.labels, undefined);
  // HWC bytes: pixel p, channel c = 10*p + c
  const hwc = Uint8Array.from({ length: 4 * 3 }, (_, i) => 10 * Math.floor(i / 3) + (i % 3));
  const h = loadDataset(write('hwc.npy', hwc, [1, 2, 2, 3]));
  assert.deepEqual(h.shape, [3, 2, 2]);
  assert.deepEqual(Array.from(h.pixels, (v) => Math.round(v * 255)), [0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
  // into an NCHW float model with mean/std
  const src = await openSource(path.join(tmp, 'hwc.npy'));
  const r = await src.read(0, 1, preprocessingFor({ dtype: 'float32', shape: [1, 3, 2, 2] }, { mean: [0.5], std: [0.5], scale: 1 / 255 }));
  assert.ok(Math.abs((r.input.data as Float32Array)[1] - (10 / 255 - 0.5) / 0.5) < 1e-6);
});

test('malformed files: one-line usage errors naming the file', () => {
  const bad = path.join(tmp, 'bad.npy');
  fs.writeFileSync(bad, 'not numpy at all');
  const oneLine = (re: RegExp) => (e: unknown) => e instanceof UsageError && e.message.includes(bad) && re.test(e.message) && !e.message.includes('\n');
  assert.throws(() => loadDataset(bad), oneLine(/bad magic/));
  const good = encodeNpy(new Uint8Array(8), [2, 2, 2]);
  fs.writeFileSync(bad, good.subarray(0, 20));
  assert.throws(() => loadDataset(bad), oneLine(/truncated header/));
  fs.writeFileSync(bad, good.subarray(0, good.length - 1));
  assert.throws(() => loadDataset(bad), oneLine(/truncated/));
  fs.writeFileSync(bad, Buffer.from(good.toString('latin1').replace("'|u1'", "'<f8'"), 'latin1'));
  assert.throws(() => loadDataset(bad), oneLine(/dtype '<f8'/));
  fs.writeFileSync(bad, encodeNpy(new Uint8Array(2 * 2 * 2 * 5), [2, 2, 2, 5]));
  assert.throws(() => loadDataset(bad), oneLine(/not \[N,H,W\]/));
  const lab = write('lab.npy', new Uint8Array(8), [2, 2, 2]);
  write('lab.labels.npy', Int32Array.from([1, 2, 3]), [3]);
  assert.throws(() => loadDataset(lab), (e: unknown) => e instanceof UsageError && /lab\.labels\.npy: labels must be integers shaped \[2\]/.test(e.message));
});
