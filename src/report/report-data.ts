// The numbers of the run report: read a run folder (config.json, metrics.jsonl,
// student.onnx), re-create its validation set exactly as `distill` held it out, evaluate
// the student and the teacher on (at most `maxSamples` of) it with eval/evaluate.ts, and
// draw the plots. The evaluation numbers go into metrics.jsonl as one {"type":"report"}
// record (replacing an older one), so scripts read them there, never from the HTML.
import fs from 'node:fs';
import path from 'node:path';
import { runSplit } from '../train/distill.js';
import { runPaths, replaceReportRecord } from '../train/run-dir.js';
import { sliceDataset, type Dataset } from '../data/dataset.js';
import { evaluateModel, runOnData, type EvalReport, type FeatureEvalOptions } from '../eval/evaluate.js';
import { calibration, type ReliabilityBin } from '../eval/calibration.js';
import { reliabilityPng, panelName } from '../eval/reliability-plot.js';
import { graphStats } from '../graph/stats.js';
import { loadModel } from '../graph/serde.js';
import { confusionMatrix, confusionPng, lineChartPng, type Series } from './report-plots.js';
import { reproduceCommand } from './reproduce.js';
import { UsageError } from '../errors.js';
import type { PreprocessFlags } from '../data/preprocess.js';
import type { EpChoice } from '../runtime/session.js';

/** Default cap on the validation samples the report evaluates. */
export const REPORT_MAX_SAMPLES = 2000;
/** Confusion matrices are drawn up to this many classes. */
const MAX_CONFUSION_CLASSES = 40;
const LABEL_FREE = new Set(['tintem', 'proteus']);

export type MetricRecord = Record<string, unknown>;

export interface ReportPlot {
  id: string;
  title: string;
  png: Buffer;
  caption?: string;
}

export interface ReportData {
  runDir: string;
  config: Record<string, unknown>;
  /** the {"type":"report"} record written to metrics.jsonl */
  record: Record<string, number | string | boolean | null>;
  final?: MetricRecord;
  epochs: MetricRecord[];
  headEpochs: MetricRecord[];
  almMeta: MetricRecord[];
  plots: ReportPlot[];
  reproduce: string;
  /** things not measured, and why */
  notes: string[];
  teacherFile?: string;
  studentFile: string;
  generated: string;
}

export interface ReportOptions {
  ep?: EpChoice;
  maxSamples?: number;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number) => void;
}

/** metrics.jsonl records (lines torn by a killed process are skipped). */
export function readMetrics(file: string): MetricRecord[] {
  if (!fs.existsSync(file)) return [];
  const out: MetricRecord[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l));
    } catch { /* torn line */ }
  }
  return out;
}

