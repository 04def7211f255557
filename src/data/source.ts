// Streaming access to a data SPEC, for jobs that must not hold a whole data set in
// memory (`label` over millions of images). A SampleSource knows how many samples
// there are and their labels up front; pixels are decoded on demand, a range at a
// time, straight into the model's input tensor (preprocessing applied). Unreadable
// samples are reported per range, never thrown, so callers can skip and list them.
//
// Owners: this file defines the contract and the in-memory adapter; decoders live in
// sources.ts (IDX, mnist), image-folder.ts (sharp) and npy.ts.
import type { Tensor } from '../graph/ir.js';
import { sampleSize, type Dataset } from './dataset.js';
import { toModelInput, type Preprocessing } from './preprocess.js';

export interface FailedSample {
  /** position in the source order */
  index: number;
  /** relative path or record number */
  id: string;
  reason: string;
}

export interface DecodedRange {
  /** model input for the samples that decoded, rows in source order */
  input: Tensor;
  /** source index of each row of `input` */
  index: Int32Array;
  /** label of each row, when the source is labelled */
  labels?: Int32Array;
  failed: FailedSample[];
}

export interface SampleSource {
  /** the SPEC it was opened from (slice included) */
  spec: string;
  n: number;
  /** class index per sample (length n), when labelled */
  labels?: Int32Array;
  classes?: number;
  /** class names in index order (labelled image folders) */
  classNames?: string[];
  /** per-sample [C, H, W] when every sample has it before any resizing (IDX, npy, mnist) */
  shape?: number[];
  /** source index of sample i (differs from i inside a slice) */
  indexOf(i: number): number;
  /** human id of sample i: relative path for images, record number otherwise */
  id(i: number): string;
  /** decode samples [start, end) (positions 0..n within this source) */
  read(start: number, end: number, prep: Preprocessing): Promise<DecodedRange>;
}

/** A Dataset already in memory, as a SampleSource. */
export function datasetSource(d: Dataset): SampleSource {
  const size = sampleSize(d);
  return {
    spec: d.spec, n: d.n, labels: d.labels, classes: d.classes, shape: d.shape,
    indexOf: (i) => d.index[i],
    id: (i) => String(d.index[i]),
    read: async (start, end, prep) => ({
      input: toModelInput(d.pixels.subarray(start * size, end * size), end - start, d.shape, prep),
      index: d.index.slice(start, end),
      labels: d.labels?.slice(start, end),
      failed: [],
    }),
  };
}

/** Ranges of `batch` samples over [start, end), decoding up to `ahead` ranges ahead of
 * the consumer so the teacher never waits on decoding. */
export async function* readAhead(src: SampleSource, prep: Preprocessing, batch: number, opts: { start?: number; end?: number; ahead?: number } = {}): AsyncGenerator<DecodedRange & { start: number; end: number }> {
  const start = opts.start ?? 0, end = opts.end ?? src.n, ahead = Math.max(1, opts.ahead ?? 2);
  const queue: Promise<DecodedRange & { start: number; end: number }>[] = [];
  let next = start;
  const launch = () => {
    const s = next, e = Math.min(end, s + batch);
    next = e;
    const p = src.read(s, e, prep).then((r) => ({ ...r, start: s, end: e }));
    // a read still queued when the consumer stops (an error on an earlier batch, a break)
    // must not surface later as an unhandled rejection: its error reaches whoever awaits it
    p.catch(() => undefined);
    queue.push(p);
  };
  while (next < end && queue.length < ahead) launch();
  while (queue.length) {
    const r = await queue.shift()!;
    if (next < end) launch();
    yield r;
  }
}
