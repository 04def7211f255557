// graphStats: parameter and FLOP counts against hand-computed values, on a tiny
// generated net (Builder shapes and re-inferred shapes must agree) and on a real teacher.
import test from 'node:test';
import assert from 'node:assert/strict';
import { graphStats } from '../../src/graph/stats.js';
import { inferShapes } from '../../src/graph/infer.js';
import { NetBuilder } from '../../src/graph/zoo/layers.js';
import { loadModel } from '../../src/graph/serde.js';
import { numel, opsetOf } from '../../src/graph/ir.js';
import { assetsOrSkip } from '../helpers/assets.js';

/** conv 3->4 k3 (bias) on 8x8, BN, ReLU, depthwise 3x3, 2x2 max pool, flatten, linear 64->10. */
function tiny(batch: number | string) {
  const net = new NetBuilder('tiny', 'eval', 1);
  const x = net.b.input('input', 'float32', [batch, 3, 8, 8]);
  let h = net.relu(net.bn(net.conv(x, 'conv', 4, 3, { bias: true }), 'bn'));
  h = net.maxPool(net.conv(h, 'dw', 4, 3, { groups: 4 }), 2);
  return net.finish(x, { logits: net.linear(net.o.flatten(h, 1), 'fc', 10) }).graph;
}

// Per sample, by the conventions in src/graph/stats.ts:
const HAND = {
  Conv: (2 * 4 * 8 * 8 * 3 * 9 + 4 * 8 * 8) + 2 * 4 * 8 * 8 * 9, // 3->4 with bias; depthwise: 9 MACs per output
  BatchNormalization: 2 * 4 * 8 * 8,
  Relu: 4 * 8 * 8,
  MaxPool: 4 * 4 * 4 * (2 * 2),
  Flatten: 0,
  Gemm: 2 * 10 * 64 + 10,
};
const HAND_TOTAL = Object.values(HAND).reduce((a, b) => a + b, 0);

test('tiny convnet: params, buffers and per-op FLOPs match the hand count', () => {
  const s = graphStats(tiny(1));
  assert.equal(s.params, (4 * 3 * 9 + 4) + (4 + 4) + 4 * 9 + (10 * 64 + 10));
  assert.equal(s.paramBytes, 4 * s.params);
  assert.equal(s.buffers, 8, 'BN running mean and variance');
  assert.equal(s.bufferBytes, 32);
  for (const [op, flops] of Object.entries(HAND)) assert.equal(s.perOp[op].flops, flops, op);
  assert.equal(s.perOp.Conv.count, 2);
  assert.equal(s.flops, HAND_TOTAL);
  assert.deepEqual(s.unknown, []);
});

test('FLOPs scale with a static batch; a symbolic batch is counted per sample or at `batch`', () => {
  assert.equal(graphStats(tiny(3)).flops, 3 * HAND_TOTAL);
  assert.equal(graphStats(tiny('N')).flops, HAND_TOTAL);
  assert.equal(graphStats(tiny('N'), { batch: 5 }).flops, 5 * HAND_TOTAL);
});

test('re-inferred shapes give the same counts as the Builder\'s', () => {
  const g = tiny(2);
  const fromBuilder = graphStats(g);
  g.valueInfo.clear();
  assert.deepEqual(graphStats(g), fromBuilder);
});

test('inferShapes binds symbolic input dims and leaves the graph untouched', () => {
  const g = tiny('N');
  const before = g.valueInfo.size;
  const logits = g.outputs.find((o) => o.name === 'logits')!.name;
  assert.deepEqual(inferShapes(g, 18, { bind: { N: 7 } }).get(logits)!.shape, [7, 10]);
  assert.deepEqual(inferShapes(g, 18, { bind: 1 }).get(logits)!.shape, [1, 10]);
  assert.equal(g.valueInfo.size, before);
});

test('fashion-mnist teacher: params are the initializers, FLOPs per sample by hand', (t) => {
  const file = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  if (!file) return;
  const model = loadModel(file);
  const s = graphStats(model.graph, { opset: opsetOf(model) });
  const total = [...model.graph.initializers.values()].reduce((a, init) => a + numel(init.dims), 0);
  assert.equal(s.params, total);
  assert.equal(s.params, 914_698);
  assert.equal(s.buffers, 0);
  // conv 1->32 (26x26), conv 32->64 (24x24), pool, conv 64->128 (10x10), pool, fc 3200->256->10
  const conv = (cout: number, side: number, cin: number) => 2 * cout * side * side * cin * 9 + cout * side * side;
  const expected = {
    Conv: conv(32, 26, 1) + conv(64, 24, 32) + conv(128, 10, 64),
    Relu: 32 * 26 * 26 + 64 * 24 * 24 + 128 * 10 * 10 + 256,
    MaxPool: 64 * 12 * 12 * 4 + 128 * 5 * 5 * 4,
    Gemm: (2 * 256 * 3200 + 256) + (2 * 10 * 256 + 10),
    LogSoftmax: 3 * 10,
  };
  for (const [op, flops] of Object.entries(expected)) assert.equal(s.perOp[op].flops, flops, op);
  assert.equal(s.flops, Object.values(expected).reduce((a, b) => a + b, 0));
  assert.deepEqual(s.unknown, []);
  assert.equal(model.graph.valueInfo.size, 0, 'stats do not write inferred shapes into the model');
});
