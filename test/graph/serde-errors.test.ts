// Bad model files: truncated, garbage, empty, text, missing. Each must give a
// ModelFormatError whose message is one line and names the file, never a stack trace
// from protobuf or a bare exception; a small fuzz run checks the same for mutations.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel, loadModel } from '../../src/graph/serde.js';
import { A, emptyGraph, newModel, type Model } from '../../src/graph/ir.js';
import { f32, i64 } from '../../src/graph/tensor.js';
import { DistillError, ModelFormatError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { rng } from '../helpers/rand.js';

/** A small model with a bit of everything: initializers, attributes, a subgraph. */
function sampleModel(): Model {
  const g = emptyGraph('sample');
  g.inputs.push({ name: 'x', dtype: 'float32', shape: ['N', 4] });
  g.outputs.push({ name: 'y', dtype: 'float32', shape: ['N', 2] });
  g.initializers.set('W', f32([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
  g.initializers.set('shape', i64([2], [-1, 2]));
  const then = emptyGraph('then');
  then.outputs.push({ name: 't', dtype: 'float32', shape: [] });
  then.nodes.push({ opType: 'Constant', domain: '', name: 'c', inputs: [], outputs: ['t'], attrs: { value: A.tensor(f32([], [1])) } });
  g.nodes.push({ opType: 'MatMul', domain: '', name: 'mm', inputs: ['x', 'W'], outputs: ['xw'], attrs: {} });
  g.nodes.push({ opType: 'Reshape', domain: '', name: 'r', inputs: ['xw', 'shape'], outputs: ['y'], attrs: { allowzero: A.int(0) } });
  g.nodes.push({ opType: 'If', domain: '', name: 'if', inputs: ['cond'], outputs: ['z'], attrs: { then_branch: A.graph(then), else_branch: A.graph(then) } });
  return newModel(g, 18);
}

function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serde-bad-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** loadModel(file) must throw a one-line ModelFormatError that names the file. */
function assertBadFile(file: string): void {
  assert.throws(() => loadModel(file), (e: unknown) => {
    assert.ok(e instanceof ModelFormatError, `${file}: expected ModelFormatError, got ${String(e)}`);
    assert.ok(!e.oneLine().includes('\n'), `one line: ${e.oneLine()}`);
    assert.ok(e.message.includes(file), `'${e.message}' should name ${file}`);
    return true;
  });
}

test('bad files: truncated, garbage, empty, text and nonexistent paths give one-line ModelFormatErrors', (t) => {
  const dir = tmpDir(t);
  const write = (name: string, bytes: Uint8Array | string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const good = encodeModel(sampleModel());
  const rand = rng(99);
  const garbage = Uint8Array.from({ length: 5000 }, () => Math.floor(rand() * 256));
  assertBadFile(write('truncated.onnx', good.subarray(0, Math.floor(good.length / 2))));
  assertBadFile(write('garbage.onnx', garbage));
  assertBadFile(write('empty.onnx', new Uint8Array(0)));
  assertBadFile(write('text.onnx', 'this is not a model\nbut a text file\n'));
  assertBadFile(write('json.onnx', JSON.stringify({ irVersion: 8, graph: {} })));
  assertBadFile(path.join(dir, 'does-not-exist.onnx'));
  assertBadFile(dir); // a folder
});

test('bad files: the first 1000 bytes of a teacher', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const file = path.join(tmpDir(t), 'mnist-first-1000.onnx');
  fs.writeFileSync(file, fs.readFileSync(teacher).subarray(0, 1000));
  assertBadFile(file);
});

/** Decoding may succeed or fail, but failure must be a typed one-line error. */
function assertDecodesOrTypedError(bytes: Uint8Array, what: string): void {
  try {
    decodeModel(bytes, { source: what });
  } catch (e) {
    assert.ok(e instanceof DistillError, `${what}: untyped ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(!e.oneLine().includes('\n'), `${what}: ${e.oneLine()}`);
    assert.ok(e.message.includes(what), `${what}: '${e.message}' should name the source`);
  }
}

test('bad files: fuzzed truncations and byte mutations never escape as untyped errors', () => {
  const good = encodeModel(sampleModel());
  for (let cut = 0; cut < good.length; cut++) assertDecodesOrTypedError(good.subarray(0, cut), `cut-${cut}`);
  const rand = rng(2024);
  for (let k = 0; k < 2000; k++) {
    const bytes = Uint8Array.from(good);
    const flips = 1 + Math.floor(rand() * 3);
    for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    assertDecodesOrTypedError(bytes, `mutant-${k}`);
  }
});

test('bad files: fuzzed mutations of a real teacher', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const good = fs.readFileSync(teacher);
  const rand = rng(7);
  for (let k = 0; k < 300; k++) {
    const bytes = Uint8Array.from(good);
    // mutate the first 2 KB, where the graph structure (not weight values) lives
    for (let f = 0; f < 2; f++) bytes[Math.floor(rand() * 2048)] = Math.floor(rand() * 256);
    assertDecodesOrTypedError(bytes, `teacher-mutant-${k}`);
    assertDecodesOrTypedError(bytes.subarray(0, Math.floor(rand() * bytes.length)), `teacher-cut-${k}`);
  }
});
