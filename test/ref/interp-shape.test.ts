// The reference interpreter against onnxruntime: layout and indexing ops.
import { test } from 'node:test';
import type { Builder } from '../../src/graph/builder.js';
import { f32, i64, tensor } from '../../src/graph/tensor.js';
import { compareWithOrt } from './ort-compare.js';

const c64 = (b: Builder, v: number[]) => b.constant(i64([v.length], v));
const s64 = (b: Builder, v: number) => b.constant(tensor('int64', [], [v]));
const BIG = 2 ** 62;

test('Reshape with 0, -1 and allowzero', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4] }, { shape: [0, 3] }],
  build: (b, [x, e]) => [b.op('Reshape', [x, c64(b, [0, -1])]), b.op('Reshape', [x, c64(b, [4, 0, -1])]),
    b.op('Reshape', [e, c64(b, [3, 0])], { allowzero: 1 })],
}));

test('Flatten at axis 0, 2 and -1', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4] }],
  build: (b, [x]) => [b.op('Flatten', [x], { axis: 0 }), b.op('Flatten', [x], { axis: 2 }), b.op('Flatten', [x], { axis: -1 }), b.op('Flatten', [x])],
}));

test('Transpose with perm and default (reversed)', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4, 5] }],
  build: (b, [x]) => [b.op('Transpose', [x], { perm: [0, 2, 3, 1] }), b.op('Transpose', [x])],
}));

test('Squeeze with axes (negative) and without; Unsqueeze with negative axes', () => compareWithOrt({
  inputs: [{ shape: [1, 3, 1, 2] }],
  build: (b, [x]) => [b.op('Squeeze', [x, c64(b, [-2])]), b.op('Squeeze', [x]), b.op('Unsqueeze', [x, c64(b, [-1, 0, 3])])],
}));

test('Concat on a negative axis with three inputs', () => compareWithOrt({
  inputs: [{ shape: [2, 1, 3] }, { shape: [2, 4, 3] }, { shape: [2, 2, 3] }],
  build: (b, x) => b.op('Concat', x, { axis: -2 }),
}));

test('Split with a split input and with num_outputs (uneven)', () => compareWithOrt({
  inputs: [{ shape: [2, 7] }],
  build: (b, [x]) => [...b.opN('Split', [x, c64(b, [2, 5])], { axis: 1 }, { numOutputs: 2 }),
    ...b.opN('Split', [x], { axis: -1, num_outputs: 3 }, { numOutputs: 3 })],
}));

test('Slice: negative starts, negative steps, clamping, axes and omitted inputs', () => compareWithOrt({
  inputs: [{ shape: [5, 6, 4] }],
  build: (b, [x]) => [
    b.op('Slice', [x, c64(b, [1, -5]), c64(b, [4, BIG]), c64(b, [0, 1])]),
    b.op('Slice', [x, c64(b, [-1, 4]), c64(b, [-BIG, 0]), c64(b, [1, -1]), c64(b, [-2, -3])]),
    b.op('Slice', [x, c64(b, [10]), c64(b, [-10]), c64(b, [0]), c64(b, [-1])]),
    b.op('Slice', [x, c64(b, [0]), c64(b, [2])]),
    b.op('Slice', [x, c64(b, [3]), c64(b, [1]), '', c64(b, [1])]),
  ],
}));

test('Expand (bidirectional) and Tile', () => compareWithOrt({
  inputs: [{ shape: [3, 1] }, { shape: [2, 3] }],
  build: (b, [x, y]) => [b.op('Expand', [x, c64(b, [2, 1, 4])]), b.op('Expand', [x, c64(b, [1])]), b.op('Tile', [y, c64(b, [2, 3])])],
}));

for (const mode of ['constant', 'reflect', 'edge']) {
  test(`Pad mode=${mode}, pads as input, axes input, negative pads`, () => compareWithOrt({
    inputs: [{ shape: [2, 4, 5] }],
    build: (b, [x]) => [
      b.op('Pad', mode === 'constant' ? [x, c64(b, [0, 1, 2, 1, 3, 1]), b.constant(f32([], [1.5]))] : [x, c64(b, [0, 1, 2, 1, 3, 1])], { mode }),
      b.op('Pad', [x, c64(b, [2, -1, 1, 2]), '', c64(b, [-1, 1])], { mode }),
    ],
  }));
}

test('Shape with start/end, Size, ConstantOfShape', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4, 5] }],
  build: (b, [x]) => [b.op('Shape', [x]), b.op('Shape', [x], { start: 1, end: -1 }), b.op('Shape', [x], { start: -2 }), b.op('Size', [x]),
    b.op('ConstantOfShape', [c64(b, [2, 3])], { value: f32([1], [2.5]) }), b.op('ConstantOfShape', [c64(b, [3])])],
}));

test('Range for floats and int64, including an empty range', () => compareWithOrt({
  inputs: [],
  build: (b) => [b.op('Range', [b.constant(f32([], [0.5])), b.constant(f32([], [3.2])), b.constant(f32([], [0.7]))]),
    b.op('Range', [s64(b, 10), s64(b, 1), s64(b, -3)]), b.op('Range', [s64(b, 1), s64(b, 1), s64(b, 2)])],
}));

test('Gather on axis 0 and -1 with negative and scalar indices', () => compareWithOrt({
  inputs: [{ shape: [4, 3, 5] }],
  build: (b, [x]) => [b.op('Gather', [x, b.constant(i64([2, 2], [0, -1, 2, 1]))]), b.op('Gather', [x, s64(b, -2)], { axis: -1 }),
    b.op('Gather', [x, c64(b, [1, 1, 0])], { axis: 1 })],
}));

test('GatherElements and ScatterElements (none, add) with negative indices', () => compareWithOrt({
  inputs: [{ shape: [3, 4] }, { shape: [2, 4] }],
  build: (b, [x, u]) => {
    const idx = b.constant(i64([2, 4], [0, -1, 2, 1, 1, 0, -3, 2]));
    const uniq = b.constant(i64([2, 4], [0, 2, 1, 1, 2, 0, 0, 2]));
    return [b.op('GatherElements', [x, idx]), b.op('GatherElements', [x, b.constant(i64([3, 2], [0, 3, -1, 2, 1, 1]))], { axis: 1 }),
      b.op('ScatterElements', [x, uniq, u]), b.op('ScatterElements', [x, idx, u], { reduction: 'add' }),
      b.op('ScatterElements', [x, b.constant(i64([2, 2], [3, 0, -1, 2])), b.op('Slice', [u, c64(b, [0]), c64(b, [2]), c64(b, [1])])], { axis: 1 })];
  },
}));

test('OneHot with negative indices on axis -1 and 0', () => compareWithOrt({
  inputs: [{ shape: [2, 3], dtype: 'int64', data: [0, 2, -1, 1, -3, 4] }],
  build: (b, [x]) => {
    const depth = s64(b, 4), vals = b.constant(f32([2], [-0.5, 2]));
    return [b.op('OneHot', [x, depth, vals]), b.op('OneHot', [x, depth, vals], { axis: 0 })];
  },
}));
