// tintem (TinTeM/CosPress) and its similarity emitters against a plain float64 reference
// written from the definitions (test/helpers/tintem-ref.ts, which imports nothing from
// src/train/objectives), hand-computed values, the invariances the method relies on,
// and gradient checks of the generated graph against float64 central differences.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';
import { newModel, type Tensor } from '../../../src/graph/ir.js';
import { tensor } from '../../../src/graph/tensor.js';
import { createSession } from '../../../src/runtime/session.js';
import type { LossContext } from '../../../src/train/step.js';
import { getObjective, resolveOptions, type ObjectiveShapes } from '../../../src/train/objectives/index.js';
import {
  TAUS, bilinearMatrix, cosineDistance, cosineMatrix, localSimilarityKl, normaliseRows, similarityKl,
} from '../../../src/train/objectives/similarity.js';
import {
  TINTEM_HEAD, orthogonalityPenalty, teacherTokenShape, tintemLoss, tintemParams,
} from '../../../src/train/objectives/tintem.js';
import { evalLoss } from '../../helpers/loss-eval.js';
import { gradCheck, type GradInput } from '../../helpers/gradcheck.js';
import { rng } from '../../helpers/rand.js';
import {
  type HeadRef, type Mat, REF_TAUS, cos, cosMatrix, linearWeights, normalise, orthoPenalty, reshape,
  simDistribution, simKL, tintemRef,
} from '../../helpers/tintem-ref.js';

// ------------------------------------------------------------------ helpers

/** Run a small graph in onnxruntime: float32 inputs by name, outputs by name. */
async function runGraph(inputs: Record<string, { dims: number[]; data: number[] }>,
  build: (o: Ops, x: Record<string, string>) => Record<string, string>): Promise<Record<string, Float32Array>> {
  const b = new Builder('t');
  const o = new Ops(b);
  const names: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) names[k] = b.input(k, 'float32', v.dims);
  const outs = build(o, names);
  for (const [k, v] of Object.entries(outs)) b.output(v, k);
  const session = await createSession(newModel(b.graph));
  const feeds: Record<string, Tensor> = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tensor('float32', v.dims, v.data)]));
  const res = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(res).map(([k, t]) => [k, t.data as Float32Array]));
}

/** |actual - expected| <= rel * |expected| + abs, elementwise */
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-4, abs = 1e-6, what = '') {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    assert.ok(Math.abs(a - e) <= rel * Math.abs(e) + abs, `${what}[${i}]: ${a} != ${e} (diff ${Math.abs(a - e)})`);
  }
}

function randMat(rand: () => number, rows: number, cols: number, scale = 1, offset = 0): Mat {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => offset + scale * (2 * rand() - 1)));
}

/** A random orthogonal n x n matrix (Gram-Schmidt of a random one). */
function randomOrthogonal(rand: () => number, n: number): Mat {
  const q: Mat = [];
  while (q.length < n) {
    let v = Array.from({ length: n }, () => 2 * rand() - 1);
    for (const u of q) {
      const d = u.reduce((s, x, i) => s + x * v[i], 0);
      v = v.map((x, i) => x - d * u[i]);
    }
    const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    if (nv > 1e-3) q.push(v.map((x) => x / nv));
  }
  return q;
}

const matmulRef = (a: Mat, b: Mat): Mat => a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
const flat = (m: Mat) => m.flat();
const t32 = (dims: number[], data: number[]) => ({ dims, data });

function randomHead(rand: () => number, inDim: number, outDim: number): HeadRef {
  return {
    lnWeight: Array.from({ length: inDim }, () => 0.5 + rand()),
    lnBias: Array.from({ length: inDim }, () => 0.4 * (2 * rand() - 1)),
    weight: randMat(rand, outDim, inDim, 1 / Math.sqrt(inDim)),
    bias: Array.from({ length: outDim }, () => 0.2 * (2 * rand() - 1)),
  };
}

function headTensors(prefix: string, h: HeadRef): Record<string, Tensor> {
  return {
    [`${prefix}.ln.weight`]: tensor('float32', [h.lnWeight.length], h.lnWeight),
    [`${prefix}.ln.bias`]: tensor('float32', [h.lnBias.length], h.lnBias),
    [`${prefix}.weight`]: tensor('float32', [h.weight.length, h.weight[0].length], flat(h.weight)),
    [`${prefix}.bias`]: tensor('float32', [h.bias.length], h.bias),
  };
}

// ------------------------------------------------------------------ reference sanity

test('reference: the taus are 0.01..0.10 and TAUS agrees', () => {
  close(TAUS, REF_TAUS, 0, 1e-15, 'TAUS');
});

