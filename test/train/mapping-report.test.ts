// The learned mapping's orthogonality report and the small linear algebra behind it and
// behind the head fit's ridge start. Expected values are worked out by hand in comments.
import test from 'node:test';
import assert from 'node:assert/strict';
import { symmetricEigenvalues, choleskySolve } from '../../src/util/linalg.js';
import { orthogonality, mappingReport } from '../../src/train/mapping-report.js';
import { ridgeStart } from '../../src/train/head-fit.js';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { tensor } from '../../src/graph/tensor.js';
import { rng } from '../helpers/rand.js';

const near = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('symmetricEigenvalues: [[2,1],[1,2]] has 3 and 1; a random 6x6 keeps trace and Frobenius norm', () => {
  const e = [...symmetricEigenvalues(Float64Array.from([2, 1, 1, 2]), 2)].sort((a, b) => b - a);
  near(e[0], 3); near(e[1], 1);
  const r = rng(5), n = 6, a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = 2 * r() - 1;
  const ev = symmetricEigenvalues(a, n);
  near(ev.reduce((s, v) => s + v, 0), Array.from({ length: n }, (_, i) => a[i * n + i]).reduce((s, v) => s + v, 0));
  near(ev.reduce((s, v) => s + v * v, 0), a.reduce((s, v) => s + v * v, 0));
});

test('choleskySolve: [[4,2],[2,3]] x = [2,1] gives [0.5, 0]; two right-hand sides at once', () => {
  const x = choleskySolve(Float64Array.from([4, 2, 2, 3]), 2, Float64Array.from([2, 1, 1, 0]), 2); // columns b1 = [2,1], b2 = [1,0]
  near(x[0], 0.5); near(x[2], 0); // b1
  near(x[1], 3 / 8); near(x[3], -2 / 8); // b2 = [1,0]: x = A^-1 e1 = [3, -2] / 8
  assert.throws(() => choleskySolve(Float64Array.from([1, 2, 2, 1]), 2, Float64Array.from([1, 1]), 1), /not positive definite/);
});

test('orthogonality: a scaled rotation is exactly orthogonal; diag(1, 2) has ratio 2 and distance sqrt(9/17)', () => {
  const c = Math.cos(0.3), s = Math.sin(0.3);
  const rot = orthogonality(Float32Array.from([3 * c, -3 * s, 3 * s, 3 * c]), 2, 2);
  near(rot.ratio, 1, 1e-6); near(rot.distance, 0, 1e-3); near(rot.singular[0], 3, 1e-6);
  // G = diag(1, 4): tr 5, ||G||^2 17, distance^2 = 2 - 25/17
  const d = orthogonality(Float32Array.from([1, 0, 0, 2]), 2, 2);
  near(d.singular[0], 2, 1e-7); near(d.singular[1], 1, 1e-7); near(d.ratio, 2, 1e-7); near(d.distance, Math.sqrt(9 / 17), 1e-7);
  // a tall map with orthonormal columns (3 x 2) uses W^T W
  const tall = orthogonality(Float32Array.from([1, 0, 0, 0.6, 0, 0.8]), 3, 2);
  near(tall.ratio, 1, 1e-6); near(tall.distance, 0, 1e-3);
});

test('mappingReport names tintem and proteus mappings and nothing else', () => {
  const w = tensor('float32', [2, 2], [1, 0, 0, 2]);
  assert.equal(mappingReport('tintem', new Map([['tintem.h.weight', w]])).mapping_sv_ratio, 2);
  assert.equal(mappingReport('proteus', new Map([['proteus.head.weight', w]])).mapping_sv_max, 2);
  assert.deepEqual(mappingReport('kd', new Map([['tintem.h.weight', w]])), {});
});

test('ridgeStart recovers a head whose teacher logits are linear in the features', () => {
  const student = buildStudent('mlp', { inputShape: [4], numClasses: 3, batch: 8, mode: 'eval', seed: 1, width: 5 });
  const width = 5, classes = 3, n = 400, r = rng(9);
  const wTrue = Array.from({ length: classes * width }, () => 2 * r() - 1), bTrue = [0.3, -0.2, 0.1];
  const f = Float32Array.from({ length: n * width }, () => 2 * r() - 1);
  // teacher logits: the true head minus a per-row constant (softmax-equivalent), small enough not to reach the -10 floor
  const t = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) for (let c = 0; c < classes; c++) {
    let z = bTrue[c];
    for (let d = 0; d < width; d++) z += wTrue[c * width + d] * f[i * width + d];
    t[i * classes + c] = z - 1.5;
  }
  const start = ridgeStart(student.graph, f, n, width, t, classes);
  const w = start.get('head.weight')!.data as Float32Array, b = start.get('head.bias')!.data as Float32Array;
  assert.deepEqual(start.get('head.weight')!.dims, [classes, width]);
  // recovered up to a constant shift of the logits per row: compare centred weights and logit differences
  for (let d = 0; d < width; d++) {
    const mean = (arr: ArrayLike<number>) => (arr[d] + arr[width + d] + arr[2 * width + d]) / 3;
    for (let c = 0; c < classes; c++) near(w[c * width + d] - mean(w), wTrue[c * width + d] - mean(wTrue), 2e-3);
  }
  near(b[0] - b[1], bTrue[0] - bTrue[1], 2e-3);
});
