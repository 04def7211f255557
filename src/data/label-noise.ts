// Symmetric label noise for noisy-label experiments (`--label-noise P`): exactly
// round(P * n) training samples, chosen by a seeded shuffle, get a label drawn uniformly
// from the other classes (so every chosen label really is wrong and the noise rate is P).
// Validation and test data are never corrupted; the corrupted set is returned so a run
// can report what its objective learned about those samples.
import { Rng } from '../util/rng.js';
import { UsageError } from '../errors.js';

export interface NoisyLabels {
  labels: Int32Array;
  /** 1 where the label was replaced */
  corrupted: Uint8Array;
  count: number;
}

export function corruptLabels(labels: Int32Array, classes: number, fraction: number, seed: number): NoisyLabels {
  if (!(fraction >= 0 && fraction < 1)) throw new UsageError(`--label-noise must be in [0, 1), got ${fraction}`, 'e.g. --label-noise 0.4');
  if (classes < 2 && fraction > 0) throw new UsageError('--label-noise needs at least 2 classes');
  const n = labels.length;
  const out = Int32Array.from(labels);
  const corrupted = new Uint8Array(n);
  const count = Math.round(fraction * n);
  const rng = new Rng((seed ^ 0x6e015e) >>> 0);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  rng.shuffle(order);
  for (let k = 0; k < count; k++) {
    const i = order[k];
    const r = rng.int(classes - 1); // one of the other classes
    out[i] = r >= labels[i] ? r + 1 : r;
    corrupted[i] = 1;
  }
  return { labels: out, corrupted, count };
}