test('reference: symmetrised P of 3 rows at tau=1 by hand', () => {
  // cos12 = 0, cos13 = cos23 = c = 1/sqrt 2. Rows 1, 2: softmax over (0, c); row 3: (1/2, 1/2).
  // S = P + P^T sums to 2N = 6: S12 = 2/(1+e^c), S13 = S23 = e^c/(1+e^c) + 1/2.
  const x = [[1, 0], [0, 1], [1, 1]];
  const c = Math.SQRT1_2, e = Math.exp(c);
  const s12 = 2 / (1 + e) / 6, s13 = (e / (1 + e) + 0.5) / 6;
  const want = [[0, s12, s13], [s12, 0, s13], [s13, s13, 0]];
  close(flat(simDistribution(x, 1)), flat(want), 1e-12, 1e-15, 'P');
  // with row 2 excluded: rows 1 and 3 each put all mass on the other
  close(flat(simDistribution(x, 1, [true, false, true])), [0, 0, 0.5, 0, 0, 0, 0.5, 0, 0], 1e-12, 1e-15, 'masked P');
});

test('reference: orthogonality penalty by hand', () => {
  assert.ok(Math.abs(orthoPenalty([[1, 0], [1, 1]]) - 5 / 14) < 1e-15);
  assert.ok(Math.abs(orthoPenalty([[1, 0], [0, 2]]) - 9 / 34) < 1e-15);
});

// ------------------------------------------------------------------ bilinear matrix

test('bilinearMatrix: 2x2 -> 3x3 by hand (PyTorch align_corners=False)', () => {
  // 1-D weights 2 -> 3: src = (i + 0.5) * 2/3 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6
  //   -> [1, 0], [1/2, 1/2], [0, 1] (the last tap clamped at the edge)
  const w1 = [[1, 0], [0.5, 0.5], [0, 1]];
  const want: number[] = [];
  for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) for (let Y = 0; Y < 2; Y++) for (let X = 0; X < 2; X++) want.push(w1[y][Y] * w1[x][X]);
  const m = bilinearMatrix(2, 2, 3, 3);
  close(m, want, 0, 1e-7, 'M');
  // F.interpolate([[1, 2], [3, 4]], size=3, mode='bilinear', align_corners=False)
  const grid = [1, 2, 3, 4];
  const out = Array.from({ length: 9 }, (_, r) => grid.reduce((s, v, k) => s + m[r * 4 + k] * v, 0));
  close(out, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], 0, 1e-6, 'resampled');
});

test('bilinearMatrix: 1-D down- and upsampling by hand', () => {
  // [1, 2, 3, 4] -> 2: [1.5, 3.5]; [1, 2] -> 4: [1, 1.25, 1.75, 2]
  const apply = (m: Float32Array, v: number[], n: number) => Array.from({ length: n }, (_, r) => v.reduce((s, x, k) => s + m[r * v.length + k] * x, 0));
  close(apply(bilinearMatrix(1, 4, 1, 2), [1, 2, 3, 4], 2), [1.5, 3.5], 0, 1e-6, 'down');
  close(apply(bilinearMatrix(4, 1, 2, 1), [1, 2, 3, 4], 2), [1.5, 3.5], 0, 1e-6, 'down (rows)');
  close(apply(bilinearMatrix(1, 2, 1, 4), [1, 2], 4), [1, 1.25, 1.75, 2], 0, 1e-6, 'up');
});

test('bilinearMatrix: non-square grids match the separable reference; rows sum to 1; identity at equal size', () => {
  for (const [H, W, h, w] of [[2, 3, 3, 5], [5, 7, 3, 2], [4, 4, 7, 3], [3, 2, 3, 2], [6, 6, 6, 6]]) {
    const m = bilinearMatrix(H, W, h, w);
    assert.equal(m.length, h * w * H * W);
    const wy = linearWeights(H, h), wx = linearWeights(W, w);
    const want: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let Y = 0; Y < H; Y++) for (let X = 0; X < W; X++) want.push(wy[y][Y] * wx[x][X]);
    close(m, want, 0, 1e-6, `M ${H}x${W}->${h}x${w}`);
    for (let r = 0; r < h * w; r++) {
      let s = 0;
      for (let k = 0; k < H * W; k++) {
        assert.ok(m[r * H * W + k] >= 0, 'weights are non-negative');
        s += m[r * H * W + k];
      }
      assert.ok(Math.abs(s - 1) < 1e-6, `row ${r} of ${H}x${W}->${h}x${w} sums to ${s}`);
    }
    if (H === h && W === w) close(m, Array.from({ length: h * w * H * W }, (_, i) => (Math.floor(i / (H * W)) === i % (H * W) ? 1 : 0)), 0, 0, 'identity');
  }
});

