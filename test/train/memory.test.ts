// Memory stays flat over epochs: resident memory after each epoch of a small distill
// run must not creep upwards. Anything that keeps per-step tensors (feeds, outputs,
// checkpoints, metrics) alive grows by megabytes per epoch here; allocator warm-up in
// the first epochs is excluded by comparing the later epochs only.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { distill } from '../../src/train/distill.js';

test('resident memory stays flat from epoch 3 to epoch 10', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-test-'));
  try {
    const rss: number[] = [];
    await distill({
      teacher: 'models/mnist-teacher.onnx', data: 'mnist:0-1000', val: 'mnist:1000-1200', valSplit: 0, student: 'convnet', width: 4, depth: 2,
      objective: 'kd', objectiveOptions: {}, epochs: 10, batch: 32, lr: 3e-3, optimizer: 'adamw', weightDecay: 5e-4,
      warmupEpochs: 0.5, loopSteps: 1, seed: 1, augment: 'off', preprocessing: {}, ep: 'cpu', out: path.join(out, 'run'),
    }, { info: () => {}, epoch: (r) => rss.push(r.rssMiB) });
    assert.equal(rss.length, 10);
    const growth = rss[9] - rss[2];
    // 32 steps per epoch: a leak of one 128 KB tensor per step is 4 MiB per epoch, 28 MiB over 7 epochs
    assert.ok(growth < 16, `RSS grew by ${growth} MiB between epoch 3 and epoch 10: ${rss.join(', ')} MiB`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
