// Feature metrics (src/eval/feature-metrics.ts) against hand-computed values and float64
// brute-force references written here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  auroc, cosineNeighbours, fpr95, knnAccuracy, linearCka, linearProbe, oodMetrics,
} from '../../src/eval/feature-metrics.js';
import { Rng } from '../../src/util/rng.js';

const f32 = (rows: number[][]) => Float32Array.from(rows.flat());
const gauss = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
const randn = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => gauss(rng));

/** float64 brute force: indices of the k most cosine-similar reference rows (ties: lower row). */
function bruteNeighbours(q: Float32Array, r: Float32Array, d: number, k: number): number[][] {
  const norm = (x: Float32Array, i: number) => Math.hypot(...x.subarray(i * d, (i + 1) * d));
  const out: number[][] = [];
  for (let i = 0; i < q.length / d; i++) {
    const sims = Array.from({ length: r.length / d }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += q[i * d + t] * r[j * d + t];
      return [s / (norm(q, i) * norm(r, j)), j];
    });
    sims.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    out.push(sims.slice(0, k).map((s) => s[1]));
  }
  return out;
}

test('cosine search matches a float64 brute force, chunked or not', async () => {
  const rng = new Rng(7), d = 16;
  const r = randn(rng, 300 * d), q = randn(rng, 50 * d);
  const want = bruteNeighbours(q, r, d, 5);
  for (const chunk of [undefined, 7]) {
    const nb = await cosineNeighbours(q, r, d, 5, { chunk });
    assert.equal(nb.k, 5);
    assert.deepEqual(Array.from({ length: 50 }, (_, i) => Array.from(nb.index.subarray(i * 5, i * 5 + 5))), want);
  }
  const few = await cosineNeighbours(q, r.subarray(0, 3 * d), d, 20); // k capped at n_ref
  assert.equal(few.k, 3);
});

test('kNN on a hand-made 2-D example: weights exp(cos/T), ties to the lowest class', async () => {
  // cos(q, a) = 1, cos(q, b) = 0.6, cos(q, c) = 0.8
  const train = f32([[1, 0], [0.6, 0.8], [0.8, 0.6]]), labels = [0, 1, 1];
  const q = f32([[2, 0]]);
  // T = 0.07: e^(1/0.07) = 1.6e6 beats e^(0.6/0.07) + e^(0.8/0.07) = 9.7e4: class 0
  assert.equal(await knnAccuracy(train, labels, q, [0], 2, { k: 3 }), 1);
  // T = 1: e^1 = 2.72 loses to e^0.6 + e^0.8 = 4.05: class 1 (a plain majority would agree)
  assert.equal(await knnAccuracy(train, labels, q, [0], 2, { k: 3, temperature: 1 }), 0);
  assert.equal(await knnAccuracy(train, labels, q, [1], 2, { k: 3, temperature: 1 }), 1);
  // k = 1 only sees a
  assert.equal(await knnAccuracy(train, labels, q, [0], 2, { k: 1, temperature: 1 }), 1);
  // two neighbours at cosine exactly 1 with classes 1 and 0: equal votes, class 0 wins
  const tie = f32([[1, 0], [2, 0], [0, 1]]);
  assert.equal(await knnAccuracy(tie, [1, 0, 2], f32([[3, 0]]), [0], 2, { k: 2 }), 1);
  assert.equal(await knnAccuracy(tie, [1, 0, 2], f32([[3, 0]]), [1], 2, { k: 2 }), 0);
});

