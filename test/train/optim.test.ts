// SGD and AdamW update graphs, run by onnxruntime in float32, against plain-JS float64
// implementations of PyTorch's update rules written here, plus tiny hand-worked cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { Ops } from '../../src/graph/ops.js';
import { newModel } from '../../src/graph/ir.js';
import { f32, scalarF32, toNumbers } from '../../src/graph/tensor.js';
import { encodeModel, decodeModel } from '../../src/graph/serde.js';
import { createSession } from '../../src/runtime/session.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import type { Optimizer } from '../../src/train/optim/types.js';
import { rng } from '../helpers/rand.js';

// ------------------------------------------------------------------ harness

interface ParamCase {
  shape: number[];
  init: number[];
  /** one gradient per step */
  grads: number[][];
  decay: boolean;
}

type State = Record<string, number[]>;

/** Build one update graph for all params (shared lr and step inputs), run `lrs.length`
 * steps feeding outputs back, and return params and state after every step. */
async function runGraph(opt: Optimizer, params: ParamCase[], lrs: number[]) {
  const b = new Builder('optim_test');
  const o = new Ops(b);
  const lr = b.input('lr', 'float32', []);
  const step = b.input('step', 'float32', []);
  params.forEach((pc, i) => {
    const p = b.input(`p${i}`, 'float32', pc.shape);
    const g = b.input(`g${i}`, 'float32', pc.shape);
    const state = Object.fromEntries(opt.stateSlots.map((s) => [s, b.input(`s${i}_${s}`, 'float32', pc.shape)]));
    const out = opt.update(o, { param: p, grad: g, state, decay: pc.decay }, lr, step);
    b.output(out.param, `p${i}_out`);
    for (const s of opt.stateSlots) b.output(out.state[s], `s${i}_${s}_out`);
  });
  // the generated graph must survive a serde round trip (house rule 2)
  const model = decodeModel(encodeModel(newModel(b.graph)));
  const sess = await createSession(model);
  let cur = params.map((pc) => ({ p: pc.init.map(Math.fround), s: Object.fromEntries(opt.stateSlots.map((s) => [s, pc.init.map(() => 0)])) as State }));
  const history: typeof cur[] = [];
  try {
    for (let t = 1; t <= lrs.length; t++) {
      const feeds: Record<string, ReturnType<typeof f32>> = { lr: scalarF32(lrs[t - 1]), step: scalarF32(t) };
      params.forEach((pc, i) => {
        feeds[`p${i}`] = f32(pc.shape, cur[i].p);
        feeds[`g${i}`] = f32(pc.shape, pc.grads[t - 1]);
        for (const s of opt.stateSlots) feeds[`s${i}_${s}`] = f32(pc.shape, cur[i].s[s]);
      });
      const res = await sess.run(feeds);
      cur = params.map((_, i) => ({
        p: toNumbers(res[`p${i}_out`]),
        s: Object.fromEntries(opt.stateSlots.map((s) => [s, toNumbers(res[`s${i}_${s}_out`])])),
      }));
      history.push(cur);
    }
  } finally {
    await sess.release();
  }
  return { history, graph: b.graph };
}

