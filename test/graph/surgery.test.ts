// Output-kind detection (graph and numbers), conversion to logits, classifier output
// choice and feature taps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { newModel, type Model } from '../../src/graph/ir.js';
import { loadModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import {
  classifyOutputValues, detectOutputKind, exposeOutputs, findClassifierOutput, isClassifierShape, toLogits,
} from '../../src/graph/surgery.js';
import { GraphError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';

/** x [N, 8] -> Gemm -> head(...) -> output 'y' */
function classifier(head: (b: Builder, logits: string) => string, shape: (number | string)[] = ['N', 8]): Model {
  const b = new Builder('cls');
  const x = b.input('x', 'float32', shape);
  const w = b.constant(tensor('float32', [8, 5], Array.from({ length: 40 }, (_, i) => Math.sin(i))));
  const logits = b.op('Gemm', [x, w]);
  b.output(head(b, logits), 'y');
  return newModel(b.graph);
}

test('detectOutputKind reads Softmax / LogSoftmax / Log(Softmax) through pass-through ops', () => {
  const q = (b: Builder, v: string) => {
    const s = b.constant(tensor('float32', [], [1 / 256]));
    const z = b.constant(tensor('uint8', [], [0]));
    return b.op('DequantizeLinear', [b.op('QuantizeLinear', [v, s, z]), s, z]);
  };
  const cases: [string, (b: Builder, l: string) => string, string][] = [
    ['plain', (_b, l) => l, 'logits'],
    ['softmax', (b, l) => b.op('Softmax', [l], { axis: 1 }), 'probabilities'],
    ['softmax + flatten + identity', (b, l) => b.op('Identity', [b.op('Flatten', [b.op('Softmax', [l])])]), 'probabilities'],
    ['quantized softmax (QDQ)', (b, l) => q(b, b.op('Softmax', [l])), 'probabilities'],
    ['log-softmax', (b, l) => b.op('LogSoftmax', [l], { axis: -1 }), 'log-probabilities'],
    ['log of softmax', (b, l) => b.op('Log', [b.op('Reshape', [b.op('Softmax', [l]), b.constant(tensor('int64', [2], [0, -1]))])]), 'log-probabilities'],
    ['sigmoid (multi-label)', (b, l) => b.op('Sigmoid', [l]), 'logits'],
    ['softmax then scaled', (b, l) => b.op('Mul', [b.op('Softmax', [l]), b.constant(tensor('float32', [], [2]))]), 'logits'],
  ];
  for (const [name, head, kind] of cases) assert.equal(detectOutputKind(classifier(head), 'y'), kind, name);
  assert.throws(() => detectOutputKind(classifier((_b, l) => l), 'nope'), GraphError);
});

const TEACHER_KINDS: [string, string, string][] = [
  ['cifar10-winml-tutorial-cnn.onnx', 'modelOutput', 'logits'],
  ['fashion-mnist-simplecnn.onnx', 'output', 'log-probabilities'],
  ['mobilenet_v2_1.0_224_int8_per_tensor.onnx', 'StatefulPartitionedCall:0', 'probabilities'],
  ['mnist-cntk-opset7.onnx', 'Plus214_Output_0', 'logits'],
];
for (const [file, output, kind] of TEACHER_KINDS) {
  test(`detectOutputKind on the real teacher ${file}: ${kind}`, (t) => {
    const path = assetsOrSkip(t, `teachers/${file}`);
    if (!path) return;
    const m = loadModel(path);
    assert.equal(findClassifierOutput(m).name, output);
    assert.equal(detectOutputKind(m, output), kind);
  });
}

function softmaxRows(logits: number[][]): number[][] {
  return logits.map((r) => {
    const m = Math.max(...r);
    const e = r.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / s);
  });
}

test('classifyOutputValues: probabilities, log-probabilities, logits', () => {
  const logits = [[2, -1, 0.5, 3], [0, 0, 1, -2], [-3, 4, 1, 1]];
  const p = softmaxRows(logits);
  const flat = (rows: number[][]) => Float32Array.from(rows.flat());
  assert.equal(classifyOutputValues(flat(logits), 4), 'logits');
  assert.equal(classifyOutputValues(flat(p), 4), 'probabilities');
  assert.equal(classifyOutputValues(flat(p.map((r) => r.map(Math.log))), 4), 'log-probabilities');
  // quantized probabilities (steps of 1/256) still sum to ~1
  assert.equal(classifyOutputValues(flat(p.map((r) => r.map((v) => Math.round(v * 256) / 256))), 4), 'probabilities');
  // one negative value is enough to rule out probabilities
  assert.equal(classifyOutputValues(flat([[0.5, 0.6, -0.1, 0]]), 4), 'logits');
  // a single class says nothing
  assert.equal(classifyOutputValues(Float32Array.from([1, 1]), 1), 'logits');
});

test('toLogits: softmax of the converted values gives back the probabilities', () => {
  const logits = [[2, -1, 0.5, 3], [0, 0, 1, -40]];
  const p = softmaxRows(logits);
  const back = toLogits(Float32Array.from(p.flat()), 'probabilities');
  const again = softmaxRows([Array.from(back.subarray(0, 4)), Array.from(back.subarray(4))]);
  again.flat().forEach((v, i) => assert.ok(Math.abs(v - p.flat()[i]) < 1e-6, `row value ${i}: ${v} vs ${p.flat()[i]}`));
  // a per-row constant apart from the original logits
  const d = Array.from(back.subarray(0, 4), (v, i) => v - logits[0][i]);
  assert.ok(Math.max(...d) - Math.min(...d) < 1e-5, 'constant offset per row');
  // exact zeros (quantized softmax) are floored, never -Infinity
  assert.ok(toLogits([0, 1], 'probabilities').every(Number.isFinite), 'finite logits');
  assert.deepEqual(Array.from(toLogits([-1, -2], 'log-probabilities')), [-1, -2]);
});

test('isClassifierShape / findClassifierOutput', () => {
  assert.ok(isClassifierShape(['N', 10]) && isClassifierShape([1, 10, 1, 1]), 'classifier shapes');
  assert.ok(!isClassifierShape(['N', 10, 7, 7]) && !isClassifierShape(['N', 1]) && !isClassifierShape(undefined), 'non-classifier shapes');
  const b = new Builder('two');
  const x = b.input('x', 'float32', ['N', 3, 4, 4]);
  b.output(b.op('Relu', [x]), 'feat');
  b.output(b.op('Flatten', [b.op('GlobalAveragePool', [x])]), 'scores');
  const m = newModel(b.graph);
  assert.equal(findClassifierOutput(m).name, 'scores');
  assert.equal(findClassifierOutput(m, 'feat').name, 'feat');
  const none = newModel((() => { const c = new Builder('n'); c.output(c.op('Relu', [c.input('x', 'float32', ['N', 3, 4, 4])]), 'f'); return c.graph; })());
  assert.throws(() => findClassifierOutput(none), (e: unknown) => e instanceof GraphError && /--output/.test(e.oneLine()));
});

test('exposeOutputs adds taps with their types; unknown names are errors naming the tensor', () => {
  const m = classifier((b, l) => b.op('Softmax', [b.op('Relu', [l], {}, { outputs: ['hidden'] })]));
  const out = exposeOutputs(m, ['hidden', 'y']);
  assert.deepEqual(out.graph.outputs.map((o) => o.name), ['y', 'hidden']);
  assert.deepEqual(out.graph.outputs[1].shape, ['N', 5]);
  assert.equal(m.graph.outputs.length, 1, 'the input model is untouched');
  assert.throws(() => exposeOutputs(m, ['hiden']), (e: unknown) => e instanceof GraphError && /'hiden'/.test(e.message) && /'hidden'/.test(e.oneLine()));
});
