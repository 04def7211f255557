// Golden values for the alm mixed loss, computed independently in float64 (plain JS
// below, straight from the formula in src/train/objectives/alm.ts):
//   L_i = w_i0 * CE(y_i, s_i) + sum_m w_im * T^2 * KL(softmax(t_im/T) || softmax(s_i/T))
// and unit tests of the AlmWeights table (src/train/alm-run.ts).
import test from 'node:test';
import assert from 'node:assert/strict';
import { getObjective, resolveOptions } from '../../../src/train/objectives/index.js';
import { tensor } from '../../../src/graph/tensor.js';
import { AlmWeights, LAMBDA_STATE } from '../../../src/train/alm-run.js';
import { evalLoss } from '../../helpers/loss-eval.js';

const B = 3, C = 4;
const s = [1, 2, 0.5, -1, -1, 0, 3, 0.25, 0.3, -0.7, 1.1, 2.2];
const t1 = [0.5, 2.5, -1, 0, 0, 0.2, 1, -2, 3, 1, -1, 0.5];
const t2 = [-0.5, 1, 2, 0.1, 1.5, -1, 0.3, 0.7, 0, 0, 0, 4];
const y = [1, 0, 3];

function logSoftmax(row: number[], T = 1): number[] {
  const z = row.map((v) => v / T), mx = Math.max(...z);
  const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
  return z.map((v) => v - lse);
}
const rowOf = (a: number[], i: number) => a.slice(i * C, (i + 1) * C);
const ce = (i: number) => -logSoftmax(rowOf(s, i))[y[i]];
function kl(t: number[], i: number, T: number) {
  const lp = logSoftmax(rowOf(t, i), T), lq = logSoftmax(rowOf(s, i), T);
  return T * T * lp.reduce((a, v, c) => a + Math.exp(v) * (v - lq[c]), 0);
}
function expected(w: number[], teachers: number[][], T: number): number[] {
  const W = 1 + teachers.length;
  return Array.from({ length: B }, (_, i) => w[i * W] * ce(i) + teachers.reduce((a, t, m) => a + w[i * W + 1 + m] * kl(t, i, T), 0));
}

function close(actual: Float32Array, exp: number[], what = '') {
  assert.equal(actual.length, exp.length);
  exp.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= 1e-5 * Math.max(1, Math.abs(e)), `${what}[${i}] ${actual[i]} != ${e}`));
}

async function alm(T: number, teachers: number[][], w: number[]) {
  const o = getObjective('alm');
  const loss = o.build(resolveOptions(o, { temperature: T }), true, { classes: C, studentFeatures: 4, teachers: teachers.length });
  const data: Record<string, ReturnType<typeof tensor>> = {
    labels: tensor('int64', [B], y),
    alm_weights: tensor('float32', [B, 1 + teachers.length], w),
  };
  teachers.forEach((t, m) => { data[m === 0 ? 'teacher_logits' : `teacher_logits_${m + 1}`] = tensor('float32', [B, C], t); });
  return evalLoss(loss, { logits: tensor('float32', [B, C], s) }, data);
}

for (const T of [1, 4]) {
  test(`alm M=1, T=${T}: w0*CE + w1*T^2*KL with weights incl. 0 and 2`, async () => {
    const w = [0.3, 0.7, 0, 2, 2, 0];
    const r = await alm(T, [t1], w);
    close(r.per_sample, expected(w, [t1], T), 'per_sample');
    close(r.ce, [0, 1, 2].map(ce), 'ce');
    close(r.kd_1, [0, 1, 2].map((i) => kl(t1, i, T)), 'kd_1');
    // sanity on the golden formula itself: the row with w=(0,2) is twice the KL, the row with (2,0) twice CE
    assert.ok(Math.abs(expected(w, [t1], T)[1] - 2 * kl(t1, 1, T)) < 1e-12);
  });

  test(`alm M=2, T=${T}: two teachers, each in its own batch input`, async () => {
    const w = [0.1, 0.9, 0.9, 0, 2, 0.5, 2, 0, 1.3];
    const r = await alm(T, [t1, t2], w);
    close(r.per_sample, expected(w, [t1, t2], T), 'per_sample');
    close(r.kd_2, [0, 1, 2].map((i) => kl(t2, i, T)), 'kd_2');
  });
}

