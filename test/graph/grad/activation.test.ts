// Gradient checks for the activation family.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from '../../helpers/gradcheck.js';
import { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';
import { differentiate } from '../../../src/graph/autodiff.js';
import { A, newModel } from '../../../src/graph/ir.js';
import { f32, tensor } from '../../../src/graph/tensor.js';
import { createSession } from '../../../src/runtime/session.js';
import { GraphError } from '../../../src/errors.js';

const unaryOps: [string, Record<string, ReturnType<typeof A.float>>][] = [
  ['Relu', {}], ['LeakyRelu', {}], ['LeakyRelu', { alpha: A.float(0.2) }], ['LeakyRelu', { alpha: A.float(-0.3) }],
  ['Sigmoid', {}], ['Tanh', {}], ['Erf', {}], ['Softplus', {}],
];
for (const [op, attrs] of unaryOps) {
  test(`${op}${attrs.alpha ? ` alpha=${attrs.alpha.value}` : ''} on [3,7]`, async () => {
    await gradCheck({
      inputs: [{ name: 'x', shape: [3, 7], data: spread(21, 3) }],
      build: (b, _o, [x]) => b.op(op, [x], attrs),
    });
  });
}

/** n values in [-r, r] away from 0 (kinks of Relu/LeakyRelu), in a scrambled order. */
function spread(n: number, r: number): number[] {
  return Array.from({ length: n }, (_, i) => (((i * 7) % n) - (n - 1) / 2 + 0.31) * (2 * r / n));
}

test('Relu builds its mask from the output, not the input', () => {
  const b = new Builder('g');
  b.input('x', 'float32', [4]);
  const y = b.op('Relu', ['x']);
  const o = new Ops(b);
  differentiate(b, { loss: o.reduceSum(y, undefined, false), wrt: ['x'] });
  const readers = b.graph.nodes.filter((n) => n.inputs.includes('x'));
  assert.deepEqual(readers.map((n) => n.opType), ['Relu']);
});

for (const approximate of ['none', 'tanh']) {
  test(`Gelu approximate=${approximate} (opset 20)`, async () => {
    await gradCheck({
      opset: 20,
      inputs: [{ name: 'x', shape: [3, 7], data: spread(21, 4) }],
      build: (b, _o, [x]) => b.op('Gelu', [x], { approximate }),
    });
  });
}

for (const op of ['Softmax', 'LogSoftmax']) {
  for (const axis of [-1, 1, 0, -3]) {
    test(`${op} axis=${axis} on [2,3,5]`, async () => {
      await gradCheck({ inputs: [{ name: 'x', shape: [2, 3, 5] }], build: (b, _o, [x]) => b.op(op, [x], { axis }) });
    });
  }
  test(`${op} default axis (last, opset 13+)`, async () => {
    await gradCheck({ inputs: [{ name: 'x', shape: [3, 5] }], build: (b, _o, [x]) => b.op(op, [x]) });
  });
  test(`${op} at opset 11 with a non-last axis is refused with a GraphError`, () => {
    const b = new Builder('g', 11);
    b.input('x', 'float32', [2, 3, 4]);
    b.input('dy', 'float32', [2, 3, 4]);
    const y = b.op(op, ['x'], { axis: 1 }, { name: 'sm' });
    assert.throws(() => differentiate(b, { loss: y, wrt: ['x'], seed: 'dy' }),
      (e: unknown) => e instanceof GraphError && /sm/.test(e.message) && /opset 13/.test(e.hint));
  });
}

// ------------------------------------------------------------------ Dropout

const bool = (v: boolean) => tensor('bool', [], [v ? 1 : 0]);

test('Dropout in inference form (no training flag, flag false, opset 18) is the identity', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [3, 4] }],
    build: (b, o, [x]) => [
      b.op('Dropout', [x]),
      b.op('Dropout', [x, o.scalar(0.3)]),
      b.opN('Dropout', [x, o.scalar(0.3), b.constant(bool(false))], {}, { numOutputs: 2 })[0],
    ],
  });
});

test('Dropout in training mode with ratio 0 is the identity', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [3, 4] }],
    build: (b, o, [x]) => b.opN('Dropout', [x, o.scalar(0), b.constant(bool(true))], {}, { numOutputs: 2 })[0],
  });
});

// A random mask has no float64 reference: check dx = w * mask / (1 - ratio) against
// the mask the same onnxruntime run drew, and y = x * mask / (1 - ratio) too.
for (const flag of ['constant', 'graph input']) {
  test(`Dropout in training mode (ratio 0.25, ${flag} flag) uses the mask output`, async () => {
    const n = 64, ratio = 0.25;
    const b = new Builder('g');
    const o = new Ops(b);
    b.input('x', 'float32', [n]);
    const train = flag === 'constant' ? b.constant(bool(true)) : b.input('train', 'bool', []);
    const [y, mask] = b.opN('Dropout', ['x', o.scalar(ratio), train], {}, { numOutputs: 2 });
    const w = Array.from({ length: n }, (_, i) => i + 1);
    const loss = o.reduceSum(o.mul(y, o.floats(w)), undefined, false);
    b.output(differentiate(b, { loss, wrt: ['x'] }).get('x')!, 'dx');
    b.output(y, 'y');
    b.output(mask, 'mask');
    const s = await createSession(newModel(b.graph));
    const xs = Array.from({ length: n }, (_, i) => 0.5 + i);
    const res = await s.run({ x: f32([n], xs), ...(flag === 'constant' ? {} : { train: bool(true) }) });
    await s.release();
    const m = Array.from(res.mask.data as Uint8Array);
    assert.ok(m.some((v) => v) && m.some((v) => !v), 'mask should keep some and drop some');
    const dx = Array.from(res.dx.data as Float32Array), yy = Array.from(res.y.data as Float32Array);
    m.forEach((keep, i) => {
      assert.ok(Math.abs(dx[i] - (keep ? w[i] / (1 - ratio) : 0)) < 1e-4, `dx[${i}]`);
      assert.ok(Math.abs(yy[i] - (keep ? xs[i] / (1 - ratio) : 0)) < 1e-4, `y[${i}]`);
    });
  });
}

test('Dropout in training mode without a mask output is refused with a GraphError', () => {
  const b = new Builder('g');
  const o = new Ops(b);
  b.input('x', 'float32', [4]);
  b.input('dy', 'float32', [4]);
  const y = b.op('Dropout', ['x', o.scalar(0.5), b.constant(bool(true))], {}, { name: 'drop' });
  assert.throws(() => differentiate(b, { loss: y, wrt: ['x'], seed: 'dy' }),
    (e: unknown) => e instanceof GraphError && /drop/.test(e.message) && /mask/.test(e.hint));
});
