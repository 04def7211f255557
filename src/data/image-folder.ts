// An image folder as a SampleSource: JPEG, PNG and WebP files found recursively.
//  - class subfolders give labels: the top-level subfolders, sorted by name, are the
//    classes (an empty one still takes its index, so splits keep the same indices);
//    images deeper inside a class folder belong to it.
//  - a flat folder is unlabelled, unless it holds `labels.txt` with one line per image,
//    `CLASS_INDEX FILE_NAME` (the convention of the imagenet-samples-256 assets); then
//    every image must be listed there.
// Order: the byte order of each image's UTF-8 relative path ('/' separated). Files
// and folders whose names start with '.' are ignored. Pixels are decoded on read(),
// a range at a time, up to `concurrency` images at once (sharp runs in libuv's pool).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { toModelInput, type Preprocessing } from './preprocess.js';
import { classCount } from './dataset.js';
import type { FailedSample, SampleSource } from './source.js';
import type { Tensor } from '../graph/ir.js';
import { decodeImageInto, decodeImageRaw, ImageDecodeError, IMAGE_EXTENSIONS, mapLimit } from './image-decode.js';

export interface ImageFolderListing {
  root: string;
  /** relative paths in source order */
  files: string[];
  labels?: Int32Array;
  classNames?: string[];
}

const isImage = (name: string) => IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Image files under `dir` (relative, '/' separated), following symbolic links to files. */
function walk(dir: string, rel = ''): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    const kind = e.isSymbolicLink() ? statKind(path.join(dir, r)) : e.isDirectory() ? 'dir' : e.isFile() ? 'file' : 'other';
    if (kind === 'dir') found.push(...walk(dir, r));
    else if (kind === 'file' && isImage(e.name)) found.push(r);
  }
  return found;
}

function statKind(p: string): 'dir' | 'file' | 'other' {
  try {
    const s = fs.statSync(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'other'; // a dangling link
  }
}

/** List an image folder: files in source order, and labels when it has them. */
export function listImageFolder(root: string): ImageFolderListing {
  const files = walk(root).sort(byteOrder);
  if (files.length === 0) {
    throw new UsageError(`no images in data folder '${root}'`, `put JPEG, PNG or WebP files (${IMAGE_EXTENSIONS.join(' ')}) in it, or in one subfolder per class`);
  }
  const top = fs.readdirSync(root, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && statKind(path.join(root, e.name)) === 'dir')))
    .map((e) => e.name).sort(byteOrder);
  const loose = files.filter((f) => !f.includes('/'));
  if (top.length > 0 && loose.length === 0) {
    const index = new Map(top.map((n, i) => [n, i]));
    return { root, files, classNames: top, labels: Int32Array.from(files, (f) => index.get(f.slice(0, f.indexOf('/')))!) };
  }
  if (top.length > 0) {
    throw new UsageError(`data folder '${root}' has images both at its top level (${loose[0]}, ...) and in subfolders`,
      'put every image in a class subfolder (labelled), or all at the top level (unlabelled)');
  }
  const labelsFile = path.join(root, 'labels.txt');
  return fs.existsSync(labelsFile) ? { root, files, labels: readLabelsTxt(labelsFile, files) } : { root, files };
}

/** `labels.txt` of a flat folder: `CLASS_INDEX FILE_NAME` per line, every image listed. */
function readLabelsTxt(file: string, files: string[]): Int32Array {
  const byName = new Map<string, number>();
  fs.readFileSync(file, 'utf8').split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || line.startsWith('#')) return;
    const m = /^\s*(\d+)\s+(.+?)\s*$/.exec(line);
    if (!m) throw new UsageError(`${file}:${i + 1}: expected 'CLASS_INDEX FILE_NAME', found '${line.slice(0, 60)}'`, 'one image per line, e.g. `0003 n01491361_tiger_shark.jpg`');
    byName.set(m[2], Number(m[1]));
  });
  const missing = files.find((f) => !byName.has(f));
  if (missing !== undefined) throw new UsageError(`${file} has no line for image '${missing}'`, 'list every image of the folder, or remove labels.txt to use the folder unlabelled');
  return Int32Array.from(files, (f) => byName.get(f)!);
}

