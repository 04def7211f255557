// TeacherRunner: loading errors, output choice and kinds, batch freeing or splitting,
// feature taps, fp16 teachers, and the real teachers on their test sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from '../../src/graph/builder.js';
import { newModel, type Model, type Tensor } from '../../src/graph/ir.js';
import { loadModel, saveModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { readIdx } from '../../src/data/idx.js';
import { createSession } from '../../src/runtime/session.js';
import { TeacherRunner } from '../../src/runtime/teacher.js';
import { GraphError, ModelFormatError, UsageError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'teacher-test-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
function save(model: Model): string {
  const file = path.join(dir, `m${files++}.onnx`);
  saveModel(model, file);
  return file;
}

const seq = (n: number, f = 0.3) => Array.from({ length: n }, (_, i) => Math.sin(i * f + 0.5));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length, 'lengths');
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

/** x [b, 6] -> Relu -> MatMul [6, 4] -> head -> y. `mix` adds per-sample work the
 * batch analysis cannot prove per-sample: a [3, 2] transpose through Reshapes that
 * bake in the batch of 1 ('transpose'), or a Reshape to a computed Shape ('shape'). */
function linear(b: number | string, head: (g: Builder, v: string) => string = (_g, v) => v, mix?: 'transpose' | 'shape'): Model {
  const g = new Builder('lin');
  const x = g.input('x', 'float32', [b, 6]);
  let h = g.op('Relu', [x], {}, { outputs: ['hidden'] });
  const i64 = (v: number[]) => g.constant(tensor('int64', [v.length], v));
  if (mix === 'transpose') h = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [h, i64([3, 2])])], { perm: [1, 0] }), i64([1, 6])]);
  if (mix === 'shape') h = g.op('Reshape', [g.op('Neg', [h]), g.op('Shape', [h])]);
  g.output(head(g, g.op('MatMul', [h, g.constant(tensor('float32', [6, 4], seq(24)))])), 'y');
  return newModel(g.graph);
}

const batch = (n: number) => tensor('float32', [n, 6], seq(n * 6, 0.77));

test('--ep auto: a missing CUDA provider falls back to CPU with one log line', async () => {
  const logs: string[] = [];
  const r = await TeacherRunner.open(save(linear('N')), { ep: 'auto', onLog: (l) => logs.push(l) });
  if (r.ep === 'cpu') {
    assert.equal(logs.length, 1, logs.join('\n'));
    assert.match(logs[0], /CPU/);
    assert.ok(!logs[0].includes('\n'), 'one line');
  } else assert.equal(logs.length, 0);
  await r.release();
});

test('not an ONNX file: ModelFormatError, one line naming the file', async () => {
  const bad = path.join(dir, 'not-a-model.onnx');
  fs.writeFileSync(bad, 'this is not protobuf\n\n\x00\x01\x02');
  for (const file of [bad, path.join(dir, 'missing.onnx')]) {
    await assert.rejects(TeacherRunner.open(file, { ep: 'cpu' }), (e: unknown) =>
      e instanceof ModelFormatError && e.message.includes(file) && !e.oneLine().includes('\n'));
  }
});

test('a free-batch teacher: logits as produced, feature taps, errors for unknown taps and bad batches', async () => {
  const file = save(linear('N'));
  const r = await TeacherRunner.open(file, { ep: 'cpu', features: ['hidden'] });
  assert.equal(r.batchMode, 'free');
  assert.equal(r.outputKind, 'logits');
  assert.equal(r.numClasses, 4);
  assert.deepEqual(r.inputInfo, { dtype: 'float32', shape: ['N', 6] });
  const out = await r.run(batch(3));
  assert.deepEqual(out.raw.dims, [3, 4]);
  assert.equal(maxDiff(out.logits, out.raw.data as Float32Array), 0);
  assert.deepEqual(out.features!.hidden.dims, [3, 6]);
  await assert.rejects(r.run(tensor('float32', [3, 5], seq(15))), (e: unknown) => e instanceof UsageError && /\[N,6\]/.test(e.message));
  await assert.rejects(r.run(tensor('uint8', [1, 6], [1, 2, 3, 4, 5, 6])), UsageError);
  await r.release();
  await assert.rejects(TeacherRunner.open(file, { ep: 'cpu', features: ['hiddn'] }), (e: unknown) => e instanceof GraphError && /'hiddn'/.test(e.message));
  await assert.rejects(TeacherRunner.open(file, { ep: 'cpu', output: 'nope' }), (e: unknown) => e instanceof GraphError && /'nope'/.test(e.message));
});