for (const [alpha, T] of [[0.5, 4], [0.3, 1], [0, 2], [1, 4]]) {
  test(`alm M=1 with weights (alpha, 1-alpha) equals kd's per-sample loss (alpha=${alpha}, T=${T})`, async () => {
    const k = getObjective('kd');
    const kdLoss = k.build(resolveOptions(k, { alpha, temperature: T }), true);
    const kd = await evalLoss(kdLoss, { logits: tensor('float32', [B, C], s) }, { labels: tensor('int64', [B], y), teacher_logits: tensor('float32', [B, C], t1) });
    const r = await alm(T, [t1], Array.from({ length: B }, () => [alpha, 1 - alpha]).flat());
    close(r.per_sample, Array.from(kd.per_sample), 'alm vs kd');
  });
}

test('alm is pure w0*CE when the student equals the teacher', async () => {
  const o = getObjective('alm');
  const loss = o.build(resolveOptions(o, { temperature: 4 }), true, { classes: C, studentFeatures: 4, teachers: 1 });
  const r = await evalLoss(loss, { logits: tensor('float32', [B, C], s) }, {
    labels: tensor('int64', [B], y), alm_weights: tensor('float32', [B, 2], [1, 1, 0.5, 2, 0, 1]), teacher_logits: tensor('float32', [B, C], s),
  });
  close(r.per_sample, [ce(0), 0.5 * ce(1), 0]);
});

// ---- AlmWeights ----

const f32 = (a: number[]) => Array.from(Float32Array.from(a));
const approx = (a: ArrayLike<number>, e: number[], what: string, tol = 1e-6) => {
  assert.equal(a.length, e.length, what);
  e.forEach((v, i) => assert.ok(Math.abs(a[i] - v) <= tol, `${what}[${i}] ${a[i]} != ${v}`));
};

test('AlmWeights initial values: clamped lambda_im=0.9, lambda_i0=0.1; convex (0.1, 0.9)', () => {
  const a = new AlmWeights(3, 1, false);
  assert.equal(a.k, 2);
  assert.deepEqual(Array.from(a.weights), f32([0.1, 0.9, 0.1, 0.9, 0.1, 0.9]));
  assert.deepEqual(Array.from(a.lambda), Array.from(a.weights));
  const b = new AlmWeights(2, 2, false);
  assert.equal(b.k, 3);
  assert.deepEqual(Array.from(b.weights), f32([0.1, 0.9, 0.9, 0.1, 0.9, 0.9]));
  const c = new AlmWeights(2, 1, true);
  assert.equal(c.k, 1);
  assert.deepEqual(Array.from(c.lambda), f32([0.9, 0.9]));
  approx(c.weights, [0.1, 0.9, 0.1, 0.9], 'convex weights');
});

test('AlmWeights.update (clamped): lambda -= step*g, clamped to [0, 2], only row i', () => {
  const a = new AlmWeights(2, 2, false);
  a.update(1, [1, -1, 0.25], 0.5); // (0.1 - 0.5, 0.9 + 0.5, 0.9 - 0.125) = (-0.4 -> 0, 1.4, 0.775)
  approx(a.weights, [0.1, 0.9, 0.9, 0, 1.4, 0.775], 'after one step');
  a.update(1, [0, -10, 0], 1); // 1.4 + 10 -> 2
  approx(a.weights.subarray(3), [0, 2, 0.775], 'upper clamp');
  approx(a.lambda, Array.from(a.weights), 'clamped: weights are lambda');
});

