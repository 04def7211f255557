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

/** Run a classifier over a data source, decoding ahead of inference. */
export async function runOnData(file: string, data: EvalData, flags: PreprocessFlags, ep: EpChoice,
  progress?: (done: number, total: number) => void, log?: (l: string) => void, batch?: number): Promise<ModelOnData> {
  const src = asSource(data);
  const runner = await TeacherRunner.open(file, { ep, onLog: log });
  const prep = preprocessingOf(file, runner, flags);
  // about 32 MB of float pixels per batch: large buffers cost page faults, not speed
  batch ??= Math.max(8, Math.min(256, Math.floor(2 ** 23 / prep.size.reduce((a, d) => a * d, 1))));
  const C = runner.numClasses;
  const logits = new Float32Array(src.n * C);
  const labels = src.labels ? new Int32Array(src.n) : undefined;
  const failed: FailedSample[] = [];
  let rows = 0;
  for await (const r of readAhead(src, prep, batch)) {
    failed.push(...r.failed);
    if (r.index.length) {
      const out = await runner.run(r.input);
      logits.set(out.logits, rows * C);
      if (labels && r.labels) labels.set(r.labels, rows);
      rows += r.index.length;
    }
    progress?.(r.end, src.n);
  }
  return { runner, prep, logits: logits.subarray(0, rows * C), labels: labels?.subarray(0, rows), failed, src };
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

export async function evaluateModel(file: string, data: EvalData, opts: { teacher?: string; flags: PreprocessFlags; teacherFlags: PreprocessFlags; ep: EpChoice;
  progress?: (label: string, done: number, total: number) => void; log?: (l: string) => void }): Promise<EvalReport> {
  const m = await runOnData(file, data, opts.flags, opts.ep, (d, t) => opts.progress?.('model', d, t), opts.log);
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
  rep.params = graphStats(loadModel(file).graph).params;
  rep.file_bytes = fs.statSync(file).size;
  rep.latency_ms_per_sample_b1 = await latencyPerSample(m, 1);
  rep.latency_ms_per_sample_b64 = await latencyPerSample(m, 64);
  if (opts.teacher) {
    const t = await runOnData(opts.teacher, m.src, opts.teacherFlags, opts.ep, (d, n) => opts.progress?.('teacher', d, n), opts.log);
    if (t.runner.numClasses !== C) rep.agreement = null;
    else rep.agreement = agreement(m.logits, t.logits, C);
    if (t.labels) rep.teacher_top1 = topK(t.logits, t.labels, t.runner.numClasses, 1);
    rep.teacher_params = graphStats(loadModel(opts.teacher).graph).params;
    rep.teacher_file_bytes = fs.statSync(opts.teacher).size;
    rep.param_ratio = (rep.params as number) / (rep.teacher_params as number);
    rep.file_size_ratio = (rep.file_bytes as number) / (rep.teacher_file_bytes as number);
    rep.teacher_latency_ms_per_sample_b1 = await latencyPerSample(t, 1);
    rep.teacher_latency_ms_per_sample_b64 = await latencyPerSample(t, 64);
    rep.speedup_b64 = (rep.teacher_latency_ms_per_sample_b64 as number) / (rep.latency_ms_per_sample_b64 as number);
    await t.runner.release();
  }
  await m.runner.release();
  return rep;
}
