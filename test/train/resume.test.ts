// `--resume` continues a run exactly: a run stopped mid-epoch (the trainer's
// shouldStop hook, as Ctrl-C does) and resumed gives the same per-epoch losses and
// the same final tensors as the run left alone, with the K-step Loop graph plus
// leftover single steps, and with augmentation (its RNG state must resume too).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { distill, type DistillConfig, type DistillLog } from '../../src/train/distill.js';
import { loadSafetensors } from '../../src/util/safetensors.js';
import { dataToBytes } from '../../src/graph/tensor.js';
import { assetsOrSkip } from '../helpers/assets.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function config(teacher: string, out: string, over: Partial<DistillConfig>): DistillConfig {
  return {
    teacher, data: 'mnist:0-600', val: 'mnist:600-800', valSplit: 0.1, student: 'convnet', width: 4, depth: 2,
    objective: 'kd', objectiveOptions: {}, epochs: 3, batch: 32, lr: 3e-3, optimizer: 'adamw', weightDecay: 5e-4,
    warmupEpochs: 0.5, loopSteps: 1, seed: 1, augment: 'off', preprocessing: {}, ep: 'cpu', out, ...over,
  };
}

/** A quiet log that counts training progress callbacks (one per step or K-step call). */
function counter(): DistillLog & { steps: number } {
  const log = {
    steps: 0,
    info: () => {},
    progress: (label: string) => { if (label === 'epoch') log.steps++; },
  };
  return log;
}

const epochLosses = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l)).filter((r) => r.type === 'epoch').map((r) => [r.epoch, r.step, r.loss, r.val_agreement]);

function assertSameTensors(a: string, b: string) {
  const ta = loadSafetensors(a).tensors, tb = loadSafetensors(b).tensors;
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort(), 'same tensor names');
  for (const [k, v] of ta) {
    const w = tb.get(k)!;
    assert.deepEqual(w.dims, v.dims, k);
    assert.ok(Buffer.from(dataToBytes(v.data)).equals(Buffer.from(dataToBytes(w.data))), `tensor '${k}' differs after resume`);
  }
}

/** Run A uninterrupted; run B stopped after `stopAfter` progress callbacks, then resumed. */
async function compare(t: test.TestContext, name: string, over: Partial<DistillConfig>, stopAfter: number) {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const a = path.join(tmp, `${name}-a`), b = path.join(tmp, `${name}-b`);
  const ra = await distill(config(teacher, a, over), counter());
  assert.equal(ra.stopped, false);

  const log = counter();
  const rb1 = await distill(config(teacher, b, over), log, { shouldStop: () => log.steps >= stopAfter });
  assert.equal(rb1.stopped, true, 'the first part of B stops');
  assert.equal(epochLosses(b).length, 1, 'stopped during the second epoch');
  assert.ok(fs.existsSync(path.join(b, 'checkpoint.safetensors')));
  assert.ok(!fs.existsSync(path.join(b, 'student.onnx')));
  const rb2 = await distill(config(teacher, b, over), counter(), { resume: true });
  assert.equal(rb2.stopped, false);

  assert.deepEqual(epochLosses(b), epochLosses(a), 'per-epoch losses after resume');
  assert.equal(epochLosses(a).length, 3);
  assertSameTensors(path.join(a, 'checkpoint.safetensors'), path.join(b, 'checkpoint.safetensors'));
  assertSameTensors(path.join(a, 'best.safetensors'), path.join(b, 'best.safetensors'));
  assert.ok(fs.readFileSync(path.join(a, 'student.onnx')).equals(fs.readFileSync(path.join(b, 'student.onnx'))), 'same student.onnx');
  assert.deepEqual(rb2.metrics, ra.metrics);
}

test('--resume of a finished run trains nothing more and keeps one record per epoch and one final record', async (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const dir = path.join(tmp, 'finished');
  const over = { epochs: 1, data: 'mnist:0-300', val: 'mnist:600-700' };
  const first = await distill(config(teacher, dir, over), counter());
  const ckpt = fs.readFileSync(path.join(dir, 'checkpoint.safetensors'));
  const log = counter();
  const again = await distill(config(teacher, dir, over), log, { resume: true });
  assert.equal(log.steps, 0, 'no training step');
  assert.deepEqual(again.metrics, first.metrics);
  assert.ok(fs.readFileSync(path.join(dir, 'checkpoint.safetensors')).equals(ckpt));
  const types = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).type);
  assert.deepEqual(types, ['epoch', 'final']);
});

// 600 samples in batches of 32: 19 steps per epoch, the last one short (24 samples, masked)
test('resume with single steps: stopped mid-epoch 2, same losses and tensors', (t) => compare(t, 'k1', {}, 19 + 7));

// K = 4: calls at batches 0, 4, 8, 12 (Loop) then 16, 17, 18 (single): 7 per epoch
test('resume with a 4-step Loop graph, stopped inside the Loop part', (t) => compare(t, 'k4', { loopSteps: 4 }, 7 + 2));
test('resume with a 4-step Loop graph, stopped inside the leftover single steps', (t) => compare(t, 'k4tail', { loopSteps: 4 }, 7 + 5));

test('resume with augmentation (random crop/flip, online teacher): same losses and tensors', (t) =>
  compare(t, 'aug', { augment: 'on', loopSteps: 4 }, 7 + 3));
