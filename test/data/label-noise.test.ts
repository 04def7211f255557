// --label-noise: corruptLabels (src/data/label-noise.ts) replaces exactly round(P*n)
// labels, chosen by a seeded shuffle, by a uniformly random OTHER class.
import test from 'node:test';
import assert from 'node:assert/strict';
import { corruptLabels } from '../../src/data/label-noise.js';
import { UsageError } from '../../src/errors.js';

/** labels with a deterministic, mildly unbalanced class mix */
function makeLabels(n: number, C: number): Int32Array {
  let x = 12345;
  return Int32Array.from({ length: n }, () => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 8) % C; });
}

test('exactly round(P*n) labels corrupted, each really wrong and in [0, C), the rest unchanged', () => {
  for (const [n, C, P] of [[1000, 10, 0.4], [999, 10, 0.25], [7, 3, 0.5], [101, 2, 0.333], [50, 5, 0], [3000, 10, 0.4], [10, 4, 0.99]]) {
    const y = makeLabels(n, C);
    const before = Int32Array.from(y);
    const r = corruptLabels(y, C, P, 7);
    assert.deepEqual(y, before, 'the input array is not modified');
    const want = Math.round(P * n);
    assert.equal(r.count, want, `count for n=${n}, P=${P}`);
    assert.equal(r.corrupted.reduce((a, v) => a + v, 0), want, 'corrupted flags');
    for (let i = 0; i < n; i++) {
      assert.ok(r.labels[i] >= 0 && r.labels[i] < C && Number.isInteger(r.labels[i]), `label ${r.labels[i]} in [0, ${C})`);
      if (r.corrupted[i]) assert.notEqual(r.labels[i], y[i], `sample ${i} is flagged and must differ`);
      else assert.equal(r.labels[i], y[i], `sample ${i} is not flagged and must be unchanged`);
    }
  }
});

test('deterministic per seed, different across seeds', () => {
  const y = makeLabels(2000, 10);
  const a = corruptLabels(y, 10, 0.3, 1), b = corruptLabels(y, 10, 0.3, 1), c = corruptLabels(y, 10, 0.3, 2);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.corrupted, b.corrupted);
  assert.notDeepEqual(c.corrupted, a.corrupted, 'another seed picks other samples');
  assert.notDeepEqual(c.labels, a.labels);
  // overlap of the corrupted sets is about P^2 * n (independent choices), far from P * n
  let both = 0;
  for (let i = 0; i < 2000; i++) both += a.corrupted[i] & c.corrupted[i];
  assert.ok(both > 0.09 * 2000 * 0.5 && both < 0.09 * 2000 * 1.6, `overlap ${both} ~ ${0.09 * 2000}`);
});

test('new labels are uniform over the other classes, and corruption is not biased by class', () => {
  const n = 20000, C = 10, P = 0.4;
  const y = makeLabels(n, C);
  const r = corruptLabels(y, C, P, 3);
  const cells = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const perClass = new Array<number>(C).fill(0), perClassCorrupted = new Array<number>(C).fill(0);
  for (let i = 0; i < n; i++) {
    perClass[y[i]]++;
    if (r.corrupted[i]) { perClassCorrupted[y[i]]++; cells[y[i]][r.labels[i]]++; }
  }
  for (let t = 0; t < C; t++) {
    assert.equal(cells[t][t], 0, 'never the true class');
    // per-class corrupted fraction ~ P: hypergeometric, sd <= sqrt(P(1-P)/n_c) ~ 0.016 for n_c ~ 2000
    const frac = perClassCorrupted[t] / perClass[t];
    assert.ok(Math.abs(frac - P) < 0.06, `class ${t}: corrupted fraction ${frac.toFixed(3)} ~ ${P}`);
    for (let u = 0; u < C; u++) {
      if (u === t) continue;
      const e = perClassCorrupted[t] / (C - 1); // ~89; sd ~ 9
      assert.ok(Math.abs(cells[t][u] - e) < 5 * Math.sqrt(e) + 5, `cell (${t} -> ${u}) ${cells[t][u]} ~ ${e.toFixed(1)}`);
    }
  }
  // and over all pairs, a chi-square well below a loose bound (90 cells, df ~ 80: mean 80, sd ~ 13)
  let chi = 0;
  for (let t = 0; t < C; t++) for (let u = 0; u < C; u++) if (u !== t) {
    const e = perClassCorrupted[t] / (C - 1);
    chi += (cells[t][u] - e) ** 2 / e;
  }
  assert.ok(chi < 160, `chi-square ${chi.toFixed(1)}`);
});

test('P outside [0, 1) is a UsageError; P = 0 changes nothing', () => {
  const y = makeLabels(100, 10);
  for (const P of [-0.1, 1, 1.5, NaN]) assert.throws(() => corruptLabels(y, 10, P, 1), UsageError, `P=${P}`);
  const r = corruptLabels(y, 10, 0, 1);
  assert.equal(r.count, 0);
  assert.deepEqual(r.labels, y);
  assert.throws(() => corruptLabels(Int32Array.from([0, 0]), 1, 0.5, 1), UsageError, 'one class cannot be corrupted');
});
