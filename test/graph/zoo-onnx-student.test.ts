// `--student S.onnx`: a float ONNX model as the student. A preset saved to a file loads
// back with the same parameters and buffers, trains, and computes in eval mode what the
// file computes in onnxruntime; real exported models (PyTorch, opset 10) train; a model
// with an op autodiff cannot differentiate, or with the wrong class count or input
// shape, fails at once with a clear typed error.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { Builder } from '../../src/graph/builder.js';
import { graphStats } from '../../src/graph/stats.js';
import { exportInference } from '../../src/graph/export.js';
import { loadModel, saveModel } from '../../src/graph/serde.js';
import { newModel, type Model, type Tensor } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { buildTrainStep, type TrainableModel } from '../../src/train/step.js';
import { StepRunner } from '../../src/train/runner.js';
import { applyWeights } from '../../src/train/weights.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { crossEntropy } from '../../src/train/objectives/ce.js';
import { createSession } from '../../src/runtime/session.js';
import { GraphError, UsageError } from '../../src/errors.js';
import { rng } from '../helpers/rand.js';
import { assetsOrSkip } from '../helpers/assets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-student-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const B = 8, CLASSES = 3, SHAPE = [1, 8, 8];
const PRESET = { inputShape: SHAPE, numClasses: CLASSES, seed: 7, width: 4, depth: 2 };

function randomInput(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return tensor('float32', shape, Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => r() * 2 - 1));
}

/** The eval-mode convnet preset (batch 'N') with non-trivial BatchNorm statistics, saved to a file. */
function presetFile(): string {
  const file = path.join(tmp, 'convnet.onnx');
  if (fs.existsSync(file)) return file;
  const m = buildStudent('convnet', { ...PRESET, batch: 'N', mode: 'eval' });
  const r = rng(5);
  for (const [name, t] of m.graph.initializers) {
    if (name.endsWith('.running_mean')) m.graph.initializers.set(name, tensor('float32', t.dims, Array.from(t.data as Float32Array, () => r() - 0.5)));
    if (name.endsWith('.running_var')) m.graph.initializers.set(name, tensor('float32', t.dims, Array.from(t.data as Float32Array, () => 0.5 + r())));
  }
  saveModel(newModel(m.graph), file);
  return file;
}

async function runModel(model: Model, feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
  return (await createSession(model)).run(feeds, outputs);
}

const maxAbsDiff = (a: Tensor, b: Tensor) => {
  assert.deepEqual(a.dims, b.dims);
  let m = 0;
  (a.data as Float32Array).forEach((v, i) => (m = Math.max(m, Math.abs(v - (b.data as Float32Array)[i]))));
  return m;
};

async function trainSteps(model: TrainableModel, inputShape: number[], steps: number, classes: number, lr = 3e-3): Promise<number[]> {
  const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', {}) });
  const runner = new StepRunner(step, await createSession(step.model), model);
  const data = {
    input: randomInput([B, ...inputShape], 11),
    labels: tensor('int64', [B], Array.from({ length: B }, (_, i) => i % classes)),
    mask: tensor('float32', [B], new Array(B).fill(1)),
  };
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(Number((await runner.run(data, [lr])).loss.data[0]));
  return losses;
}

test('a saved preset loads as a student with the same parameters, buffers and no-decay set', () => {
  const file = presetFile();
  const preset = buildStudent('convnet', { ...PRESET, batch: B, mode: 'train' });
  const loaded = buildStudent(file, { ...PRESET, seed: 99, batch: B, mode: 'train' });
  assert.deepEqual([...loaded.params].sort(), [...preset.params].sort());
  assert.deepEqual(Object.keys(loaded.buffers!).sort(), Object.keys(preset.buffers!).sort());
  assert.deepEqual([...loaded.noDecay!].sort(), [...preset.noDecay!].sort());
  const count = (m: TrainableModel) => m.params.reduce((a, p) => a + m.graph.initializers.get(p)!.data.length, 0);
  assert.equal(count(loaded), graphStats(loadModel(file).graph).params);
  assert.equal(loaded.input, 'input');
  assert.deepEqual(loaded.outputs, { logits: 'logits', features: 'features' });
  // BatchNorm trains on batch statistics and updates its running statistics
  const bns = loaded.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
  assert.equal(bns.length, 4);
  for (const n of bns) assert.equal(n.outputs.length, 3);
  // initial weights are the file's, not the seed's
  const w = loadModel(file).graph.initializers.get('fc.weight')!;
  assert.deepEqual(Array.from(loaded.graph.initializers.get('fc.weight')!.data as Float32Array), Array.from(w.data as Float32Array));
});