test('AlmWeights.update (convex): chain rule d/d lambda_m = g_m - g_0, weights >= 0 summing to 1', () => {
  const a = new AlmWeights(1, 1, true);
  // lambda = 0.9 - 0.1 * (g1 - g0) = 0.9 - 0.1 * (-0.5 - 1.5) = 1.1 -> clamped to 1
  a.update(0, [1.5, -0.5], 0.1);
  approx(a.weights, [0, 1], 'clamped at 1');
  // lambda = 1 - 2 * (1 - 0.25) = -0.5 -> 0
  a.update(0, [0.25, 1], 2);
  approx(a.weights, [1, 0], 'clamped at 0');
  // hand-computed interior step: 0 - 0.2 * (0.5 - 2) = 0.3 -> weights (0.7, 0.3)
  a.update(0, [2, 0.5], 0.2);
  approx(a.weights, [0.7, 0.3], 'interior');

  const b = new AlmWeights(1, 2, true); // lambda (0.45, 0.45)
  approx(b.weights, [0.1, 0.45, 0.45], 'convex M=2 init');
  // lambda_1 = 0.45 - 1*(0 - 0.5) = 0.95, lambda_2 = 0.45 - 1*(-0.25 - 0.5) = 1.2 -> 1; sum 1.95 > 1 -> renormalised
  b.update(0, [0.5, 0, -0.25], 1);
  approx(b.weights, [0, 0.95 / 1.95, 1 / 1.95], 'projected back onto the simplex');
  for (const g of [[3, -1, 2], [-5, 4, 4], [0.1, 0.2, -0.3]]) {
    b.update(0, g, 0.7);
    const w = Array.from(b.weights);
    assert.ok(w.every((v) => v >= -1e-6), `weights >= 0: ${w}`);
    assert.ok(Math.abs(w.reduce((x, v) => x + v, 0) - 1) < 1e-6, `weights sum to 1: ${w}`);
  }
});

test('AlmWeights save/load round trip (and a wrong-sized table is refused)', () => {
  const a = new AlmWeights(4, 2, false);
  a.update(0, [1, 2, 3], 0.1); a.update(3, [-1, 0.5, -2], 0.3);
  const saved = a.save();
  const t = saved.get(LAMBDA_STATE)!;
  assert.deepEqual(t.dims, [4, 3]);
  const b = new AlmWeights(4, 2, false);
  b.load(saved);
  assert.deepEqual(Array.from(b.lambda), Array.from(a.lambda));
  assert.deepEqual(Array.from(b.weights), Array.from(a.weights));
  const c = new AlmWeights(4, 2, false);
  c.load(new Map()); // nothing saved: keeps the initial values
  assert.deepEqual(Array.from(c.weights), Array.from(new AlmWeights(4, 2, false).weights));
  assert.throws(() => new AlmWeights(5, 2, false).load(saved), /alm weight table/);

  const cv = new AlmWeights(2, 1, true);
  cv.update(1, [0, 1], 0.5);
  const cv2 = new AlmWeights(2, 1, true);
  cv2.load(cv.save());
  assert.deepEqual(Array.from(cv2.weights), Array.from(cv.weights));
});

test('AlmWeights.stats: mean and quartiles per column over a row subset', () => {
  const a = new AlmWeights(5, 1, false);
  // ce column: rows 0..4 -> 0.1 - 0.1*g
  const g0 = [1, -1, -3, 0, -5]; // -> 0, 0.2, 0.4, 0.1, 0.6
  g0.forEach((g, i) => a.update(i, [g, 0], 0.1));
  approx(Array.from(a.weights).filter((_, j) => j % 2 === 0), [0, 0.2, 0.4, 0.1, 0.6], 'ce column');
  const all = a.stats(() => true);
  assert.equal(all.count, 5);
  // sorted: 0, 0.1, 0.2, 0.4, 0.6 -> mean 0.26, q25 = v[1], median = v[2], q75 = v[3]
  approx([all.columns[0].mean, all.columns[0].q25, all.columns[0].median, all.columns[0].q75], [0.26, 0.1, 0.2, 0.4], 'ce stats');
  approx([all.columns[1].mean, all.columns[1].median], [0.9, 0.9], 'kd stats');
  const even = a.stats((i) => i % 2 === 0); // 0, 0.4, 0.6
  assert.equal(even.count, 3);
  approx([even.columns[0].mean, even.columns[0].median], [1 / 3, 0.4], 'subset');
  const none = a.stats(() => false);
  assert.equal(none.count, 0);
  assert.ok(Number.isNaN(none.columns[0].mean));
});
