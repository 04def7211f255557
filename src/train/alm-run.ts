// The alm objective's per-sample weight table and its meta-update between epochs.
//
// Table: lambda [N, K] over the N training samples, K = 1 + M (clamped form: the
// weights are lambda itself, in [0, 2]) or K = M (`convex`: weights (1 - sum lambda,
// lambda...), lambda >= 0 with sum <= 1). The table is saved in every checkpoint.
//
// Meta-update (every `meta_every` epochs from epoch `meta_start` on, before the epoch):
// the student's features f for all training and validation samples (eval mode, current
// weights), then for each training batch, with the whole clean validation split (or its
// next 4,096 samples when larger),
// `meta_steps` iterations of: the lookahead graph (objectives/alm-meta.ts) gives the exact
// d val_loss / d w for the batch at the student's current learning rate; the chain rule
// takes it to lambda; lambda moves against it by `meta_lr` and is projected back.
// Our choice, not the paper's: each step is divided by the batch's RMS meta-gradient, so
// `meta_lr` is the typical change of one weight per step whatever the loss scale (the raw
// gradient carries the factor lr / B and shrinks as training converges).
import type { Tensor } from '../graph/ir.js';
import { tensor } from '../graph/tensor.js';
import { createSession, type EpChoice, type Session } from '../runtime/session.js';
import { buildMetaStep } from './objectives/alm-meta.js';
import { classifierHead } from './head-fit.js';
import { StudentEvaluator } from './evaluator.js';
import type { TrainableModel } from './step.js';
import { attrInt } from '../graph/ir.js';
import { UsageError } from '../errors.js';

export const LAMBDA_STATE = 'alm.lambda';

export class AlmWeights {
  readonly lambda: Float32Array;
  /** the `alm_weights` table [N, 1 + M] the train step reads */
  readonly weights: Float32Array;
  readonly k: number;

  constructor(readonly n: number, readonly teachers: number, readonly convex: boolean) {
    this.k = convex ? teachers : 1 + teachers;
    this.lambda = new Float32Array(n * this.k);
    this.weights = new Float32Array(n * (1 + teachers));
    for (let i = 0; i < n; i++) {
      // lambda_im = 0.9, lambda_i0 = 1 - max_m lambda_im; convex: the 0.9 shared by the teachers
      if (convex) for (let m = 0; m < teachers; m++) this.lambda[i * this.k + m] = 0.9 / teachers;
      else {
        this.lambda[i * this.k] = 0.1;
        for (let m = 0; m < teachers; m++) this.lambda[i * this.k + 1 + m] = 0.9;
      }
    }
    this.refresh();
  }

  /** recompute the weights from lambda (all rows) */
  refresh(from = 0, to = this.n): void {
    const W = 1 + this.teachers;
    for (let i = from; i < to; i++) {
      if (!this.convex) for (let j = 0; j < W; j++) this.weights[i * W + j] = this.lambda[i * this.k + j];
      else {
        let sum = 0;
        for (let m = 0; m < this.teachers; m++) sum += (this.weights[i * W + 1 + m] = this.lambda[i * this.k + m]);
        this.weights[i * W] = 1 - sum;
      }
    }
  }

  /** lambda -= step * d(val)/d(weights) for row i, through the chain rule, then projected */
  update(i: number, gradW: ArrayLike<number>, step: number): void {
    const k = this.k, row = this.lambda.subarray(i * k, (i + 1) * k);
    if (!this.convex) {
      for (let j = 0; j < k; j++) row[j] = Math.min(2, Math.max(0, row[j] - step * gradW[j]));
    } else {
      // w0 = 1 - sum lambda: d/d lambda_m = g_m - g_0
      for (let m = 0; m < k; m++) row[m] = Math.min(1, Math.max(0, row[m] - step * (gradW[1 + m] - gradW[0])));
      const sum = row.reduce((a, v) => a + v, 0);
      if (sum > 1) for (let m = 0; m < k; m++) row[m] /= sum;
    }
    this.refresh(i, i + 1);
  }

  save(): Map<string, Tensor> {
    return new Map([[LAMBDA_STATE, tensor('float32', [this.n, this.k], this.lambda)]]);
  }

  load(values: Map<string, Tensor>): void {
    const t = values.get(LAMBDA_STATE);
    if (!t) return;
    if (t.data.length !== this.lambda.length) throw new UsageError(`the checkpoint's alm weight table is [${t.dims}], this run needs [${this.n}, ${this.k}]`, 'resume with the same data and teachers');
    this.lambda.set(t.data as Float32Array);
    this.refresh();
  }

  /** mean and quartiles of each weight column over a subset of rows */
  stats(rows: (i: number) => boolean): { count: number; columns: { mean: number; q25: number; median: number; q75: number }[] } {
    const W = 1 + this.teachers;
    const idx = Array.from({ length: this.n }, (_, i) => i).filter(rows);
    const columns = Array.from({ length: W }, (_, j) => {
      const v = idx.map((i) => this.weights[i * W + j]).sort((a, b) => a - b);
      const q = (p: number) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))] : NaN);
      return { mean: v.length ? v.reduce((a, x) => a + x, 0) / v.length : NaN, q25: q(0.25), median: q(0.5), q75: q(0.75) };
    });
    return { count: idx.length, columns };
  }
}

