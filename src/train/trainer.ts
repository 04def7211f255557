// The training loop: seeded shuffling, optional augmentation, warm-up + cosine
// learning rate, K-step fused graphs with a 1-step graph for leftovers, a masked
// short last batch, validation each epoch, best/last checkpoints, exact resume,
// Ctrl-C saves first, and a NaN/inf loss stops with the last good checkpoint kept.
import fs from 'node:fs';
import type { Tensor } from '../graph/ir.js';
import { tensor } from '../graph/tensor.js';
import { createSession } from '../runtime/session.js';
import { buildTrainStep, type LossBuilder, type TrainableModel } from './step.js';
import { StepRunner } from './runner.js';
import type { Optimizer } from './optim/types.js';
import { cosineWithWarmup } from './schedule.js';
import { saveCheckpoint, type TrainProgress } from './checkpoint.js';
import { Rng } from '../util/rng.js';
import { augmentSample, type AugmentOptions } from '../data/augment.js';
import { TrainingError } from '../errors.js';

export interface TrainData {
  n: number;
  /** per-sample student input dims, e.g. [1, 28, 28] */
  sampleDims: number[];
  /** student inputs, n x prod(sampleDims) */
  inputs: Float32Array;
  labels?: Int32Array;
  /** teacher logits n x classes, when precomputed (no augmentation) */
  teacherLogits?: Float32Array;
  /** more per-sample rows n x width, fed as the batch input of the same name when the
   * step graph has one: teacher features, more teachers' logits, per-sample loss weights.
   * Read at each batch, so a table updated between epochs (alm's weights) is seen. */
  tables?: Record<string, PerSampleTable>;
  /** teacher logits for an augmented batch, when they cannot be precomputed */
  teacherOnline?: (inputs: Float32Array, count: number) => Promise<Float32Array>;
  classes: number;
}

export interface PerSampleTable { rows: Float32Array; width: number }

export interface TrainOptions {
  epochs: number;
  batch: number;
  loopSteps: number;
  lr: number;
  warmupEpochs: number;
  clipNorm?: number;
  seed: number;
  augment?: AugmentOptions;
  ep: 'cpu' | 'cuda' | 'auto';
  configHash: string;
  /** checkpoint files */
  lastCheckpoint: string;
  bestCheckpoint: string;
}

export interface EpochReport {
  epoch: number;
  step: number;
  loss: number;
  lr: number;
  seconds: number;
  samplesPerSecond: number;
  /** resident memory after the epoch, MiB: shows that memory stays flat over epochs */
  rssMiB: number;
}

export interface TrainHooks {
  /** validation after each epoch: returns metrics; `score` decides the best checkpoint */
  validate(weights: Map<string, Tensor>, epoch: number): Promise<{ score: number; metrics: Record<string, number> }>;
  onEpoch?(report: EpochReport & Record<string, number>): void;
  onProgress?(done: number, total: number, loss: number, samplesPerSecond: number): void;
  /** true when the user asked to stop (Ctrl-C): save and return */
  shouldStop?(): boolean;
  /** before each epoch's first batch, with the current weights and learning rate (alm's meta-update) */
  beforeEpoch?(epoch: number, weights: Map<string, Tensor>, lr: number): Promise<void>;
  /** state outside the step graph kept in the checkpoints (alm's weight table) */
  extraState?: { save(): Map<string, Tensor>; load(values: Map<string, Tensor>): void };
}

/** checkpoint name prefix of TrainHooks.extraState tensors */
const EXTRA = 'extra::';

/** Checkpoint progress plus, for a run stopped mid-epoch, that epoch's loss so far. */
type ResumableProgress = TrainProgress & { partialEpoch?: { lossSum: number; lossCount: number; seen: number; seconds: number } };

export interface TrainResult {
  runner: StepRunner;
  progress: TrainProgress;
  stopped: boolean;
}

