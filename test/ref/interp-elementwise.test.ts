// The reference interpreter against onnxruntime: elementwise, logic, Where, Clip, Cast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { compareWithOrt, oneOp } from './ort-compare.js';
import { erf } from './interp-elementwise.js';

const UNARY = ['Neg', 'Exp', 'Abs', 'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Softplus', 'Sin', 'Cos', 'Sign', 'Floor', 'Ceil', 'Identity'];
for (const op of UNARY) {
  test(`${op} matches onnxruntime`, () => compareWithOrt(oneOp(op, [3, 5])));
}
for (const op of ['Log', 'Sqrt', 'Reciprocal']) {
  test(`${op} matches onnxruntime on positive inputs`, () => compareWithOrt(oneOp(op, [2, 7], {}, { positive: true })));
}

test('Round is half-to-even like onnxruntime', () => compareWithOrt({
  inputs: [{ shape: [8], data: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -3.7] }],
  build: (b, [x]) => b.op('Round', [x]),
}));

test('Sigmoid and Softplus are stable for large inputs', () => compareWithOrt({
  inputs: [{ shape: [6], data: [-800, -40, -1, 1, 40, 800] }],
  build: (b, [x]) => [b.op('Sigmoid', [x]), b.op('Softplus', [x])],
}));

test('LeakyRelu with alpha', () => compareWithOrt(oneOp('LeakyRelu', [4, 5], { alpha: A.float(0.2) })));
test('LeakyRelu default alpha', () => compareWithOrt(oneOp('LeakyRelu', [9])));
test('Gelu exact (opset 20)', () => compareWithOrt({ ...oneOp('Gelu', [3, 6]), opset: 20 }));
test('Gelu tanh approximation (opset 20)', () => compareWithOrt({ ...oneOp('Gelu', [3, 6], { approximate: 'tanh' }), opset: 20 }));

test('erf is accurate to float64 precision', () => {
  const known: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
    [3, 0.9999779095030014], [-1.5, -0.9661051464753108], [1e-3, 0.0011283787909692363]];
  for (const [x, e] of known) assert.ok(Math.abs(erf(x) - e) <= 2e-15 * Math.abs(e), `erf(${x}) = ${erf(x)}, want ${e}`);
  assert.equal(erf(0), 0);
  assert.equal(erf(7), 1);
});

test('Clip with min and max inputs, only max, none', () => compareWithOrt({
  inputs: [{ shape: [4, 5] }],
  build: (b, [x]) => {
    const lo = b.constant(tensor('float32', [], [-0.5])), hi = b.constant(tensor('float32', [], [0.7]));
    return [b.op('Clip', [x, lo, hi]), b.op('Clip', [x, '', hi]), b.op('Clip', [x])];
  },
}));

const BINARY = ['Add', 'Sub', 'Mul', 'Div'];
const SHAPE_PAIRS: [number[], number[]][] = [[[2, 3, 4], [2, 3, 4]], [[2, 3, 4], [3, 1]], [[1], [2, 3]], [[2, 1, 5], [3, 1]], [[], [4]]];
for (const op of BINARY) {
  for (const [sa, sb] of SHAPE_PAIRS) {
    test(`${op} broadcasts [${sa}] with [${sb}]`, () => compareWithOrt({
      inputs: [{ shape: sa }, { shape: sb, positive: op === 'Div' }],
      build: (b, [x, y]) => b.op(op, [x, y]),
    }));
  }
}

test('Pow with broadcast exponent', () => compareWithOrt({
  inputs: [{ shape: [3, 4], positive: true }, { shape: [4] }],
  build: (b, [x, y]) => b.op('Pow', [x, y]),
}));

test('Div on int64 truncates toward zero', () => compareWithOrt({
  inputs: [{ shape: [6], dtype: 'int64', data: [7, -7, 7, -7, 0, 9] }, { shape: [6], dtype: 'int64', data: [2, 2, -2, -2, 3, 3] }],
  build: (b, [x, y]) => b.op('Div', [x, y]),
}));

for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) {
  test(`${op} with broadcast and ties`, () => compareWithOrt({
    inputs: [{ shape: [3, 4], ints: [-2, 2] }, { shape: [4], ints: [-2, 2] }],
    build: (b, [x, y]) => b.op(op, [x, y]),
  }));
}

test('And, Or, Xor, Not on bools with broadcast', () => compareWithOrt({
  inputs: [{ shape: [3, 4], dtype: 'bool' }, { shape: [1, 4], dtype: 'bool' }],
  build: (b, [x, y]) => [b.op('And', [x, y]), b.op('Or', [x, y]), b.op('Xor', [x, y]), b.op('Not', [x])],
}));

test('Where broadcasts condition and both branches', () => compareWithOrt({
  inputs: [{ shape: [2, 1, 4], dtype: 'bool' }, { shape: [3, 4] }, { shape: [2, 3, 1] }],
  build: (b, [c, x, y]) => b.op('Where', [c, x, y]),
}));

for (const op of ['Max', 'Min', 'Sum', 'Mean']) {
  test(`${op} over three broadcast inputs and one input`, () => compareWithOrt({
    inputs: [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 1] }],
    build: (b, [x, y, z]) => [b.op(op, [x, y, z]), b.op(op, [x])],
  }));
}

test('Cast float to int64 and int32 truncates toward zero; to bool; int64 back to float', () => compareWithOrt({
  inputs: [{ shape: [8], data: [-2.7, -1.5, -0.2, 0, 0.2, 1.5, 2.7, 3] }],
  build: (b, [x]) => {
    const i = b.op('Cast', [x], { to: 7 });
    return [i, b.op('Cast', [x], { to: 6 }), b.op('Cast', [x], { to: 9 }), b.op('Cast', [i], { to: 1 })];
  },
}));

test('Dropout in inference is the identity with an all-true mask', () => compareWithOrt({
  inputs: [{ shape: [3, 4] }],
  build: (b, [x]) => b.opN('Dropout', [x], {}, { numOutputs: 2 }),
}));