export interface MetaUpdateInput {
  evalModel: TrainableModel;
  weights: Map<string, Tensor>;
  trainX: Float32Array;
  labels: Int32Array;
  /** one [N, C] table per teacher */
  teacherLogits: Float32Array[];
  valX: Float32Array;
  valLabels: Int32Array;
  nVal: number;
  classes: number;
  lr: number;
  options: Record<string, number>;
  ep: EpChoice;
  progress?: (done: number, total: number) => void;
}

const META_BATCH = 256;
/** the whole validation split up to this size takes part in every lookahead (larger ones cycle) */
const META_VAL_BATCH = 4096;

/** One meta-update of the whole table; returns the mean lookahead validation loss. */
export async function metaUpdate(table: AlmWeights, m: MetaUpdateInput): Promise<number> {
  const { node, params } = classifierHead(m.evalModel.graph);
  if (attrInt(node, 'transB', 0) !== 1 || params.length !== 2) {
    throw new UsageError("alm's meta-step needs the student's classifier as Gemm(features, W [classes, width], bias, transB=1)", 'use a student preset');
  }
  const [wName, bName] = params;
  const names = [...m.weights.keys()];
  const evaluator = await StudentEvaluator.create(m.evalModel, names, m.ep);
  const feats = async (x: Float32Array, n: number) => (await evaluator.run(m.weights, x, n, ['features'])).features;
  const n = table.n;
  const trainF = await feats(m.trainX, n), valF = await feats(m.valX, m.nVal);
  await evaluator.release();
  const D = trainF.length / n, C = m.classes, M = table.teachers, B = META_BATCH, Bv = Math.min(META_VAL_BATCH, m.nVal);
  const session: Session = await createSession(buildMetaStep({ batch: B, valBatch: Bv, width: D, classes: C, teachers: M, temperature: m.options.temperature }), { ep: m.ep });
  const W = 1 + M;
  const fBuf = new Float32Array(B * D), yBuf = new BigInt64Array(B), tBuf = new Float32Array(M * B * C), wBuf = new Float32Array(B * W), mask = new Float32Array(B);
  const vfBuf = new Float32Array(Bv * D), vyBuf = new BigInt64Array(Bv), vMask = new Float32Array(Bv);
  const fixed = { weight: m.weights.get(wName)!, bias: m.weights.get(bName)!, lr: tensor('float32', [], [m.lr]) };
  let valPos = 0, lossSum = 0, lossCount = 0;
  try {
    for (let s = 0; s < n; s += B) {
      const cnt = Math.min(B, n - s);
      fBuf.fill(0); mask.fill(0); tBuf.fill(0); yBuf.fill(0n);
      fBuf.set(trainF.subarray(s * D, (s + cnt) * D));
      for (let r = 0; r < cnt; r++) { yBuf[r] = BigInt(m.labels[s + r]); mask[r] = 1; }
      for (let t = 0; t < M; t++) tBuf.set(m.teacherLogits[t].subarray(s * C, (s + cnt) * C), t * B * C);
      // the next validation batch, cycling
      vfBuf.fill(0); vMask.fill(0);
      for (let r = 0; r < Bv; r++) {
        const v = (valPos + r) % m.nVal;
        vfBuf.set(valF.subarray(v * D, (v + 1) * D), r * D);
        vyBuf[r] = BigInt(m.valLabels[v]);
        vMask[r] = 1;
      }
      valPos = (valPos + Bv) % m.nVal;
      for (let it = 0; it < m.options.meta_steps; it++) {
        wBuf.fill(0);
        wBuf.set(table.weights.subarray(s * W, (s + cnt) * W));
        const out = await session.run({
          features: tensor('float32', [B, D], fBuf), labels: { dtype: 'int64', dims: [B], data: yBuf }, teacher_logits: tensor('float32', [M, B, C], tBuf),
          weights: tensor('float32', [B, W], wBuf), mask: tensor('float32', [B], mask), ...fixed,
          val_features: tensor('float32', [Bv, D], vfBuf), val_labels: { dtype: 'int64', dims: [Bv], data: vyBuf }, val_mask: tensor('float32', [Bv], vMask),
        });
        const g = out.meta_grad.data as Float32Array;
        if (it === 0) { lossSum += (out.val_loss.data as Float32Array)[0]; lossCount++; }
        let sq = 0;
        for (let k = 0; k < cnt * W; k++) sq += g[k] * g[k];
        const rms = Math.sqrt(sq / (cnt * W));
        if (!(rms > 0) || !Number.isFinite(rms)) break;
        for (let r = 0; r < cnt; r++) table.update(s + r, g.subarray(r * W, (r + 1) * W), m.options.meta_lr / rms);
      }
      m.progress?.(s + cnt, n);
    }
  } finally {
    await session.release();
  }
  return lossSum / Math.max(1, lossCount);
}