// ------------------------------------------------------------------ cosine emitters

test('normaliseRows, cosineMatrix, cosineDistance match the reference (zero and tiny rows too)', async () => {
  const rand = rng(11);
  const x = randMat(rand, 4, 5);
  x[1] = [0, 0, 0, 0, 0];
  x[2] = [1e-8, -2e-8, 0, 3e-8, 0]; // shorter than 1e-6: divided by 1e-6
  const y = randMat(rand, 4, 5);
  const x3 = [randMat(rand, 3, 5), randMat(rand, 3, 5)];
  const r = await runGraph({ x: t32([4, 5], flat(x)), y: t32([4, 5], flat(y)), x3: t32([2, 3, 5], x3.flat(2)) }, (o, n) => ({
    norm: normaliseRows(o, n.x), cos: cosineMatrix(o, n.x), dist: cosineDistance(o, n.x, n.y), cos3: cosineMatrix(o, n.x3),
  }));
  close(r.norm, x.flatMap(normalise), 1e-5, 1e-7, 'normaliseRows');
  close(r.cos, flat(cosMatrix(x)), 1e-5, 1e-6, 'cosineMatrix');
  close(r.dist, x.map((u, i) => 1 - cos(u, y[i])), 1e-5, 1e-6, 'cosineDistance');
  close(r.cos3, x3.flatMap((m) => flat(cosMatrix(m))), 1e-5, 1e-6, 'batched cosineMatrix');
});

// ------------------------------------------------------------------ similarity KL

test('similarityKl matches the reference, without and with a padding mask', async () => {
  const rand = rng(21);
  const a = randMat(rand, 5, 4), b = randMat(rand, 5, 3);
  const mask = [1, 1, 0, 1, 1];
  const r = await runGraph({ a: t32([5, 4], flat(a)), b: t32([5, 3], flat(b)), m: t32([5], mask), ones: t32([5], [1, 1, 1, 1, 1]) }, (o, n) => ({
    plain: similarityKl(o, n.a, n.b, TAUS), masked: similarityKl(o, n.a, n.b, TAUS, n.m),
    allOnes: similarityKl(o, n.a, n.b, TAUS, n.ones), tau1: similarityKl(o, n.a, n.b, [1]),
  }));
  close(r.plain, [simKL(a, b)], 1e-4, 1e-6, 'plain');
  close(r.masked, [simKL(a, b, REF_TAUS, mask.map(Boolean))], 1e-4, 1e-6, 'masked');
  close(r.allOnes, r.plain, 1e-6, 1e-7, 'all-ones mask = no mask');
  close(r.tau1, [simKL(a, b, [1])], 1e-4, 1e-7, 'tau 1');
  assert.ok(r.plain[0] > 1e-3 && Math.abs(r.plain[0] - r.masked[0]) > 1e-4, 'the test data are not trivial');
});

test('similarityKl: a masked-out row changes nothing (= the batch without it, whatever its values)', async () => {
  const rand = rng(22);
  const a = randMat(rand, 5, 4), b = randMat(rand, 5, 3);
  const a2 = a.map((r) => [...r]), b2 = b.map((r) => [...r]);
  a2[3] = [9, -9, 9, 9]; b2[3] = [0, 0, 0];
  const keep = [0, 1, 2, 4];
  const aw = keep.map((i) => a[i]), bw = keep.map((i) => b[i]);
  const mask = [1, 1, 1, 0, 1];
  const r = await runGraph({
    a: t32([5, 4], flat(a)), b: t32([5, 3], flat(b)), a2: t32([5, 4], flat(a2)), b2: t32([5, 3], flat(b2)),
    aw: t32([4, 4], flat(aw)), bw: t32([4, 3], flat(bw)), m: t32([5], mask),
  }, (o, n) => ({
    masked: similarityKl(o, n.a, n.b, TAUS, n.m), masked2: similarityKl(o, n.a2, n.b2, TAUS, n.m), without: similarityKl(o, n.aw, n.bw, TAUS),
  }));
  const want = simKL(aw, bw);
  close([simKL(a, b, REF_TAUS, mask.map(Boolean))], [want], 1e-12, 1e-15, 'reference');
  close(r.without, [want], 1e-4, 1e-6, 'without the row');
  close(r.masked, [want], 1e-4, 1e-6, 'masked');
  close(r.masked2, [want], 1e-4, 1e-6, 'masked, other padded values');
});

