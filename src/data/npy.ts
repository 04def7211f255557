// NumPy .npy arrays as a data source (format versions 1-3, C order).
// Images: uint8 or float32, shaped [N, H, W] (grey), [N, C, H, W] or [N, H, W, C] with
// C in {1, 3}; [N, C, H, W] is chosen when dimension 1 is 1 or 3, [N, H, W, C] when
// only dimension 3 is. uint8 values are 0..255 pixels; float32 values are pixels in
// 0..1 (as a float image is in PyTorch/NumPy work: x/255 already applied).
// Labels: an integer array [N] beside it named `X.labels.npy` for `X.npy`.
// Records are read from disk a range at a time, so a large file is never held whole.
import fs from 'node:fs';
import { UsageError } from '../errors.js';
import { classCount, type Dataset } from './dataset.js';
import { toModelInput } from './preprocess.js';
import type { SampleSource } from './source.js';

export interface NpyHeader {
  descr: string;
  shape: number[];
  /** byte offset of the data */
  offset: number;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ITEM: Record<string, number> = { '|u1': 1, '<u1': 1, '|i1': 1, '<i1': 1, '<i2': 2, '<u2': 2, '<i4': 4, '<u4': 4, '<i8': 8, '<f4': 4 };

export function readNpyHeader(file: string, fd: number): NpyHeader {
  const bad = (why: string) => new UsageError(`${file}: not a readable .npy file (${why})`, 'save it with numpy.save(), C order, uint8 or float32');
  const head = Buffer.alloc(12);
  const got = fs.readSync(fd, head, 0, 12, 0);
  if (got < 10 || !head.subarray(0, 6).equals(MAGIC)) throw bad('bad magic string');
  const major = head[6];
  const lenBytes = major === 1 ? 2 : major === 2 || major === 3 ? 4 : 0;
  if (!lenBytes) throw bad(`format version ${major}`);
  const hlen = lenBytes === 2 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = 8 + lenBytes;
  const text = Buffer.alloc(hlen);
  if (fs.readSync(fd, text, 0, hlen, start) < hlen) throw bad('truncated header');
  const h = text.toString('latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(h)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(h)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(h)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad('header dictionary without descr, fortran_order and shape');
  if (fortran === 'True') throw bad('Fortran order; save with numpy.ascontiguousarray');
  if (!(descr in ITEM)) throw bad(`dtype '${descr}'; use uint8 or float32 (labels: integers)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  return { descr, shape, offset: start + hlen };
}

/** The whole array as numbers (labels) or raw bytes; checks the file holds all of it. */
function readNpyData(file: string): { header: NpyHeader; values: ArrayLike<number> } {
  const fd = open(file);
  try {
    const header = readNpyHeader(file, fd);
    const count = header.shape.reduce((a, d) => a * d, 1);
    const bytes = Buffer.alloc(count * ITEM[header.descr]);
    if (fs.readSync(fd, bytes, 0, bytes.length, header.offset) < bytes.length) throw new UsageError(`${file}: truncated .npy data (shape [${header.shape}])`);
    return { header, values: typed(header.descr, bytes) };
  } finally {
    fs.closeSync(fd);
  }
}

function typed(descr: string, b: Buffer): ArrayLike<number> {
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  switch (descr) {
    case '|u1': case '<u1': return new Uint8Array(ab);
    case '|i1': case '<i1': return new Int8Array(ab);
    case '<i2': return new Int16Array(ab);
    case '<u2': return new Uint16Array(ab);
    case '<i4': return new Int32Array(ab);
    case '<u4': return new Uint32Array(ab);
    case '<i8': return Array.from(new BigInt64Array(ab), Number);
    default: return new Float32Array(ab);
  }
}

function open(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch {
    throw new UsageError(`${file}: cannot open .npy file`, 'check the path');
  }
}

/** Image layout of an array shape: per-sample [C, H, W] and whether records are HWC. */
function imageLayout(file: string, shape: number[]): { chw: number[]; hwc: boolean } {
  const ch = (d: number) => d === 1 || d === 3;
  if (shape.length === 3) return { chw: [1, shape[1], shape[2]], hwc: false };
  if (shape.length === 4 && ch(shape[1])) return { chw: [shape[1], shape[2], shape[3]], hwc: false };
  if (shape.length === 4 && ch(shape[3])) return { chw: [shape[3], shape[1], shape[2]], hwc: true };
  throw new UsageError(`${file}: image array of shape [${shape}] is not [N,H,W], [N,C,H,W] or [N,H,W,C] with C of 1 or 3`);
}

export const npyLabelsFile = (file: string) => file.replace(/\.npy$/i, '.labels.npy');

interface NpyImages {
  total: number;
  /** per-sample [C, H, W] */
  chw: number[];
  labels?: Int32Array;
  /** records [start, end) as float CHW pixels in [0, 1] */
  pixels(start: number, end: number): Float32Array;
}

function openNpyImages(file: string): NpyImages {
  const fd = open(file);
  let header: NpyHeader;
  try {
    header = readNpyHeader(file, fd);
  } finally {
    fs.closeSync(fd);
  }
  if (header.descr !== '|u1' && header.descr !== '<u1' && header.descr !== '<f4') {
    throw new UsageError(`${file}: images of dtype '${header.descr}' are not supported`, 'save images as uint8 (0..255) or float32 (0..1)');
  }
  const { chw, hwc } = imageLayout(file, header.shape);
  const total = header.shape[0], size = chw[0] * chw[1] * chw[2], item = ITEM[header.descr];
  if (fs.statSync(file).size < header.offset + total * size * item) throw new UsageError(`${file}: truncated .npy data (shape [${header.shape}])`);
  let labels: Int32Array | undefined;
  const lf = npyLabelsFile(file);
  if (lf !== file && fs.existsSync(lf)) {
    const l = readNpyData(lf);
    if (l.header.descr === '<f4' || l.header.shape.length !== 1 || l.header.shape[0] !== total) {
      throw new UsageError(`${lf}: labels must be integers shaped [${total}], found ${l.header.descr} [${l.header.shape}]`);
    }
    labels = Int32Array.from(l.values);
  }
  const [c, h, w] = chw, hw = h * w;
  const pixels = (start: number, end: number) => {
    const n = end - start;
    const bytes = Buffer.alloc(n * size * item);
    const dfd = open(file);
    try {
      fs.readSync(dfd, bytes, 0, bytes.length, header.offset + start * size * item);
    } finally {
      fs.closeSync(dfd);
    }
    const v = typed(header.descr, bytes);
    const div = item === 1 ? 255 : 1;
    const out = new Float32Array(n * size);
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        for (let k = 0; k < hw; k++) out[i * size + ch * hw + k] = v[hwc ? i * size + k * c + ch : i * size + ch * hw + k] / div;
      }
    }
    return out;
  };
  return { total, chw, labels, pixels };
}

const checkRange = (file: string, total: number, [s0, s1]: [number, number]) => {
  if (!(s0 >= 0 && s1 <= total && s0 < s1)) throw new UsageError(`slice ${s0}-${s1} is outside '${file}' of ${total} samples`, `use START-END with 0 <= START < END <= ${total}`);
};

export function npySource(file: string, opts: { range?: [number, number]; spec?: string } = {}): SampleSource {
  const a = openNpyImages(file);
  const [s0, s1] = opts.range ?? [0, a.total];
  checkRange(file, a.total, [s0, s1]);
  const labels = a.labels?.slice(s0, s1);
  return {
    spec: opts.spec ?? file, n: s1 - s0, labels, shape: a.chw,
    classes: a.labels ? classCount(a.labels) : undefined,
    indexOf: (i) => s0 + i,
    id: (i) => String(s0 + i),
    read: async (start, end, prep) => ({
      input: toModelInput(a.pixels(s0 + start, s0 + end), end - start, a.chw, prep),
      index: Int32Array.from({ length: end - start }, (_, k) => s0 + start + k),
      labels: labels?.slice(start, end),
      failed: [],
    }),
  };
}

/** The whole .npy file (or a slice of it) in memory, pixels float CHW in [0, 1]. */
export function loadNpy(file: string, range?: [number, number], spec?: string): Dataset {
  const a = openNpyImages(file);
  const [s0, s1] = range ?? [0, a.total];
  checkRange(file, a.total, [s0, s1]);
  return {
    spec: spec ?? file, n: s1 - s0, shape: a.chw, pixels: a.pixels(s0, s1), labels: a.labels?.slice(s0, s1),
    classes: a.labels ? classCount(a.labels) : undefined, index: Int32Array.from({ length: s1 - s0 }, (_, i) => s0 + i),
  };
}

/** Encode an array as .npy version 1.0 (tests, fixtures, users' tools). */
export function encodeNpy(data: Uint8Array | Float32Array | Int32Array, shape: number[]): Buffer {
  const descr = data instanceof Uint8Array ? '|u1' : data instanceof Float32Array ? '<f4' : '<i4';
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  MAGIC.copy(head);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
