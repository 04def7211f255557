// Evaluate a classifier ONNX model on a data set: accuracy, agreement with a teacher,
// size ratios and latency per sample. Models run through the same runner as teachers,
// so fixed-batch, probability and log-probability outputs are handled alike.
import fs from 'node:fs';
import type { Dataset } from '../data/dataset.js';
import { sampleSize } from '../data/dataset.js';
import { preprocessingFor, toModelInput, type Preprocessing, type PreprocessFlags } from '../data/preprocess.js';
import { TeacherRunner } from '../runtime/teacher.js';
import { loadModel } from '../graph/serde.js';
import { graphStats } from '../graph/stats.js';
import { topK, agreement } from './metrics.js';
import type { EpChoice } from '../runtime/session.js';

export interface ModelOnData {
  runner: TeacherRunner;
  prep: Preprocessing;
  logits: Float32Array;
}

/** Preprocessing recorded in an onnx-distill student, else derived from its input and flags. */
export function preprocessingOf(file: string, runner: TeacherRunner, flags: PreprocessFlags): Preprocessing {
  const recorded = loadModel(file).metadata['onnx_distill.preprocessing'];
  return recorded ? JSON.parse(recorded) as Preprocessing : preprocessingFor(runner.inputInfo, flags);
}

export async function runOnData(file: string, data: Dataset, flags: PreprocessFlags, ep: EpChoice,
  progress?: (done: number, total: number) => void, log?: (l: string) => void): Promise<ModelOnData> {
  const runner = await TeacherRunner.open(file, { ep, onLog: log });
  const prep = preprocessingOf(file, runner, flags);
  const B = 256, size = sampleSize(data);
  let logits = new Float32Array(0);
  for (let s = 0; s < data.n; s += B) {
    const n = Math.min(B, data.n - s);
    const out = await runner.run(toModelInput(data.pixels.subarray(s * size, (s + n) * size), n, data.shape, prep));
    if (s === 0) logits = new Float32Array(data.n * runner.numClasses);
    logits.set(out.logits, s * runner.numClasses);
    progress?.(s + n, data.n);
  }
  return { runner, prep, logits };
}

/** Median wall time per sample of a batch-b forward pass (after warm-up). */
export async function latencyPerSample(m: ModelOnData, data: Dataset, b: number, reps = 10): Promise<number> {
  const size = sampleSize(data);
  const n = Math.min(b, data.n);
  const x = toModelInput(data.pixels.subarray(0, n * size), n, data.shape, m.prep);
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

export async function evaluateModel(file: string, data: Dataset, opts: { teacher?: string; flags: PreprocessFlags; teacherFlags: PreprocessFlags; ep: EpChoice;
  progress?: (label: string, done: number, total: number) => void; log?: (l: string) => void }): Promise<EvalReport> {
  const m = await runOnData(file, data, opts.flags, opts.ep, (d, t) => opts.progress?.('model', d, t), opts.log);
  const C = m.runner.numClasses;
  const rep: EvalReport = { model: file, data: data.spec, samples: data.n, classes: C };
  if (data.labels) {
    rep.top1 = topK(m.logits, data.labels, C, 1);
    if (C >= 5) rep.top5 = topK(m.logits, data.labels, C, 5);
  }
  rep.params = graphStats(loadModel(file).graph).params;
  rep.file_bytes = fs.statSync(file).size;
  rep.latency_ms_per_sample_b1 = await latencyPerSample(m, data, 1);
  rep.latency_ms_per_sample_b64 = await latencyPerSample(m, data, 64);
  if (opts.teacher) {
    const t = await runOnData(opts.teacher, data, opts.teacherFlags, opts.ep, (d, n) => opts.progress?.('teacher', d, n), opts.log);
    if (t.runner.numClasses !== C) rep.agreement = null;
    else rep.agreement = agreement(m.logits, t.logits, C);
    if (data.labels) rep.teacher_top1 = topK(t.logits, data.labels, t.runner.numClasses, 1);
    rep.teacher_params = graphStats(loadModel(opts.teacher).graph).params;
    rep.teacher_file_bytes = fs.statSync(opts.teacher).size;
    rep.param_ratio = (rep.params as number) / (rep.teacher_params as number);
    rep.file_size_ratio = (rep.file_bytes as number) / (rep.teacher_file_bytes as number);
    rep.teacher_latency_ms_per_sample_b1 = await latencyPerSample(t, data, 1);
    rep.teacher_latency_ms_per_sample_b64 = await latencyPerSample(t, data, 64);
    rep.speedup_b64 = (rep.teacher_latency_ms_per_sample_b64 as number) / (rep.latency_ms_per_sample_b64 as number);
    await t.runner.release();
  }
  await m.runner.release();
  return rep;
}
