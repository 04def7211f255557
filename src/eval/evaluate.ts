// Evaluate a classifier ONNX model on a data set: accuracy, agreement with a teacher,
// size ratios and latency per sample. Models run through the same runner as teachers,
// so fixed-batch, probability and log-probability outputs are handled alike.
import fs from 'node:fs';
import type { Dataset } from '../data/dataset.js';
import { preprocessingFor, type Preprocessing, type PreprocessFlags } from '../data/preprocess.js';
import { datasetSource, readAhead, type FailedSample, type SampleSource } from '../data/source.js';
import { TeacherRunner } from '../runtime/teacher.js';
import { loadModel } from '../graph/serde.js';
import { graphStats } from '../graph/stats.js';
import { topK, agreement } from './metrics.js';
import type { EpChoice } from '../runtime/session.js';
import { findClassifierOutput, findFeatureTap } from '../graph/surgery.js';
import { GraphError, UsageError } from '../errors.js';
import { knnAccuracy, linearCka, linearProbe, oodMetrics } from './feature-metrics.js';
import { calibration, type CalibrationReport } from './calibration.js';
import { panelName, writeReliabilityPng, type ReliabilityPanel } from './reliability-plot.js';

export interface ModelOnData {
  runner: TeacherRunner;
  prep: Preprocessing;
  /** rows of the samples that decoded, in source order */
  logits: Float32Array;
  /** labels of those rows, when the data is labelled */
  labels?: Int32Array;
  /** samples that could not be decoded (left out of logits) */
  failed: FailedSample[];
  src: SampleSource;
  /** rows of the requested features tensor, flattened: [rows, featureDim] */
  features?: Float32Array;
  featureDim?: number;
}

/** Preprocessing recorded in an onnx-distill student, else derived from its input and flags.
 * Geometry flags (--resize, --crop) complete a recorded preprocessing that has none. */
export function preprocessingOf(file: string, runner: TeacherRunner, flags: PreprocessFlags): Preprocessing {
  const recorded = loadModel(file).metadata['onnx_distill.preprocessing'];
  if (!recorded) return preprocessingFor(runner.inputInfo, flags);
  const p = JSON.parse(recorded) as Preprocessing;
  if (flags.resize === undefined && flags.crop === undefined) return p;
  const geometry = preprocessingFor(runner.inputInfo, { resize: flags.resize, crop: flags.crop });
  return { ...p, resize: p.resize ?? geometry.resize, crop: p.crop ?? geometry.crop };
}

export type EvalData = SampleSource | Dataset;
const asSource = (d: EvalData): SampleSource => ('read' in d ? d : datasetSource(d));

/** Run a classifier over a data source, decoding ahead of inference; `features` names a
 * model tensor (a graph output or any value) to collect as well, one flattened row per sample. */
export async function runOnData(file: string, data: EvalData, flags: PreprocessFlags, ep: EpChoice,
  progress?: (done: number, total: number) => void, log?: (l: string) => void, batch?: number, features?: string): Promise<ModelOnData> {
  const src = asSource(data);
  const runner = await openRunner(file, ep, log, features);
  const prep = preprocessingOf(file, runner, flags);
  return { runner, prep, src, ...(await collectOnData(runner, prep, src, { features, progress, batch })) };
}

async function openRunner(file: string, ep: EpChoice, log?: (l: string) => void, features?: string): Promise<TeacherRunner> {
  try {
    return await TeacherRunner.open(file, { ep, onLog: log, features: features ? [features] : undefined });
  } catch (e) {
    if (features && e instanceof GraphError && e.message.includes(`no tensor named '${features}'`)) {
      throw new UsageError(`${file} has no tensor named '${features}' to take features from`, `${e.hint}; choose the features with --model-features or --teacher-features`);
    }
    throw e;
  }
}

