// Golden values for ce and kd. Expected numbers were computed independently in
// float64 (Python's math module) from the formulas in the objectives' files:
//   s = [[1, 2, 0.5], [-1, 0, 3]], t = [[0.5, 2.5, -1], [0, 0.2, 1]], y = [1, 0]
import test from 'node:test';
import assert from 'node:assert/strict';
import { getObjective, resolveOptions } from '../../../src/train/objectives/index.js';
import { tensor } from '../../../src/graph/tensor.js';
import { evalLoss } from '../../helpers/loss-eval.js';

const logits = tensor('float32', [2, 3], [1, 2, 0.5, -1, 0, 3]);
const teacher = tensor('float32', [2, 3], [0.5, 2.5, -1, 0, 0.2, 1]);
const labels = tensor('int64', [2], [1, 0]);

function close(actual: Float32Array, expected: number[]) {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= 1e-5 * Math.max(1, Math.abs(e)), `[${i}] ${actual[i]} != ${e}`));
}

test('ce: -log softmax(s)[y]', async () => {
  const loss = getObjective('ce').build({}, true);
  close((await evalLoss(loss, { logits }, { labels })).per_sample, [0.46436878410794513, 4.065883903757429]);
});

const cases: [number, number, number[]][] = [
  [4, 0.5, [0.3914468756123483, 2.4614448699731497]],
  [1, 0.3, [0.2395917482460824, 1.6536867225239655]],
];
for (const [T, alpha, expected] of cases) {
  test(`kd with labels: alpha=${alpha}, T=${T}`, async () => {
    const o = getObjective('kd');
    const loss = o.build(resolveOptions(o, { alpha, temperature: T }), true);
    close((await evalLoss(loss, { logits }, { labels, teacher_logits: teacher })).per_sample, expected);
  });
}

test('kd without labels is pure T^2 * KL(teacher || student)', async () => {
  const o = getObjective('kd');
  const loss = o.build(resolveOptions(o, { alpha: 0.5, temperature: 2 }), false);
  close((await evalLoss(loss, { logits }, { teacher_logits: teacher })).per_sample, [0.2677984643492099, 0.8279803992007262]);
});

test('kd is zero when the student equals the teacher', async () => {
  const o = getObjective('kd');
  const loss = o.build(resolveOptions(o, {}), false);
  close((await evalLoss(loss, { logits: teacher }, { teacher_logits: teacher })).per_sample, [0, 0]);
});

test('unknown objective and unknown option are refused with the known names', () => {
  assert.throws(() => getObjective('nope'), /unknown objective 'nope'/);
  assert.throws(() => resolveOptions(getObjective('kd'), { beta: 1 }), /no option 'beta'/);
});
