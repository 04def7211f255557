// The alm meta-step graph against a float64 reference written here from the loss
// definition: per-sample L_i = sum_j w_ij l_ij (l_0 = CE, l_m = T^2 KL(teacher || student)),
// batch loss = masked mean, one SGD lookahead of the last linear layer, then the masked
// mean CE on the val batch. The training gradient is checked against finite differences
// of the training loss, and the meta-gradient against central finite differences of the
// lookahead val loss in the mixing weights.
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildMetaStep, type MetaStepShapes } from '../../../src/train/objectives/alm-meta.js';
import { createSession } from '../../../src/runtime/session.js';
import { tensor } from '../../../src/graph/tensor.js';
import type { Tensor } from '../../../src/graph/ir.js';
import { rng } from '../../helpers/rand.js';

type Mat = number[][];

interface Problem {
  T: number;
  F: Mat; y: number[]; tl: Mat[]; w: Mat; mask: number[];
  W: Mat; b: number[]; lr: number;
  Fv: Mat; yv: number[]; vmask: number[];
}

// ------------------------------------------------------------------ float64 reference

function logSoftmax(x: number[]): number[] {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((a, v) => a + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
}
const softmax = (x: number[]) => logSoftmax(x).map(Math.exp);
const linear = (W: Mat, b: number[], f: number[]) => W.map((row, c) => row.reduce((a, wcd, d) => a + wcd * f[d], b[c]));

/** the per-component losses of sample i from the definition */
function components(p: Problem, W: Mat, b: number[], i: number): number[] {
  const s = linear(W, b, p.F[i]);
  const out = [-logSoftmax(s)[p.y[i]]];
  const logQ = logSoftmax(s.map((v) => v / p.T));
  for (const t of p.tl) {
    const logP = logSoftmax(t[i].map((v) => v / p.T));
    out.push(p.T * p.T * logP.reduce((a, lp, c) => a + Math.exp(lp) * (lp - logQ[c]), 0));
  }
  return out;
}

const norm = (m: number[]) => Math.max(m.reduce((a, v) => a + v, 0), 1);

function trainLoss(p: Problem, W: Mat, b: number[], w: Mat): number {
  let sum = 0;
  p.F.forEach((_, i) => {
    if (p.mask[i] === 0) return;
    sum += p.mask[i] * components(p, W, b, i).reduce((a, l, j) => a + w[i][j] * l, 0);
  });
  return sum / norm(p.mask);
}

/** analytic gradient of trainLoss w.r.t. (W, b), derived from the loss:
 * dCE/ds = softmax(s) - e_y;  d[T^2 KL(p || softmax(s/T))]/ds = T (softmax(s/T) - p) */
function trainGrad(p: Problem, W: Mat, b: number[], w: Mat): { gW: Mat; gb: number[] } {
  const C = W.length, D = W[0].length, n = norm(p.mask);
  const gW = Array.from({ length: C }, () => new Array(D).fill(0));
  const gb = new Array(C).fill(0);
  p.F.forEach((f, i) => {
    if (p.mask[i] === 0) return;
    const s = linear(W, b, f);
    const ds = softmax(s).map((v, c) => w[i][0] * (v - (c === p.y[i] ? 1 : 0)));
    const q = softmax(s.map((v) => v / p.T));
    p.tl.forEach((t, m) => {
      const pt = softmax(t[i].map((v) => v / p.T));
      for (let c = 0; c < C; c++) ds[c] += w[i][m + 1] * p.T * (q[c] - pt[c]);
    });
    for (let c = 0; c < C; c++) {
      const g = (p.mask[i] * ds[c]) / n;
      gb[c] += g;
      for (let d = 0; d < D; d++) gW[c][d] += g * f[d];
    }
  });
  return { gW, gb };
}

function valLoss(p: Problem, W: Mat, b: number[]): number {
  let sum = 0;
  p.Fv.forEach((f, v) => {
    if (p.vmask[v] === 0) return;
    sum += -p.vmask[v] * logSoftmax(linear(W, b, f))[p.yv[v]];
  });
  return sum / norm(p.vmask);
}

function lookaheadValLoss(p: Problem, w: Mat): number {
  const { gW, gb } = trainGrad(p, p.W, p.b, w);
  const Wp = p.W.map((row, c) => row.map((v, d) => v - p.lr * gW[c][d]));
  const bp = p.b.map((v, c) => v - p.lr * gb[c]);
  return valLoss(p, Wp, bp);
}

function fdMetaGrad(p: Problem, h = 1e-5): Mat {
  return p.w.map((row, i) => row.map((_, j) => {
    const at = (delta: number) => lookaheadValLoss(p, p.w.map((r, ii) => r.map((v, jj) => (ii === i && jj === j ? v + delta : v))));
    return (at(h) - at(-h)) / (2 * h);
  }));
}

// ------------------------------------------------------------------ problems

interface Dims { B: number; Bv: number; D: number; C: number; M: number; T: number }

function makeProblem(dims: Dims, seed: number): Problem {
  const r = rng(seed);
  // values are float32-exact so graph and reference see the same inputs
  const u = (lo: number, hi: number) => Math.fround(lo + (hi - lo) * r());
  const mat = (n: number, m: number, lo: number, hi: number) => Array.from({ length: n }, () => Array.from({ length: m }, () => u(lo, hi)));
  const labels = (n: number) => Array.from({ length: n }, () => Math.floor(r() * dims.C));
  const { B, Bv, D, C, M, T } = dims;
  return {
    T,
    F: mat(B, D, -1, 1), y: labels(B), tl: Array.from({ length: M }, () => mat(B, C, -2, 2)),
    w: mat(B, 1 + M, 0.2, 1.2), mask: new Array(B).fill(1),
    W: mat(C, D, -0.6, 0.6), b: mat(1, C, -0.3, 0.3)[0], lr: 0.5,
    Fv: mat(Bv, D, -1, 1), yv: labels(Bv), vmask: new Array(Bv).fill(1),
  };
}

const shapesOf = (p: Problem): MetaStepShapes => ({
  batch: p.F.length, valBatch: p.Fv.length, width: p.F[0].length, classes: p.W.length, teachers: p.tl.length, temperature: p.T,
});

const f32 = (dims: number[], m: number[] | Mat | Mat[]): Tensor => tensor('float32', dims, (m as unknown[]).flat(2) as number[]);
const i64 = (v: number[]): Tensor => tensor('int64', [v.length], v);

async function runGraph(p: Problem): Promise<{ valLoss: number; metaGrad: Mat }> {
  const sh = shapesOf(p);
  const { batch: B, valBatch: Bv, width: D, classes: C, teachers: M } = sh;
  const session = await createSession(buildMetaStep(sh), { threads: 1 });
  try {
    const feeds: Record<string, Tensor> = {
      features: f32([B, D], p.F), labels: i64(p.y), weights: f32([B, 1 + M], p.w), mask: f32([B], p.mask),
      weight: f32([C, D], p.W), bias: f32([C], p.b), lr: tensor('float32', [], [p.lr]),
      val_features: f32([Bv, D], p.Fv), val_labels: i64(p.yv), val_mask: f32([Bv], p.vmask),
    };
    if (M > 0) feeds.teacher_logits = f32([M, B, C], p.tl);
    const out = await session.run(feeds);
    const mg = out.meta_grad;
    assert.deepEqual(mg.dims, [B, 1 + M]);
    assert.deepEqual(out.val_loss.dims, []);
    const data = Array.from(mg.data as Float32Array);
    return {
      valLoss: (out.val_loss.data as Float32Array)[0],
      metaGrad: Array.from({ length: B }, (_, i) => data.slice(i * (1 + M), (i + 1) * (1 + M))),
    };
  } finally {
    await session.release();
  }
}

function assertClose(actual: number, expected: number, rel: number, abs: number, what: string) {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected) + abs, `${what}: ${actual} != ${expected}`);
}

