// The reference interpreter against onnxruntime: MatMul, Gemm, Conv, ConvTranspose,
// pooling, normalisation, Softmax/LogSoftmax.
import { test } from 'node:test';
import { A } from '../../src/graph/ir.js';
import { compareWithOrt } from './ort-compare.js';

const MATMUL: [number[], number[]][] = [
  [[3, 4], [4, 5]], [[2, 3, 4], [4, 2]], [[2, 1, 3, 4], [3, 4, 5]], [[4], [4, 3]], [[2, 3, 4], [4]], [[4], [4]], [[1, 3, 4], [2, 4, 1]],
];
for (const [sa, sb] of MATMUL) {
  test(`MatMul [${sa}] x [${sb}]`, () => compareWithOrt({
    inputs: [{ shape: sa }, { shape: sb }],
    build: (b, [x, y]) => b.op('MatMul', [x, y]),
  }));
}

const GEMM: { a: number[]; b: number[]; c?: number[]; attrs: Record<string, unknown> }[] = [
  { a: [3, 4], b: [4, 5], c: [5], attrs: {} },
  { a: [4, 3], b: [4, 5], c: [3, 1], attrs: { transA: 1, alpha: A.float(0.5), beta: A.float(2) } },
  { a: [3, 4], b: [5, 4], c: [], attrs: { transB: 1 } },
  { a: [4, 3], b: [5, 4], c: [3, 5], attrs: { transA: 1, transB: 1, beta: A.float(-1) } },
  { a: [2, 4], b: [4, 3], attrs: { alpha: A.float(1.5) } },
];
for (const g of GEMM) {
  test(`Gemm A[${g.a}] B[${g.b}] C[${g.c ?? 'none'}] ${JSON.stringify(g.attrs)}`, () => compareWithOrt({
    inputs: [{ shape: g.a }, { shape: g.b }, ...(g.c ? [{ shape: g.c }] : [])],
    build: (b, x) => b.op('Gemm', x, g.attrs as never),
  }));
}

interface ConvCase { x: number[]; w: number[]; bias?: boolean; attrs: Record<string, unknown> }
const CONV: ConvCase[] = [
  { x: [1, 3, 7, 7], w: [4, 3, 3, 3], bias: true, attrs: {} },
  { x: [2, 2, 7, 6], w: [3, 2, 3, 2], bias: true, attrs: { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2] } },
  { x: [1, 4, 5, 5], w: [6, 2, 3, 3], bias: true, attrs: { group: 2, pads: [1, 1, 1, 1] } },
  { x: [1, 3, 6, 6], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [1, 2, 7, 6], w: [2, 2, 3, 3], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
  { x: [1, 2, 7, 6], w: [2, 2, 4, 4], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 3] } },
  { x: [1, 2, 7, 6], w: [2, 2, 3, 3], attrs: { auto_pad: 'VALID', strides: [2, 2] } },
  { x: [2, 3, 9], w: [4, 3, 3], bias: true, attrs: { strides: [2], pads: [1, 2], dilations: [2] } },
  { x: [1, 2, 4, 5, 3], w: [2, 2, 2, 3, 2], bias: true, attrs: { pads: [0, 1, 1, 1, 0, 0] } },
];
for (const c of CONV) {
  test(`Conv x[${c.x}] w[${c.w}] ${JSON.stringify(c.attrs)}`, () => compareWithOrt({
    inputs: [{ shape: c.x }, { shape: c.w }, ...(c.bias ? [{ shape: [c.w[0]] }] : [])],
    build: (b, x) => b.op('Conv', x, c.attrs as never),
  }));
}

