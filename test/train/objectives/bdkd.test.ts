// Golden values for bdkd (offline and online) and dml. The expected numbers are computed
// here, independently, in float64 plain JS straight from the formulas in bdkd.ts:
//   p = softmax(z / T), H(p) = -sum p log p, KL(p||q) = sum p (log p - log q)
//   g = [H_s < H_t] (smooth 0) or sigmoid((H_t - H_s) / smooth)
//   w_f = base + (wf - base) g,  w_r = base + (wr - base) (1 - g)
//   student: CE(y, s) + T^2 (w_f KL(p_t||p_s) + w_r KL(p_s||p_t))
//   online teacher: CE(y, t) + beta T^2 KL(p_t||p_s);  dml: CE(y, self) + T^2 KL(p_other||p_self)
// Row 0: the student is more confident than the teacher; row 1: less; row 2: close.
import test from 'node:test';
import assert from 'node:assert/strict';
import { getObjective, resolveOptions } from '../../../src/train/objectives/index.js';
import { tensor } from '../../../src/graph/tensor.js';
import { evalLoss } from '../../helpers/loss-eval.js';

const S = [[4, 0, -1], [0.3, 0, 0.2], [1, 0.5, -0.5]];
const Tt = [[1, 0.5, 0], [3, -1, 0], [0.8, 0.6, -0.2]];
const Y = [0, 2, 1];
const logits = tensor('float32', [3, 3], S.flat());
const teacherLogits = tensor('float32', [3, 3], Tt.flat());
const labels = tensor('int64', [3], Y);
const classes = 3, studentFeatures = 6;