/** The teacher model file of a run, when there is one to run: the online teacher's export, else config.teacher. */
function teacherFileOf(runDir: string, config: Record<string, unknown>): string | undefined {
  if (config.online) {
    const t = path.join(runDir, 'teacher.onnx');
    return fs.existsSync(t) ? t : undefined;
  }
  const t = config.teacher;
  return typeof t === 'string' && /\.onnx$/i.test(t) && fs.existsSync(t) ? t : undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Gather the report's numbers and plots for a finished run in `runDir`; writes the report record to metrics.jsonl. */
export async function gatherReport(runDir: string, opts: ReportOptions = {}): Promise<ReportData> {
  const paths = runPaths(runDir);
  const log = opts.log ?? (() => {});
  if (!fs.existsSync(paths.config)) throw new UsageError(`'${runDir}' holds no onnx-distill run (no config.json)`, 'give the --out folder of a distill run');
  if (!fs.existsSync(paths.student)) throw new UsageError(`'${runDir}' has no student.onnx: the run has not finished`, 'finish it with `distill --out RUNDIR --resume`');
  const config = JSON.parse(fs.readFileSync(paths.config, 'utf8')) as Record<string, unknown>;
  const records = readMetrics(paths.metrics);
  const epochs = records.filter((r) => r.type === 'epoch');
  const headEpochs = records.filter((r) => r.type === 'head_epoch');
  const almMeta = records.filter((r) => r.type === 'alm_meta');
  const final = [...records].reverse().find((r) => r.type === 'final');
  const notes: string[] = [];
  const ep = opts.ep ?? (config.ep as EpChoice | undefined) ?? 'auto';
  const flags = (config.preprocessing ?? {}) as PreprocessFlags;
  const teacherFile = teacherFileOf(runDir, config);
  if (config.teacher && !teacherFile) notes.push(`teacher ${String(config.teacher)} is not a model file here (missing, or a preset): the student is shown alone`);

  // the validation set, exactly as distill held it out, capped
  const split = await runSplit(config as never);
  const cap = opts.maxSamples ?? REPORT_MAX_SAMPLES;
  const valTotal = split.val.n;
  const val: Dataset = valTotal > cap ? sliceDataset(split.val, 0, cap, `${split.val.spec} (first ${cap} of ${valTotal} validation samples)`) : split.val;
  if (valTotal > cap) notes.push(`evaluated on the first ${cap} of the ${valTotal} validation samples (the report's cap; \`report --max-samples N\` changes it)`);

  const labelFree = LABEL_FREE.has(String(config.objective));
  let features: FeatureEvalOptions | undefined;
  if (labelFree) {
    if (split.train.labels && val.labels) {
      const nTrain = Math.min(split.train.n, cap);
      features = { train: split.train.n > nTrain ? sliceDataset(split.train, 0, nTrain) : split.train, teacher: typeof config.features === 'string' ? config.features : 'auto' };
      notes.push(`kNN and linear probe: trained on the first ${nTrain} training samples, tested on the validation samples; OOD AUROC needs out-of-distribution data and is not measured in the report (\`eval --features --ood\`)`);
    } else {
      features = { teacher: typeof config.features === 'string' ? config.features : 'auto' };
      notes.push('kNN, linear probe and OOD metrics need labelled training and validation data: not measured');
    }
  }
  const evalOpts = { teacher: teacherFile, flags, teacherFlags: flags, ep, progress: opts.progress, log };
  let rep: EvalReport;
  try {
    rep = await evaluateModel(paths.student, val, { ...evalOpts, features });
  } catch (e) {
    if (!features) throw e;
    notes.push(`feature metrics failed (${(e as Error).message}): left out`);
    rep = await evaluateModel(paths.student, val, evalOpts);
  }

  // logits for the confusion matrix and the reliability diagrams
  const s = await runOnData(paths.student, val, flags, ep, (d, n) => opts.progress?.('student logits', d, n), log);
  await s.runner.release();
  const C = s.runner.numClasses;
  let t: { logits: Float32Array; labels?: Int32Array; classes: number } | undefined;
  if (teacherFile) {
    const r = await runOnData(teacherFile, val, flags, ep, (d, n) => opts.progress?.('teacher logits', d, n), log);
    await r.runner.release();
    t = { logits: r.logits, labels: r.labels, classes: r.runner.numClasses };
  }

  const studentStats = graphStats(loadModel(paths.student).graph);
  const teacherStats = teacherFile ? graphStats(loadModel(teacherFile).graph) : undefined;
  const record: ReportData['record'] = { type: 'report', val_samples: val.n, val_samples_total: valTotal, capped: valTotal > cap };
  for (const [k, v] of Object.entries(rep)) if (k !== 'reliability_png' && k !== 'model' && k !== 'data') record[k] = v;
  record.flops = studentStats.flops;
  if (teacherStats) record.teacher_flops = teacherStats.flops;
  const ratio = (a: unknown, b: unknown) => (num(a) !== undefined && num(b) !== undefined && num(b)! > 0 ? num(a)! / num(b)! : null);
  if (teacherFile) {
    record.compression_ratio = ratio(rep.teacher_params, rep.params);
    record.file_compression_ratio = ratio(rep.teacher_file_bytes, rep.file_bytes);
    record.flops_ratio = ratio(record.teacher_flops, record.flops);
    record.speedup_b1 = ratio(rep.teacher_latency_ms_per_sample_b1, rep.latency_ms_per_sample_b1);
  }
  record.generated = new Date().toISOString();

  // plots
  const plots: ReportPlot[] = [];
  const ep1 = (r: MetricRecord) => (num(r.epoch) ?? 0) + 1;
  const series = (rs: MetricRecord[], key: string, name = key, extra: Partial<Series> = {}): Series => ({ name, points: rs.filter((r) => num(r[key]) !== undefined).map((r) => [ep1(r), r[key] as number]), ...extra });
  if (epochs.length) {
    plots.push({ id: 'loss', title: 'Training loss', png: await lineChartPng({ title: 'Training loss per epoch', xLabel: 'epoch', yLabel: 'loss', series: [series(epochs, 'loss', 'train loss')] }, log) });
    const acc = [series(epochs, 'val_top1', 'val top-1'), series(epochs, 'val_agreement', 'val agreement'), series(epochs, 'val_teacher_top1', 'online teacher val top-1')].filter((x) => x.points.length);
    const tTop1 = num(final?.teacher_val_top1);
    if (tTop1 !== undefined && acc.length) acc.push({ name: 'teacher val top-1', points: [[ep1(epochs[0]), tTop1], [ep1(epochs[epochs.length - 1]), tTop1]], dashed: true, color: '#7f7f7f' });
    if (acc.length) plots.push({ id: 'accuracy', title: 'Validation accuracy and agreement', png: await lineChartPng({ title: acc.some((x) => x.name !== 'val top-1') ? 'Validation accuracy and agreement with the teacher' : 'Validation accuracy', xLabel: 'epoch', yLabel: 'fraction', series: acc }, log) });
    plots.push({ id: 'lr', title: 'Learning rate', png: await lineChartPng({ title: 'Learning rate (at the end of each epoch)', xLabel: 'epoch', yLabel: 'learning rate', series: [series(epochs, 'lr', 'lr')] }, log) });
  }
  if (headEpochs.length) {
    plots.push({ id: 'head', title: 'Classifier head fit', png: await lineChartPng({ title: 'Classifier head fit (frozen features)', xLabel: 'head epoch', yLabel: 'value',
      series: [series(headEpochs, 'loss', 'head loss'), series(headEpochs, 'head_val_agreement', 'head val agreement')] }, log) });
  }
  if (almMeta.length) {
    const keys = [...new Set(almMeta.flatMap((r) => Object.keys(r)).filter((k) => /^alm_w_.+_(clean|corrupted|all)_mean$/.test(k)))];
    if (keys.length) {
      plots.push({ id: 'alm', title: 'Learned mixing weights', png: await lineChartPng({ title: 'Mean learned weight per meta-update', xLabel: 'epoch (meta-update before it)', yLabel: 'weight',
        series: keys.map((k) => series(almMeta, k, k.replace(/^alm_w_/, '').replace(/_mean$/, ''))) }, log) });
    }
  }
  const panels = [];
  if (s.labels) {
    const sc = calibration(s.logits, s.labels, C);
    panels.push(panel(`student: ${panelName(paths.student)}`, sc.bins, sc.ece, sc.accuracy, sc.n));
    if (t?.labels) {
      const tc = calibration(t.logits, t.labels, t.classes);
      panels.push(panel(`teacher: ${panelName(teacherFile!)}`, tc.bins, tc.ece, tc.accuracy, tc.n));
    }
    plots.push({ id: 'reliability', title: 'Reliability diagrams', png: await reliabilityPng(panels, log), caption: '15 equal-width confidence bins: bars are the accuracy per bin, red the gap to the mean confidence; the dashed diagonal is perfect calibration' });
    if (C <= MAX_CONFUSION_CLASSES) {
      plots.push({ id: 'confusion', title: 'Confusion matrix (student)', png: await confusionPng(confusionMatrix(s.logits, s.labels, C), { title: `Student confusion matrix (${s.labels.length} validation samples)` }, log),
        caption: 'rows: true class, columns: predicted class; shade: fraction of the row' });
    } else notes.push(`confusion matrix: ${C} classes is too many to draw (up to ${MAX_CONFUSION_CLASSES})`);
  } else notes.push('the validation data has no labels: accuracy, calibration, reliability diagrams and the confusion matrix are not measured');

  replaceReportRecord(paths, record);
  return {
    runDir, config, record, final, epochs, headEpochs, almMeta, plots, reproduce: reproduceCommand(config), notes, teacherFile,
    studentFile: paths.student, generated: String(record.generated),
  };
}

function panel(name: string, bins: ReliabilityBin[], ece: number, accuracy: number, n: number) {
  return { name, bins, ece, subtitle: `top-1 ${(100 * accuracy).toFixed(2)}%, ${n} samples` };
}