test('localSimilarityKl matches the reference per sample', async () => {
  const rand = rng(23);
  const a = [0, 1, 2].map(() => randMat(rand, 5, 4)), b = [0, 1, 2].map(() => randMat(rand, 5, 6));
  const r = await runGraph({ a: t32([3, 5, 4], a.flat(2)), b: t32([3, 5, 6], b.flat(2)) }, (o, n) => ({ l: localSimilarityKl(o, n.a, n.b, TAUS) }));
  close(r.l, a.map((m, i) => simKL(m, b[i])), 1e-4, 1e-6, 'local');
});

test('simKL invariances: 0 under an orthogonal map or a scaling, > 0 under a random linear map', async () => {
  const rand = rng(24);
  const a = randMat(rand, 6, 4);
  const R = randomOrthogonal(rand, 4);
  const M = randMat(rand, 4, 4);
  const aR = matmulRef(a, R), aM = matmulRef(a, M), a3 = a.map((r) => r.map((v) => 3 * v));
  // local: one orthogonal map per sample over its tokens
  const toks = [randMat(rand, 5, 4), randMat(rand, 5, 4)];
  const toksR = toks.map((m) => matmulRef(m, randomOrthogonal(rand, 4)));
  const r = await runGraph({
    a: t32([6, 4], flat(a)), aR: t32([6, 4], flat(aR)), aM: t32([6, 4], flat(aM)), a3: t32([6, 4], flat(a3)),
    tk: t32([2, 5, 4], toks.flat(2)), tkR: t32([2, 5, 4], toksR.flat(2)),
  }, (o, n) => ({
    rot: similarityKl(o, n.a, n.aR, TAUS), lin: similarityKl(o, n.a, n.aM, TAUS), scaled: similarityKl(o, n.a, n.a3, TAUS),
    self: similarityKl(o, n.a, n.a, TAUS), local: localSimilarityKl(o, n.tk, n.tkR, TAUS),
  }));
  assert.ok(Math.abs(simKL(a, aR)) < 1e-10, `reference simKL(a, aR) = ${simKL(a, aR)}`);
  for (const k of ['rot', 'scaled', 'self']) assert.ok(Math.abs(r[k][0]) < 2e-5, `${k}: ${r[k][0]}`);
  for (const v of r.local) assert.ok(Math.abs(v) < 2e-5, `local under per-sample rotations: ${v}`);
  const lin = simKL(a, aM);
  assert.ok(lin > 1e-2, `random linear map: reference ${lin}`);
  close(r.lin, [lin], 1e-4, 1e-6, 'random linear map');
});

// ------------------------------------------------------------------ orthogonality penalty

test('orthogonalityPenalty: hand values, 0 for orthogonal rows of one length, reference on random W', async () => {
  const rand = rng(31);
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const rot = [[2 * c, -2 * s], [2 * s, 2 * c]];
  const perm = [[0, 3, 0], [0, 0, -3], [3, 0, 0]];
  const wide = [[2.5, 0, 0], [0, 1.5, 2]]; // orthogonal rows of length 2.5, wider than tall
  const rnd = randMat(rand, 3, 5);
  const q4 = randomOrthogonal(rand, 4).map((r) => r.map((v) => 0.3 * v));
  const cases: [string, Mat, number][] = [
    ['[[1,0],[1,1]]', [[1, 0], [1, 1]], 5 / 14], ['diag(1,2)', [[1, 0], [0, 2]], 9 / 34],
    ['scaled rotation', rot, 0], ['scaled signed permutation', perm, 0], ['orthogonal rows 2x3', wide, 0],
    ['scaled random orthogonal 4x4', q4, 0], ['random 3x5', rnd, orthoPenalty(rnd)],
  ];
  for (const [name, w, want] of cases) {
    const r = await runGraph({ w: t32([w.length, w[0].length], flat(w)) }, (o, n) => ({ p: orthogonalityPenalty(o, n.w) }));
    close(r.p, [want], 1e-4, 2e-6, name);
    close([orthoPenalty(w)], [want], 1e-12, 1e-14, `reference ${name}`);
  }
  assert.ok(orthoPenalty(rnd) > 0.05);
});

// ------------------------------------------------------------------ the whole objective

interface Case {
  B: number; Cs: number; studentMap?: [number, number, number]; teacherMap?: [number, number, number]; Ft: number;
  mask: number[]; opts: Record<string, number>; seed: number;
}

function makeCase(k: Case) {
  const rand = rng(k.seed);
  const features = randMat(rand, k.B, k.Cs);
  const featureMap = k.studentMap ? randMat(rand, k.B, k.studentMap[0] * k.studentMap[1] * k.studentMap[2]) : undefined;
  const teacher = randMat(rand, k.B, k.Ft, 1, 0.3);
  const Ct = k.teacherMap ? k.teacherMap[0] : k.Ft;
  const h = randomHead(rand, Ct, k.Cs);
  const shapes: ObjectiveShapes = { classes: 3, studentFeatures: k.Cs, studentMap: k.studentMap, teacherFeatures: k.Ft, teacherMap: k.teacherMap };
  return { features, featureMap, teacher, h, shapes };
}

