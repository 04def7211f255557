// Correctness on CUDA (issue "GPU execution: CUDA for the teacher and for training,
// measured against PyTorch"):
//  (a) every teacher in the shared assets gives the same logits on CUDA as on the CPU
//      on the first --samples samples of its data (the data and preprocessing of
//      test/e2e/teacher-accuracy.test.ts, read through openSource + preprocessingFor +
//      TeacherRunner, i.e. evaluate.ts's runOnData). Measure: the maximum over all
//      logits of |cuda - cpu| / max(1, |cpu|) (relative for logits above 1 in
//      magnitude, absolute below, so near-zero logits do not blow it up); pass if
//      <= 1e-3. Top-1 agreement is reported beside it.
//  (b) a short training run, the same on both: the convnet student on Fashion-MNIST
//      (train split, first steps * batch samples in file order), seed 1, batch 128,
//      AdamW (src/train/optim/adamw.ts defaults) at lr 1e-3, --steps optimizer steps
//      (default 50) through buildTrainStep + StepRunner. Per-step losses on CUDA and CPU
//      and the maximum over steps of |loss_cuda - loss_cpu| / |loss_cpu|; pass if
//      <= 1e-2 (TRAIN_TOL below says why).
// TF32: createSession (src/runtime/session.ts) passes the execution provider by name
// only, so the CUDA provider runs with its defaults: use_tf32 = 1 (onnxruntime's
// CUDAExecutionProviderInfo, "By default, enable TF32 to speed up float GEMM/MatMul or
// cuDNN convolution"), which on Ampere and later (an H100/H200 included) rounds the
// float32 inputs of Conv/Gemm/MatMul to a 10-bit mantissa. The output says so, with
// a TODO: measuring with TF32 off needs session.ts to pass provider options.
//   npm run check:gpu [-- --ep cuda|cpu] [--json] [--record] [--samples 300]
//                     [--steps 50] [--cpu-threads N]
// --ep cpu: a dry run that compares the CPU with itself (must pass trivially; it
// checks this script on a machine without a GPU). --record (with --ep cuda only)
// writes the section "GPU correctness" of docs/benchmarks.md.
// Assets: $ONNX_DISTILL_ASSETS, else ../shared/assets. Exit status 1 when a check fails.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSource, loadDataset } from '../src/data/sources.js';
import { runOnData } from '../src/eval/evaluate.js';
import type { PreprocessFlags } from '../src/data/preprocess.js';
import { buildStudent } from '../src/graph/zoo/index.js';
import { buildTrainStep } from '../src/train/step.js';
import { StepRunner } from '../src/train/runner.js';
import { createOptimizer } from '../src/train/optim/index.js';
import { crossEntropy } from '../src/train/objectives/ce.js';
import { createSession } from '../src/runtime/session.js';
import { tensor } from '../src/graph/tensor.js';

/** (a): logits, max |a-b| / max(1,|b|) */
const TEACHER_TOL = 1e-3;
/** (b): per-step loss, max |a-b| / |b| over the steps. Why 1e-2: on CUDA each step's
 * arithmetic differs from the CPU's by rounding, by a different summation order in
 * cuDNN's convolutions and reductions (and in their backward kernels, some of which
 * accumulate with atomics, so the order is not even fixed), and with TF32 on by a
 * 10-bit mantissa (unit roundoff 4.9e-4) in every Conv and Gemm: a per-step loss
 * difference of order 1e-3. The two runs then follow slightly different parameter
 * trajectories and the gap grows with the step count, but over 50 AdamW steps at lr
 * 1e-3 each parameter moves by at most ~50 * lr = 0.05 in all, so the losses cannot
 * drift far apart: 1e-2 relative admits that growth while an error in a CUDA kernel
 * (a wrong gradient, a dropped update, a stale BN statistic) moves the loss by far
 * more than 1% within a few steps. The CPU-vs-CPU dry run must give 0. */