function assertClose(actual: number[], expected: number[], what: string, rtol = 1e-6, atol = 1e-7) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= atol + rtol * Math.abs(expected[i]),
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (abs err ${err.toExponential(2)})`);
  }
}


function randomCase(seed: number, shape: number[], steps: number, decay: boolean): ParamCase {
  const r = rng(seed);
  const n = shape.reduce((a, d) => a * d, 1);
  const vec = () => Array.from({ length: n }, () => Math.fround(r() * 2 - 1));
  return { shape, init: vec(), grads: Array.from({ length: steps }, vec), decay };
}

/** A learning-rate schedule fed as a graph input: changes every step, same graph. */
const LRS = [0.1, 0.05, 0.08, 0.02, 0.04].map(Math.fround);

// ------------------------------------------------------------------ float64 references (PyTorch rules)

interface SgdH { momentum: number; nesterov: boolean; weightDecay: number; dampening: number }

/** torch.optim.SGD, one step t (1-based), in float64. */
function sgdRef(h: SgdH, p: number[], g: number[], buf: number[], t: number, lr: number, decay: boolean) {
  const outP: number[] = [];
  const outB: number[] = [];
  for (let i = 0; i < p.length; i++) {
    let d = g[i];
    if (decay && h.weightDecay !== 0) d += h.weightDecay * p[i];
    let bi = 0;
    if (h.momentum !== 0) {
      bi = t === 1 ? d : h.momentum * buf[i] + (1 - h.dampening) * d;
      d = h.nesterov ? d + h.momentum * bi : bi;
    }
    outP.push(p[i] - lr * d);
    outB.push(bi);
  }
  return { p: outP, buf: outB };
}

interface AdamH { beta1: number; beta2: number; eps: number; weightDecay: number }

/** torch.optim.AdamW, one step t (1-based), in float64. */
function adamwRef(h: AdamH, p: number[], g: number[], m: number[], v: number[], t: number, lr: number, decay: boolean) {
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  const res = { p: [] as number[], m: [] as number[], v: [] as number[] };
  for (let i = 0; i < p.length; i++) {
    let pi = p[i];
    if (decay) pi *= 1 - lr * h.weightDecay;
    const mi = h.beta1 * m[i] + (1 - h.beta1) * g[i];
    const vi = h.beta2 * v[i] + (1 - h.beta2) * g[i] * g[i];
    const mhat = mi / bc1;
    const vhat = vi / bc2;
    res.p.push(pi - lr * mhat / (Math.sqrt(vhat) + h.eps));
    res.m.push(mi);
    res.v.push(vi);
  }
  return res;
}

/** Run the graph and the reference side by side; the reference restarts from the
 * graph's float32 result each step, so errors do not compound across steps. */
async function checkSgd(hyper: Partial<SgdH>, cases: ParamCase[]) {
  const opt = createOptimizer('sgd', hyper);
  const h = opt.hyper as unknown as SgdH;
  const { history } = await runGraph(opt, cases, LRS);
  cases.forEach((pc, i) => {
    let p = pc.init.map(Math.fround);
    let buf = pc.init.map(() => 0);
    history.forEach((after, k) => {
      const ref = sgdRef(h, p, pc.grads[k], buf, k + 1, LRS[k], pc.decay);
      assertClose(after[i].p, ref.p, `sgd ${JSON.stringify(hyper)} param ${i} step ${k + 1}`);
      if (h.momentum > 0) assertClose(after[i].s.momentum, ref.buf, `sgd buf ${i} step ${k + 1}`);
      p = after[i].p;
      buf = h.momentum > 0 ? after[i].s.momentum : buf;
    });
  });
}

async function checkAdamw(hyper: Partial<AdamH>, cases: ParamCase[]) {
  const opt = createOptimizer('adamw', hyper);
  const h = opt.hyper as unknown as AdamH;
  const { history } = await runGraph(opt, cases, LRS);
  cases.forEach((pc, i) => {
    let p = pc.init.map(Math.fround);
    let m = pc.init.map(() => 0);
    let v = pc.init.map(() => 0);
    history.forEach((after, k) => {
      const ref = adamwRef(h, p, pc.grads[k], m, v, k + 1, LRS[k], pc.decay);
      assertClose(after[i].p, ref.p, `adamw ${JSON.stringify(hyper)} param ${i} step ${k + 1}`);
      assertClose(after[i].s.m, ref.m, `adamw m ${i} step ${k + 1}`);
      assertClose(after[i].s.v, ref.v, `adamw v ${i} step ${k + 1}`, 1e-6, 1e-12);
      ({ p, m, v } = { p: after[i].p, m: after[i].s.m, v: after[i].s.v });
    });
  });
}

/** A weight matrix with decay and a bias without, updated in one graph. */
const twoParams = (seed: number) => [randomCase(seed, [3, 4], 5, true), randomCase(seed + 1, [4], 5, false)];

// ------------------------------------------------------------------ SGD

test('sgd without momentum, with weight decay (bias excluded) matches PyTorch', async () => {
  await checkSgd({ momentum: 0, weightDecay: 0.01 }, twoParams(1));
});

test('sgd with momentum matches PyTorch, weight decay on and off', async () => {
  await checkSgd({ momentum: 0.9, weightDecay: 0.05 }, twoParams(2));
  await checkSgd({ momentum: 0.9, weightDecay: 0 }, twoParams(3));
});

test('sgd with nesterov matches PyTorch', async () => {
  await checkSgd({ momentum: 0.8, nesterov: true, weightDecay: 0.02 }, twoParams(4));
});

test('sgd with dampening starts the buffer undamped on step 1, as PyTorch does', async () => {
  await checkSgd({ momentum: 0.9, dampening: 0.3, weightDecay: 0.01 }, twoParams(5));
});

test('sgd hand-worked example', async () => {
  // momentum 0.9, wd 0.1, lr 0.1, p = 1, g = 0.5 both steps:
  //   t=1: g' = 0.5 + 0.1*1 = 0.6;      buf = 0.6;                  p = 1 - 0.06 = 0.94
  //   t=2: g' = 0.5 + 0.1*0.94 = 0.594; buf = 0.9*0.6 + 0.594 = 1.134; p = 0.94 - 0.1134 = 0.8266
  const opt = createOptimizer('sgd', { momentum: 0.9, weightDecay: 0.1 });
  const { history } = await runGraph(opt, [{ shape: [1], init: [1], grads: [[0.5], [0.5]], decay: true }], [0.1, 0.1]);
  assertClose(history.map((h) => h[0].p[0]), [0.94, 0.8266], 'sgd hand p');
  assertClose(history.map((h) => h[0].s.momentum[0]), [0.6, 1.134], 'sgd hand buf');

  // dampening 0.5, momentum 0.9, no decay, lr 0.1, p = 1, g = 1 then 2:
  //   t=1: buf = g = 1 (undamped);          p = 1 - 0.1 = 0.9
  //   t=2: buf = 0.9*1 + 0.5*2 = 1.9;        p = 0.9 - 0.19 = 0.71
  const damp = createOptimizer('sgd', { momentum: 0.9, dampening: 0.5, weightDecay: 0 });
  const r2 = await runGraph(damp, [{ shape: [1], init: [1], grads: [[1], [2]], decay: true }], [0.1, 0.1]);
  assertClose(r2.history.map((h) => h[0].p[0]), [0.9, 0.71], 'sgd dampening hand p');

  // nesterov, momentum 0.5, no decay, lr 0.1, p = 1, g = 1 both steps:
  //   t=1: buf = 1;               d = 1 + 0.5*1 = 1.5;    p = 1 - 0.15 = 0.85
  //   t=2: buf = 0.5*1 + 1 = 1.5; d = 1 + 0.5*1.5 = 1.75; p = 0.85 - 0.175 = 0.675
  const nest = createOptimizer('sgd', { momentum: 0.5, nesterov: true, weightDecay: 0 });
  const r3 = await runGraph(nest, [{ shape: [1], init: [1], grads: [[1], [1]], decay: true }], [0.1, 0.1]);
  assertClose(r3.history.map((h) => h[0].p[0]), [0.85, 0.675], 'sgd nesterov hand p');
});

// ------------------------------------------------------------------ AdamW

test('adamw matches PyTorch, decoupled decay on the weight, none on the bias', async () => {
  await checkAdamw({}, twoParams(11));
});

test('adamw with other hyper-parameters and no decay matches PyTorch', async () => {
  await checkAdamw({ beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0 }, twoParams(12));
  await checkAdamw({ weightDecay: 0.1 }, [randomCase(13, [2, 2, 3], 5, true)]);
});

test('adamw hand-worked example', async () => {
  // defaults (b1 0.9, b2 0.999, eps 1e-8, wd 0.01), lr 0.1, p = 1, g = 0.5 both steps.
  // A constant gradient makes mhat = g and vhat = g^2 exactly, so each step moves p by
  // lr * 0.5 / (0.5 + 1e-8) = 0.1 (to 2e-8):
  //   t=1: p = 1*(1 - 0.001) = 0.999;  m = 0.05;  v = 0.00025;  p = 0.999 - 0.1 = 0.899
  //   t=2: p = 0.899*0.999 = 0.898101; m = 0.095; v = 0.00049975; p = 0.798101
  // and without decay: 1 -> 0.9 -> 0.8.
  const opt = createOptimizer('adamw', {});
  const { history } = await runGraph(opt, [
    { shape: [1], init: [1], grads: [[0.5], [0.5]], decay: true },
    { shape: [1], init: [1], grads: [[0.5], [0.5]], decay: false },
  ], [0.1, 0.1]);
  assertClose(history.map((h) => h[0].p[0]), [0.899, 0.798101], 'adamw hand p (decay)');
  assertClose(history.map((h) => h[0].s.m[0]), [0.05, 0.095], 'adamw hand m');
  assertClose(history.map((h) => h[0].s.v[0]), [0.00025, 0.00049975], 'adamw hand v', 1e-6, 1e-12);
  assertClose(history.map((h) => h[1].p[0]), [0.9, 0.8], 'adamw hand p (no decay)');
});

test('adamw builds the per-step scalars once per graph, not per parameter', async () => {
  const opt = createOptimizer('adamw', {});
  const { graph } = await runGraph(opt, twoParams(21).concat(randomCase(23, [2], 5, true)), LRS.slice(0, 1));
  assert.equal(graph.nodes.filter((n) => n.opType === 'Pow').length, 2);
});
