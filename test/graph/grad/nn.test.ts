// Gradient checks for the nn family: Conv (1-D/2-D, strides, pads, dilations, groups,
// auto_pad, bias), MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';
import { differentiate } from '../../../src/graph/autodiff.js';
import { emptyGraph, newModel, numel, type AttrInput } from '../../../src/graph/ir.js';
import { loadModel } from '../../../src/graph/serde.js';
import { isFloatDType, tensor } from '../../../src/graph/tensor.js';
import { createSession } from '../../../src/runtime/session.js';
import { evaluate, type RefTensor } from '../../ref/interp.js';
import { assetsOrSkip } from '../../helpers/assets.js';
import { gradCheck, rng } from '../../helpers/gradcheck.js';

type Attrs = Record<string, AttrInput>;

function convCase(name: string, xs: number[], ws: number[], attrs: Attrs, bias = true) {
  test(`Conv ${name}`, async () => {
    const inputs = [{ name: 'x', shape: xs }, { name: 'w', shape: ws }];
    if (bias) inputs.push({ name: 'bias', shape: [ws[0]] });
    await gradCheck({ inputs, build: (b, _o, ins) => b.op('Conv', ins, attrs), maxProbes: 48 });
  });
}

convCase('3x3 stride 2 on 7x7, pads 1, bias broadcast', [2, 3, 7, 7], [4, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] });
convCase('3x3 stride 2 on 9x9, asymmetric pads', [1, 2, 9, 9], [3, 2, 3, 3], { strides: [2, 2], pads: [0, 1, 2, 0] });
convCase('5x5 stride 2 on 9x9, pads 2', [2, 2, 9, 9], [3, 2, 5, 5], { strides: [2, 2], pads: [2, 2, 2, 2] });
convCase('3x3 dilation 2 on 7x7', [2, 2, 7, 7], [3, 2, 3, 3], { dilations: [2, 2], pads: [1, 2, 2, 1] });
convCase('3x3 dilation 2 stride 2 on 9x8', [1, 2, 9, 8], [2, 2, 3, 3], { dilations: [2, 2], strides: [2, 2], pads: [1, 0, 1, 1] });
convCase('groups 2, stride 2', [2, 4, 7, 7], [6, 2, 3, 3], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] });
convCase('depthwise (group == C)', [2, 3, 7, 7], [3, 1, 3, 3], { group: 3, pads: [1, 1, 1, 1] });
convCase('depthwise with multiplier 2, stride 2, dilation 2', [1, 3, 9, 9], [6, 1, 3, 3], { group: 3, strides: [2, 2], dilations: [2, 2] });
convCase('depthwise stride 2, dilation 2, asymmetric pads', [2, 3, 9, 8], [3, 1, 3, 3], { group: 3, strides: [2, 2], dilations: [2, 2], pads: [2, 0, 1, 3] });
convCase('groups 2 stride 1, pads beyond (k-1)*d', [1, 4, 6, 6], [6, 2, 3, 3], { group: 2, pads: [3, 0, 1, 2] });
convCase('groups 2 stride 1, dilation 2', [2, 4, 7, 7], [6, 2, 3, 3], { group: 2, dilations: [2, 2], pads: [2, 1, 2, 2] });
convCase('1x1, no bias', [2, 4, 5, 5], [3, 4, 1, 1], {}, false);
convCase('1x1 stride 2 on 7x7', [1, 4, 7, 7], [3, 4, 1, 1], { strides: [2, 2] });
convCase('non-square kernel 3x5, strides 2x1', [1, 2, 7, 9], [3, 2, 3, 5], { strides: [2, 1], pads: [1, 2, 0, 1] });
convCase('auto_pad SAME_UPPER stride 2', [1, 2, 7, 7], [3, 2, 3, 3], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
convCase('auto_pad SAME_LOWER stride 2, 4x4 kernel', [1, 2, 8, 8], [2, 2, 4, 4], { auto_pad: 'SAME_LOWER', strides: [2, 2] });
convCase('auto_pad VALID', [1, 2, 6, 6], [2, 2, 3, 3], { auto_pad: 'VALID', kernel_shape: [3, 3] });
convCase('1-D: stride 2, dilation 2, asymmetric pads', [2, 3, 11], [4, 3, 3], { strides: [2], dilations: [2], pads: [1, 2] });
convCase('1-D groups 3, no bias', [2, 6, 10], [3, 2, 5], { group: 3, pads: [2, 2] }, false);

test('Conv with frozen weights: gradient to X only', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [2, 3, 7, 7] }, { name: 'w', shape: [4, 3, 3, 3], wrt: false }],
    build: (b, _o, ins) => b.op('Conv', ins, { strides: [2, 2], pads: [1, 1, 1, 1] }),
  });
});

