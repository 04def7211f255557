// `distill` as a library call: resolve data, teacher and student, train with the
// chosen objective, keep checkpoints, export student.onnx and report metrics.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { readDataset } from '../data/dataset-read.js';
import { realInputs } from '../graph/surgery.js';
import { splitDataset, sampleSize, type Dataset } from '../data/dataset.js';
import { defaultPreprocessing, preprocessingFor, toModelInput, type Preprocessing, type PreprocessFlags } from '../data/preprocess.js';
import { TeacherRunner } from '../runtime/teacher.js';
import { buildStudent, isStudentFile } from '../graph/zoo/index.js';
import { graphStats } from '../graph/stats.js';
import { exportInference } from '../graph/export.js';
import { loadModel, saveModel } from '../graph/serde.js';
import { getObjective, resolveOptions } from './objectives/index.js';
import { createOptimizer } from './optim/index.js';
import { buildTrainStep } from './step.js';
import { train } from './trainer.js';
import { StudentEvaluator } from './evaluator.js';
import { loadCheckpoint } from './checkpoint.js';
import { applyWeights } from './weights.js';
import { checkRunDir, prepareRunDir, appendMetrics, truncateMetrics, configHash } from './run-dir.js';
import { topK, agreement } from '../eval/metrics.js';
import { Rng } from '../util/rng.js';
import { offlineTeacher } from './offline-labels.js';
import { UsageError } from '../errors.js';
import type { EpChoice } from '../runtime/session.js';

export interface DistillConfig {
  teacher: string | null;
  /** a label store (`onnx-distill label`): teacher logits are read from it, the teacher is not run */
  labels?: string;
  data: string;
  val: string | null;
  valSplit: number;
  student: string;
  width?: number;
  depth?: number;
  objective: string;
  objectiveOptions: Record<string, number>;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: string;
  weightDecay: number;
  warmupEpochs: number;
  loopSteps: number;
  clipNorm?: number;
  seed: number;
  augment: 'auto' | 'on' | 'off';
  preprocessing: PreprocessFlags;
  ep: EpChoice;
  out: string;
}

export interface DistillLog {
  info(line: string): void;
  progress?(label: string, done: number, total: number, extra?: string): void;
  epoch?(record: Record<string, number>): void;
}

export interface DistillResult {
  runDir: string;
  student: string;
  metrics: Record<string, number | string>;
  stopped: boolean;
}