test('kNN accuracy equals a float64 brute-force weighted vote on random clusters', async () => {
  const rng = new Rng(3), d = 8, C = 4;
  const centres = randn(rng, C * d);
  const make = (n: number) => {
    const x = new Float32Array(n * d), y: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rng.next() * C);
      y.push(c);
      for (let t = 0; t < d; t++) x[i * d + t] = centres[c * d + t] + 1.2 * gauss(rng);
    }
    return { x, y };
  };
  const tr = make(400), te = make(120);
  const nb = bruteNeighbours(te.x, tr.x, d, 20);
  const cos = (i: number, j: number) => {
    let s = 0, a = 0, b = 0;
    for (let t = 0; t < d; t++) { s += te.x[i * d + t] * tr.x[j * d + t]; a += te.x[i * d + t] ** 2; b += tr.x[j * d + t] ** 2; }
    return s / Math.sqrt(a * b);
  };
  let hit = 0;
  nb.forEach((js, i) => {
    const votes = new Array(C).fill(0);
    for (const j of js) votes[tr.y[j]] += Math.exp(cos(i, j) / 0.07);
    if (votes.indexOf(Math.max(...votes)) === te.y[i]) hit++;
  });
  const acc = await knnAccuracy(tr.x, tr.y, te.x, te.y, d);
  assert.equal(acc, hit / 120);
  assert.ok(acc > 0.5 && acc < 1, `accuracy ${acc} should be neither chance nor perfect here`);
});

test('AUROC and FPR95 against hand-computed values, ties included', () => {
  // pairs (in, out): 0.9 beats both; 0.8 ties 0.8 (1/2) and beats 0.1; 0.7 beats 0.1 only
  assert.equal(auroc([0.9, 0.8, 0.7], [0.8, 0.1]), 4.5 / 6);
  assert.equal(auroc([3, 4], [1, 2]), 1);
  assert.equal(auroc([1, 2], [3, 4]), 0);
  assert.equal(auroc([5, 5, 5], [5, 5]), 0.5);
  // 1..20: keeping 19 of 20 in-distribution samples puts the threshold at 2
  const in20 = Array.from({ length: 20 }, (_, i) => i + 1);
  assert.equal(fpr95(in20, [1, 2, 2.5, 0, 25]), 3 / 5);
  // 1..60: 57 of 60 kept, threshold 4 (an off-by-one would give 3 or 5)
  const in60 = Array.from({ length: 60 }, (_, i) => i + 1);
  assert.equal(fpr95(in60, [3, 4]), 0.5);
  // every in-distribution score tied: an OOD sample at the same score counts as positive
  assert.equal(fpr95([5, 5, 5, 5], [5, 4.9]), 0.5);
  assert.equal(fpr95([1, 2, 3], [0]), 0);
});

test('1-NN OOD: queries near the reference directions score higher than others', async () => {
  const rng = new Rng(11), d = 6;
  const around = (axis: number, n: number) => Float32Array.from({ length: n * d }, (_, i) => (i % d === axis ? 5 : 0) + 0.3 * gauss(rng));
  const ref = new Float32Array([...around(0, 50), ...around(1, 50)]);
  const r = await oodMetrics(ref, around(0, 40), around(3, 40), d);
  assert.equal(r.auroc, 1);
  assert.equal(r.fpr95, 0);
  const flipped = await oodMetrics(ref, around(3, 40), around(1, 40), d);
  assert.equal(flipped.auroc, 0);
  assert.equal(flipped.fpr95, 1);
});

/** float64 CKA through n x n Gram matrices (the HSIC form), a different route from linearCka's. */
function ckaGram(x: Float32Array, dx: number, y: Float32Array, dy: number): number {
  const n = x.length / dx;
  const gram = (z: Float32Array, d: number) => {
    const K = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += z[i * d + t] * z[j * d + t];
      return s;
    }));
    const row = K.map((r) => r.reduce((a, v) => a + v, 0) / n), all = row.reduce((a, v) => a + v, 0) / n;
    return K.map((r, i) => r.map((v, j) => v - row[i] - row[j] + all));
  };
  const K = gram(x, dx), L = gram(y, dy);
  const tr = (A: number[][], B: number[][]) => A.reduce((s, r, i) => s + r.reduce((t, v, j) => t + v * B[i][j], 0), 0);
  return tr(K, L) / Math.sqrt(tr(K, K) * tr(L, L));
}