test('the loaded student trains: AdamW lowers the loss on a fixed batch and updates the BatchNorm buffers', async () => {
  const model = buildStudent(presetFile(), { ...PRESET, batch: B, mode: 'train' });
  const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', {}) });
  const runner = new StepRunner(step, await createSession(step.model), model);
  const before = new Map([...runner.values].map(([k, v]) => [k, Float32Array.from(v.data as Float32Array)]));
  const data = { input: randomInput([B, ...SHAPE], 11), labels: tensor('int64', [B], [0, 1, 2, 0, 1, 2, 0, 1]), mask: tensor('float32', [B], new Array(B).fill(1)) };
  const losses: number[] = [];
  for (let s = 0; s < 20; s++) losses.push(Number((await runner.run(data, [0.01])).loss.data[0]));
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.ok(losses[19] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[19]}`);
  for (const k of step.buffers) assert.notDeepEqual(runner.values.get(k)!.data, before.get(k), `${k} did not change`);
});

test('eval mode computes what the file computes in onnxruntime; trained weights export like a preset', async () => {
  const file = presetFile();
  const x = randomInput([B, ...SHAPE], 3);
  const evalModel = buildStudent(file, { ...PRESET, batch: B, mode: 'eval' });
  const ours = await runModel(newModel(evalModel.graph), { input: x });
  const theirs = await runModel(loadModel(file), { input: x });
  assert.ok(maxAbsDiff(ours.logits, theirs.logits) <= 1e-5);
  assert.ok(maxAbsDiff(ours.features, theirs.features) <= 1e-5);

  // distill.ts's path: weights of the train graph -> the batch-'N' eval graph -> exportInference
  const train = buildStudent(file, { ...PRESET, batch: B, mode: 'train' });
  const step = buildTrainStep({ model: train, loss: crossEntropy, optimizer: createOptimizer('adamw', {}) });
  const runner = new StepRunner(step, await createSession(step.model), train);
  await runner.run({ input: x, labels: tensor('int64', [B], new Array(B).fill(1)), mask: tensor('float32', [B], new Array(B).fill(1)) }, [0.01]);
  const exp = buildStudent(file, { ...PRESET, batch: 'N', mode: 'eval' });
  applyWeights(exp.graph, runner.weights());
  const student = exportInference(exp.graph);
  assert.ok(!student.graph.nodes.some((n) => n.opType === 'BatchNormalization'), 'BatchNorm folded on export');
  const five = randomInput([5, ...SHAPE], 4);
  const out = await runModel(student, { input: five });
  assert.deepEqual(out.logits.dims, [5, CLASSES]);
  const ref = buildStudent(file, { ...PRESET, batch: 5, mode: 'eval' });
  applyWeights(ref.graph, runner.weights());
  assert.ok(maxAbsDiff(out.logits, (await runModel(newModel(ref.graph), { input: five })).logits) <= 1e-4);
});

test('an exported (BatchNorm-folded) preset loads with the parameter count of its weights', async () => {
  const file = path.join(tmp, 'convnet-exported.onnx');
  saveModel(exportInference(loadModel(presetFile()).graph), file);
  const model = buildStudent(file, { ...PRESET, batch: B, mode: 'train' });
  const count = model.params.reduce((a, p) => a + model.graph.initializers.get(p)!.data.length, 0);
  assert.equal(count, graphStats(loadModel(file).graph).params);
  assert.deepEqual(model.buffers, {});
  const losses = await trainSteps(model, SHAPE, 3, CLASSES);
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
});

test('PyTorch export (opset 10): cifar10-winml-tutorial-cnn trains as a student', async (t) => {
  const file = assetsOrSkip(t, 'teachers/cifar10-winml-tutorial-cnn.onnx');
  if (!file) return;
  const model = buildStudent(file, { inputShape: [3, 32, 32], numClasses: 10, batch: 4, mode: 'train', seed: 1 });
  const count = model.params.reduce((a, p) => a + model.graph.initializers.get(p)!.data.length, 0);
  assert.equal(count, graphStats(loadModel(file).graph).params);
  const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', {}) });
  const runner = new StepRunner(step, await createSession(step.model), model);
  const out = await runner.run({
    input: randomInput([4, 3, 32, 32], 8), labels: tensor('int64', [4], [0, 3, 5, 9]), mask: tensor('float32', [4], [1, 1, 1, 1]),
  }, [1e-3]);
  assert.ok(Number.isFinite(Number(out.loss.data[0])), `loss ${out.loss.data[0]}`);
});

test('a log-probabilities student (final LogSoftmax) gives logits; its extra outputs are dropped', async (t) => {
  const file = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  if (!file) return;
  const opts = { inputShape: [1, 28, 28], numClasses: 10, batch: 2, mode: 'eval' as const, seed: 1 };
  const m = buildStudent(file, opts);
  assert.deepEqual(m.graph.outputs.map((o) => o.name), ['logits', 'features']);
  assert.ok(!m.graph.nodes.some((n) => n.opType === 'LogSoftmax'));
  const x = randomInput([2, 1, 28, 28], 9);
  const logits = (await runModel(newModel(m.graph), { input: x })).logits.data as Float32Array;
  const theirs = await runModel(loadModel(file), { input: x }, ['output']);
  for (let r = 0; r < 2; r++) {
    const row = logits.subarray(r * 10, r * 10 + 10);
    const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
    row.forEach((v, c) => assert.ok(Math.abs(v - lse - (theirs.output.data as Float32Array)[r * 10 + c]) < 1e-4));
  }
});

/** input [N, 1, 4, 4] -> Conv -> (x.view(x.size(0), -1) as PyTorch exports it) -> `middle` -> Gemm -> Softmax */
function smallModel(file: string, middle: (b: Builder, h: string) => string): string {
  const b = new Builder('small');
  const r = rng(2);
  const init = (name: string, dims: number[]) => b.initializer(name, tensor('float32', dims, Array.from({ length: dims.reduce((a, d) => a * d, 1) }, () => r() - 0.5)));
  const x = b.input('pixels', 'float32', ['batch', 1, 4, 4]);
  const scaled = b.op('Mul', [x, b.constant(tensor('float32', [], [2]))]); // preprocessing scalar: not a parameter
  const h = b.op('Relu', [b.op('Conv', [scaled, init('conv.weight', [2, 1, 3, 3]), init('conv.bias', [2])], { pads: [1, 1, 1, 1] })]);
  const n = b.op('Gather', [b.op('Shape', [h]), b.constant(tensor('int64', [], [0]))], { axis: 0 });
  const target = b.op('Concat', [b.op('Unsqueeze', [n, b.constant(tensor('int64', [1], [0]))]), b.constant(tensor('int64', [1], [-1]))], { axis: 0 });
  const flat = b.op('Reshape', [h, target]);
  const clipped = b.op('Clip', [middle(b, flat), b.constant(tensor('float32', [], [-3])), b.constant(tensor('float32', [], [3]))]);
  b.output(b.op('Softmax', [b.op('Gemm', [clipped, init('fc.weight', [CLASSES, 32]), init('fc.bias', [CLASSES])], { transB: 1 })], { axis: 1 }), 'prob');
  saveModel(newModel(b.graph), file);
  return file;
}

test('shape arithmetic is folded, a final Softmax stripped, scalar constants left untrained', async () => {
  const file = smallModel(path.join(tmp, 'small.onnx'), (b, h) => b.op('Dropout', [h]));
  const opts = { inputShape: [1, 4, 4], numClasses: CLASSES, mode: 'train' as const, seed: 1 };
  const m = buildStudent(file, { ...opts, batch: B });
  assert.deepEqual([...m.params].sort(), ['conv.bias', 'conv.weight', 'fc.bias', 'fc.weight']);
  assert.deepEqual([...m.noDecay!].sort(), ['conv.bias', 'fc.bias']);
  assert.ok(!m.graph.nodes.some((n) => ['Softmax', 'Shape', 'Dropout'].includes(n.opType)));
  const losses = await trainSteps(m, opts.inputShape, 20, CLASSES, 0.02);
  assert.ok(losses[19] < losses[0], `loss ${losses[0]} -> ${losses[19]}`);
  // eval mode keeps the file's meaning: softmax of our logits is the file's output
  const x = randomInput([3, 1, 4, 4], 6);
  const ev = buildStudent(file, { ...opts, batch: 3, mode: 'eval' });
  const logits = (await runModel(newModel(ev.graph), { input: x })).logits.data as Float32Array;
  const prob = (await runModel(loadModel(file), { pixels: x })).prob.data as Float32Array;
  for (let r = 0; r < 3; r++) {
    const row = Array.from(logits.subarray(r * CLASSES, (r + 1) * CLASSES), Math.exp);
    const sum = row.reduce((a, v) => a + v, 0);
    row.forEach((v, c) => assert.ok(Math.abs(v / sum - prob[r * CLASSES + c]) < 1e-5));
  }
});

test('an op without a gradient rule fails up front naming the op and node; eval mode still builds', () => {
  const file = smallModel(path.join(tmp, 'topk.onnx'), (b, h) => {
    const [values] = b.opN('TopK', [h, b.constant(tensor('int64', [1], [32]))], { axis: 1 }, { numOutputs: 2, name: 'pick' });
    return values;
  });
  const opts = { inputShape: [1, 4, 4], numClasses: CLASSES, seed: 1 };
  assert.throws(() => buildStudent(file, { ...opts, batch: B, mode: 'train' }), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.match(e.message, /topk\.onnx: no gradient rule for op TopK \(node 'pick'\)/);
    assert.match(e.hint, /replace TopK in the student/);
    return true;
  });
  assert.equal(buildStudent(file, { ...opts, batch: B, mode: 'eval' }).params.length, 4);
});

test('wrong class count, wrong input shape and a missing file are usage errors saying what differs', () => {
  const file = presetFile();
  assert.throws(() => buildStudent(file, { ...PRESET, numClasses: 10, batch: B, mode: 'train' }),
    (e: unknown) => e instanceof UsageError && /predicts 3 classes .*have 10/.test(e.message));
  assert.throws(() => buildStudent(file, { ...PRESET, inputShape: [3, 8, 8], batch: B, mode: 'train' }),
    (e: unknown) => e instanceof UsageError && /samples of shape \[1,8,8\], but the data's samples are \[3,8,8\]/.test(e.message));
  const missing = path.join(tmp, 'nope.onnx');
  assert.throws(() => buildStudent(missing, { ...PRESET, batch: B, mode: 'train' }),
    (e: unknown) => e instanceof UsageError && e.message.includes(`'${missing}' does not exist`) && /convnet/.test(e.hint));
});

test('CNTK export (opset 7, batch fixed at 1, reshaped MatMul weight, [C, 1, 1] biases) trains as a student', async (t) => {
  const file = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!file) return;
  const model = buildStudent(file, { inputShape: [1, 28, 28], numClasses: 10, batch: B, mode: 'train', seed: 1 });
  const count = model.params.reduce((a, p) => a + model.graph.initializers.get(p)!.data.length, 0);
  assert.equal(count, graphStats(loadModel(file).graph).params);
  assert.deepEqual([...model.noDecay!].sort(), ['Parameter194', 'Parameter6', 'Parameter88']);
  const losses = await trainSteps(model, [1, 28, 28], 2, 10, 1e-3);
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
});
