// Global-norm clipping against hand computation (PyTorch clip_grad_norm_ semantics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { Ops } from '../../src/graph/ops.js';
import { newModel } from '../../src/graph/ir.js';
import { f32, toNumbers } from '../../src/graph/tensor.js';
import { createSession } from '../../src/runtime/session.js';
import { clipGlobalNorm } from '../../src/train/optim/index.js';
import { UsageError } from '../../src/errors.js';

async function runClip(tensors: { shape: number[]; data: number[] }[], maxNorm: number) {
  const b = new Builder('clip_test');
  const o = new Ops(b);
  const ins = tensors.map((t, i) => b.input(`g${i}`, 'float32', t.shape));
  const res = clipGlobalNorm(o, ins, maxNorm);
  res.grads.forEach((g, i) => b.output(g, `c${i}`));
  b.output(res.norm, 'norm');
  const sess = await createSession(newModel(b.graph));
  try {
    const out = await sess.run(Object.fromEntries(tensors.map((t, i) => [`g${i}`, f32(t.shape, t.data)])));
    assert.deepEqual(out.norm.dims, []);
    return { grads: tensors.map((_, i) => toNumbers(out[`c${i}`])), norm: toNumbers(out.norm)[0] };
  } finally {
    await sess.release();
  }
}

function close(a: number, e: number, what: string) {
  assert.ok(Math.abs(a - e) <= 1e-7 + 1e-6 * Math.abs(e), `${what}: got ${a}, expected ${e}`);
}

// g0 = [3, 0] and g1 = [[0, 4], [0, 0]]: norm = sqrt(9 + 16) = 5.
const TWO = [{ shape: [2], data: [3, 0] }, { shape: [2, 2], data: [0, 4, 0, 0] }];

test('clipGlobalNorm scales both tensors when the norm exceeds maxNorm', async () => {
  // maxNorm 1: scale = 1 / (5 + 1e-6) = 0.19999996; g0 -> [0.6, 0], g1 -> [[0, 0.8], [0, 0]]
  const r = await runClip(TWO, 1);
  close(r.norm, 5, 'norm');
  const s = 1 / (5 + 1e-6);
  [[3 * s, 0], [0, 4 * s, 0, 0]].forEach((exp, i) => exp.forEach((e, k) => close(r.grads[i][k], e, `g${i}[${k}]`)));
  close(r.grads[0][0], 0.6, 'g0[0] ~ 0.6');
  close(r.grads[1][1], 0.8, 'g1[1] ~ 0.8');
});

test('clipGlobalNorm leaves gradients unchanged below maxNorm', async () => {
  // maxNorm 10: 10 / 5.000001 ~ 2 > 1, so scale = 1
  const r = await runClip(TWO, 10);
  close(r.norm, 5, 'norm');
  assert.deepEqual(r.grads, [[3, 0], [0, 4, 0, 0]]);
});

test('clipGlobalNorm on random tensors matches a float64 computation', async () => {
  const a = Array.from({ length: 12 }, (_, i) => Math.fround(Math.sin(i + 1)));
  const c = Array.from({ length: 5 }, (_, i) => Math.fround(Math.cos(3 * i) * 2));
  const norm = Math.sqrt([...a, ...c].reduce((s, x) => s + x * x, 0));
  for (const maxNorm of [0.5, 100]) {
    const r = await runClip([{ shape: [3, 4], data: a }, { shape: [5], data: c }], maxNorm);
    close(r.norm, norm, 'norm');
    const scale = Math.min(1, maxNorm / (norm + 1e-6));
    a.forEach((x, k) => close(r.grads[0][k], x * scale, `a[${k}] max ${maxNorm}`));
    c.forEach((x, k) => close(r.grads[1][k], x * scale, `c[${k}] max ${maxNorm}`));
  }
});

test('clipGlobalNorm rejects no gradients and a non-positive maxNorm', () => {
  const b = new Builder('bad');
  const o = new Ops(b);
  const g = b.input('g', 'float32', [2]);
  assert.throws(() => clipGlobalNorm(o, [], 1), UsageError);
  assert.throws(() => clipGlobalNorm(o, [g], 0), UsageError);
  assert.throws(() => clipGlobalNorm(o, [g], Number.NaN), UsageError);
});
