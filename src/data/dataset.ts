// An in-memory data set of images as float32 CHW in [0, 1], with optional labels.
// Sample order is deterministic; `index` is a sample's position in that order.
import { UsageError } from '../errors.js';

export interface Dataset {
  /** the SPEC it came from */
  spec: string;
  n: number;
  /** per-sample shape [C, H, W] */
  shape: number[];
  /** pixels in [0, 1], n * C * H * W */
  pixels: Float32Array;
  /** class index per sample, when labelled */
  labels?: Int32Array;
  /** number of classes (from labels or folder names) */
  classes?: number;
  /** position of each sample in the source (for slices) */
  index: Int32Array;
}

export function sampleSize(d: Dataset): number {
  return d.shape.reduce((a, x) => a * x, 1);
}

/** Rows [start, end) of a data set, keeping their source indices. */
export function sliceDataset(d: Dataset, start: number, end: number, spec = `${d.spec}:${start}-${end}`): Dataset {
  if (!(start >= 0 && end <= d.n && start < end)) {
    throw new UsageError(`slice ${start}-${end} is outside data set '${d.spec}' of ${d.n} samples`, `use START-END with 0 <= START < END <= ${d.n}`);
  }
  const size = sampleSize(d);
  return {
    spec, n: end - start, shape: d.shape, classes: d.classes,
    pixels: d.pixels.subarray(start * size, end * size),
    labels: d.labels?.subarray(start, end),
    index: d.index.subarray(start, end),
  };
}

/** Deterministically split off a fraction for validation: every k-th sample after a seeded shuffle. */
export function splitDataset(d: Dataset, fraction: number, seedOrder: Int32Array): { train: Dataset; val: Dataset } {
  const nVal = Math.max(1, Math.round(d.n * fraction));
  const valIdx = Array.from(seedOrder.subarray(0, nVal)).sort((a, b) => a - b);
  const valSet = new Set(valIdx);
  const trainIdx = Array.from({ length: d.n }, (_, i) => i).filter((i) => !valSet.has(i));
  return { train: subset(d, trainIdx, `${d.spec}#train`), val: subset(d, valIdx, `${d.spec}#val`) };
}

export function subset(d: Dataset, rows: number[], spec: string): Dataset {
  const size = sampleSize(d);
  const pixels = new Float32Array(rows.length * size);
  rows.forEach((r, i) => pixels.set(d.pixels.subarray(r * size, (r + 1) * size), i * size));
  return {
    spec, n: rows.length, shape: d.shape, classes: d.classes, pixels,
    labels: d.labels ? Int32Array.from(rows, (r) => d.labels![r]) : undefined,
    index: Int32Array.from(rows, (r) => d.index[r]),
  };
}

/** Number of classes of a label array: its largest value + 1 (no spread: arrays can be long). */
export function classCount(labels: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i] > m) m = labels[i];
  return m + 1;
}