export interface ImageFolderOptions {
  /** images decoded at once (default: the number of CPUs, at least 4) */
  concurrency?: number;
  /** positions [start, end) of the listing, for `SPEC:START-END` */
  range?: [number, number];
  spec?: string;
}

export function imageFolderSource(root: string, opts: ImageFolderOptions = {}): SampleSource {
  const all = listImageFolder(root);
  const [s0, s1] = opts.range ?? [0, all.files.length];
  if (!(s0 >= 0 && s1 <= all.files.length && s0 < s1)) {
    throw new UsageError(`slice ${s0}-${s1} is outside data folder '${root}' of ${all.files.length} images`, `use START-END with 0 <= START < END <= ${all.files.length}`);
  }
  const files = all.files.slice(s0, s1);
  const labels = all.labels?.slice(s0, s1);
  const limit = Math.max(1, opts.concurrency ?? Math.max(4, os.availableParallelism()));
  const classes = all.classNames?.length ?? (all.labels ? classCount(all.labels) : undefined);
  // uint8 NHWC models (quantized image classifiers) take sharp's HWC bytes as they are
  const readRawNhwc = async (start: number, end: number, prep: Preprocessing) => {
    const [c, h, w] = prep.size, size = c * h * w;
    const out = new Uint8Array((end - start) * size);
    const ok = await mapLimit(Array.from({ length: end - start }, (_, k) => start + k), limit, async (i, k) => {
      try {
        const { data, channels } = await decodeImageRaw(path.join(root, files[i]), prep);
        if (channels === c) out.set(data, k * size);
        else for (let p = 0; p < h * w; p++) out.fill(data[p], k * size + p * c, k * size + (p + 1) * c); // grey for a colour model
        return undefined;
      } catch (e) {
        if (!(e instanceof ImageDecodeError)) throw e;
        return { index: s0 + i, id: files[i], reason: e.message } satisfies FailedSample;
      }
    });
    return assemble(ok, out, size, start, (n) => ({ dtype: 'uint8' as const, dims: [n, h, w, c], data: out.subarray(0, n * size) }));
  };
  const assemble = (ok: (FailedSample | undefined)[], buf: Uint8Array | Float32Array, size: number, start: number, input: (n: number) => Tensor) => {
    const failed = ok.filter((f): f is FailedSample => f !== undefined);
    const keep: number[] = [];
    ok.forEach((f, k) => { if (!f) keep.push(k); });
    // rows of failed images are squeezed out, so `input` holds only decoded samples
    if (failed.length) keep.forEach((k, j) => { if (k !== j) buf.copyWithin(j * size, k * size, (k + 1) * size); });
    return {
      input: input(keep.length),
      index: Int32Array.from(keep, (k) => s0 + start + k),
      labels: labels ? Int32Array.from(keep, (k) => labels[start + k]) : undefined,
      failed,
    };
  };
  return {
    spec: opts.spec ?? root, n: files.length, labels, classes, classNames: all.classNames,
    indexOf: (i) => s0 + i,
    id: (i) => files[i],
    read: async (start, end, prep: Preprocessing) => {
      if (prep.dtype === 'uint8' && prep.layout === 'NHWC' && !prep.bgr) return readRawNhwc(start, end, prep);
      const [c, h, w] = prep.size, size = c * h * w;
      const pixels = new Float32Array((end - start) * size);
      const ok = await mapLimit(Array.from({ length: end - start }, (_, k) => start + k), limit, async (i, k) => {
        try {
          await decodeImageInto(path.join(root, files[i]), prep, pixels, k * size);
          return undefined;
        } catch (e) {
          if (!(e instanceof ImageDecodeError)) throw e;
          return { index: s0 + i, id: files[i], reason: e.message } satisfies FailedSample;
        }
      });
      return assemble(ok, pixels, size, start, (n) => toModelInput(pixels.subarray(0, n * size), n, prep.size, prep));
    },
  };
}
