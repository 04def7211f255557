// freeBatch / fixBatch: symbolic batch where it is provably safe, refusal with a
// reason where it is not; freed models give per-sample results in onnxruntime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { newModel, type Model, type Tensor } from '../../src/graph/ir.js';
import { loadModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { fixBatch, freeBatch } from '../../src/graph/surgery.js';
import { createSession } from '../../src/runtime/session.js';
import { assetsOrSkip } from '../helpers/assets.js';

const seq = (n: number, f = 0.1) => Array.from({ length: n }, (_, i) => Math.sin(i * f + 1));

/** A small CNN with batch fixed at `b`: Conv -> Relu -> Reshape([b, 32]) -> MatMul -> Add([1, 3] bias). */
function fixedCnn(b: number, opts: { leading?: number[] } = {}): Model {
  const g = new Builder('fixed', 13);
  const x = g.input('x', 'float32', [b, 1, 4, 4]);
  const conv = g.op('Relu', [g.op('Conv', [x, g.constant(tensor('float32', [2, 1, 3, 3], seq(18)))], { pads: [1, 1, 1, 1] })]);
  const flat = g.op('Reshape', [conv, g.constant(tensor('int64', [2], opts.leading ?? [b, 32]))], {}, { name: 'flatten_fixed' });
  // a constant reshaped to a leading 1: not the batch, must stay as it is
  const bias = g.op('Reshape', [g.constant(tensor('float32', [3], [0.1, -0.2, 0.3])), g.constant(tensor('int64', [2], [1, 3]))], {}, { name: 'bias_reshape' });
  g.output(g.op('Add', [g.op('MatMul', [flat, g.constant(tensor('float32', [32, 3], seq(96, 0.37)))]), bias]), 'y');
  return newModel(g.graph, 13);
}

async function run(model: Model, x: Tensor): Promise<Float32Array> {
  const s = await createSession(model, { ep: 'cpu' });
  try {
    return (await s.run({ x }))['y'].data as Float32Array;
  } finally {
    await s.release();
  }
}

const input = (n: number) => tensor('float32', [n, 1, 4, 4], seq(n * 16, 0.71));

/** The freed model on a batch of `n` equals the original on chunks of its fixed size `b`. */
async function assertPerSample(original: Model, freed: Model, b: number, n: number): Promise<void> {
  const x = input(n);
  const all = await run(freed, x);
  for (let s = 0; s < n; s += b) {
    const chunk = tensor('float32', [b, 1, 4, 4], (x.data as Float32Array).subarray(s * 16, (s + b) * 16));
    const want = await run(original, chunk);
    want.forEach((v, i) => assert.ok(Math.abs(v - all[s * 3 + i]) < 1e-5, `sample ${s}: ${v} vs ${all[s * 3 + i]}`));
  }
}

test('freeBatch frees a batch fixed at 1: symbolic dims, Reshape target rewritten, constants untouched', async () => {
  const m = fixedCnn(1);
  const r = freeBatch(m);
  assert.ok(r.safe && r.changed, r.why);
  assert.equal(r.fixedBatch, 1);
  assert.deepEqual(r.model.graph.inputs[0].shape, ['N', 1, 4, 4]);
  assert.deepEqual(r.model.graph.outputs[0].shape, ['N', 3]);
  const node = (name: string) => r.model.graph.nodes.find((n) => n.name === name)!;
  const target = (name: string) => Array.from(r.model.graph.initializers.get(node(name).inputs[1])!.data as BigInt64Array, Number);
  assert.deepEqual(target('flatten_fixed'), [0, 32]);
  assert.deepEqual(target('bias_reshape'), [1, 3]);
  assert.match(r.why!, /flatten_fixed/);
  assert.deepEqual(m.graph.inputs[0].shape, [1, 1, 4, 4], 'the input model is untouched');
  await assertPerSample(m, r.model, 1, 5);
});

test('freeBatch frees a batch fixed at 2 the same way', async () => {
  const m = fixedCnn(2);
  const r = freeBatch(m);
  assert.ok(r.safe, r.why);
  await assertPerSample(m, r.model, 2, 6);
});

test('freeBatch accepts targets that already copy (0) or infer (-1) the batch', () => {
  for (const leading of [[0, 32], [-1, 32], [1, -1]]) {
    const r = freeBatch(fixedCnn(1, { leading }));
    assert.ok(r.safe, `${leading}: ${r.why}`);
  }
});

/** x [1, 6] -> body -> y; batch fixed at 1. */
function tiny(body: (g: Builder, x: string) => string, opset = 13): Model {
  const g = new Builder('tiny', opset);
  const x = g.input('x', 'float32', [1, 6]);
  g.output(body(g, x), 'y');
  return newModel(g.graph, opset);
}

test('freeBatch refuses, with the reason, whatever would mix samples', () => {
  const i64 = (g: Builder, v: number[]) => g.constant(tensor('int64', [v.length], v));
  const cases: [string, (g: Builder, x: string) => string, RegExp][] = [
    ['reshape moving the batch', (g, x) => g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [x, i64(g, [3, 2])])], { perm: [1, 0] }), i64(g, [1, 6])]), /Reshape/],
    ['squeeze of every 1', (g, x) => g.op('Unsqueeze', [g.op('Squeeze', [g.op('Unsqueeze', [x, i64(g, [2])])]), i64(g, [0])]), /squeezes every size-1 axis/],
    ['reduce over the batch', (g, x) => g.op('Sub', [x, g.op('ReduceMean', [x, i64(g, [0])])]), /reduces over the batch/],
    ['concat with a constant row', (g, x) => g.op('Concat', [x, g.constant(tensor('float32', [1, 2], [1, 2]))], { axis: 1 }), /Concat/],
    ['softmax across the batch', (g, x) => g.op('Softmax', [x], { axis: 0 }), /normalises across the batch/],
    ['a per-sample constant', (g, x) => g.op('Add', [x, g.constant(tensor('float32', [2, 6], seq(12)))]), /broadcasts a constant/],
    ['shape arithmetic', (g, x) => g.op('Reshape', [x, g.op('Shape', [x])]), /computes with the batch size/],
  ];
  for (const [name, body, why] of cases) {
    const m = tiny(body);
    const r = freeBatch(m);
    assert.equal(r.safe, false, `${name}: should be unsafe`);
    assert.equal(r.changed, false, name);
    assert.equal(r.model, m, `${name}: model returned as is`);
    assert.match(r.why ?? '', why, name);
  }
});