/** Logits (and the `features` tensor, when named) of an open runner over a source. */
export async function collectOnData(runner: TeacherRunner, prep: Preprocessing, src: SampleSource,
  opts: { features?: string; progress?: (done: number, total: number) => void; batch?: number } = {}): Promise<Omit<ModelOnData, 'runner' | 'prep' | 'src'>> {
  // about 32 MB of float pixels per batch: large buffers cost page faults, not speed
  const batch = opts.batch ?? Math.max(8, Math.min(256, Math.floor(2 ** 23 / prep.size.reduce((a, d) => a * d, 1))));
  const C = runner.numClasses;
  const logits = new Float32Array(src.n * C);
  const labels = src.labels ? new Int32Array(src.n) : undefined;
  const failed: FailedSample[] = [];
  let rows = 0, feats: Float32Array | undefined, dim = 0;
  for await (const r of readAhead(src, prep, batch)) {
    failed.push(...r.failed);
    if (r.index.length) {
      const out = await runner.run(r.input);
      logits.set(out.logits, rows * C);
      if (labels && r.labels) labels.set(r.labels, rows);
      if (opts.features) {
        const t = opts.features === runner.outputName ? out.raw : out.features?.[opts.features];
        const n = r.index.length;
        if (!t || t.dims[0] !== n || t.data.length % n) {
          throw new GraphError(`${runner.file}: features '${opts.features}' came back shaped [${t?.dims ?? '?'}] for a batch of ${n}`, 'choose a tensor whose first axis is the batch');
        }
        if (!feats) feats = new Float32Array(src.n * (dim = t.data.length / n));
        if (t.data.length !== n * dim) throw new GraphError(`${runner.file}: features '${opts.features}' changed size between batches ([${t.dims}], ${dim} per sample before)`);
        feats.set(t.data as Float32Array, rows * dim);
      }
      rows += r.index.length;
    }
    opts.progress?.(r.end, src.n);
  }
  return {
    logits: logits.subarray(0, rows * C), labels: labels?.subarray(0, rows), failed,
    ...(opts.features ? { features: feats?.subarray(0, rows * dim) ?? new Float32Array(0), featureDim: dim } : {}),
  };
}

/** Median wall time per sample of a batch-b forward pass (after warm-up). */
export async function latencyPerSample(m: ModelOnData, b: number, reps = 10): Promise<number> {
  const x = (await m.src.read(0, Math.min(b, m.src.n), m.prep)).input;
  const n = x.dims[0];
  if (n === 0) return NaN;
  await m.runner.run(x);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await m.runner.run(x);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / n);
  }
  return times.sort((a, c) => a - c)[Math.floor(reps / 2)];
}

export interface EvalReport {
  [k: string]: number | string | null;
}

export interface FeatureEvalOptions {
  /** the model's features tensor (default 'features', as onnx-distill students export) */
  model?: string;
  /** the teacher's features tensor, or 'auto' (default): the input of its final classifier Gemm/MatMul */
  teacher?: string;
  /** reference set: kNN and the linear probe train on it, OOD scores are similarities to it */
  train?: EvalData;
  /** out-of-distribution data; the evaluated data is the in-distribution side */
  ood?: EvalData;
  /** neighbours for kNN (default 20) */
  k?: number;
}

/** ece, ece_adaptive, mce, nll, brier (prefixed); null where not finite (no samples). */
function calibrationKeys(c: CalibrationReport, prefix: string): EvalReport {
  const v = (x: number) => (Number.isNaN(x) ? null : x);
  return { [`${prefix}ece`]: v(c.ece), [`${prefix}ece_adaptive`]: v(c.eceAdaptive), [`${prefix}mce`]: v(c.mce), [`${prefix}nll`]: v(c.nll), [`${prefix}brier`]: v(c.brier) };
}

const calibrationPanel = (role: string, file: string, c: CalibrationReport): ReliabilityPanel => ({
  name: `${role}: ${panelName(file)}`, bins: c.bins, ece: c.ece,
  subtitle: `top-1 ${(100 * c.accuracy).toFixed(2)}%, ${c.n} samples, MCE ${(100 * c.mce).toFixed(2)}%, NLL ${c.nll.toFixed(4)}`,
});

/** Evaluate `file` on `data`. With labelled data the report includes the calibration metrics
 * of eval/calibration.ts (15 bins); `reliability` names a PNG for the reliability diagram
 * (model, and teacher beside it when given), which needs labels. */
