// External data is read from untrusted model files: paths that are absolute, climb out
// with '..', or leave through a symlink are refused before anything is read; missing,
// short or corrupt data files give an ExternalDataError naming the tensor and the path.
// Hostile models are made by saving a real one with saveModel and patching the location
// (or offset/length) string in the .onnx bytes with one of the same length.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, loadModel, saveModel } from '../../src/graph/serde.js';
import { emptyGraph, newModel, type Model } from '../../src/graph/ir.js';
import { f32 } from '../../src/graph/tensor.js';
import { ExternalDataError } from '../../src/errors.js';
import { createSession } from '../../src/runtime/session.js';

/** y = x @ W + B. W (48 bytes) goes external with minBytes 48; B (12 bytes) stays inline. */
function tinyModel(): Model {
  const g = emptyGraph('tiny');
  g.inputs.push({ name: 'x', dtype: 'float32', shape: [2, 4] });
  g.outputs.push({ name: 'y', dtype: 'float32', shape: [2, 3] });
  g.initializers.set('W', f32([4, 3], Array.from({ length: 12 }, (_, i) => (i - 5) / 7)));
  g.initializers.set('B', f32([3], [0.5, -1, 2]));
  g.nodes.push({ opType: 'MatMul', domain: '', name: 'mm', inputs: ['x', 'W'], outputs: ['xw'], attrs: {} });
  g.nodes.push({ opType: 'Add', domain: '', name: 'add', inputs: ['xw', 'B'], outputs: ['y'], attrs: {} });
  return newModel(g, 18);
}

/** A fresh folder tree: ROOT/model/ holds the model, ROOT/outside/ a valid copy of the data. */
function workspace(t: TestContext): { root: string; modelDir: string; outside: string } {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'serde-hostile-')));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const modelDir = path.join(root, 'model');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(modelDir);
  fs.mkdirSync(outside);
  return { root, modelDir, outside };
}

/** Save tinyModel with W in `dataName`; return the model file path. */
function saveTiny(modelDir: string, dataName: string, dir = modelDir, name = 'm.onnx'): string {
  const file = path.join(modelDir, name);
  saveModel(tinyModel(), file, { externalData: { file: dataName, dir, minBytes: 48 } });
  return file;
}

/** Replace the one occurrence of `from` in the file by `to` (same byte length). */
function patchOnce(file: string, from: string, to: string): void {
  const bytes = fs.readFileSync(file);
  const a = Buffer.from(from, 'utf8');
  const b = Buffer.from(to, 'utf8');
  assert.equal(a.length, b.length, 'patches must keep the length');
  const at = bytes.indexOf(a);
  assert.ok(at >= 0 && bytes.indexOf(a, at + 1) < 0, `'${from}' must occur exactly once in ${file}`);
  b.copy(bytes, at);
  fs.writeFileSync(file, bytes);
}

/** Saves the model with a data file name as long as `location`, then patches it in. */
function withLocation(modelDir: string, location: string): string {
  const placeholder = 'q'.repeat(Buffer.byteLength(location) - 4) + '.bin';
  const file = saveTiny(modelDir, placeholder);
  patchOnce(file, placeholder, location);
  return file;
}

function assertRefused(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ExternalDataError, `expected ExternalDataError, got ${String(e)}`);
    assert.ok(!e.oneLine().includes('\n'), 'one line');
    for (const p of parts) assert.ok(e.message.includes(p), `'${e.message}' should mention ${p}`);
    return true;
  });
}

test('external data: a saved model loads back deep-equal and runs the same as inline', async (t) => {
  const { modelDir } = workspace(t);
  const file = saveTiny(modelDir, 'weights.bin');
  assert.deepEqual(fs.readdirSync(modelDir).sort(), ['m.onnx', 'weights.bin']);
  const back = loadModel(file);
  assert.deepStrictEqual(back, tinyModel());
  const x = f32([2, 4], [1, 2, 3, 4, -1, -2, 0.5, 0.25]);
  const run = async (m: Model): Promise<Buffer> => {
    const s = await createSession(m, { ep: 'cpu' });
    try {
      const y = (await s.run({ x })).y;
      return Buffer.from((y.data as Float32Array).buffer);
    } finally {
      await s.release();
    }
  };
  assert.ok((await run(back)).equals(await run(tinyModel())));
});

test('external data: dir may be a subfolder of the model folder, never outside it', (t) => {
  const { modelDir, outside } = workspace(t);
  const file = saveTiny(modelDir, 'w.bin', path.join(modelDir, 'sub'));
  assert.ok(fs.existsSync(path.join(modelDir, 'sub', 'w.bin')));
  assert.deepStrictEqual(loadModel(file), tinyModel());
  assertRefused(() => saveTiny(modelDir, 'w.bin', outside), 'escapes the model folder');
  assertRefused(() => saveTiny(modelDir, '/abs/w.bin'), 'escapes the model folder');
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing written outside');
});