const TRAIN_TOL = 1e-2;

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, dflt: number) => (opt(name) !== undefined ? Number(opt(name)) : dflt);
const ep = (opt('ep') ?? 'cuda') as 'cuda' | 'cpu';
if (ep !== 'cuda' && ep !== 'cpu') throw new Error(`--ep must be cuda or cpu, got ${ep}`);
const json = args.includes('--json');
const record = args.includes('--record');
const samples = num('samples', 300);
const steps = num('steps', 50);
const cpuThreads = num('cpu-threads', 0);
const BATCH = 128, LR = 1e-3, SEED = 1;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const assets = process.env.ONNX_DISTILL_ASSETS ?? path.resolve(root, '..', 'shared', 'assets');
const log = (msg: string) => process.stderr.write(`${msg}\n`);

/** The data and preprocessing of each shared teacher (as in teacher-accuracy.test.ts). */
const TEACHER_DATA: Record<string, { data: string; flags: PreprocessFlags }> = {
  'mnist-cntk-opset7.onnx': { data: 'data/mnist/t10k-images-idx3-ubyte.gz', flags: {} },
  'fashion-mnist-simplecnn.onnx': { data: 'data/fashion-mnist/t10k-images-idx3-ubyte.gz', flags: {} },
  'cifar10-winml-tutorial-cnn.onnx': { data: 'data/cifar10/test', flags: { mean: [0.5], std: [0.5] } },
  'mobilenet_v2_1.0_224_int8_per_tensor.onnx': { data: 'data/imagenet-samples-256', flags: { crop: 224 } },
};

interface TeacherCheck {
  teacher: string; data?: string; samples?: number; ep_used?: string;
  max_rel_diff?: number; max_abs_diff?: number; max_row_rel_diff?: number; top1_agreement?: number; pass: boolean; skipped?: string; error?: string;
}

/** The GPU as nvidia-smi names it, or undefined without one. */
function gpuName(): string | undefined {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').join('; ') : undefined;
}

/** Replace the section `heading` (up to the next heading of its level) of
 * docs/benchmarks.md, or append it. */
function writeSection(heading: string, body: string) {
  const file = path.join(root, 'docs', 'benchmarks.md');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  const section = [heading, '', ...body.trimEnd().split('\n'), ''];
  if (start < 0) {
    fs.writeFileSync(file, `${text.trimEnd()}\n\n${section.join('\n')}`);
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    fs.writeFileSync(file, [...lines.slice(0, start), ...section, ...lines.slice(end)].join('\n'));
  }
  log(`recorded: ${path.relative(root, file)}, section "${heading.replace(/^#+ /, '')}"`);
}

/** max |a-b|/max(1,|b|) (the pass criterion), max |a-b|, and, for context, the row
 * norm max_r max_c |a-b| / max(1, max_c |b|) (differences against the largest logit of
 * the sample, the scale that decides the prediction); top-1 agreement. */
function compareLogits(a: Float32Array, b: Float32Array, C: number) {
  let rel = 0, abs = 0, agree = 0, row = 0;
  const n = b.length / C;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    abs = Math.max(abs, d);
    rel = Math.max(rel, d / Math.max(1, Math.abs(b[i])));
  }
  for (let r = 0; r < n; r++) {
    let big = 1, dr = 0;
    for (let c = 0; c < C; c++) {
      big = Math.max(big, Math.abs(b[r * C + c]));
      dr = Math.max(dr, Math.abs(a[r * C + c] - b[r * C + c]));
    }
    row = Math.max(row, dr / big);
    let ia = 0, ib = 0;
    for (let c = 1; c < C; c++) {
      if (a[r * C + c] > a[r * C + ia]) ia = c;
      if (b[r * C + c] > b[r * C + ib]) ib = c;
    }
    if (ia === ib) agree++;
  }
  return { rel, abs, row, agree: agree / n };
}