test('freeBatch handles old Softmax (opset 11 coerces to 2-D at axis 1) and Flatten', () => {
  const m = tiny((g, x) => g.op('Softmax', [g.op('Flatten', [x])]), 11);
  assert.ok(freeBatch(m).safe, freeBatch(m).why);
});

test('freeBatch on a free batch: nothing to do, but stale fixed output dims are made symbolic', () => {
  const g = new Builder('free');
  const x = g.input('x', 'float32', ['batch', 6]);
  g.output(g.op('Relu', [x]), 'y');
  g.graph.outputs[0].shape = [128, 6];
  const r = freeBatch(newModel(g.graph));
  assert.ok(r.safe && r.changed, r.why);
  assert.deepEqual(r.model.graph.outputs[0].shape, ['batch', 6]);
  const again = freeBatch(r.model);
  assert.ok(again.safe && !again.changed, again.why);
});

test('fixBatch sets the batch symbol to a number; refuses a different fixed batch', () => {
  const g = new Builder('free');
  const x = g.input('x', 'float32', ['b', 6]);
  g.output(g.op('Relu', [x]), 'y');
  const fixed = fixBatch(newModel(g.graph), 4);
  assert.deepEqual(fixed.graph.inputs[0].shape, [4, 6]);
  assert.deepEqual(fixed.graph.outputs[0].shape, [4, 6]);
  assert.throws(() => fixBatch(fixedCnn(1), 4), /fixed at 1/);
});

test('real teacher mnist-cntk-opset7: batch 1 freed, the [1, 256] Reshape rewritten', (t) => {
  const path = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!path) return;
  const m = loadModel(path);
  const reshape = m.graph.nodes.find((n) => n.name === 'Times212_reshape0')!;
  assert.deepEqual(Array.from(m.graph.initializers.get(reshape.inputs[1])!.data as BigInt64Array, Number), [1, 256], 'the batch is baked in');
  const r = freeBatch(m);
  assert.ok(r.safe && r.changed, r.why);
  const after = r.model.graph.nodes.find((n) => n.name === 'Times212_reshape0')!;
  assert.deepEqual(Array.from(r.model.graph.initializers.get(after.inputs[1])!.data as BigInt64Array, Number), [0, 256]);
  // the weight reshape [256, 10] of Parameter193 does not involve the batch
  const w = r.model.graph.nodes.find((n) => n.name === 'Times212_reshape1')!;
  assert.equal(w.inputs[1], 'Parameter193_reshape1_shape');
  assert.deepEqual(r.model.graph.valueInfo.get('Pooling160_Output_0')!.shape, ['N', 16, 4, 4]);
});

test('real teachers with a free batch: fashion-mnist output 19 declared [128, 3200] is relabelled', (t) => {
  const path = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  if (!path) return;
  const r = freeBatch(loadModel(path));
  assert.ok(r.safe && r.changed, r.why);
  assert.deepEqual(r.model.graph.outputs.map((o) => o.shape), [['batch_size', 10], ['batch_size', 3200]]);
});
