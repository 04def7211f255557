// Second phase of the label-free feature objectives (tintem, proteus): their student
// learns features only, so its classifier head is fitted afterwards to the teacher's
// logits on the same (unlabelled) data. The backbone is frozen: its features are
// computed once, in eval mode, and the head alone (the student's own final Gemm) is
// fitted in two steps: a closed-form start, ridge regression of the teacher's centred
// logits on the features, then pure KD at T = 1, KL(teacher || head), so the exported
// student outputs class logits. The KD part uses the ordinary trainer: checkpoints,
// validation (agreement with the teacher), resume and Ctrl-C work as in phase one.
import type { Graph, Node, Tensor } from '../graph/ir.js';
import { indexGraph } from '../graph/ir.js';
import { Builder } from '../graph/builder.js';
import { createOptimizer } from './optim/index.js';
import { hintonKd } from './objectives/kd.js';
import { train, type TrainHooks, type TrainResult } from './trainer.js';
import type { TrainableModel } from './step.js';
import type { TrainProgress } from './checkpoint.js';
import { UsageError } from '../errors.js';
import fs from 'node:fs';
import { StudentEvaluator } from './evaluator.js';
import { loadCheckpoint } from './checkpoint.js';
import { agreement } from '../eval/metrics.js';
import { appendMetrics, configHash, type RunPaths } from './run-dir.js';
import type { DistillConfig, DistillLog } from './distill.js';

/** default epochs of the head fit (`--head-epochs`) */
export const HEAD_EPOCHS = 10;
import { attrFloat, attrInt } from '../graph/ir.js';
import { choleskySolve } from '../util/linalg.js';
import { tensor } from '../graph/tensor.js';

export interface HeadFitData {
  trainFeatures: Float32Array;
  trainTeacher: Float32Array;
  n: number;
  width: number;
  classes: number;
}

export interface HeadFitOptions {
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  ep: 'cpu' | 'cuda' | 'auto';
  configHash: string;
  lastCheckpoint: string;
  bestCheckpoint: string;
}

/** The node computing `logits` from `features` in an eval-mode student (through Identity). */
export function classifierHead(graph: Graph): { node: Node; params: string[] } {
  const { producer } = indexGraph(graph);
  const through = (v: string) => {
    let p = producer.get(v);
    while (p?.opType === 'Identity') p = producer.get(p.inputs[0]);
    return p;
  };
  const outName = (k: string) => graph.outputs.find((o) => o.name === k)?.name;
  const logits = outName('logits'), features = outName('features');
  const node = logits ? through(logits) : undefined;
  const featureValue = features ? (through(features)?.outputs[0] ?? features) : undefined;
  if (!node || !featureValue || node.opType !== 'Gemm' || (node.inputs[0] !== featureValue && node.inputs[0] !== features)) {
    throw new UsageError('this student has no final Gemm from its features to its logits, so its classifier head cannot be fitted',
      'use a student preset (convnet, resnet, mobilenet, mlp), or a student file ending in a Gemm classifier');
  }
  return { node, params: node.inputs.slice(1).filter((i) => i && graph.initializers.has(i)) };
}

/** A trainable model of the head alone: input [batch, width] -> logits. */
export function headModel(graph: Graph, weights: Map<string, Tensor>, width: number, batch: number): TrainableModel {
  const { node, params } = classifierHead(graph);
  const b = new Builder('head');
  const x = b.input('input', 'float32', [batch, width]);
  for (const p of params) b.initializer(p, weights.get(p) ?? graph.initializers.get(p)!);
  const logits = b.op('Gemm', [x, ...node.inputs.slice(1)], node.attrs, { outputs: [b.fresh('head')] });
  b.output(logits, 'logits');
  return { graph: b.graph, input: 'input', outputs: { logits: 'logits' }, params, noDecay: params.filter((p) => graph.initializers.get(p)!.dims.length === 1) };
}