test('linear CKA: an exact value, invariances, independence, and the Gram-matrix form', async () => {
  // one feature each: CKA is the squared correlation; centred x = (-1, 0, 1), y = (0, -1, 1): r = 1/2
  assert.equal(await linearCka(f32([[1], [2], [3]]), 1, f32([[1], [0], [2]]), 1), 0.25);
  const rng = new Rng(5), n = 200, d = 8;
  const x = randn(rng, n * d);
  // a random orthogonal Q by Gram-Schmidt
  const Q = Array.from({ length: d }, () => Array.from({ length: d }, () => gauss(rng)));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) {
      const p = Q[i].reduce((s, v, t) => s + v * Q[j][t], 0);
      Q[i] = Q[i].map((v, t) => v - p * Q[j][t]);
    }
    const len = Math.hypot(...Q[i]);
    Q[i] = Q[i].map((v) => v / len);
  }
  const xq = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) for (let t = 0; t < d; t++) xq[i * d + j] += x[i * d + t] * Q[t][j];
  assert.ok(Math.abs((await linearCka(x, d, xq, d)) - 1) < 1e-6);
  assert.ok(Math.abs((await linearCka(x, d, x.map((v) => 3.5 * v), d)) - 1) < 1e-12);
  const shifted = x.map((v, i) => v + 10 * (i % d));
  const y = randn(rng, n * 3);
  const ref = ckaGram(x, d, y, 3);
  assert.ok(Math.abs((await linearCka(x, d, y, 3)) - ref) < 1e-6, 'matches the n x n HSIC form');
  assert.ok(Math.abs((await linearCka(shifted, d, y, 3)) - ref) < 1e-5, 'column means do not matter');
  assert.ok(Math.abs((await linearCka(y, 3, x, d)) - ref) < 1e-6, 'symmetric');
  const big = randn(rng, 4000 * 4), other = randn(rng, 4000 * 4);
  assert.ok((await linearCka(big, 4, other, 4)) < 0.02, 'independent features have CKA near 0');
  // a feature set correlated with x: between 0 and 1, and equal to the brute force
  const mixed = x.map((v, i) => v + 2 * gauss(rng) * (i % 2));
  const m = await linearCka(x, d, mixed, d);
  assert.ok(m > 0.1 && m < 0.95);
  assert.ok(Math.abs(m - ckaGram(x, d, mixed, d)) < 1e-6);
});

test('linear probe: separable data is classified perfectly, a fixed toy set gives 4/6', async () => {
  const rng = new Rng(9), d = 5, C = 3;
  const centres = [[6, 0, 0, 0, 0], [0, 6, 0, 0, 0], [0, 0, 6, 0, 0]];
  const make = (n: number) => {
    const x = new Float32Array(n * d), y: number[] = [];
    for (let i = 0; i < n; i++) {
      y.push(i % C);
      for (let t = 0; t < d; t++) x[i * d + t] = 1000 * (centres[i % C][t] + gauss(rng) * 0.8) + 5000; // standardisation makes scale moot
    }
    return { x, y };
  };
  const tr = make(600), te = make(300);
  assert.equal(await linearProbe(tr.x, tr.y, te.x, te.y, d), 1);
  // 1-D toy: train classes at {-2, -1} and {1, 2}, so the boundary is 0 by symmetry; of
  // the test points -3, -0.5 (class 0), 0.5, 3 (class 1) are right, 1.5 (labelled 0) and
  // -1.5 (labelled 1) wrong
  const acc = await linearProbe(f32([[-2], [-1], [1], [2]]), [0, 0, 1, 1], f32([[-3], [-0.5], [0.5], [3], [1.5], [-1.5]]), [0, 0, 1, 1, 0, 1], 1);
  assert.equal(acc, 4 / 6);
  // labels that no linear function of the features predicts stay near chance
  const noise = randn(rng, 400 * 4), noiseTest = randn(rng, 400 * 4);
  const chance = await linearProbe(noise, Array.from({ length: 400 }, (_, i) => i % 2), noiseTest, Array.from({ length: 400 }, (_, i) => i % 2), 4);
  assert.ok(chance > 0.35 && chance < 0.65, `accuracy ${chance} on random labels`);
});
