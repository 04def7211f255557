// The evaluate() contract of the float64 reference interpreter (requested outputs,
// feeds, initializers, Constant nodes, unknown ops, conversions). The op-by-op
// comparisons with onnxruntime are in interp-{elementwise,nn,reduce,shape}.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { A } from '../../src/graph/ir.js';
import { f32, tensor } from '../../src/graph/tensor.js';
import { compareWithOrt } from './ort-compare.js';
import { evaluate, refFromTensor, refToF32, refToTensor, SUPPORTED_OPS } from './interp.js';

test('Constant node forms: value tensor, value_float(s), value_int(s)', () => compareWithOrt({
  inputs: [],
  build: (b) => [b.op('Constant', [], { value: f32([2], [1, 2]) }), b.op('Constant', [], { value_float: A.float(0.25) }),
    b.op('Constant', [], { value_floats: A.floats([1.5, -2.5]) }), b.op('Constant', [], { value_int: 3 }), b.op('Constant', [], { value_ints: [4, 5] })],
}));

test('evaluate: requested outputs only run their ancestors; unknown ops are named', () => {
  const b = new Builder('t');
  const x = b.input('x', 'float32', [2]);
  const y = b.op('Neg', [x]);
  const z = b.op('FancyOp', [x]);
  b.output(y);
  b.output(z);
  const feeds = { x: refFromTensor(f32([2], [1, -2])) };
  assert.deepEqual(Array.from(evaluate(b.graph, feeds, [y])[y].data), [-1, 2]);
  assert.throws(() => evaluate(b.graph, feeds), /FancyOp/);
  assert.throws(() => evaluate(b.graph, {}, [y]), /no feed for graph input 'x'/);
});

test('evaluate reads initializers and returns copies; refToF32 converts', () => {
  const b = new Builder('t');
  const w = b.initializer('w', f32([2], [3, 4]));
  const y = b.op('Identity', [w]);
  b.output(y);
  const out = evaluate(b.graph, {})[y];
  out.data[0] = 99;
  assert.deepEqual(Array.from(evaluate(b.graph, {})[y].data), [3, 4]);
  assert.deepEqual(refToF32(out), { dtype: 'float32', dims: [2], data: new Float32Array([99, 4]) });
  assert.ok(SUPPORTED_OPS.includes('Conv') && SUPPORTED_OPS.includes('ScatterElements'));
});

test('evaluate accepts feeds for initializers and intermediates, and int64 feeds keep their dtype', () => {
  const b = new Builder('t');
  const x = b.input('x', 'int64', [3]);
  const w = b.initializer('w', tensor('int64', [3], [2, 2, 2]));
  const q = b.op('Div', [x, w]);
  const y = b.op('Cast', [q], { to: 1 });
  b.output(y);
  const feeds = { x: { dims: [3], data: Float64Array.of(7, -7, 1) } };
  assert.deepEqual(Array.from(evaluate(b.graph, feeds)[y].data), [3, -3, 0]);
  assert.deepEqual(Array.from(evaluate(b.graph, { ...feeds, w: { dims: [1], data: Float64Array.of(-1), dtype: 'int64' } })[y].data), [-7, 7, -1]);
  assert.deepEqual(Array.from(evaluate(b.graph, { ...feeds, [q]: { dims: [1], data: Float64Array.of(5) } })[y].data), [5]);
});

test('refFromTensor decodes int64, float16 and bool; refToTensor round-trips', () => {
  assert.deepEqual(Array.from(refFromTensor(tensor('int64', [2], [-3, 5])).data), [-3, 5]);
  assert.deepEqual(Array.from(refFromTensor({ dtype: 'float16', dims: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x3555) }).data),
    [1, -2, 0.333251953125]);
  assert.deepEqual(Array.from(refFromTensor(tensor('bool', [2], [1, 0])).data), [1, 0]);
  const t = refToTensor({ dims: [2], data: Float64Array.of(4, -1), dtype: 'int64' });
  assert.deepEqual(t, tensor('int64', [2], [4, -1]));
});

test('Conv rejects weights whose channels do not fit the groups', () => {
  const b = new Builder('t');
  const x = b.input('x', 'float32', [1, 4, 3, 3]);
  const y = b.op('Conv', [x, b.initializer('w', f32([2, 3, 1, 1], [1, 1, 1, 1, 1, 1]))], { group: 2 });
  b.graph.outputs.push({ name: y, dtype: 'float32' });
  assert.throws(() => evaluate(b.graph, { x: { dims: [1, 4, 3, 3], data: new Float64Array(36) } }), /Conv node .*does not fit 4 channels in 2 groups/);
});