export async function distill(cfg: DistillConfig, log: DistillLog, opts: { resume?: boolean; shouldStop?: () => boolean } = {}): Promise<DistillResult> {
  const objective = getObjective(cfg.objective);
  const objOpts = resolveOptions(objective, cfg.objectiveOptions);
  const optimizer = createOptimizer(cfg.optimizer, { weightDecay: cfg.weightDecay });
  const read = async (spec: string) => {
    const d = await readDataset(spec, dataReadOptions(cfg));
    if (d.failed.length) log.info(`${spec}: ${d.failed.length} unreadable samples left out (first: ${d.failed[0].id}: ${d.failed[0].reason})`);
    return d;
  };
  const all = await read(cfg.data);
  const { train: trainSet, val: valSet } = cfg.val ? { train: all, val: await read(cfg.val) } : splitDataset(all, cfg.valSplit, shuffled(all.n, cfg.seed));
  const hasLabels = !!trainSet.labels;
  if (objective.needs.labels === 'required' && !hasLabels) {
    throw new UsageError(`objective '${cfg.objective}' needs labels, and '${cfg.data}' has none`, 'use a labelled data set, or --objective kd for label-free distillation');
  }
  if (objective.needs.teacherLogits && !cfg.teacher) throw new UsageError(`objective '${cfg.objective}' needs a teacher`, 'pass --teacher T.onnx');

  const augment = cfg.augment === 'on' || (cfg.augment === 'auto' && trainSet.shape[0] === 3) ? { cropPad: 4, flip: true } : undefined;
  const offline = cfg.labels && cfg.teacher && objective.needs.teacherLogits
    ? await offlineTeacher({ labels: cfg.labels, teacher: cfg.teacher, data: cfg.data, val: cfg.val, preprocessing: cfg.preprocessing, augment: !!augment }, trainSet, valSet, log.info)
    : undefined;
  if (cfg.labels && !offline) log.info(`--labels ignored: objective '${cfg.objective}' uses no teacher`);
  const teacher = cfg.teacher && !offline ? await TeacherRunner.open(cfg.teacher, { ep: cfg.ep, onLog: log.info }) : undefined;
  const classes = offline ? offline.classes : teacher ? teacher.numClasses : (trainSet.classes ?? 0);
  const labelClasses = Math.max(trainSet.classes ?? 0, valSet.classes ?? 0);
  if ((teacher || offline) && labelClasses > classes) {
    throw new UsageError(`the teacher predicts ${classes} classes but the labels of '${cfg.data}' go up to class ${labelClasses - 1}`, 'use data labelled for this teacher');
  }
  const teacherPrep: Preprocessing | undefined = offline ? offline.teacherPrep : teacher ? preprocessingFor(teacher.inputInfo, cfg.preprocessing) : undefined;
  const studentPrep: Preprocessing = { ...defaultPreprocessing(trainSet.shape), ...pick(teacherPrep), layout: 'NCHW', dtype: 'float32', size: trainSet.shape };
  // a student file's hash joins the config (only then, so preset runs keep their config hash): --resume refuses an edited file
  const studentFile = isStudentFile(cfg.student) && fs.existsSync(cfg.student) ? { studentSha256: sha256(cfg.student) } : {};
  const config = { ...cfg, objectiveOptions: objOpts, optimizerHyper: optimizer.hyper, teacherSha256: offline ? offline.teacherSha256 : teacher ? sha256(cfg.teacher!) : null,
    teacherPreprocessing: teacherPrep ?? null, studentPreprocessing: studentPrep, classes, ...studentFile,
    ...(offline ? { labelStoreFingerprint: offline.storeFingerprint } : {}) };
  // refuse a folder holding another run, and build the student (an unknown preset is a
  // usage error), before any expensive work; the folder itself is created only later
  const { paths } = checkRunDir(cfg.out, config as unknown as Record<string, unknown>, !!opts.resume);
  const sOpts = { inputShape: trainSet.shape, numClasses: classes, seed: cfg.seed, width: cfg.width, depth: cfg.depth };
  const model = buildStudent(cfg.student, { ...sOpts, batch: cfg.batch, mode: 'train' });
  const evalModel = buildStudent(cfg.student, { ...sOpts, batch: 256, mode: 'eval' });
  const loss = objective.build(objOpts, hasLabels);

  const studentInputs = (d: Dataset) => toModelInput(d.pixels, d.n, d.shape, studentPrep).data as Float32Array;
  const trainX = studentInputs(trainSet), valX = studentInputs(valSet);
  const teacherLogits = async (d: Dataset, label: string) => {
    if (!teacher) return undefined;
    const out = new Float32Array(d.n * classes);
    const B = 256, size = sampleSize(d);
    for (let s = 0; s < d.n; s += B) {
      const n = Math.min(B, d.n - s);
      const t = toModelInput(d.pixels.subarray(s * size, (s + n) * size), n, d.shape, teacherPrep!);
      out.set((await teacher.run(t)).logits, s * classes);
      log.progress?.(label, s + n, d.n);
    }
    return out;
  };
  const valTeacher = offline ? offline.valTeacher : await teacherLogits(valSet, 'teacher on validation');
  const trainTeacher = offline ? offline.trainTeacher : augment || !objective.needs.teacherLogits ? undefined : await teacherLogits(trainSet, 'teacher on training data');
  const online = augment && teacher && objective.needs.teacherLogits ? async (x: Float32Array, n: number) => {
    // augmented student inputs are normalised pixels: undo the normalisation for the teacher
    const pixels = unnormalise(x, n, trainSet.shape, studentPrep);
    return (await teacher.run(toModelInput(pixels, n, trainSet.shape, teacherPrep!))).logits;
  } : undefined;

  const weightNames = [...model.params, ...Object.keys(model.buffers ?? {})];
  const evaluator = await StudentEvaluator.create(evalModel, weightNames, cfg.ep);
  const stats = graphStats(buildStudent(cfg.student, { ...sOpts, batch: 1, mode: 'eval' }).graph);
  log.info(`student ${cfg.student}: ${stats.params.toLocaleString()} parameters, ${(stats.flops / 1e6).toFixed(1)} MFLOPs per sample; ${trainSet.n} training, ${valSet.n} validation samples`);

  const trainStep = buildTrainStep({ model, loss, optimizer, clipNorm: cfg.clipNorm, loopSteps: cfg.loopSteps }).model;
  const { resumable } = prepareRunDir(cfg.out, config as unknown as Record<string, unknown>, !!opts.resume);
  const resume = opts.resume && resumable ? loadCheckpoint(paths.last) : undefined;
  if (opts.resume) truncateMetrics(paths, resume?.progress.epoch ?? 0); // records past the checkpoint are redone
  if (resume) {
    log.info(`resuming at epoch ${resume.progress.epoch + 1}, step ${resume.progress.step}`);
  }
  saveModel(trainStep, paths.trainStep);
  const valMetrics = async (w: Map<string, import('../graph/ir.js').Tensor>) => {
    const logits = (await evaluator.run(w, valX, valSet.n)).logits;
    const m: Record<string, number> = {};
    if (valSet.labels) m.val_top1 = topK(logits, valSet.labels, classes, 1);
    if (valTeacher) m.val_agreement = agreement(logits, valTeacher, classes);
    return m;
  };
  const release = async () => { await evaluator.release(); await teacher?.release(); };
  const result = await train(model, loss, optimizer, {
    n: trainSet.n, sampleDims: trainSet.shape, inputs: trainX, labels: trainSet.labels, teacherLogits: trainTeacher, teacherOnline: online, classes,
  }, {
    epochs: cfg.epochs, batch: cfg.batch, loopSteps: cfg.loopSteps, lr: cfg.lr, warmupEpochs: cfg.warmupEpochs, clipNorm: cfg.clipNorm,
    seed: cfg.seed, augment, ep: cfg.ep, configHash: configHash(config as unknown as Record<string, unknown>), lastCheckpoint: paths.last, bestCheckpoint: paths.best,
  }, {
    validate: async (w) => {
      const m = await valMetrics(w);
      return { score: m.val_top1 ?? m.val_agreement ?? 0, metrics: m };
    },
    onEpoch: (r) => { appendMetrics(paths, { type: 'epoch', ...r }); log.epoch?.(r); },
    onProgress: (done, total, l, sps) => log.progress?.(`epoch`, done, total, `loss ${l.toFixed(4)} ${sps.toFixed(0)} samples/s`),
    shouldStop: opts.shouldStop,
  }, resume).catch(async (e) => { await release(); throw e; }); // library callers get their sessions back
  if (result.stopped) {
    await release();
    log.info(`stopped; checkpoint saved to ${paths.last} (continue with --resume)`);
    return { runDir: paths.dir, student: '', metrics: {}, stopped: true };
  }

  const best = fs.existsSync(paths.best) ? loadCheckpoint(paths.best).values : result.runner.values;
  const weights = new Map(weightNames.map((k) => [k, best.get(k)!]));
  const final: Record<string, number | string> = { ...(await valMetrics(weights)), best_epoch: result.progress.bestEpoch + 1 };
  if (valTeacher && valSet.labels) final.teacher_val_top1 = topK(valTeacher, valSet.labels, classes, 1);
  const exportModel = buildStudent(cfg.student, { ...sOpts, batch: 'N', mode: 'eval' });
  applyWeights(exportModel.graph, weights);
  const student = exportInference(exportModel.graph, {
    metadata: {
      'onnx_distill.teacher_sha256': String(config.teacherSha256 ?? ''), 'onnx_distill.objective': cfg.objective,
      'onnx_distill.preprocessing': JSON.stringify(studentPrep), 'onnx_distill.metrics': JSON.stringify(final),
      'onnx_distill.student': cfg.student, 'onnx_distill.classes': String(classes),
    },
  });
  saveModel(student, paths.student);
  final.student_params = stats.params;
  if (teacher || offline) final.teacher_params = graphStats(loadModel(cfg.teacher!).graph).params;
  appendMetrics(paths, { type: 'final', ...final });
  await release();
  return { runDir: paths.dir, student: paths.student, metrics: final, stopped: false };
}