/** Run the original model one fixed-size request at a time. */
async function perChunk(model: Model, x: Tensor, b: number, output = 'y', input = 'x'): Promise<Float32Array> {
  const s = await createSession(model, { ep: 'cpu' });
  const n = x.dims[0], per = x.data.length / n;
  const parts: number[] = [];
  for (let i = 0; i < n; i += b) {
    const rows = (x.data as Float32Array).slice(i * per, (i + b) * per);
    const out = await s.run({ [input]: tensor('float32', [b, ...x.dims.slice(1)], rows) });
    parts.push(...(out[output].data as Float32Array));
  }
  await s.release();
  return Float32Array.from(parts);
}

test('a batch fixed at 1 that can be freed runs the whole batch in one request', async () => {
  const m = linear(1);
  const logs: string[] = [];
  const r = await TeacherRunner.open(save(m), { ep: 'cpu', onLog: (l) => logs.push(l) });
  assert.equal(r.batchMode, 'freed');
  assert.equal(r.fixedBatch, 1);
  assert.deepEqual(r.inputInfo.shape, ['N', 6]);
  const x = batch(5);
  assert.ok(maxDiff((await r.run(x)).logits, await perChunk(m, x, 1)) < 1e-6, 'same as per-sample runs');
  assert.ok(logs.some((l) => /freed/.test(l)), logs.join('\n'));
  await r.release();
});

test('a batch fixed at 1 that cannot be freed: concurrent single-sample requests, same answers', async () => {
  const m = linear(1, undefined, 'transpose');
  const logs: string[] = [];
  const r = await TeacherRunner.open(save(m), { ep: 'cpu', onLog: (l) => logs.push(l), features: ['hidden'] });
  assert.equal(r.batchMode, 'split');
  assert.ok(logs.some((l) => /cannot be freed/.test(l) && /Reshape/.test(l)), logs.join('\n'));
  const x = batch(5);
  const out = await r.run(x);
  assert.ok(maxDiff(out.logits, await perChunk(m, x, 1)) < 1e-6, 'same as per-sample runs');
  assert.deepEqual(out.features!.hidden.dims, [5, 6]);
  assert.ok(maxDiff(out.features!.hidden.data as Float32Array, (x.data as Float32Array).map((v) => Math.max(v, 0))) < 1e-7, 'tap values');
  await r.release();
});

test('a batch fixed at 2 that cannot be freed: requests of 2, the last one padded', async () => {
  const m = linear(2, undefined, 'shape');
  const r = await TeacherRunner.open(save(m), { ep: 'cpu' });
  assert.equal(r.batchMode, 'split');
  const x = batch(5);
  const want = (await perChunk(m, batch(6), 2)).subarray(0, 5 * 4);
  const got = await r.run(x);
  assert.deepEqual(got.raw.dims, [5, 4]);
  assert.ok(maxDiff(got.logits, want) < 1e-6, 'same as the fixed-size runs');
  await r.release();
});