export async function evaluateModel(file: string, data: EvalData, opts: { teacher?: string; flags: PreprocessFlags; teacherFlags: PreprocessFlags; ep: EpChoice;
  progress?: (label: string, done: number, total: number) => void; log?: (l: string) => void; features?: FeatureEvalOptions; reliability?: string }): Promise<EvalReport> {
  if (opts.reliability && !asSource(data).labels) throw new UsageError(`--reliability needs labelled data: ${asSource(data).spec} has no labels`);
  const fo = opts.features;
  const modelFeatures = fo ? fo.model ?? 'features' : undefined;
  const m = await runOnData(file, data, opts.flags, opts.ep, (d, t) => opts.progress?.('model', d, t), opts.log, undefined, modelFeatures);
  const C = m.runner.numClasses;
  const rows = m.logits.length / C;
  const rep: EvalReport = { model: file, data: m.src.spec, samples: rows, classes: C };
  if (m.failed.length) {
    rep.unreadable = m.failed.length;
    opts.log?.(`${m.failed.length} unreadable sample(s) left out, e.g. ${m.failed[0].id}: ${m.failed[0].reason}`);
  }
  if (m.labels) {
    rep.top1 = topK(m.logits, m.labels, C, 1);
    if (C >= 5) rep.top5 = topK(m.logits, m.labels, C, 5);
  }
  const cal = m.labels ? calibration(m.logits, m.labels, C) : undefined;
  if (cal) Object.assign(rep, calibrationKeys(cal, ''));
  rep.params = graphStats(loadModel(file).graph).params;
  rep.file_bytes = fs.statSync(file).size;
  rep.latency_ms_per_sample_b1 = await plainLatency(m, 1, !!fo, opts.ep);
  rep.latency_ms_per_sample_b64 = await plainLatency(m, 64, !!fo, opts.ep);
  let t: ModelOnData | undefined;
  let teacherCal: CalibrationReport | undefined;
  if (opts.teacher) {
    const teacherFeatures = fo ? teacherTap(opts.teacher, fo.teacher ?? 'auto') : undefined;
    t = await runOnData(opts.teacher, m.src, opts.teacherFlags, opts.ep, (d, n) => opts.progress?.('teacher', d, n), opts.log, undefined, teacherFeatures);
    if (t.runner.numClasses !== C) rep.agreement = null;
    else rep.agreement = agreement(m.logits, t.logits, C);
    if (t.labels) rep.teacher_top1 = topK(t.logits, t.labels, t.runner.numClasses, 1);
    teacherCal = t.labels ? calibration(t.logits, t.labels, t.runner.numClasses) : undefined;
    if (teacherCal) Object.assign(rep, calibrationKeys(teacherCal, 'teacher_'));
    rep.teacher_params = graphStats(loadModel(opts.teacher).graph).params;
    rep.teacher_file_bytes = fs.statSync(opts.teacher).size;
    rep.param_ratio = (rep.params as number) / (rep.teacher_params as number);
    rep.file_size_ratio = (rep.file_bytes as number) / (rep.teacher_file_bytes as number);
    rep.teacher_latency_ms_per_sample_b1 = await plainLatency(t, 1, !!fo, opts.ep);
    rep.teacher_latency_ms_per_sample_b64 = await plainLatency(t, 64, !!fo, opts.ep);
    rep.speedup_b64 = (rep.teacher_latency_ms_per_sample_b64 as number) / (rep.latency_ms_per_sample_b64 as number);
  }
  if (fo) {
    if (!fo.train) opts.log?.('features: no --train reference set, so kNN, linear probe and OOD metrics are null');
    else if (!fo.ood) opts.log?.('features: no --ood data, so the OOD metrics are null');
    const ms = await gatherFeatures(m, modelFeatures!, fo, 'model', opts.progress);
    if (fo.train && !(ms.trainLabels && ms.dataLabels)) opts.log?.('features: kNN and the linear probe need labels on --train and --data; they are null');
    Object.assign(rep, await featureScores(ms, fo, '', opts));
    if (t) {
      const ts = await gatherFeatures(t, t.runner.featureNames[0] ?? t.runner.outputName, fo, 'teacher', opts.progress);
      Object.assign(rep, await featureScores(ts, fo, 'teacher_', opts));
      rep.cka = ms.data.length && ts.data.length && ms.data.length / ms.d === ts.data.length / ts.d
        ? await step(opts.log, `CKA, model ${ms.d}-d vs teacher ${ts.d}-d features`, () => linearCka(ms.data, ms.d, ts.data, ts.d, { ep: opts.ep }))
        : null;
    }
  }
  await t?.runner.release();
  await m.runner.release();
  if (opts.reliability && cal) {
    const panels = [calibrationPanel('model', file, cal)];
    if (opts.teacher && teacherCal) panels.push(calibrationPanel('teacher', opts.teacher, teacherCal));
    await writeReliabilityPng(opts.reliability, panels, opts.log);
    rep.reliability_png = opts.reliability;
  }
  return rep;
}

