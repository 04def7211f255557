// Experiment (issue: calibrated distillation): on the CIFAR-10 training subset in the
// assets, evaluated on the CIFAR-10 test set, compare `kd` with `bdkd` offline (frozen
// teacher cifar10-winml-tutorial-cnn.onnx) and `dml` with `bdkd --online` (the same
// teacher fine-tuned alongside the student), same student and budget, 3 seeds: test
// accuracy and ECE of each. Writes the "CIFAR-10: calibration, bdkd vs kd and dml"
// section of docs/results.md.
//   npm run exp:calibration                # the recorded grid (about 25 min on 2 cores)
//   npm run exp:calibration -- --quick     # 1 seed, 1 epoch, 2,000 test images; records nothing
import fs from 'node:fs';
import path from 'node:path';
import { distill, type DistillConfig } from '../src/train/distill.js';
import { readDataset } from '../src/data/dataset-read.js';
import { evaluateModel, type EvalReport } from '../src/eval/evaluate.js';
import { writeFileAtomic } from '../src/util/fs-atomic.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const assets = process.env.ONNX_DISTILL_ASSETS ?? path.resolve('..', 'shared', 'assets');
const teacher = path.join(assets, 'teachers/cifar10-winml-tutorial-cnn.onnx');
if (!fs.existsSync(teacher)) {
  console.error(`shared assets not found at ${assets}: set ONNX_DISTILL_ASSETS`);
  process.exit(2);
}
const seeds = quick ? [1] : [1, 2, 3];
const epochs = quick ? 1 : 6, width = 8, T = 4;
const prep = { mean: [0.5], std: [0.5] };
const runs: { name: string; objective: 'kd' | 'bdkd' | 'dml'; online: boolean; options: Record<string, number> }[] = [
  { name: 'kd (offline)', objective: 'kd', online: false, options: { alpha: 0.5, temperature: T } },
  { name: 'bdkd (offline)', objective: 'bdkd', online: false, options: { temperature: T } },
  { name: 'dml (online)', objective: 'dml', online: true, options: { temperature: 1 } },
  { name: 'bdkd (online)', objective: 'bdkd', online: true, options: { temperature: T } },
];
const root = path.join('.tmp', `exp-calibration-${Date.now()}`);
const testSet = await readDataset(path.join(assets, 'data/cifar10/test'), {});
const test = quick ? { ...testSet, n: 2000, pixels: testSet.pixels.subarray(0, 2000 * 3 * 32 * 32), labels: testSet.labels!.subarray(0, 2000), index: testSet.index.subarray(0, 2000) } : testSet;
const t00 = Date.now();

