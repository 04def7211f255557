// Student presets: resnet and mobilenet build, train (a few SGD steps overfit one fixed
// batch), and their eval-mode graphs take the trained weights and run in onnxruntime.
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildStudent, studentPresets } from '../../src/graph/zoo/index.js';
import { mobilenetBlock } from '../../src/graph/zoo/mobilenet.js';
import { graphStats } from '../../src/graph/stats.js';
import { buildTrainStep } from '../../src/train/step.js';
import { StepRunner } from '../../src/train/runner.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { crossEntropy } from '../../src/train/objectives/ce.js';
import { createSession } from '../../src/runtime/session.js';
import { decodeModel, encodeModel } from '../../src/graph/serde.js';
import { newModel, type Graph } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { rng } from '../helpers/rand.js';

const B = 4, CLASSES = 5;

function fixedBatch(inputShape: number[]) {
  const r = rng(1234);
  const n = B * inputShape.reduce((a, d) => a * d, 1);
  return {
    input: tensor('float32', [B, ...inputShape], Array.from({ length: n }, () => r() * 2 - 1)),
    labels: tensor('int64', [B], [0, 1, 2, 3]),
    mask: tensor('float32', [B], new Array(B).fill(1)),
  };
}

const convOf = (g: Graph, weight: string) => g.nodes.find((n) => n.opType === 'Conv' && n.inputs[1] === weight)!;
const strideOf = (g: Graph, weight: string) => (convOf(g, weight).attrs.strides as { value: number[] }).value[0];

test('resnet and mobilenet are registered presets', () => {
  for (const name of ['mlp', 'convnet', 'resnet', 'mobilenet']) assert.ok(studentPresets().includes(name), name);
});

test('resnet: CIFAR layout (6n+2 layers, widths w/2w/4w, projection shortcuts only where the shape changes)', () => {
  const m = buildStudent('resnet', { inputShape: [3, 32, 32], numClasses: 10, batch: 1, mode: 'eval', seed: 1 });
  const g = m.graph;
  // 1 stem + 3 stages x 3 blocks x 2 convs + 2 projections; the head makes 20 weighted layers
  assert.equal(g.nodes.filter((n) => n.opType === 'Conv').length, 1 + 18 + 2);
  assert.deepEqual(g.initializers.get('s0.b0.c1.conv.weight')!.dims, [16, 16, 3, 3]);
  assert.deepEqual(g.initializers.get('s1.b0.c1.conv.weight')!.dims, [32, 16, 3, 3]);
  assert.deepEqual(g.initializers.get('s2.b2.c2.conv.weight')!.dims, [64, 64, 3, 3]);
  assert.deepEqual(g.initializers.get('s1.b0.proj.conv.weight')!.dims, [32, 16, 1, 1]);
  assert.ok(!g.initializers.has('s0.b0.proj.conv.weight') && !g.initializers.has('s1.b1.proj.conv.weight'));
  assert.equal(strideOf(g, 's1.b0.c1.conv.weight'), 2);
  assert.equal(strideOf(g, 's1.b0.proj.conv.weight'), 2);
  assert.equal(strideOf(g, 's1.b1.c1.conv.weight'), 1);
  assert.deepEqual(g.initializers.get('fc.weight')!.dims, [10, 64]);
  // the paper's ResNet-20 has 0.27M parameters; option B projections add 2,752
  assert.equal(graphStats(g).params, 269_722 + 2_752);
  // 28x28 inputs: 28 -> 14 -> 7, the projection and the strided 3x3 agree on 7
  const mn = buildStudent('resnet', { inputShape: [1, 28, 28], numClasses: 10, batch: 2, mode: 'eval', seed: 1, depth: 1 });
  assert.deepEqual(mn.graph.valueInfo.get(convOf(mn.graph, 's2.b0.proj.conv.weight').outputs[0])!.shape, [2, 64, 7, 7]);
});

