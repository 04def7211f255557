// Gradient check of the ONLINE train step (bdkd --online, dml): student and teacher
// merged by withOnlineTeacher, one step of plain SGD (momentum 0, weight decay 0) at
// lr 1 run by StepRunner, so each parameter's gradient is (param - param_next) / lrScale.
// Those gradients are compared with float64 central differences of a plain-JS forward
// of the two MLPs and the losses of bdkd.ts, with the stop-gradients as the objective
// means them: the student's loss differentiated w.r.t. the student's parameters with the
// teacher's logits (and bdkd's gate and weights) held fixed, the teacher's loss w.r.t. the
// teacher's parameters with the student's logits held fixed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { buildTrainStep } from '../../src/train/step.js';
import { StepRunner } from '../../src/train/runner.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { getObjective, resolveOptions } from '../../src/train/objectives/index.js';
import { withOnlineTeacher, TEACHER_PREFIX } from '../../src/train/online.js';
import { createSession } from '../../src/runtime/session.js';
import { tensor } from '../../src/graph/tensor.js';
import type { Tensor } from '../../src/graph/ir.js';
import { rng } from '../helpers/rand.js';

const B = 5, D = 4, C = 3;
const student = () => buildStudent('mlp', { inputShape: [D], numClasses: C, batch: B, mode: 'train', seed: 1, width: 6, depth: 1 });
const teacher = () => buildStudent('mlp', { inputShape: [D], numClasses: C, batch: B, mode: 'train', seed: 5, width: 7, depth: 1 });

const r = rng(2024);
const X = Array.from({ length: B * D }, () => 2 * r() - 1);
const Y = [0, 2, 1, 1, 0];
const batch = {
  input: tensor('float32', [B, D], X),
  labels: tensor('int64', [B], Y),
  mask: tensor('float32', [B], new Array(B).fill(1)),
};

// ---- float64 reference -------------------------------------------------------------
type P = Record<string, Float64Array>;
const f64 = (t: Tensor) => Float64Array.from(t.data as Float32Array);

/** mlp depth 1: relu(x W0^T + b0) Wh^T + bh, rows of [B, C] logits */
function mlpForward(p: P, width: number): number[][] {
  return Array.from({ length: B }, (_, i) => {
    const h = Array.from({ length: width }, (_, j) => {
      let v = p['fc0.bias'][j];
      for (let k = 0; k < D; k++) v += X[i * D + k] * p['fc0.weight'][j * D + k];
      return Math.max(v, 0);
    });
    return Array.from({ length: C }, (_, c) => {
      let v = p['head.bias'][c];
      for (let j = 0; j < width; j++) v += h[j] * p['head.weight'][c * width + j];
      return v;
    });
  });
}
const logSoftmax = (z: number[], T = 1) => {
  const x = z.map((v) => v / T), m = Math.max(...x);
  const lse = m + Math.log(x.reduce((a, v) => a + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
};
const entropy = (lp: number[]) => -lp.reduce((a, v) => a + Math.exp(v) * v, 0);
const kl = (lp: number[], lq: number[]) => lp.reduce((a, v, k) => a + Math.exp(v) * (v - lq[k]), 0);
const ce = (z: number[], y: number) => -logSoftmax(z)[y];
const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / v.length;

interface Bd { T: number; wf: number; wr: number; base: number; smooth: number; beta: number }
/** bdkd gate weights per row (the stopped values), from the unperturbed logits */
function bdWeights(s: number[][], t: number[][], p: Bd) {
  return s.map((si, i) => {
    const hs = entropy(logSoftmax(si, p.T)), ht = entropy(logSoftmax(t[i], p.T));
    const g = p.smooth > 0 ? 1 / (1 + Math.exp(-(ht - hs) / p.smooth)) : hs < ht ? 1 : 0;
    return { wf: p.base + (p.wf - p.base) * g, wr: p.base + (p.wr - p.base) * (1 - g) };
  });
}

/** losses as functions of the live model's logits, the other model's logits `fixed` */
interface Losses {
  student(s: number[][], fixedT: number[][]): number;
  teacher(t: number[][], fixedS: number[][]): number;
}

function bdkdLosses(p: Bd, weights: { wf: number; wr: number }[]): Losses {
  const T2 = p.T * p.T;
  return {
    student: (s, t) => mean(s.map((si, i) => {
      const ls = logSoftmax(si, p.T), lt = logSoftmax(t[i], p.T);
      return ce(si, Y[i]) + T2 * (weights[i].wf * kl(lt, ls) + weights[i].wr * kl(ls, lt));
    })),
    teacher: (t, s) => mean(t.map((ti, i) => ce(ti, Y[i]) + p.beta * T2 * kl(logSoftmax(ti, p.T), logSoftmax(s[i], p.T)))),
  };
}

function dmlLosses(T: number): Losses {
  const mutual = (self: number[][], other: number[][]) =>
    mean(self.map((z, i) => ce(z, Y[i]) + T * T * kl(logSoftmax(other[i], T), logSoftmax(z, T))));
  return { student: mutual, teacher: mutual };
}

/** central differences of f w.r.t. every entry of every parameter in p */
function numGrad(p: P, f: () => number, eps = 1e-6): P {
  const out: P = {};
  for (const [k, v] of Object.entries(p)) {
    out[k] = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const keep = v[i];
      v[i] = keep + eps; const up = f();
      v[i] = keep - eps; const down = f();
      v[i] = keep;
      out[k][i] = (up - down) / (2 * eps);
    }
  }
  return out;
}

// ---- the check ------------------------------------------------------------------
async function onlineStep(objective: string, options: Record<string, number>, teacherLrScale: number) {
  const s = student(), t = teacher();
  const model = withOnlineTeacher(s, t, teacherLrScale);
  const o = getObjective(objective);
  const loss = o.build(resolveOptions(o, options), true, { classes: C, studentFeatures: 6, online: true });
  const step = buildTrainStep({ model, loss, optimizer: createOptimizer('sgd', { momentum: 0, weightDecay: 0 }) });
  assert.deepEqual(step.data.map((d) => d.name).sort(), ['input', 'labels', 'mask'], 'online: no teacher_logits batch input');
  const runner = new StepRunner(step, await createSession(step.model), model);
  const before = new Map([...runner.values].map(([k, v]) => [k, f64(v)]));
  const out = await runner.run(batch, [1]);
  const grads = new Map([...before].map(([k, v]) => {
    const next = runner.values.get(k)!.data as Float32Array;
    const scale = k.startsWith(TEACHER_PREFIX) ? teacherLrScale : 1;
    return [k, v.map((x, i) => (x - next[i]) / scale)];
  }));
  const ps: P = {}, pt: P = {};
  for (const [k, v] of before) {
    if (k.startsWith(TEACHER_PREFIX)) pt[k.slice(TEACHER_PREFIX.length)] = v.slice();
    else ps[k] = v.slice();
  }
  return { model, step, out, grads, ps, pt, s, t };
}

function assertClose(name: string, analytic: Float64Array, numeric: Float64Array) {
  assert.equal(analytic.length, numeric.length, name);
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]);
    assert.ok(err <= 2e-5 + 2e-3 * Math.abs(numeric[i]), `d loss / d ${name}[${i}]: step gives ${analytic[i]}, central difference ${numeric[i]}`);
  }
}

