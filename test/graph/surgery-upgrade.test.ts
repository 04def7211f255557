// upgradeToOpset18: each rewritten op, built at its old opset, gives the same outputs in
// onnxruntime after the upgrade; the four real teachers too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { A, newModel, type Attr, opsetOf, type DType, type Model, type Tensor } from '../../src/graph/ir.js';
import { loadModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { upgradeToOpset18 } from '../../src/graph/opset-upgrade.js';
import { realInputs } from '../../src/graph/surgery.js';
import { createSession } from '../../src/runtime/session.js';
import { GraphError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';

function rand(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function randomInput(dtype: DType, dims: number[], r: () => number): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  return tensor(dtype, dims, Array.from({ length: n }, () => (dtype === 'uint8' ? Math.floor(r() * 256) : 4 * r() - 2)));
}

async function runModel(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await createSession(model, { ep: 'cpu' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Run `model` and its upgrade on the same inputs; every output agrees within `tol`. */
async function assertSameOutputs(model: Model, dims: Record<string, number[]>, tol = 1e-5): Promise<Model> {
  const up = upgradeToOpset18(model);
  assert.equal(opsetOf(up), 18);
  const r = rand(11);
  const feeds = Object.fromEntries(realInputs(model.graph).map((v) => [v.name, randomInput(v.dtype, dims[v.name], r)]));
  const [a, b] = [await runModel(model, feeds), await runModel(up, feeds)];
  for (const o of model.graph.outputs) {
    assert.deepEqual(b[o.name].dims, a[o.name].dims, `${o.name}: shape`);
    const x = a[o.name].data as Float32Array, y = b[o.name].data as Float32Array;
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i] - y[i]));
    assert.ok(diff <= tol, `${o.name}: max abs diff ${diff}`);
  }
  return up;
}

/** A one-input model at `opset`, built by `build`. */
function oldModel(opset: number, shape: number[], build: (b: Builder, x: string) => string | string[]): Model {
  const b = new Builder('old', opset);
  const x = b.input('x', 'float32', shape);
  [build(b, x)].flat().forEach((y, i) => b.output(y, `y${i}`));
  const m = newModel(b.graph, opset);
  m.irVersion = 6;
  return m;
}

const opsIn = (m: Model) => m.graph.nodes.map((n) => n.opType);

/** Append a node without shape inference (old forms our shape rules do not read). */
function rawNode(b: Builder, opType: string, inputs: string[], attrs: Record<string, Attr>, name = b.fresh(`${opType}_node`)): string {
  const out = b.fresh(opType);
  b.graph.nodes.push({ opType, domain: '', name, inputs, outputs: [out], attrs });
  b.graph.valueInfo.set(out, { name: out, dtype: 'float32' });
  return out;
}

test('Squeeze/Unsqueeze (opset 11): axes attribute becomes an input', async () => {
  const up = await assertSameOutputs(oldModel(11, [2, 1, 3, 1], (b, x) => {
    const s = b.op('Squeeze', [x], { axes: [1, 3] });
    return b.op('Unsqueeze', [s], { axes: [0, 3] });
  }), { x: [2, 1, 3, 1] });
  const sq = up.graph.nodes.filter((n) => n.opType !== 'Identity');
  assert.ok(sq.every((n) => !n.attrs.axes && n.inputs.length === 2), 'axes moved to inputs');
});

test('Reduce* (opset 11/12): axes attribute becomes an input; no axes stays a full reduction', async () => {
  await assertSameOutputs(oldModel(12, [2, 3, 4], (b, x) => [
    b.op('ReduceMean', [x], { axes: [1], keepdims: 0 }),
    b.op('ReduceSum', [x], { axes: [-1] }),
    b.op('ReduceMax', [x], { keepdims: 0 }),
    b.op('ReduceL2', [x], { axes: [0, 2] }),
    b.op('ReduceLogSumExp', [x], { axes: [1] }),
  ]), { x: [2, 3, 4] });
});

test('Split (opset 11): split attribute becomes an input; an even split gets num_outputs', async () => {
  const up = await assertSameOutputs(oldModel(11, [2, 6], (b, x) => [
    ...b.opN('Split', [x], { axis: 1, split: [1, 2, 3] }, { numOutputs: 3 }),
    ...b.opN('Split', [x], { axis: 1 }, { numOutputs: 2 }),
  ]), { x: [2, 6] });
  const even = up.graph.nodes.filter((n) => n.opType === 'Split')[1];
  assert.deepEqual(even.attrs.num_outputs, A.int(2));
});

test('Slice (opset 9): starts/ends/axes attributes become inputs', async () => {
  await assertSameOutputs(oldModel(9, [4, 5, 6], (b, x) => [
    b.op('Slice', [x], { starts: [1, -4], ends: [3, 1000], axes: [0, 2] }),
    b.op('Slice', [x], { starts: [0, 1], ends: [2, 4] }),
  ]), { x: [4, 5, 6] });
});

test('Pad (opset 10) and Clip (opset 10): attributes become inputs', async () => {
  await assertSameOutputs(oldModel(10, [1, 2, 3, 3], (b, x) => [
    b.op('Pad', [x], { pads: [0, 0, 1, 2, 0, 0, 2, 1], value: A.float(0.5) }),
    b.op('Pad', [x], { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' }),
    b.op('Clip', [x], { min: A.float(-0.5), max: A.float(0.75) }),
    b.op('Clip', [x], { max: A.float(0.25) }),
    b.op('Clip', [x], { min: A.float(-0.25) }),
  ]), { x: [1, 2, 3, 3] });
});

test('Dropout (opset 10) and BatchNormalization (opset 7, spatial=1)', async () => {
  const up = await assertSameOutputs(oldModel(7, [2, 3, 4, 4], (b, x) => {
    const d = b.op('Dropout', [x], { ratio: A.float(0.3) });
    const c = (v: number[]) => b.constant(tensor('float32', [3], v));
    return b.op('BatchNormalization', [d, c([1, 2, 0.5]), c([0.1, -0.2, 0.3]), c([0.5, 0, -1]), c([1, 4, 0.25])],
      { epsilon: A.float(1e-3), spatial: 1, momentum: A.float(0.9) });
  }), { x: [2, 3, 4, 4] });
  for (const n of up.graph.nodes) assert.ok(!n.attrs.is_test && !n.attrs.spatial, `${n.opType} keeps a removed attribute`);
});

test('BatchNormalization with spatial=0 is refused, naming the node', () => {
  const m = oldModel(7, [2, 3], (b, x) => {
    const c = b.constant(tensor('float32', [3], [1, 1, 1]));
    return b.op('BatchNormalization', [x, c, c, c, c], { spatial: 0 }, { name: 'bn_old' });
  });
  assert.throws(() => upgradeToOpset18(m), (e: unknown) => e instanceof GraphError && /bn_old/.test(e.message) && /spatial=0/.test(e.message));
});

test('Upsample (opset 7 attr, opset 9 input) and Resize-10 become Resize-18 with the old coordinates', async () => {
  await assertSameOutputs(oldModel(7, [1, 2, 3, 4], (b, x) => [
    b.op('Upsample', [x], { scales: A.floats([1, 1, 2, 3]), mode: 'nearest' }),
    b.op('Upsample', [x], { scales: A.floats([1, 1, 2, 2]), mode: 'linear' }),
  ]), { x: [1, 2, 3, 4] });
  await assertSameOutputs(oldModel(9, [1, 2, 3, 4], (b, x) => b.op('Upsample', [x, b.constant(tensor('float32', [4], [1, 1, 3, 2]))], { mode: 'nearest' })), { x: [1, 2, 3, 4] });
  const up = await assertSameOutputs(oldModel(10, [1, 2, 6, 8], (b, x) => [
    b.op('Resize', [x, b.constant(tensor('float32', [4], [1, 1, 0.5, 0.75]))], { mode: 'nearest' }),
    b.op('Resize', [x, b.constant(tensor('float32', [4], [1, 1, 1.5, 2]))], { mode: 'linear' }),
    b.op('Resize', [x, b.constant(tensor('float32', [4], [1, 1, 2, 2]))], { mode: 'nearest' }),
  ]), { x: [1, 2, 6, 8] });
  assert.deepEqual([...new Set(opsIn(up))], ['Resize', 'Identity']);
});

test('Softmax/LogSoftmax/Hardmax before opset 13: 2-D coercion kept exactly', async () => {
  const up = await assertSameOutputs(oldModel(11, [2, 3, 4], (b, x) => [
    b.op('Softmax', [x], { axis: 1 }), // not the last axis: Flatten -> Softmax -> Reshape
    b.op('Softmax', [x]), // default axis 1 (13 changed it to -1)
    b.op('LogSoftmax', [x], { axis: -1 }), // the last axis: unchanged
    b.op('Hardmax', [x], { axis: 1 }),
    b.op('LogSoftmax', [x], { axis: 0 }),
  ]), { x: [2, 3, 4] });
  assert.equal(opsIn(up).filter((o) => o === 'Flatten').length, 4);
  // [N, C, 1, 1] at axis 1: nothing follows the axis, so no reshaping
  const cls = await assertSameOutputs(oldModel(11, [2, 5, 1, 1], (b, x) => b.op('Softmax', [x], { axis: 1 })), { x: [2, 5, 1, 1] });
  assert.deepEqual(opsIn(cls), ['Softmax', 'Identity']);
  assert.deepEqual(cls.graph.nodes[0].attrs.axis, A.int(1));
});

test('TopK (opset 9): k attribute becomes an input', async () => {
  await assertSameOutputs(oldModel(9, [3, 7], (b, x) => b.opN('TopK', [x], { k: 3, axis: 1 }, { numOutputs: 2 })[0]), { x: [3, 7] });
});

test('Scatter (opset 10) becomes ScatterElements', async () => {
  const up = await assertSameOutputs(oldModel(10, [3, 4], (b, x) =>
    rawNode(b, 'Scatter', [x, b.constant(tensor('int64', [1, 2], [3, 0])), b.constant(tensor('float32', [1, 2], [7, 8]))], { axis: A.int(1) })), { x: [3, 4] });
  assert.equal(up.graph.nodes[0].opType, 'ScatterElements');
});

test('Reshape with a shape attribute (opset 4) becomes the input form', () => {
  const m = oldModel(4, [2, 6], (b, x) => rawNode(b, 'Reshape', [x], { shape: A.ints([3, 4]) }));
  const up = upgradeToOpset18(m);
  const r = up.graph.nodes[0];
  assert.equal(r.attrs.shape, undefined);
  assert.deepEqual(Array.from(up.graph.initializers.get(r.inputs[1])!.data as BigInt64Array, Number), [3, 4]);
});

test('legacy broadcast attributes: dropped when numpy-equivalent, refused clearly otherwise', () => {
  const build = (axis: number | undefined) => oldModel(6, [2, 3, 4], (b, x) => {
    const c = b.constant(tensor('float32', axis === undefined ? [4] : [3], axis === undefined ? [1, 2, 3, 4] : [1, 2, 3]));
    const g = rawNode(b, 'Gemm', [b.op('Flatten', [x]), b.constant(tensor('float32', [12, 2], new Array(24).fill(1))), b.constant(tensor('float32', [2], [1, 2]))], { broadcast: A.int(1) });
    return [rawNode(b, 'Add', [x, c], axis === undefined ? { broadcast: A.int(1) } : { broadcast: A.int(1), axis: A.int(axis) }, 'add_old'), g];
  });
  const up = upgradeToOpset18(build(undefined));
  for (const n of up.graph.nodes) assert.ok(!n.attrs.broadcast && (!n.attrs.axis || n.opType === 'Flatten'), `${n.opType} keeps broadcast`);
  // B of rank 1 aligned at the last axis is what numpy does anyway
  const ok = oldModel(6, [2, 3, 4], (b, x) => rawNode(b, 'Mul', [x, b.constant(tensor('float32', [4], [1, 2, 3, 4]))], { broadcast: A.int(1), axis: A.int(2) }));
  assert.equal(upgradeToOpset18(ok).graph.nodes[0].attrs.broadcast, undefined);
  assert.throws(() => upgradeToOpset18(build(1)), (e: unknown) => e instanceof GraphError && /add_old/.test(e.message) && /opset 7/.test(e.oneLine()));
});

test('subgraphs are upgraded too (If branches)', async () => {
  const branch = (name: string, axes: number[]) => {
    const b = new Builder(name, 11);
    b.graph.valueInfo.set('x', { name: 'x', dtype: 'float32', shape: [2, 3] });
    const y = b.op('Unsqueeze', [b.op('Neg', ['x'])], { axes });
    b.graph.outputs.push({ name: y, dtype: 'float32' });
    b.graph.valueInfo.clear();
    return b.graph;
  };
  const m = oldModel(11, [2, 3], (b, x) => {
    const cond = b.constant(tensor('bool', [], [1]));
    void x;
    return rawNode(b, 'If', [cond], { then_branch: A.graph(branch('then', [0])), else_branch: A.graph(branch('else', [0])) });
  });
  const up = await assertSameOutputs(m, { x: [2, 3] });
  const then = up.graph.nodes.find((n) => n.opType === 'If')!.attrs.then_branch;
  assert.ok(then.kind === 'graph' && then.value.nodes.every((n) => !n.attrs.axes));
});

const TEACHERS: [string, Record<string, number[]>][] = [
  ['mnist-cntk-opset7.onnx', { Input3: [1, 1, 28, 28] }],
  ['cifar10-winml-tutorial-cnn.onnx', { modelInput: [3, 3, 32, 32] }],
  ['fashion-mnist-simplecnn.onnx', { input: [128, 1, 28, 28] }],
  ['mobilenet_v2_1.0_224_int8_per_tensor.onnx', { 'serving_default_input_1:0': [2, 224, 224, 3] }],
];

for (const [file, dims] of TEACHERS) {
  test(`real teacher ${file}: same outputs at opset 18`, async (t) => {
    const path = assetsOrSkip(t, `teachers/${file}`);
    if (!path) return;
    const m = loadModel(path);
    const up = await assertSameOutputs(m, dims);
    assert.deepEqual(up.opsetImports.filter((o) => o.domain !== ''), m.opsetImports.filter((o) => o.domain !== ''));
  });
}