/** How image folders are decoded for training: the geometry flags, else the teacher's
 * input size and channels (IDX, npy and mnist data are read as they are). */
function dataReadOptions(cfg: DistillConfig): { resize?: number; crop?: number; channels?: 1 | 3; size?: [number, number] } {
  const geometry = { resize: cfg.preprocessing.resize, crop: cfg.preprocessing.crop };
  if (!cfg.teacher || !fs.existsSync(cfg.teacher)) return geometry;
  const input = realInputs(loadModel(cfg.teacher).graph)[0];
  if (input?.shape?.length !== 4) return geometry; // not an image model: nothing to size
  const p = preprocessingFor(input, cfg.preprocessing);
  return { ...geometry, channels: p.size[0] === 1 ? 1 : 3, size: [p.size[1], p.size[2]] };
}

function shuffled(n: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  new Rng(seed ^ 0xa11).shuffle(order);
  return order;
}

function pick(p?: Preprocessing): Partial<Preprocessing> {
  return p ? { scale: p.scale, mean: p.mean, std: p.std } : {};
}

function unnormalise(x: Float32Array, n: number, shape: number[], p: Preprocessing): Float32Array {
  const [c, h, w] = shape;
  const out = new Float32Array(x.length);
  const m = (ch: number) => (p.mean.length === 1 ? p.mean[0] : p.mean[ch]);
  const s = (ch: number) => (p.std.length === 1 ? p.std[0] : p.std[ch]);
  for (let i = 0; i < n * c; i++) {
    const ch = i % c;
    for (let k = 0; k < h * w; k++) out[i * h * w + k] = (x[i * h * w + k] * s(ch) + m(ch)) / (p.scale * 255);
  }
  return out;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}