// ---- float64 reference -------------------------------------------------------------
const logSoftmax = (z: number[], T = 1) => {
  const x = z.map((v) => v / T), m = Math.max(...x);
  const lse = m + Math.log(x.reduce((a, v) => a + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
};
const entropy = (lp: number[]) => -lp.reduce((a, v) => a + Math.exp(v) * v, 0);
const kl = (lp: number[], lq: number[]) => lp.reduce((a, v, k) => a + Math.exp(v) * (v - lq[k]), 0);
const ce = (z: number[], y: number) => -logSoftmax(z)[y];
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface Bd { T: number; wf: number; wr: number; base: number; smooth: number; beta: number }
function refStudent(s: number[], t: number[], y: number, p: Bd) {
  const ls = logSoftmax(s, p.T), lt = logSoftmax(t, p.T);
  const hs = entropy(ls), ht = entropy(lt);
  const gate = p.smooth > 0 ? sigmoid((ht - hs) / p.smooth) : hs < ht ? 1 : 0;
  const wf = p.base + (p.wf - p.base) * gate, wr = p.base + (p.wr - p.base) * (1 - gate);
  const forward = kl(lt, ls), reverse = kl(ls, lt);
  return { loss: ce(s, y) + p.T * p.T * (wf * forward + wr * reverse), forward, reverse, gate, hs, ht, wf, wr };
}
const refTeacher = (t: number[], s: number[], y: number, p: Bd) => ce(t, y) + p.beta * p.T * p.T * kl(logSoftmax(t, p.T), logSoftmax(s, p.T));
const refMutual = (self: number[], other: number[], y: number, T: number) => ce(self, y) + T * T * kl(logSoftmax(other, T), logSoftmax(self, T));

function close(actual: Float32Array, expected: number[], what: string, tol = 2e-5) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: ${actual[i]} != ${e}`));
}

const opts = (p: Bd) => ({ temperature: p.T, bd_wf: p.wf, bd_wr: p.wr, bd_base: p.base, bd_smooth: p.smooth, bd_beta: p.beta });

// ---- the reference itself on the chosen rows ------------------------------------------
test('test data: row 0 has the student more confident than the teacher, row 1 less (T = 1 and 4)', () => {
  for (const T of [1, 4]) {
    const p = { T, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 };
    assert.equal(refStudent(S[0], Tt[0], Y[0], p).gate, 1, `T=${T} row 0`);
    assert.equal(refStudent(S[1], Tt[1], Y[1], p).gate, 0, `T=${T} row 1`);
  }
});

test('reference sanity: KL is zero for equal rows, positive otherwise; entropies in (0, log 3]', () => {
  const a = logSoftmax([1, 2, 3]);
  assert.ok(Math.abs(kl(a, a)) < 1e-15);
  assert.ok(kl(a, logSoftmax([3, 2, 1])) > 0);
  assert.ok(Math.abs(entropy(logSoftmax([0, 0, 0])) - Math.log(3)) < 1e-15);
});

// ---- offline bdkd ----------------------------------------------------------------
const offlineCases: Bd[] = [
  { T: 1, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 },
  { T: 4, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 },
  { T: 1, wf: 3, wr: 0.5, base: 0, smooth: 0, beta: 1 },
  { T: 4, wf: 3, wr: 0.5, base: 0, smooth: 0, beta: 1 },
  { T: 4, wf: 3, wr: 1.5, base: 1, smooth: 0.5, beta: 1 },
  { T: 1, wf: 0.5, wr: 4, base: 0, smooth: 0.5, beta: 1 },
];
for (const p of offlineCases) {
  test(`bdkd offline: T=${p.T} wf=${p.wf} wr=${p.wr} base=${p.base} smooth=${p.smooth}: per-sample loss, KLs and gate`, async () => {
    const o = getObjective('bdkd');
    const loss = o.build(resolveOptions(o, opts(p)), true, { classes, studentFeatures });
    const out = await evalLoss(loss, { logits }, { labels, teacher_logits: teacherLogits });
    const ref = S.map((s, i) => refStudent(s, Tt[i], Y[i], p));
    close(out.per_sample, ref.map((r) => r.loss), 'per_sample');
    close(out.kl_forward, ref.map((r) => r.forward), 'kl_forward');
    close(out.kl_reverse, ref.map((r) => r.reverse), 'kl_reverse');
    close(out.gate, ref.map((r) => r.gate), 'gate');
    if (p.smooth === 0) assert.deepEqual(Array.from(out.gate.slice(0, 2)), [1, 0], 'hard gate: 1 where the student is more confident');
    else for (const g of out.gate) assert.ok(g > 0 && g < 1, `smooth gate strictly inside (0, 1): ${g}`);
  });
}

test('bdkd offline with the registered defaults (T 4, wf = wr = 2, base 1, hard gate)', async () => {
  const o = getObjective('bdkd');
  assert.deepEqual(o.defaults, { temperature: 4, bd_wf: 2, bd_wr: 2, bd_base: 1, bd_smooth: 0, bd_beta: 1 });
  const loss = o.build(resolveOptions(o, {}), true, { classes, studentFeatures });
  const out = await evalLoss(loss, { logits }, { labels, teacher_logits: teacherLogits });
  const p = { T: 4, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 };
  close(out.per_sample, S.map((s, i) => refStudent(s, Tt[i], Y[i], p).loss), 'per_sample');
});

test('bdkd: the weights move the loss as the formula says (base 0: a pure switch)', async () => {
  // with base 0 and a hard gate, row 0 (g = 1) keeps only wf * forward, row 1 (g = 0) only wr * reverse
  const p = { T: 4, wf: 3, wr: 0.5, base: 0, smooth: 0, beta: 1 };
  const o = getObjective('bdkd');
  const out = await evalLoss(o.build(resolveOptions(o, opts(p)), true, { classes, studentFeatures }), { logits }, { labels, teacher_logits: teacherLogits });
  const ce0 = ce(S[0], Y[0]), ce1 = ce(S[1], Y[1]);
  close(out.per_sample.slice(0, 2), [ce0 + 16 * 3 * out.kl_forward[0], ce1 + 16 * 0.5 * out.kl_reverse[1]], 'switched terms', 5e-5);
});

test('bdkd: student equal to teacher gives the plain cross-entropy (both KLs 0, hard gate 0)', async () => {
  const o = getObjective('bdkd');
  const out = await evalLoss(o.build(resolveOptions(o, {}), true, { classes, studentFeatures }), { logits: teacherLogits }, { labels, teacher_logits: teacherLogits });
  close(out.per_sample, Tt.map((t, i) => ce(t, Y[i])), 'per_sample');
  close(out.kl_forward, [0, 0, 0], 'kl_forward');
  close(out.gate, [0, 0, 0], 'gate');
});

// ---- online bdkd -----------------------------------------------------------------
const onlineCases: Bd[] = [
  { T: 4, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 },
  { T: 1, wf: 3, wr: 0.5, base: 0, smooth: 0, beta: 0.3 },
  { T: 2, wf: 3, wr: 1.5, base: 0.5, smooth: 0.5, beta: 2 },
];
for (const p of onlineCases) {
  test(`bdkd online: T=${p.T} wf=${p.wf} wr=${p.wr} base=${p.base} smooth=${p.smooth} beta=${p.beta}: student loss + teacher loss`, async () => {
    const o = getObjective('bdkd');
    const loss = o.build(resolveOptions(o, opts(p)), true, { classes, studentFeatures, online: true });
    // online, teacher_logits is a model output; the batch has no teacher_logits input
    const out = await evalLoss(loss, { logits, teacher_logits: teacherLogits }, { labels });
    const st = S.map((s, i) => refStudent(s, Tt[i], Y[i], p));
    const te = Tt.map((t, i) => refTeacher(t, S[i], Y[i], p));
    close(out.student_loss, st.map((r) => r.loss), 'student_loss');
    close(out.teacher_loss, te, 'teacher_loss');
    close(out.per_sample, st.map((r, i) => r.loss + te[i]), 'per_sample');
    close(out.kl_forward, st.map((r) => r.forward), 'kl_forward');
    close(out.kl_reverse, st.map((r) => r.reverse), 'kl_reverse');
    close(out.gate, st.map((r) => r.gate), 'gate');
  });
}

test('bdkd online does not ask for a teacher_logits batch input', async () => {
  const o = getObjective('bdkd');
  const loss = o.build(resolveOptions(o, {}), true, { classes, studentFeatures, online: true });
  // evalLoss throws when the objective asks for data the test did not provide
  await evalLoss(loss, { logits, teacher_logits: teacherLogits }, { labels });
});

// ---- dml ------------------------------------------------------------------------
for (const T of [1, 3]) {
  test(`dml (T=${T}): CE(self) + T^2 KL(other||self) for each model, summed`, async () => {
    const o = getObjective('dml');
    const loss = o.build(resolveOptions(o, T === 1 ? {} : { temperature: T }), true, { classes, studentFeatures, online: true });
    const out = await evalLoss(loss, { logits, teacher_logits: teacherLogits }, { labels });
    const st = S.map((s, i) => refMutual(s, Tt[i], Y[i], T)), te = Tt.map((t, i) => refMutual(t, S[i], Y[i], T));
    close(out.student_loss, st, 'student_loss');
    close(out.teacher_loss, te, 'teacher_loss');
    close(out.per_sample, st.map((v, i) => v + te[i]), 'per_sample');
  });
}

test('dml: defaults temperature 1, online only; without a teacher_logits output it refuses', async () => {
  const o = getObjective('dml');
  assert.deepEqual(o.defaults, { temperature: 1 });
  assert.equal(o.online, 'only');
  assert.equal(getObjective('bdkd').online, true);
  const loss = o.build(resolveOptions(o, {}), true, { classes, studentFeatures });
  await assert.rejects(evalLoss(loss, { logits }, { labels, teacher_logits: teacherLogits }), /dml needs --online/);
});