export async function train(model: TrainableModel, loss: LossBuilder, optimizer: Optimizer, data: TrainData, opt: TrainOptions,
  hooks: TrainHooks, resume?: { values: Map<string, Tensor>; progress: TrainProgress }): Promise<TrainResult> {
  const B = opt.batch, K = Math.max(1, opt.loopSteps);
  const spec = { model, loss, optimizer, clipNorm: opt.clipNorm };
  const stepK = buildTrainStep({ ...spec, loopSteps: K });
  const runnerK = new StepRunner(stepK, await createSession(stepK.model, { ep: opt.ep }), model);
  const step1 = K > 1 ? buildTrainStep({ ...spec, loopSteps: 1 }) : stepK;
  const runner1 = K > 1 ? new StepRunner(step1, await createSession(step1.model, { ep: opt.ep }), model, runnerK) : runnerK;

  const batchesPerEpoch = Math.ceil(data.n / B);
  const schedule = cosineWithWarmup({ peak: opt.lr, totalSteps: opt.epochs * batchesPerEpoch, warmupSteps: Math.round(opt.warmupEpochs * batchesPerEpoch) });
  const shuffle = new Rng(opt.seed);
  const augRng = new Rng(opt.seed ^ 0x5eed);
  let progress: ResumableProgress = {
    step: 0, epoch: 0, batchInEpoch: 0, shuffleState: Array.from(shuffle.getState()),
    augmentState: Array.from(augRng.getState()), bestMetric: -Infinity, bestEpoch: -1, configHash: opt.configHash,
  };
  if (resume) {
    for (const [k, v] of resume.values) if (runnerK.values.has(k)) runnerK.values.set(k, v);
    hooks.extraState?.load(new Map([...resume.values].filter(([k]) => k.startsWith(EXTRA)).map(([k, v]) => [k.slice(EXTRA.length), v])));
    progress = resume.progress as ResumableProgress;
    runnerK.stepCount = progress.step;
  }
  const size = data.sampleDims.reduce((a, d) => a * d, 1);
  const xBuf = new Float32Array(K * B * size);
  const tBuf = new Float32Array(K * B * data.classes);
  const yBuf = new BigInt64Array(K * B);
  const mBuf = new Float32Array(K * B);
  const tables = Object.entries(data.tables ?? {}).map(([name, t]) => ({ name, ...t, buf: new Float32Array(K * B * t.width) }));
  const save = (file: string, p: TrainProgress) => {
    const extra = hooks.extraState?.save() ?? new Map<string, Tensor>();
    saveCheckpoint(file, extra.size ? new Map([...runnerK.values, ...[...extra].map(([k, v]) => [EXTRA + k, v] as const)]) : runnerK.values, p);
  };

  for (let epoch = progress.epoch; epoch < opt.epochs; epoch++) {
    const epochRng = new Rng(Uint32Array.from(progress.shuffleState));
    const order = Int32Array.from({ length: data.n }, (_, i) => i);
    epochRng.shuffle(order);
    const aug = new Rng(Uint32Array.from(progress.augmentState));
    // a run stopped mid-epoch carries the epoch's partial loss (and time), so the resumed
    // epoch reports the same mean loss as an uninterrupted one
    const partial = progress.batchInEpoch > 0 ? progress.partialEpoch : undefined;
    const t0 = Date.now() - 1000 * (partial?.seconds ?? 0);
    let lossSum = partial?.lossSum ?? 0, lossCount = partial?.lossCount ?? 0, seen = partial?.seen ?? 0;
    let b = progress.batchInEpoch;
    if (b === 0 && hooks.beforeEpoch) await hooks.beforeEpoch(epoch, runnerK.weights(), schedule(runnerK.stepCount));
    // the epoch's hook has changed state the checkpoint saves (alm's table): a stop waits for
    // the first step, so a resume (which skips the hook mid-epoch) does not run it twice
    const hookRan = b === 0 && !!hooks.beforeEpoch;
    while (b < batchesPerEpoch) {
      if (hooks.shouldStop?.() && !(hookRan && b === 0)) {
        progress = { ...progress, epoch, batchInEpoch: b, augmentState: Array.from(aug.getState()), step: runnerK.stepCount,
          partialEpoch: { lossSum, lossCount, seen, seconds: (Date.now() - t0) / 1000 } };
        save(opt.lastCheckpoint, progress);
        return { runner: runnerK, progress, stopped: true };
      }
      // K full batches go through the Loop graph; the tail (and a short last batch) one by one
      const useK = K > 1 && b + K <= batchesPerEpoch && (b + K) * B <= data.n;
      const k = useK ? K : 1;
      const runner = useK ? runnerK : runner1;
      mBuf.fill(0, 0, k * B);
      for (let j = 0; j < k; j++) {
        for (let r = 0; r < B; r++) {
          const pos = (b + j) * B + r;
          const slot = j * B + r;
          const valid = pos < data.n;
          const idx = order[valid ? pos : pos % data.n]; // padding rows repeat real samples, masked out
          mBuf[slot] = valid ? 1 : 0;
          const src = data.inputs.subarray(idx * size, (idx + 1) * size);
          if (opt.augment) augmentSample(src, xBuf.subarray(slot * size, (slot + 1) * size), data.sampleDims, opt.augment, aug);
          else xBuf.set(src, slot * size);
          if (data.labels) yBuf[slot] = BigInt(data.labels[idx]);
          if (data.teacherLogits) tBuf.set(data.teacherLogits.subarray(idx * data.classes, (idx + 1) * data.classes), slot * data.classes);
          for (const t of tables) t.buf.set(t.rows.subarray(idx * t.width, (idx + 1) * t.width), slot * t.width);
        }
      }
      if (data.teacherOnline) tBuf.set(await data.teacherOnline(xBuf.subarray(0, k * B * size), k * B));
      const lead = k > 1 ? [k] : [];
      const feeds: Record<string, Tensor> = {
        input: { dtype: 'float32', dims: [...lead, B, ...data.sampleDims], data: xBuf.subarray(0, k * B * size) },
        mask: tensor('float32', [...lead, B], mBuf.subarray(0, k * B)),
      };
      if (runner.step.data.some((d) => d.name === 'labels')) feeds.labels = { dtype: 'int64', dims: [...lead, B], data: yBuf.subarray(0, k * B) };
      if (runner.step.data.some((d) => d.name === 'teacher_logits')) {
        feeds.teacher_logits = { dtype: 'float32', dims: [...lead, B, data.classes], data: tBuf.subarray(0, k * B * data.classes) };
      }
      for (const t of tables) {
        if (runner.step.data.some((d) => d.name === t.name)) feeds[t.name] = { dtype: 'float32', dims: [...lead, B, t.width], data: t.buf.subarray(0, k * B * t.width) };
      }
      const lrs = Array.from({ length: k }, (_, j) => schedule(runnerK.stepCount + j));
      const before = new Map(runnerK.values);
      const out = await runner.run(feeds, lrs);
      const losses = out.loss.data as Float32Array;
      if (!losses.every(Number.isFinite)) {
        for (const [key, v] of before) runnerK.values.set(key, v); // never keep a diverged state
        const bad = losses.findIndex((l) => !Number.isFinite(l));
        runnerK.stepCount -= k;
        // the checkpoint on disk is from the last completed epoch (or a Ctrl-C): keep it
        const kept = fs.existsSync(opt.lastCheckpoint)
          ? `; the last good checkpoint (${progress.epoch} epoch(s) done, step ${progress.step}) is kept in ${opt.lastCheckpoint}`
          : '; no epoch had completed, so no checkpoint was written';
        throw new TrainingError(`loss became ${losses[bad]} at epoch ${epoch + 1}, step ${runnerK.stepCount + bad + 1}`,
          `lower --lr or set --clip-norm, and start a new run with another --out${kept}`);
      }
      for (const l of losses) { lossSum += l; lossCount++; }
      b += k;
      seen += Math.min(k * B, data.n - (b - k) * B);
      hooks.onProgress?.(b, batchesPerEpoch, lossSum / lossCount, seen / ((Date.now() - t0) / 1000 || 1e-3));
    }
    const seconds = (Date.now() - t0) / 1000;
    const val = await hooks.validate(runnerK.weights(), epoch);
    progress = {
      ...progress, epoch: epoch + 1, batchInEpoch: 0, step: runnerK.stepCount, partialEpoch: undefined,
      shuffleState: Array.from(epochRng.getState()), augmentState: Array.from(aug.getState()),
    };
    if (val.score > progress.bestMetric) {
      progress = { ...progress, bestMetric: val.score, bestEpoch: epoch };
      save(opt.bestCheckpoint, progress);
    }
    save(opt.lastCheckpoint, progress);
    hooks.onEpoch?.({ epoch, step: runnerK.stepCount, loss: lossSum / lossCount, lr: schedule(runnerK.stepCount - 1), seconds,
      samplesPerSecond: seen / seconds, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), ...val.metrics });
  }
  return { runner: runnerK, progress, stopped: false };
}
