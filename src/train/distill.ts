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
import { findClassifierOutput } from '../graph/surgery.js';
import { featureRows, resolveFeatureTap, type FeatureTap } from './teacher-features.js';
import { fitHead, headModel, ridgeStart } from './head-fit.js';
import { mappingReport } from './mapping-report.js';
import type { ObjectiveShapes } from './objectives/index.js';
import type { TrainableModel } from './step.js';
import type { Tensor } from '../graph/ir.js';
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
  /** feature objectives: the teacher tensor to match (`auto`: the classifier's input) */
  features?: string;
  /** feature objectives: epochs of the classifier-head fit that follows */
  headEpochs?: number;
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

  const featureObjective = objective.needs.teacherFeatures;
  if (featureObjective && !cfg.teacher) throw new UsageError(`objective '${cfg.objective}' needs a teacher`, 'pass --teacher T.onnx');
  if (featureObjective && cfg.augment === 'on') {
    throw new UsageError(`objective '${cfg.objective}' matches teacher features computed once per sample, so it cannot use --augment on`, 'use --augment off (or auto)');
  }
  if (featureObjective && cfg.labels) throw new UsageError(`objective '${cfg.objective}' runs the teacher for its features; --labels stores hold logits only`, 'leave out --labels');
  const augment = !featureObjective && (cfg.augment === 'on' || (cfg.augment === 'auto' && trainSet.shape[0] === 3)) ? { cropPad: 4, flip: true } : undefined;
  const offline = cfg.labels && cfg.teacher && objective.needs.teacherLogits
    ? await offlineTeacher({ labels: cfg.labels, teacher: cfg.teacher, data: cfg.data, val: cfg.val, preprocessing: cfg.preprocessing, augment: !!augment }, trainSet, valSet, log.info)
    : undefined;
  if (cfg.labels && !offline) log.info(`--labels ignored: objective '${cfg.objective}' uses no teacher`);
  const tap: FeatureTap | undefined = featureObjective
    ? (() => { const m = loadModel(cfg.teacher!); return resolveFeatureTap(m, findClassifierOutput(m).name, cfg.features ?? 'auto'); })()
    : undefined;
  const teacher = cfg.teacher && !offline ? await TeacherRunner.open(cfg.teacher, { ep: cfg.ep, onLog: log.info, features: tap ? [tap.name] : [] }) : undefined;
  const classes = offline ? offline.classes : teacher ? teacher.numClasses : (trainSet.classes ?? 0);
  const labelClasses = Math.max(trainSet.classes ?? 0, valSet.classes ?? 0);
  if ((teacher || offline) && labelClasses > classes) {
    throw new UsageError(`the teacher predicts ${classes} classes but the labels of '${cfg.data}' go up to class ${labelClasses - 1}`, 'use data labelled for this teacher');
  }
  const teacherPrep: Preprocessing | undefined = offline ? offline.teacherPrep : teacher ? preprocessingFor(teacher.inputInfo, cfg.preprocessing) : undefined;
  const studentPrep: Preprocessing = { ...defaultPreprocessing(trainSet.shape), ...pick(teacherPrep), ...jpegDecoderOf(cfg.preprocessing), layout: 'NCHW', dtype: 'float32', size: trainSet.shape };
  // a student file's hash joins the config (only then, so preset runs keep their config hash): --resume refuses an edited file
  const studentFile = isStudentFile(cfg.student) && fs.existsSync(cfg.student) ? { studentSha256: sha256(cfg.student) } : {};
  const config = { ...cfg, ...(tap ? { features: tap.name, headEpochs: cfg.headEpochs ?? HEAD_EPOCHS, signedFeatures: true } : {}), objectiveOptions: objOpts, optimizerHyper: optimizer.hyper, teacherSha256: offline ? offline.teacherSha256 : teacher ? sha256(cfg.teacher!) : null,
    teacherPreprocessing: teacherPrep ?? null, studentPreprocessing: studentPrep, classes, ...studentFile,
    ...(offline ? { labelStoreFingerprint: offline.storeFingerprint } : {}) };
  // refuse a folder holding another run, and build the student (an unknown preset is a
  // usage error), before any expensive work; the folder itself is created only later
  const { paths } = checkRunDir(cfg.out, config as unknown as Record<string, unknown>, !!opts.resume);
  // feature objectives end their students on a pre-activation (see NetBuilder.features)
  const sOpts = { inputShape: trainSet.shape, numClasses: classes, seed: cfg.seed, width: cfg.width, depth: cfg.depth, ...(featureObjective ? { signedFeatures: true } : {}) };
  const model = buildStudent(cfg.student, { ...sOpts, batch: cfg.batch, mode: 'train' });
  const evalModel = buildStudent(cfg.student, { ...sOpts, batch: 256, mode: 'eval' });
  const weightNames = [...model.params, ...Object.keys(model.buffers ?? {})];

  const studentInputs = (d: Dataset) => toModelInput(d.pixels, d.n, d.shape, studentPrep).data as Float32Array;
  const trainX = studentInputs(trainSet), valX = studentInputs(valSet);
  let featureWidth = 0;
  const teacherOn = async (d: Dataset, label: string, withFeatures: boolean) => {
    if (!teacher) return undefined;
    const logits = new Float32Array(d.n * classes);
    let features: Float32Array | undefined;
    const B = 256, size = sampleSize(d);
    for (let s = 0; s < d.n; s += B) {
      const n = Math.min(B, d.n - s);
      const t = toModelInput(d.pixels.subarray(s * size, (s + n) * size), n, d.shape, teacherPrep!);
      const out = await teacher.run(t);
      logits.set(out.logits, s * classes);
      if (withFeatures && tap) {
        const f = featureRows(out.features![tap.name]);
        featureWidth = f.width;
        features ??= new Float32Array(d.n * f.width);
        features.set(f.rows, s * f.width);
      }
      log.progress?.(label, s + n, d.n);
    }
    return { logits, features };
  };
  const valTeacher = offline ? offline.valTeacher : (await teacherOn(valSet, 'teacher on validation', false))?.logits;
  const wantTrainTeacher = !augment && (objective.needs.teacherLogits || featureObjective);
  const trainRun = offline ? undefined : wantTrainTeacher ? await teacherOn(trainSet, 'teacher on training data', featureObjective) : undefined;
  const trainTeacher = offline ? offline.trainTeacher : trainRun?.logits;
  const teacherFeatures = trainRun?.features ? { rows: trainRun.features, width: featureWidth } : undefined;

  const shapes: ObjectiveShapes = {
    classes, studentFeatures: model.graph.outputs.find((v) => v.name === 'features')?.shape?.[1] as number,
    studentMap: (model.graph.outputs.find((v) => v.name === 'feature_map')?.shape?.slice(1) as number[] | undefined),
    teacherFeatures: teacherFeatures?.width, teacherMap: tap?.map,
  };
  if (featureObjective && !shapes.studentFeatures) throw new UsageError(`student '${cfg.student}' has no features output`, 'use a student preset, or a student file whose classifier is a Gemm/MatMul');
  const loss = objective.build(objOpts, hasLabels, shapes);
  withAuxParams(model, objective.auxParams?.(objOpts, shapes, cfg.seed) ?? []);
  const online = augment && teacher && objective.needs.teacherLogits ? async (x: Float32Array, n: number) => {
    // augmented student inputs are normalised pixels: undo the normalisation for the teacher
    const pixels = unnormalise(x, n, trainSet.shape, studentPrep);
    return (await teacher.run(toModelInput(pixels, n, trainSet.shape, teacherPrep!))).logits;
  } : undefined;

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
    n: trainSet.n, sampleDims: trainSet.shape, inputs: trainX, labels: trainSet.labels, classes, teacherOnline: online,
    teacherLogits: objective.needs.teacherLogits ? trainTeacher : undefined, teacherFeatures,
  }, {
    epochs: cfg.epochs, batch: cfg.batch, loopSteps: cfg.loopSteps, lr: cfg.lr, warmupEpochs: cfg.warmupEpochs, clipNorm: cfg.clipNorm,
    seed: cfg.seed, augment, ep: cfg.ep, configHash: configHash(config as unknown as Record<string, unknown>), lastCheckpoint: paths.last, bestCheckpoint: paths.best,
  }, {
    validate: async (w, epoch) => {
      // a feature objective's head is fitted afterwards: its logits mean nothing yet, the last epoch is kept
      if (objective.fitsHeadAfter) return { score: epoch, metrics: {} };
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
  const phaseTwo: Record<string, number | string> = {};
  if (objective.fitsHeadAfter) {
    Object.assign(phaseTwo, mappingReport(objective.name, best));
    if (phaseTwo.mapping_sv_max !== undefined) {
      const f = (k: string) => Number(phaseTwo[k]).toPrecision(3);
      log.info(`learned map: singular values ${f('mapping_sv_min')}..${f('mapping_sv_max')} (ratio ${f('mapping_sv_ratio')}), ||G/c - I||_F ${f('mapping_ortho_distance')} (0 = orthogonal up to scale)`);
    }
    const fitted = await fitClassifierHead(evalModel, weights, trainX, trainSet.n, valX, valSet.n, trainTeacher!, valTeacher!, classes, cfg, paths, config, log, opts);
    if (!fitted) {
      await release();
      log.info(`stopped; checkpoint saved (continue with --resume)`);
      return { runDir: paths.dir, student: '', metrics: {}, stopped: true };
    }
    for (const [k, v] of fitted) weights.set(k, v);
  }
  const final: Record<string, number | string> = { ...(await valMetrics(weights)), best_epoch: result.progress.bestEpoch + 1, ...phaseTwo };
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

const HEAD_EPOCHS = 10;

/** Add an objective's own parameters (projection heads) to the trainable model. */
function withAuxParams(model: TrainableModel, aux: { name: string; init: Tensor; decay: boolean }[]): void {
  for (const p of aux) {
    if (model.graph.initializers.has(p.name)) throw new Error(`objective parameter '${p.name}' clashes with a student parameter`);
    model.graph.initializers.set(p.name, p.init);
    model.params.push(p.name);
    if (!p.decay) (model.noDecay ??= []).push(p.name);
  }
}

/** Phase two of a feature objective: fit the student's classifier head to the teacher's
 * logits on frozen features. Returns the fitted head weights, or undefined when stopped. */
async function fitClassifierHead(evalModel: TrainableModel, weights: Map<string, Tensor>, trainX: Float32Array, nTrain: number,
  valX: Float32Array, nVal: number, trainTeacher: Float32Array, valTeacher: Float32Array, classes: number, cfg: DistillConfig,
  paths: ReturnType<typeof checkRunDir>['paths'], config: Record<string, unknown>, log: DistillLog,
  opts: { resume?: boolean; shouldStop?: () => boolean }): Promise<Map<string, Tensor> | undefined> {
  const names = [...weights.keys()];
  const evaluator = await StudentEvaluator.create(evalModel, names, cfg.ep);
  const features = async (x: Float32Array, n: number) => (await evaluator.run(weights, x, n, ['features'])).features;
  const trainF = await features(trainX, nTrain), valF = await features(valX, nVal);
  await evaluator.release();
  const width = trainF.length / nTrain;
  const start = new Map([...weights, ...ridgeStart(evalModel.graph, trainF, nTrain, width, trainTeacher, classes)]);
  const head = headModel(evalModel.graph, start, width, 256);
  const headEval = headModel(evalModel.graph, start, width, 256);
  const headPaths = { last: paths.last.replace(/\.safetensors$/, '.head.safetensors'), best: paths.best.replace(/\.safetensors$/, '.head.safetensors') };
  const resume = opts.resume && fs.existsSync(headPaths.last) ? loadCheckpoint(headPaths.last) : undefined;
  const headEvaluator = await StudentEvaluator.create(headEval, head.params, cfg.ep);
  const epochs = cfg.headEpochs ?? HEAD_EPOCHS;
  log.info(`fitting the classifier head to the teacher's logits on frozen features (${epochs} epochs)`);
  try {
    const r = await fitHead(head, { trainFeatures: trainF, trainTeacher, n: nTrain, width, classes }, {
      epochs, batch: 256, lr: 3e-3, seed: cfg.seed, ep: cfg.ep, configHash: configHash(config), lastCheckpoint: headPaths.last, bestCheckpoint: headPaths.best,
    }, {
      validate: async (w) => {
        const agree = agreement((await headEvaluator.run(w, valF, nVal)).logits, valTeacher, classes);
        return { score: agree, metrics: { head_val_agreement: agree } };
      },
      onEpoch: (rec) => { appendMetrics(paths, { type: 'head_epoch', ...rec }); log.info(`head epoch ${rec.epoch + 1}/${epochs}: loss ${rec.loss.toFixed(4)}, agreement ${(100 * rec.head_val_agreement).toFixed(2)}%`); },
      onProgress: (done, total, l) => log.progress?.('head', done, total, `loss ${l.toFixed(4)}`),
      shouldStop: opts.shouldStop,
    }, resume);
    if (r.stopped) return undefined;
    const best = fs.existsSync(headPaths.best) ? loadCheckpoint(headPaths.best).values : r.runner.values;
    return new Map(head.params.map((p) => [p, best.get(p)!]));
  } finally {
    await headEvaluator.release();
  }
}

/** How image folders are decoded for training: the geometry flags, else the teacher's
 * input size and channels (IDX, npy and mnist data are read as they are). */
function dataReadOptions(cfg: DistillConfig): { resize?: number; crop?: number; channels?: 1 | 3; size?: [number, number]; jpegDecoder?: 'jpeg-js' } {
  const geometry = { resize: cfg.preprocessing.resize, crop: cfg.preprocessing.crop, ...jpegDecoderOf(cfg.preprocessing) };
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

/** The JPEG decoder when it is not the default (the default is never recorded). */
function jpegDecoderOf(f: PreprocessFlags): { jpegDecoder?: 'jpeg-js' } {
  return f.jpegDecoder === 'jpeg-js' ? { jpegDecoder: 'jpeg-js' } : {};
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