const CONVT: ConvCase[] = [
  { x: [1, 3, 4, 4], w: [3, 2, 3, 3], bias: true, attrs: {} },
  { x: [2, 2, 3, 4], w: [2, 3, 3, 2], bias: true, attrs: { strides: [2, 3], pads: [1, 0, 0, 1], output_padding: [1, 2] } },
  { x: [1, 2, 4, 3], w: [2, 2, 3, 3], attrs: { dilations: [2, 1], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [1, 4, 3, 3], w: [4, 1, 3, 3], bias: true, attrs: { group: 2, strides: [2, 2] } },
  { x: [1, 2, 3, 4], w: [2, 2, 3, 3], attrs: { strides: [2, 2], output_shape: [6, 8] } },
  { x: [1, 2, 3, 4], w: [2, 2, 4, 3], attrs: { strides: [2, 2], auto_pad: 'SAME_UPPER' } },
  { x: [2, 2, 5], w: [2, 3, 3], bias: true, attrs: { strides: [2], pads: [1, 0] } },
];
for (const c of CONVT) {
  test(`ConvTranspose x[${c.x}] w[${c.w}] ${JSON.stringify(c.attrs)}`, () => compareWithOrt({
    inputs: [{ shape: c.x }, { shape: c.w }, ...(c.bias ? [{ shape: [c.w[1] * ((c.attrs.group as number) ?? 1)] }] : [])],
    build: (b, x) => b.op('ConvTranspose', x, c.attrs as never),
  }));
}

const MAXPOOL: { x: number[]; attrs: Record<string, unknown> }[] = [
  { x: [1, 2, 7, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [2, 1, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 2], ceil_mode: 1 } },
  { x: [1, 2, 5, 5], attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } },
  { x: [1, 1, 8, 8], attrs: { kernel_shape: [2, 3], dilations: [2, 2], pads: [1, 0, 1, 2] } },
  { x: [1, 2, 7, 5], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
  { x: [2, 3, 9], attrs: { kernel_shape: [3], strides: [2], pads: [1, 1] } },
];
for (const p of MAXPOOL) {
  test(`MaxPool x[${p.x}] ${JSON.stringify(p.attrs)} (values and indices)`, () => compareWithOrt({
    inputs: [{ shape: p.x }],
    build: (b, [x]) => b.opN('MaxPool', [x], p.attrs as never, { numOutputs: 2 }),
  }));
}

test('MaxPool: padding never wins over all-negative inputs', () => compareWithOrt({
  inputs: [{ shape: [1, 1, 3, 3], data: [-5, -4, -3, -2, -1, -6, -7, -8, -9] }],
  build: (b, [x]) => b.op('MaxPool', [x], { kernel_shape: [2, 2], pads: [1, 1, 1, 1] }),
}));

const AVGPOOL: { x: number[]; attrs: Record<string, unknown>; opset?: number }[] = [
  { x: [1, 2, 7, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { x: [1, 2, 7, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
  { x: [2, 1, 6, 7], attrs: { kernel_shape: [3, 2], strides: [2, 2], ceil_mode: 1 } },
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [2, 3], strides: [2, 2], pads: [1, 0, 1, 1], ceil_mode: 1, count_include_pad: 1 } },
  { x: [1, 2, 5, 6], attrs: { kernel_shape: [2, 3], strides: [2, 2], pads: [1, 0, 1, 1], ceil_mode: 1 } },
  { x: [2, 3, 9], attrs: { kernel_shape: [4], strides: [3], pads: [2, 1], count_include_pad: 1 } },
  { x: [1, 1, 8, 8], attrs: { kernel_shape: [2, 2], dilations: [2, 3], pads: [1, 1, 0, 0] }, opset: 19 },
];
for (const p of AVGPOOL) {
  test(`AveragePool x[${p.x}] ${JSON.stringify(p.attrs)}`, () => compareWithOrt({
    inputs: [{ shape: p.x }],
    build: (b, [x]) => b.op('AveragePool', [x], p.attrs as never),
    opset: p.opset,
  }));
}

test('GlobalAveragePool and GlobalMaxPool, 2-D and 1-D', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4, 5] }, { shape: [2, 3, 7] }],
  build: (b, [x, y]) => [b.op('GlobalAveragePool', [x]), b.op('GlobalMaxPool', [x]), b.op('GlobalAveragePool', [y]), b.op('GlobalMaxPool', [y])],
}));

const bnInputs = (x: number[]) => [{ shape: x }, { shape: [x[1]] }, { shape: [x[1]] }, { shape: [x[1]] }, { shape: [x[1]], positive: true }];
test('BatchNormalization inference form, 4-D and 2-D', async () => {
  await compareWithOrt({ inputs: bnInputs([2, 3, 4, 5]), build: (b, x) => b.op('BatchNormalization', x, { epsilon: A.float(1e-3) }) });
  await compareWithOrt({ inputs: bnInputs([5, 4]), build: (b, x) => b.op('BatchNormalization', x) });
});

test('BatchNormalization training_mode=1: batch statistics and running updates', () => compareWithOrt({
  inputs: bnInputs([3, 2, 4, 5]),
  build: (b, x) => b.opN('BatchNormalization', x, { training_mode: 1, momentum: A.float(0.8) }, { numOutputs: 3 }),
}));

test('LayerNormalization over the last axis (Y, Mean, InvStdDev)', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 5] }, { shape: [5] }, { shape: [5] }],
  build: (b, x) => b.opN('LayerNormalization', x, { epsilon: A.float(1e-4) }, { numOutputs: 3 }),
}));

test('LayerNormalization axis=1 with broadcast scale, no bias', () => compareWithOrt({
  inputs: [{ shape: [2, 3, 4] }, { shape: [1, 4] }],
  build: (b, x) => b.opN('LayerNormalization', x, { axis: 1 }, { numOutputs: 3 }),
}));

for (const op of ['Softmax', 'LogSoftmax']) {
  for (const axis of [-1, 1, 0]) {
    test(`${op} axis=${axis}`, () => compareWithOrt({
      inputs: [{ shape: [3, 4, 5] }],
      build: (b, [x]) => b.op(op, [x], { axis }),
    }));
  }
  test(`${op} default axis, large logits`, () => compareWithOrt({
    inputs: [{ shape: [2, 3], data: [1000, 1001, 999, -50, 0, 50] }],
    build: (b, [x]) => b.op(op, [x]),
  }));
}