/** Latency as without feature taps: with --features the timing runs on a runner of its own. */
async function plainLatency(m: ModelOnData, b: number, tapped: boolean, ep: EpChoice): Promise<number> {
  if (!tapped) return latencyPerSample(m, b);
  const runner = await TeacherRunner.open(m.runner.file, { ep });
  try {
    return await latencyPerSample({ ...m, runner }, b);
  } finally {
    await runner.release();
  }
}

/** --teacher-features: a tensor name, or 'auto' for the input of the final classifier layer. */
function teacherTap(file: string, wanted: string): string {
  if (wanted !== 'auto') return wanted;
  const model = loadModel(file);
  return findFeatureTap(model, findClassifierOutput(model).name);
}

interface FeatureSets { d: number; data: Float32Array; dataLabels?: Int32Array; train?: Float32Array; trainLabels?: Int32Array; ood?: Float32Array }

async function gatherFeatures(m: ModelOnData, name: string, fo: FeatureEvalOptions, who: string,
  progress?: (label: string, done: number, total: number) => void): Promise<FeatureSets> {
  const sets: FeatureSets = { d: m.featureDim ?? 0, data: m.features ?? new Float32Array(0), dataLabels: m.labels };
  const run = async (d: EvalData, what: string) => {
    const r = await collectOnData(m.runner, m.prep, asSource(d), { features: name, progress: (k, n) => progress?.(`${who} ${what}`, k, n) });
    if (r.featureDim !== sets.d && sets.d && r.featureDim) throw new GraphError(`${m.runner.file}: features '${name}' have ${r.featureDim} values per sample on --${what} but ${sets.d} on --data`);
    return r;
  };
  if (fo.train) {
    const r = await run(fo.train, 'train');
    sets.train = r.features;
    sets.trainLabels = r.labels;
  }
  if (fo.ood) sets.ood = (await run(fo.ood, 'ood')).features;
  return sets;
}

async function step<T>(log: ((l: string) => void) | undefined, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const v = await fn();
  log?.(`features: ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return v;
}

/** knn_top1, linear_probe_top1, ood_auroc, ood_fpr95 (prefixed), null where the data do not allow them. */
async function featureScores(s: FeatureSets, fo: FeatureEvalOptions, prefix: string, opts: { ep: EpChoice; log?: (l: string) => void }): Promise<EvalReport> {
  const out: EvalReport = { [`${prefix}knn_top1`]: null, [`${prefix}linear_probe_top1`]: null, [`${prefix}ood_auroc`]: null, [`${prefix}ood_fpr95`]: null };
  const who = `${prefix ? 'teacher' : 'model'} ${s.d}-d`;
  if (!s.train?.length || !s.data.length) return out;
  if (s.trainLabels && s.dataLabels) {
    const k = fo.k ?? 20;
    out[`${prefix}knn_top1`] = await step(opts.log, `${k}-NN, ${who}`, () => knnAccuracy(s.train!, s.trainLabels!, s.data, s.dataLabels!, s.d, { k, ep: opts.ep }));
    out[`${prefix}linear_probe_top1`] = await step(opts.log, `linear probe, ${who}`, () => linearProbe(s.train!, s.trainLabels!, s.data, s.dataLabels!, s.d, { ep: opts.ep }));
  }
  if (s.ood?.length) {
    const r = await step(opts.log, `1-NN OOD, ${who}`, () => oodMetrics(s.train!, s.data, s.ood!, s.d, { ep: opts.ep }));
    out[`${prefix}ood_auroc`] = r.auroc;
    out[`${prefix}ood_fpr95`] = r.fpr95;
  }
  return out;
}
