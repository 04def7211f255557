// Image folders: order, labels (class subfolders, flat, labels.txt), slices, failed
// images, and the geometry of --resize/--crop on synthetic images made with sharp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { listImageFolder } from '../../src/data/image-folder.js';
import { planGeometry } from '../../src/data/image-geometry.js';
import { loadDataset, openSource } from '../../src/data/sources.js';
import { readDataset } from '../../src/data/dataset-read.js';
import { preprocessingFor } from '../../src/data/preprocess.js';
import { UsageError } from '../../src/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'image-folder-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => fs.mkdtempSync(path.join(tmp, `d${dirs++}-`));

/** A w x h RGB image whose red is 5*x, green 5*y, blue 100 (so a crop's offset can be read back). */
async function gradient(file: string, w: number, h: number): Promise<void> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([5 * x, 5 * y, 100], (y * w + x) * 3);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).toFile(file);
}

const rgb = (h: number, w: number, extra: Record<string, number> = {}) => preprocessingFor({ dtype: 'float32', shape: [1, 3, h, w] }, extra);

test('planGeometry: torchvision rounding, no step that would not change the image', () => {
  const size = [3, 224, 224];
  assert.deepEqual(planGeometry(341, 256, { size, crop: 224 }), { crop: { left: 58, top: 16, width: 224, height: 224 }, out: [224, 224] });
  assert.deepEqual(planGeometry(256, 343, { size, crop: 224 }), { crop: { left: 16, top: 60, width: 224, height: 224 }, out: [224, 224] }); // 59.5 -> 60
  assert.deepEqual(planGeometry(500, 375, { size, resize: 256, crop: 224 }), { resize: [341, 256], crop: { left: 58, top: 16, width: 224, height: 224 }, out: [224, 224] });
  assert.deepEqual(planGeometry(224, 224, { size, crop: 224 }), { out: [224, 224] });
  assert.deepEqual(planGeometry(224, 224, { size }), { out: [224, 224] });
  assert.deepEqual(planGeometry(32, 40, { size }), { resize: [224, 224], out: [224, 224] });
  assert.match((planGeometry(100, 300, { size, crop: 224 }) as { error: string }).error, /100x300, smaller than --crop 224/);
});

test('order is the byte order of the UTF-8 relative path; class subfolders give labels', async () => {
  const d = freshDir();
  for (const f of ['b/2.png', 'b/10.png', 'B/x.png', 'a/deep/z.png', 'a/é.png', 'a/e.png', 'a/.hidden.png', 'c-empty/readme.txt']) await (f.endsWith('.png') ? gradient(path.join(d, f), 4, 4) : (fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true }), fs.writeFileSync(path.join(d, f), 'x')));
  const l = listImageFolder(d);
  assert.deepEqual(l.files, ['B/x.png', 'a/deep/z.png', 'a/e.png', 'a/é.png', 'b/10.png', 'b/2.png']);
  assert.deepEqual(l.classNames, ['B', 'a', 'b', 'c-empty']); // an empty class keeps its index
  assert.deepEqual(Array.from(l.labels!), [0, 1, 1, 1, 2, 2]);
  const src = await openSource(`${d}:2-5`);
  assert.equal(src.n, 3);
  assert.equal(src.classes, 4);
  assert.deepEqual([src.id(0), src.indexOf(0), src.id(2), src.indexOf(2)], ['a/e.png', 2, 'b/10.png', 4]);
  const r = await src.read(1, 3, rgb(4, 4));
  assert.deepEqual(Array.from(r.index), [3, 4]);
  assert.deepEqual(Array.from(r.labels!), [1, 2]);
  assert.deepEqual(r.input.dims, [2, 3, 4, 4]);
});

test('a flat folder is unlabelled; labels.txt labels it; mixed and empty folders are usage errors', async () => {
  const flat = freshDir();
  for (const f of ['img1.png', 'img0.png']) await gradient(path.join(flat, f), 4, 4);
  const l = listImageFolder(flat);
  assert.deepEqual(l.files, ['img0.png', 'img1.png']);
  assert.equal(l.labels, undefined);
  fs.writeFileSync(path.join(flat, 'labels.txt'), '0007 img0.png\n0003 img1.png\n');
  const src = await openSource(flat);
  assert.deepEqual(Array.from(src.labels!), [7, 3]);
  assert.equal(src.classes, 8);
  fs.writeFileSync(path.join(flat, 'labels.txt'), '0007 img0.png\n');
  assert.throws(() => listImageFolder(flat), (e: unknown) => e instanceof UsageError && /no line for image 'img1\.png'/.test(e.message));
  const mixed = freshDir();
  await gradient(path.join(mixed, 'top.png'), 4, 4);
  await gradient(path.join(mixed, 'cls/in.png'), 4, 4);
  assert.throws(() => listImageFolder(mixed), (e: unknown) => e instanceof UsageError && /both at its top level/.test(e.message));
  const empty = freshDir();
  fs.writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
  for (const f of [() => listImageFolder(empty), () => loadDataset(empty)]) {
    assert.throws(f, (e: unknown) => e instanceof UsageError && e.message.includes(`no images in data folder '${empty}'`) && e.hint.length > 0);
  }
  await assert.rejects(openSource(`${empty}:0-1`), /no images/);
});