async function checkCase(k: Case, wantKeys: string[]) {
  const { features, featureMap, teacher, h, shapes } = makeCase(k);
  const obj = getObjective('tintem');
  const opts = resolveOptions(obj, k.opts);
  const outputs: Record<string, Tensor> = { features: tensor('float32', [k.B, k.Cs], flat(features)) };
  if (featureMap) outputs.feature_map = tensor('float32', [k.B, ...k.studentMap!], flat(featureMap));
  const got = await evalLoss(obj.build(opts, false, shapes), outputs,
    { teacher_features: tensor('float32', [k.B, k.Ft], flat(teacher)), mask: tensor('float32', [k.B], k.mask) }, headTensors(TINTEM_HEAD, h));
  const ref = tintemRef({
    features, featureMap, studentMap: k.studentMap, teacher, teacherMap: k.teacherMap, mask: k.mask, head: h,
    opts: opts as { sim_weight: number; local_weight: number; ortho_weight: number },
  });
  assert.deepEqual(Object.keys(got).sort(), ['per_sample', ...wantKeys].sort());
  close(got.per_sample, ref.perSample, 1e-4, 1e-6, 'per_sample');
  close(got.sim_global, [ref.simGlobal], 1e-4, 1e-6, 'sim_global');
  close(got.cos_global, ref.cosGlobal, 1e-4, 1e-6, 'cos_global');
  if (ref.simLocal) close(got.sim_local, ref.simLocal, 1e-4, 1e-6, 'sim_local');
  if (ref.cosLocal) close(got.cos_local, ref.cosLocal, 1e-4, 1e-6, 'cos_local');
  if (ref.ortho !== undefined) close(got.ortho, [ref.ortho], 1e-4, 1e-6, 'ortho');
  return { got, ref };
}

test('tintem: B=4, student map [6,3,3], teacher map [5,2,2] resampled, one padded sample', async () => {
  const { ref } = await checkCase({
    B: 4, Cs: 6, studentMap: [6, 3, 3], teacherMap: [5, 2, 2], Ft: 20, mask: [1, 1, 1, 0],
    opts: { sim_weight: 0.7, local_weight: 0.6, ortho_weight: 0.5 }, seed: 41,
  }, ['sim_global', 'cos_global', 'sim_local', 'cos_local', 'ortho']);
  assert.ok(ref.simGlobal > 1e-3 && ref.simLocal!.every((v) => v > 1e-3) && ref.ortho! > 1e-3, 'non-trivial case');
});

test('tintem: the padded sample takes no part in sim_global', async () => {
  const base: Case = { B: 4, Cs: 6, studentMap: [6, 3, 3], teacherMap: [5, 2, 2], Ft: 20, mask: [1, 1, 1, 0], opts: {}, seed: 41 };
  const { got } = await checkCase(base, ['sim_global', 'cos_global', 'sim_local', 'cos_local']);
  const { features, featureMap, teacher, h, shapes } = makeCase(base);
  const three = { ...shapes };
  const obj = getObjective('tintem');
  const g3 = await evalLoss(obj.build(resolveOptions(obj, {}), false, three),
    { features: tensor('float32', [3, 6], flat(features.slice(0, 3))), feature_map: tensor('float32', [3, 6, 3, 3], flat(featureMap!.slice(0, 3))) },
    { teacher_features: tensor('float32', [3, 20], flat(teacher.slice(0, 3))), mask: tensor('float32', [3], [1, 1, 1]) }, headTensors(TINTEM_HEAD, h));
  close(got.sim_global, g3.sim_global, 1e-4, 1e-6, 'sim_global with the padded sample vs without it');
  close(got.per_sample.slice(0, 3), g3.per_sample, 1e-4, 1e-6, 'per_sample of the real samples');
});

test('tintem: teacher grid equal to the student grid (no resampling)', async () => {
  await checkCase({
    B: 3, Cs: 4, studentMap: [4, 3, 3], teacherMap: [5, 3, 3], Ft: 45, mask: [1, 1, 1],
    opts: { sim_weight: 1.3, local_weight: 0.8, ortho_weight: 0 }, seed: 42,
  }, ['sim_global', 'cos_global', 'sim_local', 'cos_local']);
});

