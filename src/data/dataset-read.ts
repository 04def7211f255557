// Any data SPEC in memory (a Dataset: float CHW pixels in [0, 1]), image folders
// included. A Dataset has one per-sample shape, so a folder's images must come out of
// the geometry flags at one size: with --crop they do; with --resize or no flag they
// must share that size (checked from the file headers before decoding anything); with
// `size` (the teacher's input) and neither flag, every image is resized to it.
// Unreadable images are left out and listed in `failed`.
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { planGeometry } from './image-geometry.js';
import { imageSize, ImageDecodeError, mapLimit } from './image-decode.js';
import { imageFolderSource } from './image-folder.js';
import type { JpegDecoder, Preprocessing } from './preprocess.js';
import type { FailedSample } from './source.js';
import { dataKind, loadDataset, parseSlice } from './sources.js';

export interface ReadOptions {
  resize?: number;
  crop?: number;
  /** channels to decode a folder's images to (default 3) */
  channels?: 1 | 3;
  /** [H, W] to resize every image to when neither resize nor crop is given (the teacher's input) */
  size?: [number, number];
  /** the JPEG decoder for a folder's images (default 'sharp'; see image-decode.ts) */
  jpegDecoder?: JpegDecoder;
}

export async function readDataset(spec: string, opts: ReadOptions = {}): Promise<Dataset & { failed: FailedSample[] }> {
  const { base, range } = parseSlice(spec);
  if (dataKind(base) !== 'folder') return { ...loadDataset(spec), failed: [] };
  const src = imageFolderSource(base, { range, spec });
  const c = opts.channels ?? 3;
  let size: [number, number] | undefined = opts.crop !== undefined ? [opts.crop, opts.crop]
    : opts.size && opts.resize === undefined ? [opts.size[1], opts.size[0]] : undefined;
  if (!size) {
    const limit = Math.max(4, os.availableParallelism());
    const sizes = await mapLimit(Array.from({ length: src.n }, (_, i) => i), limit, async (i) => {
      try {
        const [w, h] = await imageSize(path.join(base, src.id(i)));
        const p = planGeometry(w, h, { size: [c, h, w], resize: opts.resize });
        return 'error' in p ? undefined : p.out;
      } catch (e) {
        if (e instanceof ImageDecodeError) return undefined; // reported by read() below
        throw e;
      }
    });
    for (let i = 0; i < sizes.length; i++) {
      const s = sizes[i];
      if (!s) continue;
      if (!size) size = s;
      else if (s[0] !== size[0] || s[1] !== size[1]) {
        throw new UsageError(`images of data folder '${base}' differ in size${opts.resize ? ` after --resize ${opts.resize}` : ''}: ${src.id(0)} is ${size[0]}x${size[1]}, ${src.id(i)} is ${s[0]}x${s[1]}`,
          'give --crop C (with --resize S if wanted) so every image comes out C x C');
      }
    }
    if (!size) size = [1, 1]; // every image unreadable: read() reports them all
  }
  const prep: Preprocessing = { layout: 'NCHW', dtype: 'float32', size: [c, size[1], size[0]], scale: 1 / 255, mean: [0], std: [1], bgr: false, resize: opts.resize, crop: opts.crop, jpegDecoder: opts.jpegDecoder };
  const r = await src.read(0, src.n, prep);
  return {
    spec, n: r.index.length, shape: prep.size, pixels: r.input.data as Float32Array, labels: r.labels,
    classes: src.classes, index: r.index, failed: r.failed,
  };
}