export async function fitHead(model: TrainableModel, data: HeadFitData, opt: HeadFitOptions, hooks: TrainHooks,
  resume?: { values: Map<string, Tensor>; progress: TrainProgress }): Promise<TrainResult> {
  const optimizer = createOptimizer('adamw', { weightDecay: 0 });
  return train(model, hintonKd(0, 1, false), optimizer, {
    n: data.n, sampleDims: [data.width], inputs: data.trainFeatures, teacherLogits: data.trainTeacher, classes: data.classes,
  }, {
    epochs: opt.epochs, batch: opt.batch, loopSteps: 1, lr: opt.lr, warmupEpochs: 0, seed: opt.seed, ep: opt.ep,
    configHash: opt.configHash, lastCheckpoint: opt.lastCheckpoint, bestCheckpoint: opt.bestCheckpoint,
  }, hooks, resume);
}

/** Teacher logits as regression targets: each row shifted so its largest value is 0 and
 * floored at -10 (a probability teacher's log(1e-12) floors would dominate), then centred. */
function regressionTargets(t: Float32Array, n: number, classes: number): Float64Array {
  const y = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < classes; c++) mx = Math.max(mx, t[i * classes + c]);
    let mean = 0;
    for (let c = 0; c < classes; c++) mean += (y[i * classes + c] = Math.max(t[i * classes + c] - mx, -10));
    mean /= classes;
    for (let c = 0; c < classes; c++) y[i * classes + c] -= mean;
  }
  return y;
}

/**
 * Ridge regression of the regression targets on the features: W [width, classes] and
 * b [classes] minimising ||F W + b - Y||^2 + lambda ||W||^2, lambda = 1e-3 * n * mean
 * feature variance. Returns the head's weights in its Gemm's layout, or an empty map when
 * the Gemm scales its terms (alpha/beta != 1) and the start is left to KD.
 */
export function ridgeStart(graph: Graph, features: Float32Array, n: number, width: number, teacher: Float32Array, classes: number): Map<string, Tensor> {
  const { node, params } = classifierHead(graph);
  if (attrFloat(node, 'alpha', 1) !== 1 || attrFloat(node, 'beta', 1) !== 1 || attrInt(node, 'transA', 0) || params.length !== 2) return new Map();
  const y = regressionTargets(teacher, n, classes);
  const mu = new Float64Array(width), nu = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < width; d++) mu[d] += features[i * width + d] / n;
    for (let c = 0; c < classes; c++) nu[c] += y[i * classes + c] / n;
  }
  const ftf = new Float64Array(width * width), fty = new Float64Array(width * classes);
  const row = new Float64Array(width);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < width; d++) row[d] = features[i * width + d] - mu[d];
    for (let a = 0; a < width; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b2 = a; b2 < width; b2++) ftf[a * width + b2] += ra * row[b2];
      for (let c = 0; c < classes; c++) fty[a * classes + c] += ra * (y[i * classes + c] - nu[c]);
    }
  }
  let trace = 0;
  for (let a = 0; a < width; a++) {
    trace += ftf[a * width + a];
    for (let b2 = 0; b2 < a; b2++) ftf[a * width + b2] = ftf[b2 * width + a];
  }
  const lambda = 1e-3 * Math.max(trace / width, 1e-12);
  for (let a = 0; a < width; a++) ftf[a * width + a] += lambda;
  const w = choleskySolve(ftf, width, fty, classes); // [width, classes]
  const bias = Float32Array.from(nu, (v, c) => v - mu.reduce((s, m, d) => s + m * w[d * classes + c], 0));
  const transB = attrInt(node, 'transB', 0) === 1;
  const wOut = new Float32Array(width * classes);
  for (let d = 0; d < width; d++) for (let c = 0; c < classes; c++) wOut[transB ? c * width + d : d * classes + c] = w[d * classes + c];
  return new Map([[params[0], tensor('float32', transB ? [classes, width] : [width, classes], wOut)], [params[1], tensor('float32', [classes], bias)]]);
}

/** Phase two of a feature objective: fit the student's classifier head to the teacher's
 * logits on frozen features. Returns the fitted head weights, or undefined when stopped. */
export async function fitClassifierHead(evalModel: TrainableModel, weights: Map<string, Tensor>, trainX: Float32Array, nTrain: number,
  valX: Float32Array, nVal: number, trainTeacher: Float32Array, valTeacher: Float32Array, classes: number, cfg: Pick<DistillConfig, 'ep' | 'seed' | 'headEpochs'>,
  paths: RunPaths, config: Record<string, unknown>, log: DistillLog,
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