test('tintem: no teacher map: global terms only', async () => {
  await checkCase({
    B: 4, Cs: 6, studentMap: [6, 3, 3], Ft: 7, mask: [1, 0, 1, 1], opts: { sim_weight: 0.9, local_weight: 1, ortho_weight: 0.2 }, seed: 43,
  }, ['sim_global', 'cos_global', 'ortho']);
  await checkCase({ B: 3, Cs: 5, Ft: 7, mask: [1, 1, 1], opts: {}, seed: 44 }, ['sim_global', 'cos_global']);
});

test('tintem: local_weight 0 drops the local terms; a student map of another width drops cos_local', async () => {
  await checkCase({
    B: 3, Cs: 6, studentMap: [6, 3, 3], teacherMap: [5, 2, 2], Ft: 20, mask: [1, 1, 1], opts: { local_weight: 0 }, seed: 45,
  }, ['sim_global', 'cos_global']);
  await checkCase({
    B: 3, Cs: 6, studentMap: [8, 3, 3], teacherMap: [5, 2, 2], Ft: 20, mask: [1, 1, 1], opts: {}, seed: 46,
  }, ['sim_global', 'cos_global', 'sim_local']);
});

test('tintem: registration, defaults, head parameters and their initialisation', async () => {
  const obj = getObjective('tintem');
  assert.deepEqual(obj.defaults, { sim_weight: 1, local_weight: 1, ortho_weight: 0, tokens: 1 });
  assert.deepEqual(obj.needs, { labels: 'none', teacherLogits: false, teacherFeatures: true });
  assert.equal(obj.fitsHeadAfter, true);
  const shapes: ObjectiveShapes = { classes: 3, studentFeatures: 6, studentMap: [6, 3, 3], teacherFeatures: 20, teacherMap: [5, 2, 2] };
  assert.deepEqual(teacherTokenShape(shapes), { width: 5, grid: [2, 2] });
  assert.deepEqual(teacherTokenShape({ classes: 3, studentFeatures: 6, teacherFeatures: 7 }), { width: 7 });
  const ps = obj.auxParams!(resolveOptions(obj, {}), shapes, 7);
  assert.deepEqual(ps.map((p) => [p.name, p.init.dims, p.decay]), [
    ['tintem.h.ln.weight', [5], false], ['tintem.h.ln.bias', [5], false], ['tintem.h.weight', [6, 5], true], ['tintem.h.bias', [6], false],
  ]);
  assert.deepEqual(tintemParams({}, shapes, 7).map((p) => Array.from(p.init.data as Float32Array)), ps.map((p) => Array.from(p.init.data as Float32Array)));
  assert.ok(Array.from(ps[0].init.data as Float32Array).every((v) => v === 1));
  assert.ok(Array.from(ps[1].init.data as Float32Array).every((v) => v === 0));
  const bound = 1 / Math.sqrt(5);
  for (const p of [ps[2], ps[3]]) assert.ok(Array.from(p.init.data as Float32Array).every((v) => Math.abs(v) <= bound && v !== 0));
  // the default-initialised head through the real builder, against the reference
  const rand = rng(47);
  const features = randMat(rand, 4, 6), featureMap = randMat(rand, 4, 54), teacher = randMat(rand, 4, 20);
  const [lnw, lnb, w, bias] = ps.map((p) => Array.from(p.init.data as Float32Array));
  const h: HeadRef = { lnWeight: lnw, lnBias: lnb, weight: reshape(w, 6, 5), bias };
  const got = await evalLoss(obj.build(resolveOptions(obj, {}), false, shapes),
    { features: tensor('float32', [4, 6], flat(features)), feature_map: tensor('float32', [4, 6, 3, 3], flat(featureMap)) },
    { teacher_features: tensor('float32', [4, 20], flat(teacher)), mask: tensor('float32', [4], [1, 1, 1, 1]) },
    Object.fromEntries(ps.map((p) => [p.name, p.init])));
  const ref = tintemRef({ features, featureMap, studentMap: [6, 3, 3], teacher, teacherMap: [5, 2, 2], mask: [1, 1, 1, 1], head: h, opts: { sim_weight: 1, local_weight: 1, ortho_weight: 0 } });
  close(got.per_sample, ref.perSample, 1e-4, 1e-6, 'default head');
});

// ------------------------------------------------------------------ gradient checks

const G = { B: 4, Cs: 4, Hs: 3, Ws: 3, Ct: 3, Ht: 2, Wt: 2 };
const gShapes: ObjectiveShapes = {
  classes: 3, studentFeatures: G.Cs, studentMap: [G.Cs, G.Hs, G.Ws], teacherFeatures: G.Ct * G.Ht * G.Wt, teacherMap: [G.Ct, G.Ht, G.Wt],
};
const H = TINTEM_HEAD;