function poolCase(op: string, name: string, xs: number[], attrs: Attrs, outputs = 1) {
  test(`${op} ${name}`, async () => {
    await gradCheck({
      inputs: [{ name: 'x', shape: xs }],
      build: (b, _o, [x]) => b.opN(op, [x], attrs, { numOutputs: outputs })[0],
    });
  });
}

poolCase('MaxPool', '2x2 stride 2 (teacher form)', [2, 3, 6, 6], { kernel_shape: [2, 2], strides: [2, 2] });
poolCase('MaxPool', 'overlapping 3x3 stride 1', [1, 2, 5, 5], { kernel_shape: [3, 3] });
poolCase('MaxPool', 'overlapping 3x3 stride 2, pads 1', [2, 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
poolCase('MaxPool', 'ceil_mode, asymmetric pads', [1, 2, 8, 7], { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 });
poolCase('MaxPool', 'dilation 2', [1, 2, 7, 7], { kernel_shape: [2, 2], dilations: [2, 2], strides: [1, 2] });
poolCase('MaxPool', 'with its own Indices output', [1, 2, 6, 6], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 2);
poolCase('MaxPool', '1-D', [2, 3, 9], { kernel_shape: [3], strides: [2], pads: [1, 1] });
poolCase('MaxPool', 'auto_pad SAME_UPPER', [1, 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });

for (const cip of [0, 1]) {
  const ap = (name: string, xs: number[], attrs: Attrs) => poolCase('AveragePool', `${name}, count_include_pad=${cip}`, xs, { ...attrs, count_include_pad: cip });
  ap('2x2 stride 2', [2, 3, 6, 6], { kernel_shape: [2, 2], strides: [2, 2] });
  ap('3x3 stride 2, pads 1', [2, 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  ap('3x3 stride 1, asymmetric pads', [1, 2, 5, 6], { kernel_shape: [3, 3], pads: [0, 1, 2, 1] });
  ap('ceil_mode overhang, pads 1', [1, 2, 6, 6], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
  ap('ceil_mode overhang, no pads', [1, 2, 6, 7], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  ap('1-D', [2, 3, 9], { kernel_shape: [3], strides: [2], pads: [1, 1] });
  ap('auto_pad SAME_UPPER', [1, 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });
}

poolCase('GlobalAveragePool', '2-D', [2, 3, 4, 5], {});
poolCase('GlobalAveragePool', '1-D', [2, 3, 7], {});
poolCase('GlobalMaxPool', '2-D', [2, 3, 4, 5], {});
poolCase('GlobalMaxPool', '1-D', [2, 3, 7], {});

// ---------------------------------------------------------------- a real imported teacher

// An imported teacher (opset 7-10) with a symbolic batch fixed to 2,
// rebuilt node by node so shapes are inferred; loss = sum(output * R); gradients of
// every float initializer from onnxruntime against float64 central differences.
async function teacherCheck(t: TestContext, rel: string, probesPerTensor: number) {
  const file = assetsOrSkip(t, rel);
  if (!file) return;
  const model = loadModel(file);
  const src = model.graph;
  const b = new Builder(emptyGraph('teacher'), 18);
  const o = new Ops(b);
  const rand = rng(99);
  const inp = src.inputs.find((v) => !src.initializers.has(v.name))!;
  const xShape = inp.shape!.map((d, i) => (i === 0 && typeof d !== 'number' ? 2 : d)) as number[];
  b.input(inp.name, inp.dtype, xShape);
  for (const [name, tensorValue] of src.initializers) b.initializer(name, tensorValue);
  for (const node of src.nodes) b.append({ ...node });
  const out = src.outputs[0].name;
  const r = b.constant(tensor('float32', b.shape(out), Array.from({ length: numel(b.shape(out)) }, () => 2 * rand() - 1)), 'R');
  const loss = o.reduceSum(o.mul(out, r), undefined, false);
  const forward = { ...b.graph, nodes: [...b.graph.nodes], initializers: new Map(b.graph.initializers), outputs: [] };
  const params = [...src.initializers].filter(([, v]) => isFloatDType(v.dtype)).map(([k]) => k);
  const grads = differentiate(b, { loss, wrt: params });
  b.output(loss, 'loss');
  params.forEach((p, i) => b.output(grads.get(p)!, `grad_${i}`));

  const x = Array.from({ length: numel(xShape) }, () => 2 * rand() - 1);
  const session = await createSession(newModel(b.graph, 18));
  const res = await session.run({ [inp.name]: tensor('float32', xShape, x) });
  await session.release();

  const feeds: Record<string, RefTensor> = { [inp.name]: { dims: xShape, data: Float64Array.from(x) } };
  const evalLoss = () => evaluate(forward, feeds, [loss])[loss].data[0];
  const ref = evalLoss();
  const ortLoss = (res.loss.data as Float32Array)[0];
  assert.ok(Math.abs(ref - ortLoss) <= 1e-4 * (1 + Math.abs(ref)), `loss: onnxruntime ${ortLoss}, reference ${ref}`);
  // A probe moves many ReLU/MaxPool inputs at once, so a kink can fall inside the step:
  // retry with a smaller step before calling a mismatch (float64 keeps it exact enough).
  const central = (w: RefTensor, idx: number, eps: number) => {
    const keep = w.data[idx];
    w.data[idx] = keep + eps;
    const up = evalLoss();
    w.data[idx] = keep - eps;
    const down = evalLoss();
    w.data[idx] = keep;
    return (up - down) / (2 * eps);
  };
  params.forEach((p, i) => {
    const g = res[`grad_${i}`].data as Float32Array;
    const init = src.initializers.get(p)!;
    assert.deepEqual(res[`grad_${i}`].dims, init.dims, `gradient of ${p} has the parameter's shape`);
    const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const w = { dims: init.dims, data: Float64Array.from(init.data as Float32Array) };
    feeds[p] = w;
    for (let k = 0; k < probesPerTensor; k++) {
      // probe the largest gradient entry first, then random ones
      const idx = k === 0 ? g.indexOf(g.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0)) : Math.floor(rand() * g.length);
      const close = (num: number) => Math.abs(num - g[idx]) <= 2e-4 * scale + 1e-3 * Math.abs(num);
      let num = central(w, idx, 1e-6);
      if (!close(num)) num = central(w, idx, 1e-7);
      assert.ok(close(num), `d loss / d ${p}[${idx}]: graph gives ${g[idx]}, central difference gives ${num}`);
    }
    delete feeds[p];
  });
}

test('real teacher: cifar10-winml-tutorial-cnn.onnx (Conv Relu MaxPool Reshape Gemm)', async (t) => {
  await teacherCheck(t, 'teachers/cifar10-winml-tutorial-cnn.onnx', 2);
});

test('real teacher: fashion-mnist-simplecnn.onnx (Conv Relu MaxPool Flatten Gemm LogSoftmax)', async (t) => {
  await teacherCheck(t, 'teachers/fashion-mnist-simplecnn.onnx', 1);
});

test('real teacher: mnist-cntk-opset7.onnx (opset 7, parameters as graph inputs, MatMul)', async (t) => {
  await teacherCheck(t, 'teachers/mnist-cntk-opset7.onnx', 2);
});