// ------------------------------------------------------------------ tests

const DIMS = { B: 6, Bv: 5, D: 5, C: 4 };

/** a problem with one padded training row (garbage inside) and one padded val row */
function paddedProblem(M: number, T: number, seed: number): Problem {
  const p = makeProblem({ ...DIMS, M, T }, seed);
  p.mask[4] = 0;
  p.F[4] = p.F[4].map((v) => v * 7);
  p.w[4] = p.w[4].map(() => 3);
  p.vmask[2] = 0;
  p.Fv[2] = p.Fv[2].map((v) => v * 9);
  return p;
}

test('alm-meta reference: analytic training gradient matches finite differences of the training loss', () => {
  const p = paddedProblem(2, 2, 11);
  const { gW, gb } = trainGrad(p, p.W, p.b, p.w);
  const h = 1e-6;
  p.W.forEach((row, c) => row.forEach((_, d) => {
    const at = (delta: number) => trainLoss(p, p.W.map((r, cc) => r.map((v, dd) => (cc === c && dd === d ? v + delta : v))), p.b, p.w);
    assertClose(gW[c][d], (at(h) - at(-h)) / (2 * h), 1e-6, 1e-8, `gW[${c}][${d}]`);
  }));
  p.b.forEach((_, c) => {
    const at = (delta: number) => trainLoss(p, p.W, p.b.map((v, cc) => (cc === c ? v + delta : v)), p.w);
    assertClose(gb[c], (at(h) - at(-h)) / (2 * h), 1e-6, 1e-8, `gb[${c}]`);
  });
});