test('an unreadable image is reported in failed with its path and reason; the others decode', async () => {
  const d = freshDir();
  await gradient(path.join(d, 'cat/a.png'), 4, 4);
  fs.writeFileSync(path.join(d, 'cat/b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4])); // a JPEG that stops in its header
  await gradient(path.join(d, 'dog/c.webp'), 4, 4);
  const src = await openSource(d);
  const r = await src.read(0, 3, rgb(4, 4));
  assert.equal(r.failed.length, 1);
  assert.deepEqual([r.failed[0].index, r.failed[0].id], [1, 'cat/b.jpg']);
  assert.ok(r.failed[0].reason.length > 0 && !r.failed[0].reason.includes('\n'), r.failed[0].reason);
  assert.deepEqual(Array.from(r.index), [0, 2]);
  assert.deepEqual(Array.from(r.labels!), [0, 1]);
  assert.deepEqual(r.input.dims, [2, 3, 4, 4]);
  const all = await readDataset(d);
  assert.deepEqual([all.n, all.failed.length, Array.from(all.index)], [2, 1, [0, 2]]);
});

test('geometry: crop without resampling is exact, resize + crop, resize to the model size, grey models', async () => {
  const d = freshDir();
  await gradient(path.join(d, 'g.png'), 40, 30);
  const src = await openSource(d);
  // crop 20 of 40x30: left 10, top 5, read back from the gradient; uint8 NHWC gets the bytes
  const u8 = preprocessingFor({ dtype: 'uint8', shape: [1, 20, 20, 3] }, { crop: 20 });
  const c = await src.read(0, 1, u8);
  assert.deepEqual(c.input.dims, [1, 20, 20, 3]);
  assert.deepEqual(Array.from((c.input.data as Uint8Array).subarray(0, 3)), [50, 25, 100]);
  assert.deepEqual(Array.from((c.input.data as Uint8Array).subarray((19 * 20 + 19) * 3, (19 * 20 + 19) * 3 + 3)), [5 * 29, 5 * 24, 100]);
  // resize 24 (shorter side): 32x24, then crop 20 at left 6, top 2
  const rc = await src.read(0, 1, rgb(20, 20, { resize: 24, crop: 20 }));
  assert.deepEqual(rc.input.dims, [1, 3, 20, 20]);
  const red0 = (rc.input.data as Float32Array)[0] * 255;
  assert.ok(Math.abs(red0 - 5 * (6 + 0.5) * (40 / 32) + 2.5) < 4, `red at the crop origin ${red0}`);
  // neither flag: resized to the model's input, and grey for a 1-channel model
  const g = await src.read(0, 1, preprocessingFor({ dtype: 'float32', shape: [1, 1, 8, 8] }));
  assert.deepEqual(g.input.dims, [1, 1, 8, 8]);
  // --resize alone that does not give the model's size: a usage error, not a failed image
  await assert.rejects(src.read(0, 1, rgb(20, 20, { resize: 20 })), (e: unknown) => e instanceof UsageError && /26x20 but the model takes 20x20/.test(e.message));
  // a grey image for a colour model repeats its channel
  await sharp(Buffer.alloc(16, 77), { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(path.join(d, 'h.png'));
  const grey = await (await openSource(d)).read(1, 2, rgb(4, 4));
  assert.ok(Array.from(grey.input.data as Float32Array).every((v) => Math.abs(v - 77 / 255) < 1e-6));
});

test('readDataset: a folder in memory needs one size, or a crop', async () => {
  const d = freshDir();
  await gradient(path.join(d, 'a/1.png'), 10, 8);
  await gradient(path.join(d, 'b/2.png'), 12, 8);
  await assert.rejects(readDataset(d), (e: unknown) => e instanceof UsageError && /differ in size: a\/1\.png is 10x8, b\/2\.png is 12x8/.test(e.message) && /--crop/.test(e.hint));
  const ds = await readDataset(d, { crop: 8 });
  assert.deepEqual([ds.n, ds.shape, Array.from(ds.labels!)], [2, [3, 8, 8], [0, 1]]);
  const same = await readDataset(`${d}:0-1`);
  assert.deepEqual([same.n, same.shape], [1, [3, 8, 10]]);
  assert.throws(() => loadDataset(d), /cannot be loaded synchronously/);
});

test('uint8 NHWC models get sharp bytes directly: the same tensor as the float path, failed images squeezed out, grey expanded', async () => {
  const dir = freshDir();
  await gradient(path.join(dir, 'a.png'), 12, 10);
  await gradient(path.join(dir, 'b.png'), 16, 10);
  fs.writeFileSync(path.join(dir, 'c.jpg'), 'not a jpeg');
  await sharp(Buffer.alloc(100, 77), { raw: { width: 10, height: 10, channels: 1 } }).png().toFile(path.join(dir, 'd.png'));
  const src = await openSource(dir);
  const nhwc = preprocessingFor({ dtype: 'uint8', shape: [1, 8, 8, 3] }, { crop: 8 });
  const nchw = preprocessingFor({ dtype: 'uint8', shape: [1, 3, 8, 8] }, { crop: 8 }); // the general path
  const fast = await src.read(0, 4, nhwc), slow = await src.read(0, 4, nchw);
  assert.deepEqual(fast.input.dims, [3, 8, 8, 3]);
  assert.equal(fast.input.dtype, 'uint8');
  assert.deepEqual(Array.from(fast.index), [0, 1, 3]);
  assert.deepEqual(fast.failed.map((f) => f.id), ['c.jpg']);
  const f = fast.input.data as Uint8Array, s = slow.input.data as Uint8Array;
  for (let n = 0; n < 3; n++) for (let c = 0; c < 3; c++) for (let p = 0; p < 64; p++) {
    assert.equal(f[(n * 64 + p) * 3 + c], s[(n * 3 + c) * 64 + p], `sample ${n} channel ${c} pixel ${p}`);
  }
  assert.equal(f[2 * 192 + 5 * 3 + 1], 77, 'the grey image fills every channel');
  assert.equal(f[0], 5 * 2, 'the crop starts 2 pixels in (red = 5x)');
});