async function check(objective: string, options: Record<string, number>, losses: (s: number[][], t: number[][]) => Losses, teacherLrScale: number) {
  const { grads, ps, pt, out, s, t } = await onlineStep(objective, options, teacherLrScale);
  assert.ok(Object.keys(ps).length === s.params.length && Object.keys(pt).length === t.params.length);
  // (a) both parameter sets were updated: non-zero gradients for each parameter tensor
  for (const [k, g] of grads) assert.ok(g.some((v) => Math.abs(v) > 1e-6), `${k} got no gradient`);
  const S0 = mlpForward(ps, 6), T0 = mlpForward(pt, 7);
  const L = losses(S0, T0);
  // forward value: loss = mean(student loss + teacher loss)
  const lossRef = L.student(S0, T0) + L.teacher(T0, S0);
  assert.ok(Math.abs(Number(out.loss.data[0]) - lossRef) <= 1e-5 * (1 + Math.abs(lossRef)), `loss ${out.loss.data[0]} vs reference ${lossRef}`);
  // (b) student gradient = d student loss / d student params, teacher logits fixed
  const gs = numGrad(ps, () => L.student(mlpForward(ps, 6), T0));
  for (const k of Object.keys(ps)) assertClose(k, grads.get(k)!, gs[k]);
  // teacher gradient = d teacher loss / d teacher params, student logits fixed
  const gt = numGrad(pt, () => L.teacher(mlpForward(pt, 7), S0));
  for (const k of Object.keys(pt)) assertClose(TEACHER_PREFIX + k, grads.get(TEACHER_PREFIX + k)!, gt[k]);
  // the check tells the stops apart: without them the student's gradient would include
  // the teacher loss's dependence on the student's logits, visibly different
  const full = numGrad(ps, () => { const Sx = mlpForward(ps, 6); return L.student(Sx, T0) + L.teacher(T0, Sx); });
  const diff = Math.max(...Object.keys(ps).flatMap((k) => Array.from(full[k], (v, i) => Math.abs(v - gs[k][i]))));
  assert.ok(diff > 1e-3, `stop-gradient not observable in this setting (max difference ${diff})`);
}

test('online bdkd step (smooth gate, wf != wr, base 0.5, beta 0.7, T 2, teacher lr scale 0.5): each model gets its own loss gradient', async () => {
  const p: Bd = { T: 2, wf: 3, wr: 1.5, base: 0.5, smooth: 0.5, beta: 0.7 };
  await check('bdkd', { temperature: p.T, bd_wf: p.wf, bd_wr: p.wr, bd_base: p.base, bd_smooth: p.smooth, bd_beta: p.beta },
    (s, t) => bdkdLosses(p, bdWeights(s, t, p)), 0.5);
});

test('online bdkd step with the defaults (hard gate, T 4), teacher lr scale 1', async () => {
  const p: Bd = { T: 4, wf: 2, wr: 2, base: 1, smooth: 0, beta: 1 };
  await check('bdkd', {}, (s, t) => bdkdLosses(p, bdWeights(s, t, p)), 1);
});

test('online dml step (T 3): each model CE + T^2 KL(other || self), the other fixed', async () => {
  await check('dml', { temperature: 3 }, () => dmlLosses(3), 1);
});

test('withOnlineTeacher: teacher names prefixed, one shared input, lrScale on teacher parameters only', () => {
  const s = student(), t = teacher();
  const m = withOnlineTeacher(s, t, 0.25);
  assert.deepEqual(m.params, [...s.params, ...t.params.map((p) => TEACHER_PREFIX + p)]);
  assert.equal(m.outputs.teacher_logits, TEACHER_PREFIX + t.outputs.logits);
  assert.equal(m.input, s.input);
  assert.deepEqual(m.graph.inputs.map((i) => i.name), [s.input]);
  for (const p of t.params) assert.equal(m.lrScale?.[TEACHER_PREFIX + p], 0.25);
  for (const p of s.params) assert.equal(m.lrScale?.[p], undefined);
  assert.deepEqual(m.noDecay, [...(s.noDecay ?? []), ...(t.noDecay ?? []).map((p) => TEACHER_PREFIX + p)]);
});