test('probabilities become logits (up to a row constant); a hand-made softmax is recognised from its values', async () => {
  const soft = linear('N', (g, v) => g.op('Softmax', [v], { axis: -1 }));
  const r = await TeacherRunner.open(save(soft), { ep: 'cpu' });
  assert.equal(r.outputKind, 'probabilities');
  const out = await r.run(batch(3));
  const raw = out.raw.data as Float32Array;
  assert.ok(maxDiff(out.logits, raw.map((p) => Math.log(Math.max(p, 1e-12)))) < 1e-6, 'log of probabilities');
  await r.release();

  const manual = linear('N', (g, v) => {
    const e = g.op('Exp', [v]);
    return g.op('Div', [e, g.op('ReduceSum', [e, g.constant(tensor('int64', [1], [1]))], { keepdims: 1 })]);
  });
  const logs: string[] = [];
  const m = await TeacherRunner.open(save(manual), { ep: 'cpu', onLog: (l) => logs.push(l) });
  assert.equal(m.outputKind, 'logits');
  const o2 = await m.run(batch(3));
  assert.equal(m.outputKind, 'probabilities');
  assert.ok(logs.some((l) => /look like probabilities/.test(l)), logs.join('\n'));
  assert.ok(maxDiff(o2.logits, out.logits) < 1e-5, 'same logits as the Softmax model');
  await m.release();
});

test('fp16 teachers: float16 outputs come back as float32; float32 batches are converted for fp16 inputs', async () => {
  // x -> MatMul -> (+ [1, 0, -1, 0.5]) -> LogSoftmax, in float32 or with fp16 inside
  const build = (inputDtype: 'float32' | 'float16', fp16: boolean) => {
    const g = new Builder('fp16');
    let x = g.input('x', inputDtype, ['N', 6]);
    if (inputDtype === 'float16') x = g.op('Cast', [x], { to: 1 });
    let h = g.op('MatMul', [x, g.constant(tensor('float32', [6, 4], seq(24)))]);
    if (fp16) h = g.op('Cast', [h], { to: 10 });
    const bias = fp16 ? tensor('float16', [4], [0x3c00, 0, 0xbc00, 0x3800]) : tensor('float32', [4], [1, 0, -1, 0.5]);
    g.output(g.op('LogSoftmax', [g.op('Add', [h, g.constant(bias)])], { axis: 1 }), 'y');
    return newModel(g.graph);
  };
  const half = (inputDtype: 'float32' | 'float16') => build(inputDtype, true);
  const ref = await TeacherRunner.open(save(build('float32', false)), { ep: 'cpu' });
  const want = (await ref.run(batch(3))).logits;
  await ref.release();
  for (const dtype of ['float32', 'float16'] as const) {
    const r = await TeacherRunner.open(save(half(dtype)), { ep: 'cpu' });
    assert.equal(r.outputKind, 'log-probabilities');
    assert.equal(r.inputInfo.dtype, dtype);
    const out = await r.run(batch(3));
    assert.equal(out.raw.dtype, 'float32');
    assert.ok(out.logits instanceof Float32Array);
    const d = maxDiff(out.logits, want);
    assert.ok(d < 2e-2, `${dtype} input: fp16 rounding only (max diff ${d})`);
    await r.release();
  }
});

// ---------------------------------------------------------------- real teachers

function idxBatch(images: { data: Uint8Array }, start: number, n: number): Tensor {
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = images.data[start * 784 + i] / 255;
  return tensor('float32', [n, 1, 28, 28], x);
}

function argmaxAccuracy(logits: Float32Array, labels: Uint8Array, c: number): number {
  let ok = 0;
  for (let k = 0; k < labels.length; k++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits[k * c + j] > logits[k * c + best]) best = j;
    if (best === labels[k]) ok++;
  }
  return ok / labels.length;
}

async function accuracy(r: TeacherRunner, images: { data: Uint8Array }, labels: Uint8Array, n: number, b = 250): Promise<{ acc: number; last: Float32Array }> {
  const all = new Float32Array(n * r.numClasses);
  for (let s = 0; s < n; s += b) all.set((await r.run(idxBatch(images, s, b))).logits, s * r.numClasses);
  return { acc: argmaxAccuracy(all, labels.subarray(0, n), r.numClasses), last: all };
}