test('external data: an absolute location is refused, naming tensor and path', (t) => {
  const { modelDir, outside } = workspace(t);
  saveTiny(outside, 'secret.bin'); // valid data there, so refusal is not "missing"
  const target = path.join(outside, 'secret.bin');
  const file = withLocation(modelDir, target);
  assertRefused(() => loadModel(file), "'W'", target, 'absolute');
  // also when the bytes are decoded without a folder to resolve against
  assertRefused(() => decodeModel(fs.readFileSync(file), { source: 'bytes' }), "'W'", target, 'absolute');
});

test("external data: a location with '..' is refused, naming tensor and path", (t) => {
  const { modelDir, root } = workspace(t);
  saveTiny(root, 'x.bin'); // a valid data file at ROOT/x.bin, so refusal is not "missing"
  assertRefused(() => loadModel(withLocation(modelDir, '../x.bin')), "'W'", '../x.bin', 'escapes');
  assertRefused(() => loadModel(withLocation(modelDir, 'a/../../x.bin')), "'W'", 'a/../../x.bin');
  assertRefused(() => loadModel(withLocation(modelDir, '..\\x.bin')), "'W'", '..\\x.bin');
});

test('external data: a symlink inside the folder pointing outside is refused', (t) => {
  const { modelDir, outside } = workspace(t);
  const file = saveTiny(modelDir, 'link.bin');
  fs.renameSync(path.join(modelDir, 'link.bin'), path.join(outside, 'real.bin'));
  fs.symlinkSync(path.join(outside, 'real.bin'), path.join(modelDir, 'link.bin'));
  assertRefused(() => loadModel(file), "'W'", 'link.bin', 'outside the model folder');
  // a symlinked folder on the way is caught too
  const file2 = saveTiny(modelDir, 'w.bin', path.join(modelDir, 'sub'), 'm2.onnx');
  fs.renameSync(path.join(modelDir, 'sub', 'w.bin'), path.join(outside, 'w.bin'));
  fs.rmdirSync(path.join(modelDir, 'sub'));
  fs.symlinkSync(outside, path.join(modelDir, 'sub'));
  assertRefused(() => loadModel(file2), "'W'", 'sub/w.bin', 'outside the model folder');
  // while a symlink that stays inside the folder is fine
  fs.rmSync(path.join(modelDir, 'link.bin'));
  fs.copyFileSync(path.join(outside, 'real.bin'), path.join(modelDir, 'real.bin'));
  fs.symlinkSync('real.bin', path.join(modelDir, 'link.bin'));
  assert.deepStrictEqual(loadModel(file), tinyModel());
});

test('external data: a missing, short or directory data file is a clear error', (t) => {
  const { modelDir } = workspace(t);
  const file = saveTiny(modelDir, 'weights.bin');
  const data = path.join(modelDir, 'weights.bin');
  const full = fs.readFileSync(data);
  fs.rmSync(data);
  assertRefused(() => loadModel(file), "'W'", 'weights.bin', 'missing', file);
  fs.writeFileSync(data, full.subarray(0, 20));
  assertRefused(() => loadModel(file), "'W'", 'weights.bin', 'truncated');
  fs.rmSync(data);
  fs.mkdirSync(data);
  assertRefused(() => loadModel(file), "'W'", 'weights.bin', 'not a regular file');
});

test('external data: corrupt offset or length entries are refused before reading', (t) => {
  const { modelDir } = workspace(t);
  const cases: [string, string, string][] = [
    ['offset\x12\x010', 'offset\x12\x01x', "invalid offset 'x'"],
    ['offset\x12\x010', 'offset\x12\x01-', "invalid offset '-'"],
    ['offset\x12\x010', 'offset\x12\x019', 'truncated'],
    ['length\x12\x0248', 'length\x12\x02-1', "invalid length '-1'"],
    ['length\x12\x0248', 'length\x12\x0299', 'has length 99, its shape needs 48 bytes'],
    ['length\x12\x0248', 'length\x12\x021e', "invalid length '1e'"],
  ];
  for (const [from, to, why] of cases) {
    const file = saveTiny(modelDir, 'weights.bin');
    patchOnce(file, from, to);
    assertRefused(() => loadModel(file), "'W'", 'weights.bin', why);
  }
});

test('external data: odd locations give typed one-line errors, never a bare exception', (t) => {
  const { modelDir } = workspace(t);
  for (const location of ['nul\0.bin', 'C:\\w.bin', '\\\\srv\\x.bin', '././.', 'sub/.']) {
    const file = withLocation(modelDir, location);
    assert.throws(() => loadModel(file), (e: unknown) => e instanceof ExternalDataError && !e.oneLine().includes('\n'), JSON.stringify(location));
  }
});
