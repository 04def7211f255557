// Static shape inference and the builder's naming, checked against hand-worked shapes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { Ops } from '../../src/graph/ops.js';
import { ShapeError } from '../../src/errors.js';

function setup() {
  const b = new Builder('t');
  return { b, o: new Ops(b) };
}

test('broadcasting, matmul and gemm shapes', () => {
  const { b, o } = setup();
  const x = b.input('x', 'float32', [2, 3, 4]);
  const y = b.input('y', 'float32', [3, 1]);
  assert.deepEqual(b.shape(o.add(x, y)), [2, 3, 4]);
  const w = b.input('w', 'float32', [4, 5]);
  assert.deepEqual(b.shape(o.matmul(x, w)), [2, 3, 5]);
  const a = b.input('a', 'float32', [6, 4]);
  assert.deepEqual(b.shape(o.gemm(a, b.input('bt', 'float32', [7, 4]), undefined, { transB: true })), [6, 7]);
  assert.throws(() => o.add(x, b.input('z', 'float32', [5])), ShapeError);
  assert.throws(() => o.matmul(x, b.input('v', 'float32', [3, 2])), /inner dimensions differ/);
});

test('conv, pooling and window arithmetic', () => {
  const { b } = setup();
  const x = b.input('x', 'float32', [2, 3, 9, 9]);
  const w = b.input('w', 'float32', [8, 3, 3, 3]);
  // floor((9 + 1 + 0 - 3) / 2) + 1 = 4 (asymmetric pads)
  assert.deepEqual(b.shape(b.op('Conv', [x, w], { strides: [2, 2], pads: [1, 1, 0, 0] })), [2, 8, 4, 4]);
  // dilation 2: effective kernel 5 -> 9 - 5 + 1 = 5
  assert.deepEqual(b.shape(b.op('Conv', [x, w], { dilations: [2, 2] })), [2, 8, 5, 5]);
  assert.deepEqual(b.shape(b.op('Conv', [x, w], { auto_pad: 'SAME_UPPER', strides: [2, 2] })), [2, 8, 5, 5]);
  // ceil_mode: ceil((9 - 2) / 2) + 1 = 5
  assert.deepEqual(b.shape(b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 })), [2, 3, 5, 5]);
  assert.deepEqual(b.shape(b.op('GlobalAveragePool', [x])), [2, 3, 1, 1]);
  // ConvTranspose: 2 * (4 - 1) + 1 + (3 - 1) + 1 - 0 = 10
  const t = b.input('t', 'float32', [1, 8, 4, 4]);
  assert.deepEqual(b.shape(b.op('ConvTranspose', [t, b.input('wt', 'float32', [8, 2, 3, 3])], { strides: [2, 2], output_padding: [1, 1] })), [1, 2, 10, 10]);
});

test('layout ops: reshape with 0 and -1, slice with steps, squeeze, concat, gather', () => {
  const { b, o } = setup();
  const x = b.input('x', 'float32', [2, 3, 4]);
  assert.deepEqual(b.shape(o.reshape(x, [0, -1])), [2, 12]);
  assert.deepEqual(b.shape(o.slice(x, [-1], [-5], [2], [-2])), [2, 3, 2]);
  assert.deepEqual(b.shape(o.slice(x, [1], [100], [1])), [2, 2, 4]);
  assert.deepEqual(b.shape(o.unsqueeze(x, [0, -1])), [1, 2, 3, 4, 1]);
  assert.deepEqual(b.shape(o.squeeze(o.unsqueeze(x, [1]), [1])), [2, 3, 4]);
  assert.deepEqual(b.shape(o.concat([x, x], -1)), [2, 3, 8]);
  assert.deepEqual(b.shape(o.gather(x, b.input('i', 'int64', [5, 6]), 1)), [2, 5, 6, 4]);
  assert.deepEqual(b.shape(o.reduceSum(x, [-1], false)), [2, 3]);
  assert.deepEqual(b.shape(o.transpose(x, [2, 0, 1])), [4, 2, 3]);
  assert.throws(() => o.reshape(x, [5, -1]), /cannot reshape/);
});

test('symbolic batch stays symbolic through flatten and linear layers', () => {
  const { b, o } = setup();
  const x = b.input('x', 'float32', ['N', 3, 4, 4]);
  const f = o.flatten(x, 1);
  assert.deepEqual(b.info(f).shape, ['N', 48]);
  assert.deepEqual(b.info(o.gemm(f, b.input('w', 'float32', [10, 48]), undefined, { transB: true })).shape, ['N', 10]);
  assert.throws(() => b.shape(f), /static shape is needed/);
  assert.equal(b.dim(f, 1), 48);
});

test('builder names are deterministic and unique within scopes', () => {
  const names = () => {
    const { b, o } = setup();
    const x = b.input('x', 'float32', [2]);
    const out: string[] = [];
    out.push(o.relu(x), o.relu(x));
    b.scope('grad', () => out.push(o.neg(x), o.neg(x)));
    return out;
  };
  const first = names();
  assert.deepEqual(first, names());
  assert.equal(new Set(first).size, first.length);
  assert.ok(first[2].startsWith('grad/'));
  const { b } = setup();
  b.input('x', 'float32', [1]);
  assert.throws(() => b.input('x', 'float32', [1]), /already used/);
});