test('mobilenet: depthwise convs have group = channels; strides stop at 4 px; stem stride 2 only above 32 px', () => {
  const m = buildStudent('mobilenet', { inputShape: [1, 28, 28], numClasses: 10, batch: 1, mode: 'eval', seed: 1 });
  const g = m.graph;
  const dw = convOf(g, 'b3.dw.conv.weight');
  assert.equal((dw.attrs.group as { value: number }).value, 64);
  assert.deepEqual(g.initializers.get('b3.dw.conv.weight')!.dims, [64, 1, 3, 3]);
  assert.deepEqual(g.initializers.get('b5.pw.conv.weight')!.dims, [256, 128, 1, 1]);
  assert.equal(strideOf(g, 'stem.conv.weight'), 1);
  assert.deepEqual([1, 3, 5].map((i) => strideOf(g, `b${i}.dw.conv.weight`)), [2, 2, 2]); // 28 -> 14 -> 7 -> 4
  const deep = buildStudent('mobilenet', { inputShape: [1, 28, 28], numClasses: 10, batch: 1, mode: 'eval', seed: 1, depth: 14, width: 4 });
  assert.equal(strideOf(deep.graph, 'b11.dw.conv.weight'), 1, 'a 4x4 map is not halved again');
  assert.deepEqual(mobilenetBlock(13), [32, 1]);
  const big = buildStudent('mobilenet', { inputShape: [3, 64, 64], numClasses: 10, batch: 1, mode: 'eval', seed: 1, depth: 2, width: 4 });
  assert.equal(strideOf(big.graph, 'stem.conv.weight'), 2);
});

test('presets build with a symbolic batch (for export) and run at any batch size', async () => {
  for (const name of ['resnet', 'mobilenet']) {
    const m = buildStudent(name, { inputShape: [3, 16, 16], numClasses: CLASSES, batch: 'N', mode: 'eval', seed: 1, width: 4, depth: 1 });
    // the batch stays free ('N', or null where Flatten's shape rule loses the symbol)
    const [batch, classes] = m.graph.outputs.find((o) => o.name === 'logits')!.shape!;
    assert.notEqual(typeof batch, 'number');
    assert.equal(classes, CLASSES);
    const session = await createSession(newModel(m.graph));
    for (const n of [1, 3]) {
      const out = await session.run({ input: tensor('float32', [n, 3, 16, 16], new Float32Array(n * 768).fill(0.5)) });
      assert.deepEqual(out.logits.dims, [n, CLASSES], name);
    }
    await session.release();
  }
});

for (const [name, inputShape, depth] of [['resnet', [3, 16, 16], 3], ['mobilenet', [1, 28, 28], 6]] as const) {
  test(`${name} trains: SGD overfits a fixed batch, and the eval graph runs the trained weights`, async () => {
    const opts = { inputShape: [...inputShape], numClasses: CLASSES, batch: B, seed: 3, width: 4, depth };
    const model = buildStudent(name, { ...opts, mode: 'train' });
    const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('sgd', {}) });
    const runner = new StepRunner(step, await createSession(decodeModel(encodeModel(step.model))), model);
    const batch = fixedBatch([...inputShape]);
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) losses.push(Number((await runner.run(batch, [0.05])).loss.data[0]));
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[losses.length - 1] < 0.5 * losses[0], `loss did not go down: ${losses.map((l) => l.toFixed(3))}`);
    assert.ok(step.buffers.length > 0, 'BatchNorm running statistics are carried');

    const evalModel = buildStudent(name, { ...opts, mode: 'eval' });
    assert.deepEqual([...evalModel.graph.initializers.keys()].sort(), [...model.graph.initializers.keys()].sort());
    for (const [k, v] of runner.weights()) evalModel.graph.initializers.set(k, v);
    const session = await createSession(newModel(evalModel.graph));
    const out = await session.run({ input: batch.input });
    assert.deepEqual(out.logits.dims, [B, CLASSES]);
    assert.ok(Array.from(out.logits.data as Float32Array).every(Number.isFinite));
    await session.release();
    await runner.session.release();
  });
}
