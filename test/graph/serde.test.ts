// Round trip of the real teachers: decode -> encode must not change what the model
// computes (bit-identical outputs in onnxruntime) nor the IR (decode again = deep-equal),
// also when the weights go through an external data file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../src/graph/serde.js';
import { allocData, dataToBytes } from '../../src/graph/tensor.js';
import { numel, type Model, type Tensor } from '../../src/graph/ir.js';
import { createSession } from '../../src/runtime/session.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { rng } from '../helpers/rand.js';

const TEACHERS = [
  'mnist-cntk-opset7.onnx',
  'cifar10-winml-tutorial-cnn.onnx',
  'fashion-mnist-simplecnn.onnx',
  'mobilenet_v2_1.0_224_int8_per_tensor.onnx',
];

/** Deterministic pseudo-random feeds for the model's real inputs (not initializer-inputs
 * of old IR versions); symbolic dims get 2, fixed ones (mnist-cntk's batch 1) are kept. */
function feedsFor(model: Model, seed = 7): Record<string, Tensor> {
  const rand = rng(seed);
  const feeds: Record<string, Tensor> = {};
  for (const vi of model.graph.inputs) {
    if (model.graph.initializers.has(vi.name)) continue;
    const dims = (vi.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : 2));
    const data = allocData(vi.dtype, numel(dims));
    for (let i = 0; i < data.length; i++) {
      if (data instanceof Float32Array || data instanceof Float64Array) data[i] = rand() * 2 - 1;
      else if (data instanceof BigInt64Array) data[i] = BigInt(Math.floor(rand() * 10));
      else if (data instanceof Uint8Array) data[i] = Math.floor(rand() * 256);
      else throw new Error(`test feeds: add a generator for ${vi.dtype} (${vi.name})`);
    }
    feeds[vi.name] = { dtype: vi.dtype, dims, data };
  }
  return feeds;
}

async function runBytes(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const session = await createSession(bytes, { ep: 'cpu', threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function assertBitIdentical(got: Record<string, Tensor>, want: Record<string, Tensor>, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: output names`);
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    assert.equal(g.dtype, w.dtype, `${what}: ${name} dtype`);
    assert.deepEqual(g.dims, w.dims, `${what}: ${name} dims`);
    const wb = Buffer.from(dataToBytes(w.data));
    assert.ok(wb.some((b) => b !== 0), `${what}: ${name} is all zeros, the comparison would prove nothing`);
    assert.ok(Buffer.from(dataToBytes(g.data)).equals(wb), `${what}: ${name} differs after the round trip`);
  }
}

for (const name of TEACHERS) {
  test(`serde round trip: ${name} gives bit-identical outputs in onnxruntime`, async (t) => {
    const file = assetsOrSkip(t, `teachers/${name}`);
    if (!file) return;
    const original = fs.readFileSync(file);
    const model = loadModel(file);
    const reencoded = encodeModel(model);
    const feeds = feedsFor(model);
    assertBitIdentical(await runBytes(reencoded, feeds), await runBytes(original, feeds), name);
  });

  test(`serde round trip: ${name} decode -> encode -> decode is deep-equal`, (t) => {
    const file = assetsOrSkip(t, `teachers/${name}`);
    if (!file) return;
    const model = loadModel(file);
    const again = decodeModel(encodeModel(model), { source: name });
    assert.deepStrictEqual(again, model);
    // and encoding is stable: a second pass gives the same bytes
    assert.ok(Buffer.from(encodeModel(again)).equals(Buffer.from(encodeModel(model))));
  });
}

test('serde external data: a teacher saved with external weights loads back identical and runs identical', async (t) => {
  const file = assetsOrSkip(t, 'teachers/cifar10-winml-tutorial-cnn.onnx');
  if (!file) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serde-ext-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = loadModel(file);
  const out = path.join(dir, 'model.onnx');
  saveModel(model, out, { externalData: { file: 'weights.bin', dir } });

  assert.deepEqual(fs.readdirSync(dir).sort(), ['model.onnx', 'weights.bin'], 'no temporary files left behind');
  assert.ok(fs.statSync(out).size < 10_000, 'the weights went into weights.bin');
  assert.ok(fs.statSync(path.join(dir, 'weights.bin')).size >= 200_000);

  const back = loadModel(out);
  assert.deepStrictEqual(back, model);
  const feeds = feedsFor(model);
  assertBitIdentical(await runBytes(encodeModel(back), feeds), await runBytes(fs.readFileSync(file), feeds), 'external data');
});
