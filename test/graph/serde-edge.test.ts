// IR -> bytes -> IR round trips of the values that are easy to get wrong: empty strings,
// 16-bit float bit patterns, 64-bit integers beyond 2^53, empty tensors, subgraphs,
// untyped value infos, and external data inside subgraphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/graph/serde.js';
import { A, emptyGraph, newModel, type Graph, type Model, type Tensor } from '../../src/graph/ir.js';
import { f32 } from '../../src/graph/tensor.js';
import { GraphError } from '../../src/errors.js';

const roundTrip = (m: Model): Model => decodeModel(encodeModel(m));

function withInitializers(tensors: Record<string, Tensor>): Model {
  const g = emptyGraph('edge');
  for (const [k, v] of Object.entries(tensors)) g.initializers.set(k, v);
  g.outputs.push({ name: Object.keys(tensors)[0], dtype: 'float32', shape: [] });
  return newModel(g, 18);
}

test('edge: tensors of every dtype keep their exact bits', () => {
  const m = withInitializers({
    f32: { dtype: 'float32', dims: [3], data: new Float32Array(new Uint32Array([0x7fc00001, 0x80000000, 0x00000001]).buffer) },
    f64: { dtype: 'float64', dims: [2], data: Float64Array.from([Number.MIN_VALUE, -Infinity]) },
    f16: { dtype: 'float16', dims: [4], data: Uint16Array.from([0x7e01, 0x8000, 0x7c00, 0x0001]) },
    bf16: { dtype: 'bfloat16', dims: [1], data: Uint16Array.from([0xffc1]) },
    i64: { dtype: 'int64', dims: [3], data: BigInt64Array.from([2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n]) },
    u64: { dtype: 'uint64', dims: [1], data: BigUint64Array.from([2n ** 64n - 1n]) },
    i32: { dtype: 'int32', dims: [1], data: Int32Array.from([-(2 ** 31)]) },
    u32: { dtype: 'uint32', dims: [1], data: Uint32Array.from([2 ** 32 - 1]) },
    i16: { dtype: 'int16', dims: [1], data: Int16Array.from([-32768]) },
    u16: { dtype: 'uint16', dims: [1], data: Uint16Array.from([65535]) },
    i8: { dtype: 'int8', dims: [1], data: Int8Array.from([-128]) },
    u8: { dtype: 'uint8', dims: [2, 0], data: new Uint8Array(0) },
    bool: { dtype: 'bool', dims: [], data: Uint8Array.from([1]) },
    str: { dtype: 'string', dims: [5], data: ['', 'a', '', 'héllo ✓', ''] },
    emptyStr: { dtype: 'string', dims: [0], data: [] },
  });
  assert.deepStrictEqual(roundTrip(m), m);
});

test('edge: attributes, subgraphs, metadata and opsets round-trip', () => {
  const body = emptyGraph('body');
  body.inputs.push({ name: 'i', dtype: 'int64', shape: [] }, { name: 'c', dtype: 'bool', shape: [] });
  body.outputs.push({ name: 'c', dtype: 'bool', shape: [] });
  body.initializers.set('k', f32([2], [1, 2]));
  const g = emptyGraph('main');
  g.nodes.push({
    opType: 'Custom', domain: 'com.example', name: 'n0', inputs: ['', 'x'], outputs: ['y', ''],
    attrs: {
      f: A.float(0.25), i: A.int(-(2 ** 53) + 1), s: A.string(''), ints: A.ints([]), floats: A.floats([1.5, -0]),
      strings: { kind: 'strings', value: ['', 'x', ''] }, t: A.tensor(f32([1], [3])), g: A.graph(body),
      gs: { kind: 'graphs', value: [body, emptyGraph('other')] },
    },
  });
  g.valueInfo.set('y', { name: 'y', dtype: 'float16', shape: ['batch', null, 0], denotation: 'TENSOR' });
  g.valueInfo.set('untyped', { name: 'untyped', dtype: 'float32', opaqueType: null });
  g.docString = 'graph doc';
  const m = newModel(g, 18);
  m.opsetImports.push({ domain: 'com.example', version: 3 });
  m.metadata = { a: '1', empty: '' };
  m.docString = 'model doc';
  m.modelVersion = 7;
  assert.deepStrictEqual(roundTrip(m), m);
});

test('edge: float attributes are float32 on the wire', () => {
  const g = emptyGraph('f');
  g.nodes.push({ opType: 'LeakyRelu', domain: '', name: 'n', inputs: ['x'], outputs: ['y'], attrs: { alpha: A.float(0.1) } });
  const back = roundTrip(newModel(g)).graph.nodes[0].attrs.alpha;
  assert.deepEqual(back, { kind: 'float', value: Math.fround(0.1) });
});

test('edge: a tensor whose data does not match its dims is refused on encode', () => {
  const m = withInitializers({ bad: { dtype: 'float32', dims: [2, 2], data: new Float32Array(3) } });
  assert.throws(() => encodeModel(m), (e: unknown) => e instanceof GraphError && /tensor 'bad'/.test(e.message));
});

test('edge: external data also serves initializers of subgraphs; no temporary files remain', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serde-edge-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const body: Graph = emptyGraph('then');
  body.initializers.set('big', f32([512], Array.from({ length: 512 }, (_, i) => i)));
  body.outputs.push({ name: 'big', dtype: 'float32', shape: [512] });
  const g = emptyGraph('main');
  g.inputs.push({ name: 'cond', dtype: 'bool', shape: [] });
  g.outputs.push({ name: 'out', dtype: 'float32', shape: [512] });
  g.nodes.push({ opType: 'If', domain: '', name: 'if', inputs: ['cond'], outputs: ['out'], attrs: { then_branch: A.graph(body), else_branch: A.graph(body) } });
  const m = newModel(g, 18);
  const file = path.join(dir, 'm.onnx');
  saveModel(m, file, { externalData: { file: 'm.data' } });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['m.data', 'm.onnx']);
  assert.equal(fs.statSync(path.join(dir, 'm.data')).size, 4096 + 2048, 'two page-aligned copies');
  assert.deepStrictEqual(loadModel(file), m);
  // saving again over the same files works and stays atomic
  saveModel(m, file, { externalData: { file: 'm.data' } });
  assert.deepStrictEqual(loadModel(file), m);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['m.data', 'm.onnx']);
});