test('mnist-cntk-opset7 (batch fixed at 1): a batch of 16 equals 16 single runs; 98.9% +- 1 on the first 1000', async (t) => {
  const file = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  const imgs = assetsOrSkip(t, 'data/mnist/t10k-images-idx3-ubyte.gz');
  if (!file || !imgs) return;
  const images = readIdx(imgs);
  const labels = readIdx(imgs.replace('images-idx3', 'labels-idx1')).data;
  const r = await TeacherRunner.open(file, { ep: 'cpu' });
  assert.equal(r.batchMode, 'freed');
  assert.equal(r.outputKind, 'logits');
  assert.equal(r.numClasses, 10);
  const x = idxBatch(images, 0, 16);
  const got = (await r.run(x)).logits;
  const want = await perChunk(loadModel(file), x, 1, 'Plus214_Output_0', 'Input3');
  assert.ok(maxDiff(got, want) < 1e-4, `batch of 16 vs single runs: ${maxDiff(got, want)}`);
  const { acc } = await accuracy(r, images, labels, 1000);
  assert.ok(Math.abs(acc - 0.989) <= 0.01, `accuracy ${acc}`);
  await r.release();
});

test('fashion-mnist-simplecnn: >= 88% on the first 1000, log-probability rows, the 3200-wide feature tap', async (t) => {
  const file = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  const imgs = assetsOrSkip(t, 'data/fashion-mnist/t10k-images-idx3-ubyte.gz');
  if (!file || !imgs) return;
  const images = readIdx(imgs);
  const labels = readIdx(imgs.replace('images-idx3', 'labels-idx1')).data;
  const r = await TeacherRunner.open(file, { ep: 'cpu', features: ['19'] });
  assert.equal(r.outputKind, 'log-probabilities');
  assert.equal(r.batchMode, 'free');
  const { acc, last } = await accuracy(r, images, labels, 1000);
  assert.ok(acc >= 0.88, `accuracy ${acc}`);
  for (let k = 0; k < 1000; k += 97) {
    const row = last.subarray(k * 10, k * 10 + 10);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    assert.ok(Math.abs(lse) < 1e-4, `row ${k}: logsumexp ${lse}`);
  }
  const out = await r.run(idxBatch(images, 0, 3));
  assert.deepEqual(out.features!['19'].dims, [3, 3200]);
  await r.release();
});

test('mobilenet_v2 int8: uint8 NHWC input, quantized probabilities converted to logits', async (t) => {
  const file = assetsOrSkip(t, 'teachers/mobilenet_v2_1.0_224_int8_per_tensor.onnx');
  if (!file) return;
  const logs: string[] = [];
  const r = await TeacherRunner.open(file, { ep: 'cpu', onLog: (l) => logs.push(l) });
  assert.equal(r.outputKind, 'probabilities');
  assert.equal(r.numClasses, 1000);
  assert.deepEqual(r.inputInfo.shape.slice(1), [224, 224, 3]);
  const n = 2, data = new Uint8Array(n * 224 * 224 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 >>> 24) & 255;
  const out = await r.run({ dtype: 'uint8', dims: [n, 224, 224, 3], data });
  const raw = out.raw.data as Float32Array;
  assert.ok(maxDiff(out.logits, raw.map((p) => Math.log(Math.max(p, 1e-12)))) < 1e-5, 'log of probabilities');
  assert.deepEqual(logs, [], 'values confirm the graph');
  await r.release();
});

test('cifar10-winml: free batch, logits as produced', async (t) => {
  const file = assetsOrSkip(t, 'teachers/cifar10-winml-tutorial-cnn.onnx');
  if (!file) return;
  const r = await TeacherRunner.open(file, { ep: 'cpu' });
  assert.equal(r.batchMode, 'free');
  assert.equal(r.outputKind, 'logits');
  const out = await r.run(tensor('float32', [3, 3, 32, 32], seq(3 * 3 * 32 * 32, 0.01)));
  assert.equal(maxDiff(out.logits, out.raw.data as Float32Array), 0);
  assert.ok(r.paramCount > 0, 'parameter count');
  await r.release();
});
