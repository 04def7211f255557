// proteus: per-sample mean over dims of (LayerNorm+Linear(s) - t)^2, against the float64
// reference of test/helpers/tintem-ref.ts, plus a gradient check of the generated graph.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Builder } from '../../../src/graph/builder.js';
import type { Ops } from '../../../src/graph/ops.js';
import { tensor } from '../../../src/graph/tensor.js';
import type { LossContext } from '../../../src/train/step.js';
import { getObjective, resolveOptions, type ObjectiveShapes } from '../../../src/train/objectives/index.js';
import { PROTEUS_HEAD, proteusLoss, proteusParams } from '../../../src/train/objectives/proteus.js';
import { evalLoss } from '../../helpers/loss-eval.js';
import { gradCheck } from '../../helpers/gradcheck.js';
import { rng } from '../../helpers/rand.js';
import { type HeadRef, layerNorm, proteusRef, reshape } from '../../helpers/tintem-ref.js';

const P = PROTEUS_HEAD;

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-4, abs = 1e-6, what = '') {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= rel * Math.abs(expected[i]) + abs, `${what}[${i}]: ${actual[i]} != ${expected[i]}`);
  }
}

test('reference: LayerNorm uses the biased variance and eps 1e-5', () => {
  // x = [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5
  const y = layerNorm([1, 2, 3, 6], [1, 1, 1, 1], [0, 0, 0, 0]);
  const r = 1 / Math.sqrt(3.5 + 1e-5);
  close(y, [-2 * r, -r, 0, 3 * r], 1e-12, 0);
});

test('proteus: per-sample MSE of the LayerNorm+Linear head against the teacher features', async () => {
  const rand = rng(61);
  const B = 3, Cs = 4, Ft = 6;
  const u = (n: number, s = 1, off = 0) => Array.from({ length: n }, () => off + s * (2 * rand() - 1));
  const features = reshape(u(B * Cs), B, Cs), teacher = reshape(u(B * Ft, 2), B, Ft);
  const h: HeadRef = { lnWeight: u(Cs, 0.5, 1), lnBias: u(Cs, 0.3), weight: reshape(u(Ft * Cs, 0.5), Ft, Cs), bias: u(Ft, 0.3) };
  const shapes: ObjectiveShapes = { classes: 3, studentFeatures: Cs, teacherFeatures: Ft };
  const obj = getObjective('proteus');
  const got = await evalLoss(obj.build(resolveOptions(obj, {}), false, shapes),
    { features: tensor('float32', [B, Cs], features.flat()) }, { teacher_features: tensor('float32', [B, Ft], teacher.flat()) }, {
      [`${P}.ln.weight`]: tensor('float32', [Cs], h.lnWeight), [`${P}.ln.bias`]: tensor('float32', [Cs], h.lnBias),
      [`${P}.weight`]: tensor('float32', [Ft, Cs], h.weight.flat()), [`${P}.bias`]: tensor('float32', [Ft], h.bias),
    });
  assert.deepEqual(Object.keys(got), ['per_sample']);
  close(got.per_sample, proteusRef(features, teacher, h), 1e-4, 1e-6, 'per_sample');
  // zero when the teacher is exactly the head's output
  const exact = features.map((s) => {
    const n = layerNorm(s, h.lnWeight, h.lnBias);
    return h.weight.map((row, o) => row.reduce((a, w, k) => a + w * n[k], 0) + h.bias[o]);
  });
  const zero = await evalLoss(obj.build({}, false, shapes), { features: tensor('float32', [B, Cs], features.flat()) },
    { teacher_features: tensor('float32', [B, Ft], exact.flat()) }, {
      [`${P}.ln.weight`]: tensor('float32', [Cs], h.lnWeight), [`${P}.ln.bias`]: tensor('float32', [Cs], h.lnBias),
      [`${P}.weight`]: tensor('float32', [Ft, Cs], h.weight.flat()), [`${P}.bias`]: tensor('float32', [Ft], h.bias),
    });
  close(zero.per_sample, [0, 0, 0], 0, 1e-10, 'exact teacher');
});

test('proteus: registration and head parameters (student width -> teacher width)', () => {
  const obj = getObjective('proteus');
  assert.deepEqual(obj.needs, { labels: 'none', teacherLogits: false, teacherFeatures: true });
  assert.equal(obj.fitsHeadAfter, true);
  const ps = proteusParams({ classes: 3, studentFeatures: 4, teacherFeatures: 6 }, 3);
  assert.deepEqual(ps.map((p) => [p.name, p.init.dims, p.decay]), [
    [`${P}.ln.weight`, [4], false], [`${P}.ln.bias`, [4], false], [`${P}.weight`, [6, 4], true], [`${P}.bias`, [6], false],
  ]);
  assert.deepEqual(obj.auxParams!({}, { classes: 3, studentFeatures: 4, teacherFeatures: 6 }, 3).map((p) => p.name), ps.map((p) => p.name));
});

test('gradcheck proteus w.r.t. the student features and the head', async () => {
  const B = 3, Cs = 4, Ft = 5;
  const shapes: ObjectiveShapes = { classes: 3, studentFeatures: Cs, teacherFeatures: Ft };
  await gradCheck({
    inputs: [
      { name: 'features', shape: [B, Cs] }, { name: 'teacher_features', shape: [B, Ft], wrt: false },
      { name: `${P}.ln.weight`, shape: [Cs], positive: true }, { name: `${P}.ln.bias`, shape: [Cs] },
      { name: `${P}.weight`, shape: [Ft, Cs] }, { name: `${P}.bias`, shape: [Ft] },
    ],
    build: (b: Builder, o: Ops, [features, , lw, lb, w, bias]: string[]) => {
      const ctx: LossContext = {
        b, o, batch: B, outputs: { features }, data: (name) => name,
        params: { [`${P}.ln.weight`]: lw, [`${P}.ln.bias`]: lb, [`${P}.weight`]: w, [`${P}.bias`]: bias },
      };
      return proteusLoss(shapes)(ctx).perSample;
    },
    seed: 62,
  });
});