/** gradCheck inputs; `wrt` picks which float inputs are differentiated. Inputs are scaled
 * down so that cosines stay moderate and the tau = 0.01 softmaxes are not saturated. */
function gInputs(wrt: Set<string>, seed: number): GradInput[] {
  const rand = rng(seed);
  const u = (n: number, s: number, off = 0) => Array.from({ length: n }, () => off + s * (2 * rand() - 1));
  const shapes: [string, number[], number[]][] = [
    ['features', [G.B, G.Cs], u(G.B * G.Cs, 1)],
    ['feature_map', [G.B, G.Cs, G.Hs, G.Ws], u(G.B * G.Cs * G.Hs * G.Ws, 1)],
    ['teacher_features', [G.B, G.Ct * G.Ht * G.Wt], u(G.B * G.Ct * G.Ht * G.Wt, 1, 0.2)],
    ['mask', [G.B], [1, 1, 1, 0]],
    [`${H}.ln.weight`, [G.Ct], u(G.Ct, 0.3, 1)],
    [`${H}.ln.bias`, [G.Ct], u(G.Ct, 0.3)],
    [`${H}.weight`, [G.Cs, G.Ct], u(G.Cs * G.Ct, 0.6)],
    [`${H}.bias`, [G.Cs], u(G.Cs, 0.2)],
  ];
  return shapes.map(([name, shape, data]) => ({ name, shape, data, wrt: wrt.has(name) }));
}

/** tintemLoss built inside the gradCheck graph; `pick` chooses the checked outputs. */
function tintemSpec(opts: Record<string, number>, pick: (r: { perSample: string; extra: Record<string, string> }, o: Ops) => string[], withStop: boolean) {
  let stop: string[] = [];
  return {
    build: (b: Builder, o: Ops, x: string[]) => {
      const [features, featureMap, , , ...ps] = x;
      const ctx: LossContext = {
        b, o, batch: G.B, outputs: { features, feature_map: featureMap },
        params: { [`${H}.ln.weight`]: ps[0], [`${H}.ln.bias`]: ps[1], [`${H}.weight`]: ps[2], [`${H}.bias`]: ps[3] },
        data: (name) => name,
      };
      const res = tintemLoss({ sim_weight: 1, local_weight: 1, ortho_weight: 0, ...opts }, gShapes)(ctx);
      stop = res.stop ?? [];
      return pick({ perSample: res.perSample, extra: res.extra ?? {} }, o);
    },
    stop: withStop ? () => stop : undefined,
  };
}

const headNames = [`${H}.ln.weight`, `${H}.ln.bias`, `${H}.weight`, `${H}.bias`];

const report = (r: { maxAbsErr: number; maxRelErr: number; probes: number }) =>
  `${r.probes} probes, max abs err ${r.maxAbsErr.toExponential(2)}, max rel err ${r.maxRelErr.toExponential(2)}`;

test('gradcheck tintem: sim_global + sim_local w.r.t. the head parameters', async (t) => {
  const r = await gradCheck({
    inputs: gInputs(new Set(headNames), 51),
    ...tintemSpec({}, (res) => [res.extra.sim_global, res.extra.sim_local], false),
    eps: 1e-5,
  });
  assert.ok(r.probes > 0);
  t.diagnostic(report(r));
});

test('gradcheck tintem: cos_global + cos_local w.r.t. the student features and map', async (t) => {
  const r = await gradCheck({
    inputs: gInputs(new Set(['features', 'feature_map']), 52),
    ...tintemSpec({}, (res) => [res.extra.cos_global, res.extra.cos_local], false),
    eps: 1e-5,
  });
  assert.ok(r.probes > 0);
  t.diagnostic(report(r));
});

test('gradcheck tintem: mean per-sample loss w.r.t. everything, stop-gradients honoured', async (t) => {
  const inputs = gInputs(new Set(['features', 'feature_map', ...headNames]), 53);
  const r = await gradCheck({
    inputs,
    ...tintemSpec({ sim_weight: 0.7, local_weight: 0.6, ortho_weight: 0.5 }, (res, o) => [o.reduceMean(res.perSample, undefined, false)], true),
    eps: 1e-5,
  });
  // without the stop the cos terms would send gradient into the head: make sure the
  // check can tell the difference (the gradients differ)
  const r2 = await gradCheck({
    inputs,
    ...tintemSpec({ sim_weight: 0.7, local_weight: 0.6, ortho_weight: 0.5 }, (res, o) => [o.reduceMean(res.perSample, undefined, false)], false),
    eps: 1e-5,
  });
  const gw = r.analytic[`${H}.weight`], gw2 = r2.analytic[`${H}.weight`];
  assert.ok(gw.some((v, i) => Math.abs(v - gw2[i]) > 1e-3), 'stop-gradient makes a difference to the head gradient');
  t.diagnostic(`with stop: ${report(r)}; without: ${report(r2)}`);
});

