// Train-step composition: the K-step Loop equals K single steps bit for bit, the
// mask averages over real samples only, and parameters/buffers/state all advance.
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { buildTrainStep } from '../../src/train/step.js';
import { StepRunner } from '../../src/train/runner.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { crossEntropy } from '../../src/train/objectives/ce.js';
import { createSession } from '../../src/runtime/session.js';
import { encodeModel, decodeModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import type { Tensor } from '../../src/graph/ir.js';
import { rng } from '../helpers/rand.js';

const B = 6, K = 4;
const student = () => buildStudent('convnet', { inputShape: [1, 8, 8], numClasses: 3, batch: B, mode: 'train', seed: 7, width: 4, depth: 2 });

function batches(n: number) {
  const r = rng(99);
  return Array.from({ length: n }, () => ({
    input: tensor('float32', [B, 1, 8, 8], Array.from({ length: B * 64 }, () => r() * 2 - 1)),
    labels: tensor('int64', [B], Array.from({ length: B }, () => Math.floor(r() * 3))),
    mask: tensor('float32', [B], new Array(B).fill(1)),
  }));
}

function stack(ts: Tensor[]): Tensor {
  const n = ts[0].data.length;
  const out = ts[0].dtype === 'int64' ? new BigInt64Array(n * ts.length) : new Float32Array(n * ts.length);
  ts.forEach((t, i) => (out as Float32Array).set(t.data as Float32Array, i * n));
  return { dtype: ts[0].dtype, dims: [ts.length, ...ts[0].dims], data: out };
}

const bytes = (t: Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);

test('K-step Loop gives bit-identical parameters, buffers and state to K single steps', async () => {
  const data = batches(K);
  const lrs = [0.01, 0.008, 0.006, 0.004];
  const opt = createOptimizer('adamw', {});
  const m1 = student();
  const single = buildTrainStep({ model: m1, loss: crossEntropy, optimizer: opt, clipNorm: 5 });
  const r1 = new StepRunner(single, await createSession(single.model), m1);
  const losses1: number[] = [];
  for (let k = 0; k < K; k++) losses1.push(Number((await r1.run(data[k], [lrs[k]])).loss.data[0]));

  const m2 = student();
  const loop = buildTrainStep({ model: m2, loss: crossEntropy, optimizer: opt, clipNorm: 5, loopSteps: K });
  // the Loop graph must survive a serde round trip (house rule 2)
  const reloaded = decodeModel(encodeModel(loop.model));
  const r2 = new StepRunner(loop, await createSession(reloaded), m2);
  const out = await r2.run({ input: stack(data.map((d) => d.input)), labels: stack(data.map((d) => d.labels)), mask: stack(data.map((d) => d.mask)) }, lrs);

  assert.deepEqual(Array.from(out.loss.data as Float32Array), losses1);
  assert.equal(r1.values.size, r2.values.size);
  for (const [k, v] of r1.values) assert.ok(bytes(v).equals(bytes(r2.values.get(k)!)), `${k} differs between Loop and single steps`);
  assert.equal(r2.stepCount, K);
});

test('masked samples do not count: loss is the mean over unmasked samples', async () => {
  const m = student();
  const step = buildTrainStep({ model: m, loss: crossEntropy, optimizer: createOptimizer('sgd', {}) });
  const r = new StepRunner(step, await createSession(step.model), m);
  const d = batches(1)[0];
  d.mask = tensor('float32', [B], [1, 1, 0, 1, 0, 0]);
  const out = await r.run(d, [0]);
  const per = out.per_sample.data as Float32Array;
  const expected = (per[0] + per[1] + per[3]) / 3;
  assert.ok(Math.abs(Number(out.loss.data[0]) - expected) < 1e-6, `loss ${out.loss.data[0]} vs ${expected}`);
});

test('a step updates parameters and BatchNorm running statistics', async () => {
  const m = student();
  const step = buildTrainStep({ model: m, loss: crossEntropy, optimizer: createOptimizer('sgd', {}) });
  const r = new StepRunner(step, await createSession(step.model), m);
  const before = new Map([...r.values].map(([k, v]) => [k, bytes(v)]));
  await r.run(batches(1)[0], [0.1]);
  assert.ok(step.buffers.length > 0);
  for (const k of [...step.params, ...step.buffers]) assert.ok(!before.get(k)!.equals(bytes(r.values.get(k)!)), `${k} did not change`);
});
