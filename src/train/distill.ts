// `distill` as a library call: resolve data, teacher and student, train with the
// chosen objective, keep checkpoints, export student.onnx and report metrics.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { readDataset } from '../data/dataset-read.js';
import { realInputs } from '../graph/surgery.js';
import { splitDataset, sampleSize, classCount, type Dataset } from '../data/dataset.js';
import { corruptLabels } from '../data/label-noise.js';
import { almSetup } from './alm-setup.js';
import { openOnlineTeacher, withOnlineTeacher } from './online.js';
import path from 'node:path';
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
import { fitClassifierHead, HEAD_EPOCHS } from './head-fit.js';
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
  /** more teachers (objectives that mix several, e.g. alm) */
  extraTeachers?: string[];
  /** train the teacher alongside the student (bdkd --online, dml): --teacher is a float
   * .onnx file (fine-tuned) or a student preset (from scratch, sized by teacherWidth/Depth) */
  online?: boolean;
  teacherWidth?: number;
  teacherDepth?: number;
  /** the online teacher's learning rate as a multiple of --lr (default 0.1 for a file: fine-tuning; 1 for a preset) */
  teacherLrScale?: number;
  /** corrupt this fraction of the training labels (seeded; validation stays clean) */
  labelNoise?: number;
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

export async function distill(cfg: DistillConfig, log: DistillLog, opts: { resume?: boolean; shouldStop?: () => boolean;
  /** write report.html at the end (the CLI's default; not part of the run's config; `onnx-distill report RUNDIR` builds it later) */
  report?: boolean } = {}): Promise<DistillResult> {
  const objective = getObjective(cfg.objective);
  const objOpts = resolveOptions(objective, cfg.objectiveOptions);
  const optimizer = createOptimizer(cfg.optimizer, { weightDecay: cfg.weightDecay });
  // refusals that need no data come before the data is read
  if (objective.online === 'only' && !cfg.online) throw new UsageError(`objective '${cfg.objective}' trains teacher and student together`, 'add --online');
  if (cfg.online && !objective.online) throw new UsageError(`objective '${cfg.objective}' has no online mode`, 'use --objective bdkd or dml with --online');
  if (cfg.online && (cfg.labels || cfg.augment === 'on')) throw new UsageError('--online trains the teacher on the same batches: it takes no --labels store and no --augment on', 'leave them out');
  const read = async (spec: string) => {
    const d = await readDataset(spec, dataReadOptions(cfg));
    if (d.failed.length) log.info(`${spec}: ${d.failed.length} unreadable samples left out (first: ${d.failed[0].id}: ${d.failed[0].reason})`);
    return d;
  };
  const split = await runSplit(cfg, read);
  const valSet = split.val;
  // label noise is added after the validation split is held out, to training labels only
  const noise = cfg.labelNoise ? noisyLabels(split.train, cfg.labelNoise, cfg.seed) : undefined;
  const trainSet = noise ? { ...split.train, labels: noise.labels } : split.train;
  if (noise) log.info(`--label-noise ${cfg.labelNoise}: ${noise.count} of ${trainSet.n} training labels replaced by another class (seed ${cfg.seed}); validation labels untouched`);
  const hasLabels = !!trainSet.labels;
  if ((cfg.extraTeachers?.length ?? 0) > 0 && !objective.multiTeacher) {
    throw new UsageError(`objective '${cfg.objective}' takes one teacher, ${1 + cfg.extraTeachers!.length} were given`, 'use --objective alm for several teachers, or give one --teacher');
  }
  if (objective.metaLearnsWeights && cfg.augment === 'on') {
    throw new UsageError(`objective '${cfg.objective}' meta-learns per-sample weights from teacher logits computed once per sample, so it cannot use --augment on`, 'use --augment off (or auto)');
  }
  if (objective.needs.labels === 'required' && !hasLabels) {
    throw new UsageError(`objective '${cfg.objective}' needs labels, and '${cfg.data}' has none`, 'use a labelled data set, or --objective kd for label-free distillation');
  }
  if (objective.needs.teacherLogits && !cfg.teacher) throw new UsageError(`objective '${cfg.objective}' needs a teacher`, 'pass --teacher T.onnx');
  // an online teacher given as a preset name is built, not loaded
  const presetTeacher = !!cfg.online && !!cfg.teacher && !isStudentFile(cfg.teacher);

  const featureObjective = objective.needs.teacherFeatures;
  if (featureObjective && !cfg.teacher) throw new UsageError(`objective '${cfg.objective}' needs a teacher`, 'pass --teacher T.onnx');
  if (featureObjective && cfg.augment === 'on') {
    throw new UsageError(`objective '${cfg.objective}' matches teacher features computed once per sample, so it cannot use --augment on`, 'use --augment off (or auto)');
  }
  if (featureObjective && cfg.labels) throw new UsageError(`objective '${cfg.objective}' runs the teacher for its features; --labels stores hold logits only`, 'leave out --labels');
  const augment = !featureObjective && !objective.metaLearnsWeights && !cfg.online && (cfg.augment === 'on' || (cfg.augment === 'auto' && trainSet.shape[0] === 3)) ? { cropPad: 4, flip: true } : undefined;
  const offline = cfg.labels && cfg.teacher && objective.needs.teacherLogits
    ? await offlineTeacher({ labels: cfg.labels, teacher: cfg.teacher, data: cfg.data, val: cfg.val, preprocessing: cfg.preprocessing, augment: !!augment }, trainSet, valSet, log.info)
    : undefined;
  if (cfg.labels && !offline) log.info(`--labels ignored: objective '${cfg.objective}' uses no teacher`);
  const tap: FeatureTap | undefined = featureObjective
    ? (() => { const m = loadModel(cfg.teacher!); return resolveFeatureTap(m, findClassifierOutput(m).name, cfg.features ?? 'auto'); })()
    : undefined;
  const teacher = cfg.teacher && !offline && !presetTeacher ? await TeacherRunner.open(cfg.teacher, { ep: cfg.ep, onLog: log.info, features: tap ? [tap.name] : [] }) : undefined;
  const classes = offline ? offline.classes : teacher ? teacher.numClasses : (trainSet.classes ?? 0);
  const labelClasses = Math.max(trainSet.classes ?? 0, valSet.classes ?? 0);
  if ((teacher || offline) && labelClasses > classes) {
    throw new UsageError(`the teacher predicts ${classes} classes but the labels of '${cfg.data}' go up to class ${labelClasses - 1}`, 'use data labelled for this teacher');
  }
  const teacherPrep: Preprocessing | undefined = offline ? offline.teacherPrep : teacher ? preprocessingFor(teacher.inputInfo, cfg.preprocessing) : undefined;
  const studentPrep: Preprocessing = { ...defaultPreprocessing(trainSet.shape), ...pick(teacherPrep), ...jpegDecoderOf(cfg.preprocessing), layout: 'NCHW', dtype: 'float32', size: trainSet.shape };
  // a student file's hash joins the config (only then, so preset runs keep their config hash): --resume refuses an edited file
  const studentFile = isStudentFile(cfg.student) && fs.existsSync(cfg.student) ? { studentSha256: sha256(cfg.student) } : {};
  const config = { ...cfg, ...(tap ? { features: tap.name, headEpochs: cfg.headEpochs ?? HEAD_EPOCHS, signedFeatures: true } : {}), ...(cfg.extraTeachers?.length ? { extraTeacherSha256: cfg.extraTeachers.map(sha256) } : {}), objectiveOptions: objOpts, optimizerHyper: optimizer.hyper, teacherSha256: offline ? offline.teacherSha256 : teacher ? sha256(cfg.teacher!) : presetTeacher ? `preset:${cfg.teacher}` : null,
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
  const teacherOn = async (d: Dataset, label: string, withFeatures: boolean, runner = teacher) => {
    if (!runner) return undefined;
    const logits = new Float32Array(d.n * classes);
    let features: Float32Array | undefined;
    const B = 256, size = sampleSize(d);
    for (let s = 0; s < d.n; s += B) {
      const n = Math.min(B, d.n - s);
      const t = toModelInput(d.pixels.subarray(s * size, (s + n) * size), n, d.shape, teacherPrep!);
      const out = await runner.run(t);
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
  const valTeacher = offline ? offline.valTeacher : cfg.online ? undefined : (await teacherOn(valSet, 'teacher on validation', false))?.logits;
  const wantTrainTeacher = !augment && !cfg.online && (objective.needs.teacherLogits || featureObjective);
  const trainRun = offline ? undefined : wantTrainTeacher ? await teacherOn(trainSet, 'teacher on training data', featureObjective) : undefined;
  const trainTeacher = offline ? offline.trainTeacher : trainRun?.logits;
  const teacherFeatures = trainRun?.features ? { rows: trainRun.features, width: featureWidth } : undefined;
  const extraTeacherLogits: Float32Array[] = [];
  for (const [i, file] of (cfg.extraTeachers ?? []).entries()) {
    const runner = await TeacherRunner.open(file, { ep: cfg.ep, onLog: log.info });
    if (runner.numClasses !== classes) throw new UsageError(`teacher ${file} predicts ${runner.numClasses} classes, the first teacher ${classes}`, 'give teachers of the same classes');
    extraTeacherLogits.push((await teacherOn(trainSet, `teacher ${i + 2} on training data`, false, runner))!.logits);
    await runner.release();
  }

  const shapes: ObjectiveShapes = {
    classes, studentFeatures: model.graph.outputs.find((v) => v.name === 'features')?.shape?.[1] as number,
    studentMap: (model.graph.outputs.find((v) => v.name === 'feature_map')?.shape?.slice(1) as number[] | undefined),
    teacherFeatures: teacherFeatures?.width, teacherMap: tap?.map, teachers: 1 + extraTeacherLogits.length, online: !!cfg.online,
  };
  if (featureObjective && !shapes.studentFeatures) throw new UsageError(`student '${cfg.student}' has no features output`, 'use a student preset, or a student file whose classifier is a Gemm/MatMul');
  const loss = objective.build(objOpts, hasLabels, shapes);
  withAuxParams(model, objective.auxParams?.(objOpts, shapes, cfg.seed) ?? []);
  const onlineTeacher = cfg.online ? await openOnlineTeacher({ teacher: cfg.teacher!, inputShape: trainSet.shape, numClasses: classes, seed: cfg.seed,
    width: cfg.teacherWidth, depth: cfg.teacherDepth }, cfg.batch, cfg.ep) : undefined;
  const trainModel = onlineTeacher ? withOnlineTeacher(model, onlineTeacher.train, cfg.teacherLrScale ?? (presetTeacher ? 1 : 0.1)) : model;
  if (onlineTeacher) log.info(`online teacher ${cfg.teacher}: ${onlineTeacher.params.toLocaleString()} parameters, trained with the student`);
  const online = augment && teacher && objective.needs.teacherLogits ? async (x: Float32Array, n: number) => {
    // augmented student inputs are normalised pixels: undo the normalisation for the teacher
    const pixels = unnormalise(x, n, trainSet.shape, studentPrep);
    return (await teacher.run(toModelInput(pixels, n, trainSet.shape, teacherPrep!))).logits;
  } : undefined;

  const evaluator = await StudentEvaluator.create(evalModel, weightNames, cfg.ep);
  const stats = graphStats(buildStudent(cfg.student, { ...sOpts, batch: 1, mode: 'eval' }).graph);
  log.info(`student ${cfg.student}: ${stats.params.toLocaleString()} parameters, ${(stats.flops / 1e6).toFixed(1)} MFLOPs per sample; ${trainSet.n} training, ${valSet.n} validation samples`);

  const trainStep = buildTrainStep({ model: trainModel, loss, optimizer, clipNorm: cfg.clipNorm, loopSteps: cfg.loopSteps }).model;
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
    if (onlineTeacher) {
      const t = await onlineTeacher.logits(w, valX, valSet.n);
      m.val_agreement = agreement(logits, t, classes);
      if (valSet.labels) m.val_teacher_top1 = topK(t, valSet.labels, classes, 1);
    }
    return m;
  };
  const release = async () => { await evaluator.release(); await teacher?.release(); await onlineTeacher?.release(); };
  const alm = objective.metaLearnsWeights ? almSetup({
    options: objOpts, trainSet, trainX, valSet, valX, teacherLogits: [trainTeacher!, ...extraTeacherLogits], classes, evalModel,
    corrupted: noise?.corrupted, ep: cfg.ep, log: log.info, record: (r) => appendMetrics(paths, r), progress: log.progress,
  }) : undefined;
  const result = await train(trainModel, loss, optimizer, {
    n: trainSet.n, sampleDims: trainSet.shape, inputs: trainX, labels: trainSet.labels, classes, teacherOnline: online,
    teacherLogits: objective.needs.teacherLogits ? trainTeacher : undefined,
    tables: { ...(teacherFeatures ? { teacher_features: teacherFeatures } : {}), ...alm?.tables },
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
    ...alm?.hooks,
  }, resume).catch(async (e) => { await release(); throw e; }); // library callers get their sessions back
  if (result.stopped) {
    await release();
    log.info(`stopped; checkpoint saved to ${paths.last} (continue with --resume)`);
    return { runDir: paths.dir, student: '', metrics: {}, stopped: true };
  }

  const best = fs.existsSync(paths.best) ? loadCheckpoint(paths.best).values : result.runner.values;
  const weights = new Map(weightNames.map((k) => [k, best.get(k)!]));
  const phaseTwo: Record<string, number | string> = { ...(noise ? { label_noise_count: noise.count } : {}), ...alm?.report() };
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
  const final: Record<string, number | string> = { ...(await valMetrics(onlineTeacher ? new Map([...best, ...weights]) : weights)), best_epoch: result.progress.bestEpoch + 1, ...phaseTwo };
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
  if (onlineTeacher) {
    onlineTeacher.save(best, path.join(paths.dir, 'teacher.onnx'), { 'onnx_distill.objective': cfg.objective, 'onnx_distill.role': 'online teacher',
      'onnx_distill.preprocessing': JSON.stringify(studentPrep), 'onnx_distill.classes': String(classes) });
    final.teacher = path.join(paths.dir, 'teacher.onnx');
    final.teacher_params = onlineTeacher.params;
  }
  final.student_params = stats.params;
  if ((teacher || offline) && !onlineTeacher) final.teacher_params = graphStats(loadModel(cfg.teacher!).graph).params;
  appendMetrics(paths, { type: 'final', ...final });
  await release();
  if (opts.report) {
    // the run report is a view of the finished run: its failure is a log line, never a failed run
    try {
      const { writeReport } = await import('../report/report.js');
      log.info(`report: ${(await writeReport(paths.dir, { ep: cfg.ep, log: log.info, progress: log.progress })).file}`);
    } catch (e) {
      log.info(`report: not written (${(e as Error).message}); build it with \`onnx-distill report ${paths.dir}\``);
    }
  }
  return { runDir: paths.dir, student: paths.student, metrics: final, stopped: false };
}



function noisyLabels(d: Dataset, fraction: number, seed: number) {
  if (!d.labels) throw new UsageError(`--label-noise needs labelled data, and '${d.spec}' has no labels`);
  return corruptLabels(d.labels, d.classes ?? classCount(d.labels), fraction, seed);
}

/** Add an objective's own parameters (projection heads) to the trainable model. */
function withAuxParams(model: TrainableModel, aux: { name: string; init: Tensor; decay: boolean }[]): void {
  for (const p of aux) {
    if (model.graph.initializers.has(p.name)) throw new Error(`objective parameter '${p.name}' clashes with a student parameter`);
    model.graph.initializers.set(p.name, p.init);
    model.params.push(p.name);
    if (!p.decay) (model.noDecay ??= []).push(p.name);
  }
}

/** The training and validation sets of a run: --val, else the seeded --val-split of --data
 * (the run report re-creates the validation set with this). */
export async function runSplit(cfg: Pick<DistillConfig, 'data' | 'val' | 'valSplit' | 'seed' | 'teacher' | 'preprocessing'>,
  read: (spec: string) => Promise<Dataset> = (spec) => readDataset(spec, dataReadOptions(cfg))): Promise<{ train: Dataset; val: Dataset }> {
  const all = await read(cfg.data);
  return cfg.val ? { train: all, val: await read(cfg.val) } : splitDataset(all, cfg.valSplit, shuffled(all.n, cfg.seed));
}

/** How image folders are decoded for training: the geometry flags, else the teacher's
 * input size and channels (IDX, npy and mnist data are read as they are). */
export function dataReadOptions(cfg: Pick<DistillConfig, 'teacher' | 'preprocessing'>): { resize?: number; crop?: number; channels?: 1 | 3; size?: [number, number]; jpegDecoder?: 'jpeg-js' } {
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