test('gradcheck tintem: the orthogonality penalty w.r.t. W', async () => {
  await gradCheck({
    inputs: gInputs(new Set([`${H}.weight`]), 54),
    ...tintemSpec({ ortho_weight: 1 }, (res) => [res.extra.ortho], false),
    eps: 1e-5,
  });
});

test('gradcheck similarityKl / localSimilarityKl with moderate taus (tight) and the real taus', async (t) => {
  for (const [taus, rtol, atol] of [[[0.05, 0.2, 1], 1e-3, 1e-4], [TAUS, 2e-3, 2e-4]] as [number[], number, number][]) {
    const r = await gradCheck({
      inputs: [
        { name: 'a', shape: [5, 3] }, { name: 'b', shape: [5, 4] }, { name: 'm', shape: [5], data: [1, 0, 1, 1, 1], wrt: false },
        { name: 'ta', shape: [2, 4, 3] }, { name: 'tb', shape: [2, 4, 5] },
      ],
      build: (_b, o, [a, b, m, ta, tb]) => [similarityKl(o, a, b, taus, m), similarityKl(o, a, b, taus), localSimilarityKl(o, ta, tb, taus)],
      eps: 1e-5, rtol, atol, seed: 55,
    });
    t.diagnostic(`taus [${taus.join(', ')}]: ${report(r)}`);
  }
});

test('similarityKl at tau 0.01 where Q falls below float32 range: exact value and gradient (log-domain KL)', async (t) => {
  // Cosines that disagree strongly: some entries of P(b) are ~1e-38 at tau 0.01 (and
  // would be exp(-200) ~ 1e-87 in general) while P(a) gives them weight. A probability-
  // domain KL with log(q + eps) truncates them: 31.88 instead of 44.99 at tau 0.01.
  const rand = rng(22);
  const a = randMat(rand, 5, 4), b = randMat(rand, 5, 3);
  const keep = [0, 1, 2, 4];
  const aw = keep.map((i) => a[i]), bw = keep.map((i) => b[i]);
  const q = simDistribution(bw, 0.01);
  assert.ok(Math.min(...q.flat().filter((v, k) => k % 5 !== 0)) < 1e-30, 'Q has entries below 1e-30');
  const want = simKL(aw, bw, [0.01]);
  assert.ok(Math.abs(want - 44.9911) < 1e-3, `reference ${want}`);
  const r = await runGraph({ a: t32([4, 4], flat(aw)), b: t32([4, 3], flat(bw)) }, (o, n) => ({ k: similarityKl(o, n.a, n.b, [0.01]) }));
  close(r.k, [want], 1e-4, 1e-6, 'tau 0.01');
  const g = await gradCheck({
    inputs: [{ name: 'a', shape: [4, 4], data: flat(aw), wrt: false }, { name: 'b', shape: [4, 3], data: flat(bw) }],
    build: (_b, o, [x, y]) => similarityKl(o, x, y, [0.01, 0.02]),
    eps: 1e-6,
  });
  t.diagnostic(report(g));
});

test('tintem tokens 0: a flattened map is one global feature (h maps its full width), no local terms', async () => {
  const obj = getObjective('tintem');
  const shapes: ObjectiveShapes = { classes: 3, studentFeatures: 6, studentMap: [6, 3, 3], teacherFeatures: 20, teacherMap: [5, 2, 2] };
  const opts = resolveOptions(obj, { tokens: 0 });
  assert.deepEqual(teacherTokenShape(shapes, false), { width: 20 });
  const ps = obj.auxParams!(opts, shapes, 3);
  assert.deepEqual(ps.find((p) => p.name === 'tintem.h.weight')!.init.dims, [6, 20]);
  const r = rng(4), B = 4;
  const t = (dims: number[]) => tensor('float32', dims, Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => 2 * r() - 1));
  const out = await evalLoss(obj.build(opts, false, shapes), { features: t([B, 6]), feature_map: t([B, 6, 3, 3]), logits: t([B, 3]) },
    { teacher_features: t([B, 20]), mask: tensor('float32', [B], [1, 1, 1, 1]) }, Object.fromEntries(ps.map((p) => [p.name, p.init])));
  assert.deepEqual(Object.keys(out).sort(), ['cos_global', 'per_sample', 'sim_global']);
  for (let i = 0; i < B; i++) assert.ok(Math.abs(out.per_sample[i] - (out.cos_global[i] + out.sim_global[0])) < 1e-5);
});
