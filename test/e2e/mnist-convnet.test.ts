// Acceptance for the training engine: a small convnet trained only through our
// generated ONNX train-step graphs reaches >= 97% on MNIST (t10k: first 8,000
// images train, last 2,000 test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { buildTrainStep } from '../../src/train/step.js';
import { StepRunner } from '../../src/train/runner.js';
import { applyWeights } from '../../src/train/weights.js';
import { createOptimizer } from '../../src/train/optim/index.js';
import { crossEntropy } from '../../src/train/objectives/ce.js';
import { createSession } from '../../src/runtime/session.js';
import { newModel } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { Rng } from '../../src/util/rng.js';
import { assetsDir, loadMnistT10k } from '../helpers/mnist.js';

const dir = assetsDir();

test('convnet trained by the engine reaches >= 97% on MNIST t10k split', { skip: dir ? false : 'shared assets not found: set ONNX_DISTILL_ASSETS' }, async () => {
  const { images, labels } = loadMnistT10k(dir!);
  const B = 64, K = 8, EPOCHS = 3, NTRAIN = 8000;
  const opts = { inputShape: [1, 28, 28], numClasses: 10, mode: 'train' as const, seed: 1, width: 16, depth: 3 };
  const model = buildStudent('convnet', { ...opts, batch: B });
  const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', { weightDecay: 5e-4 }), loopSteps: K });
  const runner = new StepRunner(step, await createSession(step.model), model);
  const rng = new Rng(3);
  const perEpoch = Math.floor(NTRAIN / (B * K));
  const total = EPOCHS * perEpoch;
  let it = 0;
  for (let e = 0; e < EPOCHS; e++) {
    const order = Array.from({ length: NTRAIN }, (_, i) => i);
    rng.shuffle(order);
    for (let s = 0; s < perEpoch; s++) {
      const x = new Float32Array(K * B * 784), y = new BigInt64Array(K * B);
      for (let j = 0; j < K * B; j++) {
        const idx = order[s * K * B + j];
        x.set(images.subarray(idx * 784, idx * 784 + 784), j * 784);
        y[j] = BigInt(labels[idx]);
      }
      const lrs = Array.from({ length: K }, (_, k) => 3e-3 * 0.5 * (1 + Math.cos(Math.PI * (it * K + k) / (total * K))));
      await runner.run({
        input: tensor('float32', [K, B, 1, 28, 28], x), labels: { dtype: 'int64', dims: [K, B], data: y },
        mask: tensor('float32', [K, B], new Float32Array(K * B).fill(1)),
      }, lrs);
      it++;
    }
  }
  const evalModel = buildStudent('convnet', { ...opts, mode: 'eval', batch: 2000 });
  applyWeights(evalModel.graph, runner.weights());
  const session = await createSession(newModel(evalModel.graph));
  const out = await session.run({ input: tensor('float32', [2000, 1, 28, 28], images.subarray(8000 * 784)) });
  const logits = out.logits.data as Float32Array;
  let correct = 0;
  for (let i = 0; i < 2000; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
    if (best === labels[8000 + i]) correct++;
  }
  const acc = correct / 2000;
  console.log(`# MNIST convnet test accuracy: ${(acc * 100).toFixed(2)}%`);
  assert.ok(acc >= 0.97, `accuracy ${acc} below 0.97`);
});