async function checkTeacher(file: string): Promise<TeacherCheck> {
  const name = path.basename(file);
  const known = TEACHER_DATA[name];
  if (!known) return { teacher: name, pass: true, skipped: 'no data is known for this teacher (add it to TEACHER_DATA)' };
  const base = path.join(assets, known.data);
  if (!fs.existsSync(base)) return { teacher: name, pass: true, skipped: `${known.data} is not there` };
  const spec = `${base}:0-${samples}`;
  try {
    const ref = await runOnData(file, await openSource(spec), known.flags, 'cpu');
    await ref.runner.release();
    const got = await runOnData(file, await openSource(spec), known.flags, ep, undefined, log);
    const epUsed = got.runner.ep;
    await got.runner.release();
    if (ref.failed.length || got.failed.length) throw new Error(`unreadable samples: ${JSON.stringify([...ref.failed, ...got.failed].slice(0, 2))}`);
    const C = ref.runner.numClasses;
    const d = compareLogits(got.logits, ref.logits, C);
    return {
      teacher: name, data: known.data, samples: ref.logits.length / C, ep_used: epUsed,
      max_rel_diff: d.rel, max_abs_diff: d.abs, max_row_rel_diff: d.row, top1_agreement: d.agree, pass: d.rel <= TEACHER_TOL && epUsed === ep,
    };
  } catch (e) {
    return { teacher: name, data: known.data, pass: false, error: (e as Error).message.split('\n')[0] };
  }
}

/** Per-step losses of the convnet trained on the first steps*BATCH Fashion images. */
async function trainLosses(on: 'cuda' | 'cpu', images: Float32Array, labels: Int32Array, shape: number[]): Promise<{ losses: number[]; params: Map<string, Float32Array>; ep: string }> {
  const model = buildStudent('convnet', { inputShape: shape, numClasses: 10, mode: 'train', seed: SEED, batch: BATCH });
  const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', {}), loopSteps: 1 });
  const session = await createSession(step.model, { ep: on, ...(on === 'cpu' && cpuThreads ? { threads: cpuThreads } : {}) });
  const runner = new StepRunner(step, session, model);
  const per = shape.reduce((a, d) => a * d, 1);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const out = await runner.run({
      input: tensor('float32', [BATCH, ...shape], images.slice(s * BATCH * per, (s + 1) * BATCH * per)),
      labels: tensor('int64', [BATCH], Array.from(labels.subarray(s * BATCH, (s + 1) * BATCH))),
      mask: tensor('float32', [BATCH], new Float32Array(BATCH).fill(1)),
    }, [LR]);
    losses.push((out.loss.data as Float32Array)[0]);
  }
  const params = new Map([...runner.weights()].map(([k, v]) => [k, v.data as Float32Array]));
  await session.release();
  return { losses, params, ep: session.ep };
}

