// The reference interpreter against onnxruntime: Reduce*, ArgMax/ArgMin.
import { test } from 'node:test';
import { i64 } from '../../src/graph/tensor.js';
import { compareWithOrt } from './ort-compare.js';

const REDUCE = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare', 'ReduceL2', 'ReduceLogSumExp', 'ReduceProd', 'ReduceL1'];
// ReduceLogSum needs positive sums; it is tested on positive inputs below

const AXES: (number[] | undefined)[] = [[1], [-1, 0], [0, 2], undefined];
for (const op of [...REDUCE, 'ReduceLogSum']) {
  for (const axes of AXES) {
    for (const keepdims of [1, 0]) {
      test(`${op} axes=${axes ? `[${axes}]` : 'none'} keepdims=${keepdims}`, () => compareWithOrt({
        inputs: [{ shape: [2, 3, 4], positive: op === 'ReduceProd' || op === 'ReduceLogSum' }],
        build: (b, [x]) => b.op(op, axes ? [x, b.constant(i64([axes.length], axes))] : [x], { keepdims }),
      }));
    }
  }
}

// "no-op" reduces over no axis: the elementwise part (square, abs, log) still applies.
for (const op of REDUCE) {
  test(`${op} with empty axes and noop_with_empty_axes=1 reduces over no axis`, () => compareWithOrt({
    inputs: [{ shape: [2, 3], positive: op === 'ReduceProd' }, { shape: [4], positive: true }],
    build: (b, [x, p]) => [b.op(op, [x, b.constant(i64([0], []))], { noop_with_empty_axes: 1 }), b.op(op, [x], { noop_with_empty_axes: 1 }),
      b.op(op, [p], { noop_with_empty_axes: 1 }), b.op(op, [x, b.constant(i64([0], []))])],
  }));
}
test('ReduceLogSum with noop_with_empty_axes=1 is log x', () => compareWithOrt({
  inputs: [{ shape: [4], positive: true }],
  build: (b, [x]) => b.op('ReduceLogSum', [x], { noop_with_empty_axes: 1 }),
}));

test('ReduceLogSumExp does not overflow on large inputs', () => compareWithOrt({
  inputs: [{ shape: [2, 3], data: [1000, 1001, 999, -1000, -1001, -999] }],
  build: (b, [x]) => b.op('ReduceLogSumExp', [x, b.constant(i64([1], [1]))], { keepdims: 0 }),
}));

test('ReduceMean over a 4-D tensor with several axes (BatchNorm-style statistics)', () => compareWithOrt({
  inputs: [{ shape: [3, 2, 4, 5] }],
  build: (b, [x]) => b.op('ReduceMean', [x, b.constant(i64([3], [0, 2, 3]))]),
}));

test('ReduceSum with the pre-13 axes attribute (opset 11)', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4] }],
  build: (b, [x]) => b.op('ReduceSum', [x], { axes: [0, -1], keepdims: 0 }),
  opset: 11,
}));

for (const op of ['ArgMax', 'ArgMin']) {
  for (const last of [0, 1]) {
    test(`${op} with ties, select_last_index=${last}, axes 1 and -1, keepdims 0/1`, () => compareWithOrt({
      inputs: [{ shape: [3, 4, 5], ints: [0, 2] }],
      build: (b, [x]) => [b.op(op, [x], { axis: 1, select_last_index: last }), b.op(op, [x], { axis: -1, keepdims: 0, select_last_index: last }),
        b.op(op, [x], { select_last_index: last })],
    }));
  }
}
