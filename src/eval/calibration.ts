// Calibration metrics of a classifier over row-major logits [n, classes] and labels, as
// calibrated distillation (BD-KD, arXiv 2212.12965) reports them.
//
// Probabilities: softmax of the logits in float64, after subtracting the row maximum.
// Prediction: argmaxRows (ties go to the lowest class). Confidence: the largest softmax
// probability, i.e. 1 / sum_c exp(l_c - max). Correct: prediction === label.
//
// - Equal-width binning (Guo et al. 2017, "On Calibration of Modern Neural Networks"):
//   B bins (default 15), bin b = (b/B, (b+1)/B], b = 0..B-1, edges computed as the float64
//   quotient (b+1)/B; a confidence exactly on an edge goes to the lower bin, and a
//   confidence of exactly 0 to the first bin.
//     ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)|
//     MCE = max over non-empty b of |acc(B_b) - conf(B_b)|
//   acc(B_b): fraction of correct samples in the bin; conf(B_b): their mean confidence.
// - Adaptive (equal-mass) ECE: samples sorted by confidence ascending (stable: equal
//   confidences keep their row order, and may fall in different groups), then split as
//   numpy's array_split(sorted, B): with n = qB + r (0 <= r < B) the first r groups hold
//   q+1 samples and the others q (when n < B, groups n.. are empty and skipped). Then the
//   same sum as ECE over the groups.
// - NLL: mean over samples of -log softmax(l)_y = log sum_c exp(l_c - max) + max - l_y.
// - Brier score, multi-class form (Brier 1950): mean over samples of
//   sum_c (p_c - [c = y])^2, in [0, 2]; (the binary "top-label" variant is not used).
// A label outside 0..classes-1 is a class the model gives probability 0: never correct,
// NLL +Infinity, Brier term sum_c p_c^2 + 1. With n = 0 every metric is NaN.
import { argmaxRows } from './metrics.js';

export const DEFAULT_BINS = 15;

/** One bin of a reliability diagram. Empty bins have count 0 and NaN accuracy and confidence. */
export interface ReliabilityBin {
  /** exclusive lower edge (the first bin also holds confidence 0) */
  lo: number;
  /** inclusive upper edge */
  hi: number;
  count: number;
  /** fraction of correct predictions in the bin */
  accuracy: number;
  /** mean confidence of the bin's samples */
  confidence: number;
}

export interface CalibrationReport {
  n: number;
  /** top-1 accuracy (argmax, lowest class on ties) */
  accuracy: number;
  /** equal-width ECE */
  ece: number;
  /** equal-mass ECE */
  eceAdaptive: number;
  /** equal-width MCE */
  mce: number;
  nll: number;
  brier: number;
  /** equal-width bins, for the reliability diagram */
  bins: ReliabilityBin[];
}

/** Per-sample quantities: confidence (float64), correctness, -log p_y and the Brier term. */
export interface SampleCalibration {
  confidence: Float64Array;
  correct: Uint8Array;
  nll: Float64Array;
  brier: Float64Array;
}

export function perSample(logits: Float32Array, labels: ArrayLike<number>, classes: number): SampleCalibration {
  const n = labels.length;
  if (logits.length !== n * classes) throw new RangeError(`calibration: ${logits.length} logits for ${n} labels of ${classes} classes`);
  const pred = argmaxRows(logits, classes);
  const confidence = new Float64Array(n), nll = new Float64Array(n), brier = new Float64Array(n);
  const correct = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * classes;
    const max = logits[off + pred[i]];
    let s = 0;
    for (let c = 0; c < classes; c++) s += Math.exp(logits[off + c] - max);
    const y = labels[i];
    const inRange = Number.isInteger(y) && y >= 0 && y < classes;
    confidence[i] = 1 / s;
    correct[i] = pred[i] === y ? 1 : 0;
    nll[i] = inRange ? Math.log(s) + max - logits[off + y] : Infinity;
    let b = inRange ? 0 : 1;
    for (let c = 0; c < classes; c++) {
      const p = Math.exp(logits[off + c] - max) / s;
      const d = c === y ? p - 1 : p;
      b += d * d;
    }
    brier[i] = b;
  }
  return { confidence, correct, nll, brier };
}

/** Equal-width bin of a confidence: the b with b/B < c <= (b+1)/B (c <= 0 gives 0, c > 1 gives B-1). */
export function binIndex(c: number, bins = DEFAULT_BINS): number {
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
  // c * B may round across an edge: settle against the edges as defined, (b+1)/B
  while (b > 0 && c <= b / bins) b--;
  while (b < bins - 1 && c > (b + 1) / bins) b++;
  return b;
}