async function checkTraining() {
  const file = path.join(assets, 'data', 'fashion-mnist', 'train-images-idx3-ubyte.gz');
  if (!fs.existsSync(file)) return { pass: true, skipped: `${path.relative(assets, file)} is not there` };
  const d = loadDataset(`${file}:0-${steps * BATCH}`);
  const ref = await trainLosses('cpu', d.pixels, d.labels!, d.shape);
  const got = await trainLosses(ep, d.pixels, d.labels!, d.shape);
  const rel = ref.losses.map((b, i) => Math.abs(got.losses[i] - b) / Math.abs(b));
  let paramRel = 0;
  for (const [k, b] of ref.params) {
    const a = got.params.get(k)!;
    for (let i = 0; i < b.length; i++) paramRel = Math.max(paramRel, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  }
  const maxRel = Math.max(...rel);
  return {
    student: 'convnet', data: 'fashion-mnist train', steps, batch: BATCH, lr: LR, optimizer: 'adamw (defaults)', seed: SEED, ep_used: got.ep,
    loss_cpu: ref.losses, loss_ep: got.losses, rel_diff_per_step: rel,
    max_rel_diff: maxRel, final_rel_diff: rel[rel.length - 1], max_param_diff: paramRel, tolerance: TRAIN_TOL,
    pass: maxRel <= TRAIN_TOL && got.ep === ep,
  };
}

async function main() {
  const t0 = Date.now();
  const dir = path.join(assets, 'teachers');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort().map((f) => path.join(dir, f)) : [];
  if (!files.length) log(`no teachers under ${dir}`);
  const teachers: TeacherCheck[] = [];
  for (const f of files) {
    log(`teacher ${path.basename(f)}: ${ep} vs cpu on ${samples} samples ...`);
    const r = await checkTeacher(f);
    log(r.skipped ? `  skipped: ${r.skipped}` : r.error ? `  FAILED: ${r.error}` : `  max rel diff ${r.max_rel_diff!.toExponential(2)}, top-1 agreement ${(100 * r.top1_agreement!).toFixed(1)}% -> ${r.pass ? 'pass' : 'FAIL'}`);
    teachers.push(r);
  }
  log(`training: convnet on Fashion-MNIST, ${steps} steps at batch ${BATCH}, ${ep} vs cpu ...`);
  let training: Awaited<ReturnType<typeof checkTraining>> | { pass: false; error: string };
  try {
    training = await checkTraining();
  } catch (e) {
    training = { pass: false, error: (e as Error).message.split('\n')[0] };
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const res = {
    ep, gpu: ep === 'cuda' ? gpuName() ?? 'unknown (nvidia-smi not found)' : 'none (CPU dry run)',
    cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, node: process.version, onnxruntime: pkg.dependencies['onnxruntime-node'],
    tf32: ep === 'cuda' ? 'on (onnxruntime CUDA EP default use_tf32=1; createSession cannot pass provider options)' : 'n/a (CPU)',
    todo: 'TODO: let createSession (src/runtime/session.ts) pass CUDA provider options, then rerun with use_tf32=0 to separate TF32 rounding from other differences',
    teacher_tolerance: TEACHER_TOL, teachers, training,
    pass: teachers.every((t) => t.pass) && training.pass,
    seconds: (Date.now() - t0) / 1000,
  };
  if (json) process.stdout.write(JSON.stringify(res) + '\n');
  else printReport(res);
  if (record) {
    if (ep !== 'cuda') log('--record ignored: results are recorded only from a CUDA run (--ep cuda)');
    else writeSection('## GPU correctness (CUDA vs CPU)', markdown(res));
  }
  process.exitCode = res.pass ? 0 : 1;
}

type Result = { ep: string; gpu: string; tf32: string; todo: string; teachers: TeacherCheck[]; training: Record<string, unknown> & { pass: boolean }; pass: boolean; cpu: string; cores: number; node: string; onnxruntime: string; seconds: number };

function teacherLine(t: TeacherCheck): string {
  if (t.skipped) return `skipped (${t.skipped})`;
  if (t.error) return `FAILED: ${t.error}`;
  return `${t.max_rel_diff!.toExponential(2)} (abs ${t.max_abs_diff!.toExponential(2)}, row norm ${t.max_row_rel_diff!.toExponential(2)}, top-1 agreement ${(100 * t.top1_agreement!).toFixed(1)}%, ${t.samples} samples) ${t.pass ? 'pass' : 'FAIL'}`;
}

function printReport(res: Result) {
  const tr = res.training;
  const rows: [string, string][] = [
    ['compared', `${res.ep} vs cpu${res.ep === 'cpu' ? ' (dry run: must be exactly equal)' : ''}`],
    ['gpu', res.gpu],
    ['cpu / cores / node / onnxruntime-node', `${res.cpu} / ${res.cores} / ${res.node} / ${res.onnxruntime}`],
    ['TF32', res.tf32],
    [`teacher logits, max |a-b|/max(1,|b|) (<= ${TEACHER_TOL})`, ''],
    ...res.teachers.map((t): [string, string] => [`  ${t.teacher}`, teacherLine(t)]),
  ];
  if ('error' in tr) rows.push(['training', `FAILED: ${tr.error}`]);
  else if ('skipped' in tr) rows.push(['training', `skipped (${tr.skipped})`]);
  else {
    const lc = tr.loss_cpu as number[], le = tr.loss_ep as number[];
    const at = [0, 9, 24, lc.length - 1].filter((i, k, a) => i < lc.length && a.indexOf(i) === k);
    rows.push(
      [`training: convnet, Fashion, ${tr.steps} steps, batch ${tr.batch}`, ''],
      ...at.map((i): [string, string] => [`  loss at step ${i + 1}: cpu / ${res.ep}`, `${lc[i].toFixed(6)} / ${le[i].toFixed(6)}`]),
      [`  max rel loss diff over steps (<= ${TRAIN_TOL})`, `${(tr.max_rel_diff as number).toExponential(2)} ${tr.pass ? 'pass' : 'FAIL'}`],
      ['  final step rel loss diff', (tr.final_rel_diff as number).toExponential(2)],
      ['  max param diff after training, |a-b|/max(1,|b|)', (tr.max_param_diff as number).toExponential(2)],
    );
  }
  rows.push(['result', res.pass ? 'PASS' : 'FAIL'], ['seconds', res.seconds.toFixed(1)]);
  for (const [k, v] of rows) console.log(`${k.padEnd(52)} ${v}`);
  if (res.ep === 'cuda') console.log(res.todo);
}

function markdown(res: Result): string {
  const tr = res.training;
  const out = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run check:gpu -- --record\` on ${res.gpu}; CPU ${res.cpu} (${res.cores} cores), Node ${res.node}, onnxruntime-node ${res.onnxruntime}. TF32: ${res.tf32}.`,
    '',
    `| teacher | samples | max \\|cuda-cpu\\|/max(1,\\|cpu\\|) | max abs | row norm | top-1 agreement | pass (<= ${TEACHER_TOL}) |`,
    '|---|---|---|---|---|---|---|',
    ...res.teachers.map((t) => t.skipped || t.error ? `| ${t.teacher} | | ${t.skipped ? `skipped: ${t.skipped}` : `error: ${t.error}`} | | | | ${t.pass ? 'yes' : 'no'} |`
      : `| ${t.teacher} | ${t.samples} | ${t.max_rel_diff!.toExponential(2)} | ${t.max_abs_diff!.toExponential(2)} | ${t.max_row_rel_diff!.toExponential(2)} | ${(100 * t.top1_agreement!).toFixed(1)}% | ${t.pass ? 'yes' : 'no'} |`),
    '',
  ];
  if ('loss_cpu' in tr) {
    const lc = tr.loss_cpu as number[], le = tr.loss_ep as number[];
    out.push(
      `Training: convnet on Fashion-MNIST, ${tr.steps} AdamW steps at batch ${tr.batch}, lr ${tr.lr}, seed ${tr.seed}: max relative loss difference over the steps ${(tr.max_rel_diff as number).toExponential(2)} (tolerance ${TRAIN_TOL}: ${tr.pass ? 'pass' : 'fail'}), at the last step ${(tr.final_rel_diff as number).toExponential(2)}; largest parameter difference after training ${(tr.max_param_diff as number).toExponential(2)}.`,
      '',
      '| step | loss, CPU | loss, CUDA |',
      '|---|---|---|',
      ...lc.map((l, i) => (i % 5 === 0 || i === lc.length - 1 ? `| ${i + 1} | ${l.toFixed(6)} | ${le[i].toFixed(6)} |` : '')).filter(Boolean),
    );
  } else out.push(`Training: ${'error' in tr ? `error: ${tr.error}` : `skipped: ${tr.skipped}`}`);
  out.push('', `Overall: ${res.pass ? 'pass' : 'fail'}. ${res.todo}.`);
  return out.join('\n');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