for (const [M, T, seed] of [[1, 1, 3], [2, 2, 7], [2, 4, 19]] as const) {
  test(`alm-meta: meta_grad matches finite differences of the lookahead val loss (M=${M}, T=${T})`, async () => {
    const p = paddedProblem(M, T, seed);
    const { valLoss: vl, metaGrad } = await runGraph(p);
    const fd = fdMetaGrad(p);
    const scale = Math.max(...fd.flat().map(Math.abs));
    assert.ok(scale > 1e-3, `meta-gradient too small to be a test (${scale})`);
    fd.forEach((row, i) => row.forEach((e, j) => assertClose(metaGrad[i][j], e, 1e-3, 1e-5 * scale, `meta_grad[${i}][${j}]`)));
    // the padded training row contributes nothing and gets exactly zero meta-gradient
    assert.ok(metaGrad[4].every((v) => v === 0), `padded row: ${metaGrad[4]}`);
    // the lookahead actually moved the val loss (lr matters)
    const before = valLoss(p, p.W, p.b);
    const after = lookaheadValLoss(p, p.w);
    assert.ok(Math.abs(after - before) > 1e-3, `lookahead changed val loss by only ${after - before}`);
    assertClose(vl, after, 1e-5, 1e-6, 'val_loss');
  });
}

test('alm-meta: val_loss equals the float64 reference, padded val row ignored', async () => {
  const p = paddedProblem(2, 2, 23);
  const { valLoss: vl } = await runGraph(p);
  assertClose(vl, lookaheadValLoss(p, p.w), 1e-5, 1e-6, 'val_loss');
  // changing the padded val row's label changes nothing
  const q = { ...p, yv: p.yv.map((v, i) => (i === 2 ? (v + 1) % DIMS.C : v)) };
  assert.equal((await runGraph(q)).valLoss, vl);
});

test('alm-meta: lr = 0 gives zero meta-gradient and the plain val loss', async () => {
  const p = { ...paddedProblem(2, 2, 29), lr: 0 };
  const { valLoss: vl, metaGrad } = await runGraph(p);
  assert.ok(metaGrad.flat().every((v) => v === 0), `meta_grad ${metaGrad}`);
  assertClose(vl, valLoss(p, p.W, p.b), 1e-5, 1e-6, 'val_loss');
});

test('alm-meta: a duplicate of a val sample gets a negative CE meta-gradient, a mislabelled one positive', async () => {
  // predictions near uniform (small W) so the sign of the mislabelled case is clear-cut:
  // g.h ∝ (p - e_y').(p' - e_y) ≈ 1/C - 2/C < 0 for y' != y, while (p - e_y).(p' - e_y) > 0 always
  const p = makeProblem({ ...DIMS, M: 1, T: 2 }, 31);
  p.W = p.W.map((row) => row.map((v) => Math.fround(v * 0.2)));
  p.Fv[0] = [...p.F[0]];
  p.yv[0] = p.y[0];
  p.vmask = p.vmask.map((_, v) => (v === 0 ? 1 : 0)); // validate on the duplicate only
  const good = await runGraph(p);
  assert.ok(good.metaGrad[0][0] < 0, `duplicate, same label: ${good.metaGrad[0][0]}`);

  const flipped = { ...p, y: p.y.map((v, i) => (i === 0 ? (v + 1) % DIMS.C : v)) };
  const bad = await runGraph(flipped);
  assert.ok(bad.metaGrad[0][0] > 0, `duplicate, wrong label: ${bad.metaGrad[0][0]}`);
  // both signs agree with the float64 finite differences
  assert.ok(fdMetaGrad(p)[0][0] < 0 && fdMetaGrad(flipped)[0][0] > 0);
});

test('alm-meta: CE-only meta-step (no teachers) matches finite differences', async () => {
  const p = paddedProblem(0, 1, 37);
  const { metaGrad } = await runGraph(p);
  const fd = fdMetaGrad(p);
  const scale = Math.max(...fd.flat().map(Math.abs));
  fd.forEach((row, i) => row.forEach((e, j) => assertClose(metaGrad[i][j], e, 1e-3, 1e-5 * scale, `meta_grad[${i}][${j}]`)));
});
