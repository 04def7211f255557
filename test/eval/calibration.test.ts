// Calibration metrics (src/eval/calibration.ts) against hand-computed values, and the
// reliability diagram (src/eval/reliability-plot.ts) rendering to a PNG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {
  adaptiveCalibrationError, binIndex, brierScore, calibration, expectedCalibrationError, maxCalibrationError,
  negativeLogLikelihood, reliabilityBins,
} from '../../src/eval/calibration.js';
import { reliabilityPng, reliabilitySvg, writeReliabilityPng } from '../../src/eval/reliability-plot.js';

/** Logits whose softmax is the given probabilities: log p (float32, so p to about 1e-7). */
const fromProbs = (rows: number[][]) => Float32Array.from(rows.flat().map(Math.log));
const close = (a: number, b: number, tol = 1e-6, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} != ${b}`);

// Two classes, five samples, p = softmax(logits), confidence = max p:
//   #  p            y  pred  conf  correct  bin (of 15; conf*15)
//   0  (0.90 0.10)  0  0     0.90  1        13 (13.5)
//   1  (0.95 0.05)  1  0     0.95  0        14 (14.25)
//   2  (0.30 0.70)  1  1     0.70  1        10 (10.5)
//   3  (0.62 0.38)  1  0     0.62  0         9 (9.3)
//   4  (0.65 0.35)  0  0     0.65  1         9 (9.75)
const P = [[0.9, 0.1], [0.95, 0.05], [0.3, 0.7], [0.62, 0.38], [0.65, 0.35]];
const Y = Int32Array.from([0, 1, 1, 1, 0]);
const L = fromProbs(P);

test('hand-computed ECE, MCE, adaptive ECE, NLL and Brier on five samples', () => {
  // bins: 9 {0.62 wrong, 0.65 right}: acc 0.5, conf 0.635, gap 0.135
  //       10 {0.70 right}: gap |1 - 0.70| = 0.30
  //       13 {0.90 right}: gap 0.10
  //       14 {0.95 wrong}: gap 0.95
  // ECE = (2 * 0.135 + 0.30 + 0.10 + 0.95) / 5 = 1.62 / 5 = 0.324
  close(expectedCalibrationError(L, Y, 2), 0.324, 1e-6, 'ece');
  // MCE = max(0.135, 0.30, 0.10, 0.95) = 0.95
  close(maxCalibrationError(L, Y, 2), 0.95, 1e-6, 'mce');
  // adaptive, 15 groups: n = 5 < 15, array_split gives five singletons (and ten empty groups):
  //   (|0 - 0.62| + |1 - 0.65| + |1 - 0.70| + |1 - 0.90| + |0 - 0.95|) / 5 = 2.32 / 5 = 0.464
  close(adaptiveCalibrationError(L, Y, 2), 0.464, 1e-6, 'ece_adaptive 15');
  // adaptive, 2 groups: sorted conf 0.62(w) 0.65(r) 0.70(r) | 0.90(r) 0.95(w); 5 = 2*2 + 1, so the
  //   first group holds 3: acc 2/3, conf 1.97/3, gap 0.03/3 = 0.01; second: acc 0.5, conf 0.925, gap 0.425
  //   ECE = 3/5 * 0.01 + 2/5 * 0.425 = 0.006 + 0.17 = 0.176
  close(adaptiveCalibrationError(L, Y, 2, 2), 0.176, 1e-6, 'ece_adaptive 2');
  // NLL = -(ln 0.9 + ln 0.05 + ln 0.7 + ln 0.38 + ln 0.65) / 5
  //     = (0.1053605 + 2.9957323 + 0.3566749 + 0.9675840 + 0.4307829) / 5 = 4.8561346 / 5 = 0.9712269
  close(negativeLogLikelihood(L, Y, 2), 0.9712269, 1e-6, 'nll');
  // Brier, two classes: (p_y - 1)^2 + (1 - p_y)^2 = 2 (1 - p_y)^2:
  //   2 * (0.01 + 0.9025 + 0.09 + 0.3844 + 0.1225) / 5 = 2 * 1.5094 / 5 = 0.60376
  close(brierScore(L, Y, 2), 0.60376, 1e-6, 'brier');

  const c = calibration(L, Y, 2);
  assert.equal(c.n, 5);
  close(c.accuracy, 0.6);
  close(c.ece, 0.324);
  close(c.eceAdaptive, 0.464);
  close(c.mce, 0.95);
  close(c.nll, 0.9712269);
  close(c.brier, 0.60376);
  assert.equal(c.bins.length, 15);
  assert.deepEqual(c.bins.map((b) => b.count), [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 1, 1]);
  close(c.bins[9].accuracy, 0.5);
  close(c.bins[9].confidence, 0.635);
  close(c.bins[9].lo, 9 / 15, 0);
  close(c.bins[9].hi, 10 / 15, 0);
  assert.ok(Number.isNaN(c.bins[0].accuracy) && Number.isNaN(c.bins[0].confidence), 'empty bins are NaN');
});

test('Brier is the multi-class sum over all classes', () => {
  // p = (0.5, 0.3, 0.2), y = 1: 0.5^2 + (0.3 - 1)^2 + 0.2^2 = 0.25 + 0.49 + 0.04 = 0.78
  close(brierScore(fromProbs([[0.5, 0.3, 0.2]]), [1], 3), 0.78);
  // NLL from large logits stays finite and exact: logits (1000, 0): -log softmax_1 = 1000 + log(1 + e^-1000) = 1000
  close(negativeLogLikelihood(Float32Array.from([1000, 0]), [1], 2), 1000, 1e-9);
  close(negativeLogLikelihood(Float32Array.from([1000, 0]), [0], 2), 0, 1e-9);
});

test('perfect calibration: confidence equal to accuracy in every bin gives ECE and MCE 0', () => {
  const rows: number[][] = [], labels: number[] = [];
  // (no confidence on a bin edge: 0.5 = 7.5/15, 0.75 = 11.25/15, 0.9 = 13.5/15)
  // 10 samples at confidence 0.9, 9 right; 4 at 0.75, 3 right; 4 at 0.5 (a tie, predicted class 0), 2 right
  for (let i = 0; i < 10; i++) { rows.push([0.9, 0.1]); labels.push(i < 9 ? 0 : 1); }
  for (let i = 0; i < 4; i++) { rows.push([0.25, 0.75]); labels.push(i < 3 ? 1 : 0); }
  for (let i = 0; i < 4; i++) { rows.push([0.5, 0.5]); labels.push(i < 2 ? 0 : 1); }
  const c = calibration(fromProbs(rows), labels, 2);
  close(c.ece, 0, 1e-6, 'ece');
  close(c.mce, 0, 1e-6, 'mce');
  assert.deepEqual(c.bins.map((b) => b.count), [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 10, 0]);
  // equal-mass: 18 = 15 + 3, groups of 2, 2, 2, then 1s, sorted by confidence (stable):
  // [0.5 r, 0.5 r] [0.5 w, 0.5 w] [0.75 r, 0.75 r] [0.75 r] [0.75 w] [0.9 r] x9 [0.9 w]
  //   gaps: 0.5 0.5 0.25 (pairs), 0.25 0.75, 0.1 x9, 0.9 (singletons):
  //   (2 * (0.5 + 0.5 + 0.25) + 0.25 + 0.75 + 0.9 + 0.9) / 18 = 5.3 / 18
  close(c.eceAdaptive, 5.3 / 18, 1e-6, 'ece_adaptive');
});

test('bin edges: a confidence on a boundary goes to the lower bin, (a, b]', () => {
  for (let k = 1; k <= 15; k++) assert.equal(binIndex(k / 15), k - 1, `${k}/15`);
  for (let k = 1; k < 15; k++) assert.equal(binIndex(k / 15 + 1e-12), k, `${k}/15 + eps`);
  assert.equal(binIndex(0), 0);
  assert.equal(binIndex(1e-300), 0);
  assert.equal(binIndex(1), 14);
  assert.equal(binIndex(0.2), 2); // 0.2 = 3/15: bin (2/15, 3/15]
  // three equal logits: softmax exactly 1/3 = 5/15, bin 4 = (4/15, 5/15], not bin 5
  const tie3 = Float32Array.from([2, 2, 2, 2, 2, 2]);
  const c3 = calibration(tie3, [0, 0], 3);
  assert.equal(c3.bins[4].count, 2);
  assert.equal(c3.bins[5].count, 0);
  assert.equal(c3.bins[4].confidence, 1 / 3);
  // both right (a tie predicts class 0): acc 1, conf 1/3, ECE = MCE = 2/3
  close(c3.ece, 2 / 3, 1e-12);
  close(c3.mce, 2 / 3, 1e-12);
  // five equal logits: 1/5 = 3/15, bin 2
  assert.equal(calibration(new Float32Array(5), [4], 5).bins[2].count, 1);
  // reliabilityBins on raw confidences at the edges
  const rb = reliabilityBins([1 / 15, 2 / 15, 14 / 15, 1], [1, 0, 1, 1]);
  assert.deepEqual(rb.map((b) => b.count), [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
});

test('argmax ties go to the lowest class, as argmaxRows', () => {
  // [1, 3, 3]: classes 1 and 2 tie, prediction 1; label 2 is wrong, label 1 right
  const l = Float32Array.from([1, 3, 3, 1, 3, 3]);
  const c = calibration(l, [2, 1], 3);
  close(c.accuracy, 0.5);
  // confidence e^3 / (e + 2 e^3) for both: bin of that, acc 0.5
  const conf = Math.exp(3) / (Math.exp(1) + 2 * Math.exp(3));
  const b = c.bins[binIndex(conf)];
  assert.equal(b.count, 2);
  close(b.accuracy, 0.5);
  close(c.ece, Math.abs(0.5 - conf), 1e-6);
  // the NLL of a tied class is the same for either label
  close(negativeLogLikelihood(l.subarray(0, 3), [2], 3), negativeLogLikelihood(l.subarray(0, 3), [1], 3), 1e-12);
});

test('no samples give NaN; a label the model lacks has probability 0', () => {
  const e = calibration(new Float32Array(0), [], 3);
  for (const v of [e.ece, e.eceAdaptive, e.mce, e.nll, e.brier, e.accuracy]) assert.ok(Number.isNaN(v));
  const c = calibration(fromProbs([[0.75, 0.25]]), [5], 2);
  assert.equal(c.nll, Infinity);
  close(c.brier, 0.75 ** 2 + 0.25 ** 2 + 1);
  close(c.accuracy, 0);
  assert.throws(() => calibration(new Float32Array(5), [0, 1], 2), RangeError);
});

test('reliability diagram: one or two panels, rendered to PNG and written atomically', async () => {
  const c = calibration(L, Y, 2);
  const one = await sharp(await reliabilityPng([{ name: 'm <&>.onnx', bins: c.bins, ece: c.ece }])).metadata();
  assert.equal(one.format, 'png');
  assert.ok(one.width! > 100 && one.height! > 100);
  const svg = reliabilitySvg([{ name: 'a', bins: c.bins, ece: c.ece }, { name: 'b', bins: c.bins, ece: c.ece }]);
  assert.match(svg, /ECE 32\.40%/);
  assert.doesNotMatch(reliabilitySvg([{ name: 'x', bins: c.bins, ece: c.ece }], { text: false }), /<text/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-'));
  try {
    const file = path.join(dir, 'r.png');
    await writeReliabilityPng(file, [{ name: 'a', bins: c.bins, ece: c.ece }, { name: 'b', bins: c.bins, ece: c.ece }]);
    const two = await sharp(file).metadata();
    assert.equal(two.width, 2 * one.width!);
    assert.equal(two.height, one.height);
    assert.deepEqual(fs.readdirSync(dir), ['r.png'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