interface Row { name: string; seed: number; student: EvalReport; teacher?: EvalReport; minutes: number }
const rows: Row[] = [];
for (const seed of seeds) {
  for (const r of runs) {
    const label = `${r.name} seed ${seed}`;
    const t0 = Date.now();
    const cfg: DistillConfig = {
      teacher, data: path.join(assets, 'data/cifar10/train'), val: null, valSplit: 0.1, student: 'convnet', width, depth: 3,
      objective: r.objective, objectiveOptions: r.options, online: r.online, epochs, batch: 128, lr: 4e-3, optimizer: 'adamw', weightDecay: 5e-4,
      warmupEpochs: 0.3, loopSteps: 1, seed, augment: 'off', preprocessing: prep, ep: 'cpu', out: path.join(root, label.replace(/[^a-z0-9]+/gi, '-')),
    };
    const res = await distill(cfg, { info: (l) => console.error(`[${label}] ${l}`), epoch: (e) => console.error(`[${label}] epoch ${e.epoch + 1}: val ${(100 * e.val_top1).toFixed(2)}%`) });
    const student = await evaluateModel(res.student, test, { teacher, flags: {}, teacherFlags: prep, ep: 'cpu' });
    const online = r.online ? await evaluateModel(String(res.metrics.teacher), test, { flags: {}, teacherFlags: prep, ep: 'cpu' }) : undefined;
    rows.push({ name: r.name, seed, student, teacher: online, minutes: (Date.now() - t0) / 60000 });
    console.error(`[${label}] test top-1 ${pct(student.top1)}, ECE ${pct(student.ece)}${online ? `; online teacher ${pct(online.top1)}, ECE ${pct(online.ece)}` : ''}`);
  }
}
const totalMinutes = (Date.now() - t00) / 60000;
if (quick) {
  for (const r of rows) console.log(`${r.name} seed ${r.seed}: top-1 ${pct(r.student.top1)} ECE ${pct(r.student.ece)}`);
  process.exit(0);
}

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const ms = (xs: number[]) => `${pct(mean(xs))} ± ${(100 * sd(xs)).toFixed(2)}`;
const of = (name: string) => rows.filter((r) => r.name === name);
const stat = (name: string, key: string, who: 'student' | 'teacher' = 'student') => of(name).map((r) => Number(r[who]![key]));
const frozen = rows[0].student;
const table = runs.map((r) => `| ${r.name} | ${ms(stat(r.name, 'top1'))} | ${ms(stat(r.name, 'ece'))} | ${ms(stat(r.name, 'ece_adaptive'))} | ${mean(stat(r.name, 'nll')).toFixed(3)} | ${mean(stat(r.name, 'brier')).toFixed(3)} | ${r.online ? `${ms(stat(r.name, 'top1', 'teacher'))} / ECE ${ms(stat(r.name, 'ece', 'teacher'))}` : 'frozen'} | ${mean(of(r.name).map((x) => x.minutes)).toFixed(1)} min |`).join('\n');
const claim = (a: string, b: string) => {
  const dAcc = mean(stat(a, 'top1')) - mean(stat(b, 'top1')), dEce = mean(stat(a, 'ece')) - mean(stat(b, 'ece'));
  return `${a} vs ${b}: accuracy ${signed(dAcc)}, ECE ${signed(dEce)} → lower ECE at equal or better accuracy: ${dEce < 0 && dAcc >= -0.002 ? 'yes' : 'no'}`;
};
const section = `## CIFAR-10: calibration, bdkd vs kd and dml

Command: \`npm run exp:calibration\` (scripts/exp-calibration.ts), run on ${new Date().toISOString().slice(0, 10)}, 2-core CPU, ${totalMinutes.toFixed(1)} min in all.

- data: the assets' CIFAR-10 training subset (10,000 images), 10% held out for validation (best epoch), test on the 10,000 test images; input \`(x/255 - 0.5)/0.5\`; no augmentation
- teacher: cifar10-winml-tutorial-cnn.onnx, ${Number(frozen.teacher_params).toLocaleString()} parameters, frozen: ${pct(frozen.teacher_top1)} top-1, ECE ${pct(frozen.teacher_ece)} on the test set
- student: \`convnet\` width ${width} depth 3, ${Number(frozen.params).toLocaleString()} parameters; ${epochs} epochs, batch 128, AdamW, lr 4e-3, weight decay 5e-4, warm-up 0.3 epoch then cosine; seeds ${seeds.join(', ')}
- kd: alpha 0.5, T ${T}; bdkd: CE + T^2 (w_f KL(t||s) + w_r KL(s||t)), T ${T}, hard entropy-gap switch, favoured divergence weight 2, the other 1 (our reading of the paper, see src/train/objectives/bdkd.ts); dml: T 1; online runs fine-tune the same teacher file alongside the student at 0.1 x the student's learning rate, bdkd --online with beta 1
- ECE: 15 equal-width confidence bins; adaptive ECE: 15 equal-mass bins; NLL and Brier (multi-class) on the test set

| objective | test top-1 (mean ± sd) | ECE | adaptive ECE | NLL | Brier | teacher after training (online) | wall time per run |
|---|---|---|---|---|---|---|---|
${table}

The paper's claim, lower ECE at equal or better accuracy:
- ${claim('bdkd (offline)', 'kd (offline)')}
- ${claim('bdkd (online)', 'dml (online)')}
`;
const file = 'docs/results.md';
const current = fs.readFileSync(file, 'utf8');
const marker = '## CIFAR-10: calibration, bdkd vs kd and dml';
const start = current.indexOf(marker);
const next = start >= 0 ? current.indexOf('\n## ', start + marker.length) : -1;
writeFileAtomic(file, start < 0 ? current.trimEnd() + '\n\n' + section : current.slice(0, start) + section + (next >= 0 ? current.slice(next + 1) : ''));
console.log(section);

function pct(x: unknown): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a';
}
function signed(d: number): string {
  return `${d >= 0 ? '+' : '-'}${Math.abs(100 * d).toFixed(2)} pt`;
}