/** Equal-width reliability bins of confidences and correctness flags. */
export function reliabilityBins(confidence: ArrayLike<number>, correct: ArrayLike<number>, bins = DEFAULT_BINS): ReliabilityBin[] {
  const count = new Float64Array(bins), hit = new Float64Array(bins), conf = new Float64Array(bins);
  for (let i = 0; i < confidence.length; i++) {
    const b = binIndex(confidence[i], bins);
    count[b]++;
    hit[b] += correct[i] ? 1 : 0;
    conf[b] += confidence[i];
  }
  return Array.from({ length: bins }, (_, b) => ({
    lo: b / bins, hi: (b + 1) / bins, count: count[b],
    accuracy: count[b] ? hit[b] / count[b] : NaN, confidence: count[b] ? conf[b] / count[b] : NaN,
  }));
}

/** sum_b |B_b|/n |acc - conf| over bins (empty ones contribute nothing). */
function weightedGap(groups: { count: number; accuracy: number; confidence: number }[], n: number): number {
  if (!n) return NaN;
  let e = 0;
  for (const g of groups) if (g.count) e += (g.count / n) * Math.abs(g.accuracy - g.confidence);
  return e;
}

export function eceOfBins(bins: ReliabilityBin[], n: number): number {
  return weightedGap(bins, n);
}

export function mceOfBins(bins: ReliabilityBin[]): number {
  let m = NaN;
  for (const b of bins) if (b.count) m = Math.max(Number.isNaN(m) ? 0 : m, Math.abs(b.accuracy - b.confidence));
  return m;
}

/** Equal-mass groups (array_split of the samples sorted by confidence); see the header. */
export function adaptiveGroups(confidence: ArrayLike<number>, correct: ArrayLike<number>, bins = DEFAULT_BINS): { count: number; accuracy: number; confidence: number; lo: number; hi: number }[] {
  const n = confidence.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => confidence[a] - confidence[b] || a - b);
  const q = Math.floor(n / bins), r = n % bins;
  const out = [];
  let start = 0;
  for (let g = 0; g < bins; g++) {
    const size = q + (g < r ? 1 : 0);
    let hit = 0, conf = 0;
    for (let k = start; k < start + size; k++) {
      hit += correct[order[k]] ? 1 : 0;
      conf += confidence[order[k]];
    }
    out.push({
      count: size, accuracy: size ? hit / size : NaN, confidence: size ? conf / size : NaN,
      lo: size ? confidence[order[start]] : NaN, hi: size ? confidence[order[start + size - 1]] : NaN,
    });
    start += size;
  }
  return out;
}

const mean = (a: Float64Array): number => {
  let s = 0;
  for (const v of a) s += v;
  return a.length ? s / a.length : NaN;
};

/** Equal-width expected calibration error. */
export function expectedCalibrationError(logits: Float32Array, labels: ArrayLike<number>, classes: number, bins = DEFAULT_BINS): number {
  const s = perSample(logits, labels, classes);
  return eceOfBins(reliabilityBins(s.confidence, s.correct, bins), labels.length);
}

/** Equal-mass (adaptive) expected calibration error. */
export function adaptiveCalibrationError(logits: Float32Array, labels: ArrayLike<number>, classes: number, bins = DEFAULT_BINS): number {
  const s = perSample(logits, labels, classes);
  return weightedGap(adaptiveGroups(s.confidence, s.correct, bins), labels.length);
}

/** Equal-width maximum calibration error. */
export function maxCalibrationError(logits: Float32Array, labels: ArrayLike<number>, classes: number, bins = DEFAULT_BINS): number {
  const s = perSample(logits, labels, classes);
  return mceOfBins(reliabilityBins(s.confidence, s.correct, bins));
}

/** Mean negative log-likelihood of the labels, from the logits in float64. */
export function negativeLogLikelihood(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  return mean(perSample(logits, labels, classes).nll);
}

/** Multi-class Brier score: mean of sum_c (p_c - onehot_c)^2. */
export function brierScore(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  return mean(perSample(logits, labels, classes).brier);
}

/** Every calibration metric in one pass over the logits. */
export function calibration(logits: Float32Array, labels: ArrayLike<number>, classes: number, bins = DEFAULT_BINS): CalibrationReport {
  const s = perSample(logits, labels, classes);
  const n = labels.length;
  const rb = reliabilityBins(s.confidence, s.correct, bins);
  let hit = 0;
  for (const c of s.correct) hit += c;
  return {
    n, accuracy: n ? hit / n : NaN,
    ece: eceOfBins(rb, n), eceAdaptive: weightedGap(adaptiveGroups(s.confidence, s.correct, bins), n), mce: mceOfBins(rb),
    nll: mean(s.nll), brier: mean(s.brier), bins: rb,
  };
}
