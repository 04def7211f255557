// The JPEG decoder choice (Preprocessing.jpegDecoder, --jpeg-decoder): 'jpeg-js' decodes
// JPEG files without libjpeg-turbo's "fancy" chroma upsampling, to reproduce figures
// measured that way; PNG/WebP go through sharp either way; the default 'sharp' is never
// recorded, so configs and label stores from before the option stay valid. The CIFAR-10
// teacher figure with each decoder is in test/e2e/teacher-accuracy.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImageInto, decodeImageRaw, ImageDecodeError } from '../../src/data/image-decode.js';
import { preprocessingFor, type Preprocessing } from '../../src/data/preprocess.js';
import { readDataset } from '../../src/data/dataset-read.js';
import { preprocessFlags } from '../../src/cli/preprocess-flags.js';
import { UsageError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jpeg-decoder-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** A w x h RGB image with smooth colour gradients (so chroma subsampling loses little). */
function pixels(w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    px.set([60 + 3 * x, 40 + 3 * y, Math.round(128 + 40 * Math.sin((x + y) / 9))], (y * w + x) * 3);
  }
  return px;
}

async function write(file: string, w: number, h: number, format: 'png' | 'jpeg'): Promise<string> {
  const img = sharp(pixels(w, h), { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 90, chromaSubsampling: '4:2:0' })).toFile(file);
  return file;
}

const prep = (c: number, h: number, w: number, jpegDecoder?: 'sharp' | 'jpeg-js', extra: Partial<Preprocessing> = {}): Preprocessing =>
  ({ ...preprocessingFor({ dtype: 'float32', shape: [1, c, h, w] }, { jpegDecoder }), ...extra });

async function decode(file: string, p: Preprocessing): Promise<Float32Array> {
  const out = new Float32Array(p.size.reduce((a, d) => a * d, 1));
  await decodeImageInto(file, p, out, 0);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]) * 255; max = Math.max(max, d); sum += d; }
  return { max, mean: sum / a.length };
}

test('PNG: both decoders give identical pixels (PNG always goes through sharp)', async () => {
  const file = await write(path.join(tmp, 'a.png'), 40, 30, 'png');
  for (const p of [prep(3, 30, 40), prep(1, 30, 40), prep(3, 24, 24, undefined, { resize: 24, crop: 24 })]) {
    const viaSharp = await decode(file, p);
    const viaJpegJs = await decode(file, { ...p, jpegDecoder: 'jpeg-js' });
    assert.deepEqual(viaJpegJs, viaSharp);
  }
});

test('JPEG: jpeg-js is near-identical to sharp, and not the same decode', async () => {
  const file = await write(path.join(tmp, 'a.jpg'), 48, 36, 'jpeg');
  const cases: [string, Preprocessing][] = [
    ['RGB, no resampling', prep(3, 36, 48)],
    ['grey', prep(1, 36, 48)],
    ['resize + crop', prep(3, 24, 24, undefined, { resize: 30, crop: 24 })],
  ];
  for (const [what, p] of cases) {
    const viaSharp = await decode(file, p);
    const viaJpegJs = await decode(file, { ...p, jpegDecoder: 'jpeg-js' });
    const d = maxAbsDiff(viaSharp, viaJpegJs);
    // only the chroma upsampling differs: a few levels on a smooth image (7 at most here)
    assert.ok(d.max <= 10, `${what}: max abs diff ${d.max.toFixed(1)} levels`);
    assert.ok(d.mean <= 2, `${what}: mean abs diff ${d.mean.toFixed(2)} levels`);
    if (p.size[0] === 3 && !p.resize) assert.ok(d.max > 0, `${what}: jpeg-js was not used (identical to sharp)`);
  }
  // the raw (uint8 NHWC) path takes the decoder too
  const raw = await decodeImageRaw(file, { ...prep(3, 36, 48), jpegDecoder: 'jpeg-js' });
  assert.equal(raw.channels, 3);
  assert.equal(raw.data.length, 36 * 48 * 3);
});

test('JPEG via jpeg-js: a truncated file is a failed sample, not a half-grey image', async () => {
  const file = await write(path.join(tmp, 'b.jpg'), 48, 36, 'jpeg');
  const cut = path.join(tmp, 'cut.jpg');
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
  await assert.rejects(decode(cut, prep(3, 36, 48, 'jpeg-js')), ImageDecodeError);
  await assert.rejects(decode(cut, prep(3, 36, 48)), ImageDecodeError);
});

test('readDataset takes the decoder (distill holds folders in memory through it)', async () => {
  const dir = path.join(tmp, 'folder', 'cls');
  fs.mkdirSync(dir, { recursive: true });
  await write(path.join(dir, 'x.jpg'), 32, 32, 'jpeg');
  const root = path.dirname(dir);
  const a = await readDataset(root), b = await readDataset(root, { jpegDecoder: 'jpeg-js' });
  const d = maxAbsDiff(a.pixels, b.pixels);
  assert.ok(d.max > 0 && d.max <= 10, `max abs diff ${d.max}`);
});

test('preprocessingFor records jpegDecoder only when it is not the default', () => {
  const input = { dtype: 'float32' as const, shape: [1, 3, 8, 8] };
  const base = preprocessingFor(input, {});
  assert.equal('jpegDecoder' in base, false);
  assert.deepEqual(preprocessingFor(input, { jpegDecoder: 'sharp' }), base);
  assert.deepEqual(preprocessingFor(input, { jpegDecoder: 'jpeg-js' }), { ...base, jpegDecoder: 'jpeg-js' });
  assert.throws(() => preprocessingFor(input, { jpegDecoder: 'libjpeg' }), (e: unknown) => e instanceof UsageError && /--jpeg-decoder must be sharp or jpeg-js/.test(e.message));
  // the CLI flag: the default is left out of the flags (and so of config hashes)
  const cli = { bgr: false };
  assert.equal('jpegDecoder' in preprocessFlags(cli), false);
  assert.equal('jpegDecoder' in preprocessFlags({ ...cli, jpegDecoder: 'sharp' }), false);
  assert.equal(preprocessFlags({ ...cli, jpegDecoder: 'jpeg-js' }).jpegDecoder, 'jpeg-js');
});

test('CIFAR-10 test JPEGs: the decoders differ by chroma upsampling only (a few levels)', async (t) => {
  const file = assetsOrSkip(t, 'data/cifar10/test/airplane/0000.jpg');
  if (!file) return;
  const p = prep(3, 32, 32);
  const d = maxAbsDiff(await decode(file, p), await decode(file, { ...p, jpegDecoder: 'jpeg-js' }));
  t.diagnostic(`max abs diff ${d.max.toFixed(0)}, mean ${d.mean.toFixed(2)} levels`);
  assert.ok(d.max > 0, 'jpeg-js was not used');
  assert.ok(d.mean <= 3, `mean abs diff ${d.mean.toFixed(2)} levels`);
});
