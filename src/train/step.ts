// Train-step composition: forward + loss + gradients + optimizer update as one ONNX
// model. Inputs: parameters, buffers, optimizer state, batch data, lr, step.
// Outputs: the same names with a `::next` suffix, the loss and per-sample values.
// The fused variant runs K steps in one ONNX Loop with everything loop-carried,
// which saves the JS<->ORT copies of parameters and state between steps.
import { Builder } from '../graph/builder.js';
import type { DType, Graph, Model, Node, Shape } from '../graph/ir.js';
import { emptyGraph, newModel } from '../graph/ir.js';
import { Ops } from '../graph/ops.js';
import { differentiate } from '../graph/autodiff.js';
import { tensor } from '../graph/tensor.js';
import type { Optimizer } from './optim/types.js';
import { clipGlobalNorm } from './optim/clip.js';

/** A forward graph ready to train: static batch, parameters as initializers. */
export interface TrainableModel {
  graph: Graph;
  /** name of the data input of `graph` */
  input: string;
  /** named outputs of the forward pass, e.g. { logits: 'fc/Gemm' } */
  outputs: Record<string, string>;
  /** trainable initializers */
  params: string[];
  /** non-trained state updated by the forward pass (BN running stats): buffer -> value with its new value */
  buffers?: Record<string, string>;
  /** parameters exempt from weight decay (biases, norm scales and shifts) */
  noDecay?: string[];
  /** learning-rate multipliers by parameter (an online teacher fine-tuned more gently) */
  lrScale?: Record<string, number>;
}

export interface LossContext {
  b: Builder;
  o: Ops;
  /** declare a per-batch data input (targets, teacher logits, masks); returns its value name */
  data(name: string, dtype: DType, shape: Shape): string;
  /** the model's named outputs, as values in the step graph */
  outputs: Record<string, string>;
  /** trainable parameters by name, as values in the step graph (objective heads read theirs here) */
  params: Record<string, string>;
  batch: number;
}

export interface LossResult {
  /** per-sample loss [B]; the step averages it over the unmasked samples */
  perSample: string;
  /** extra per-step scalars or per-sample values to return (logged by the trainer) */
  extra?: Record<string, string>;
  /** values gradients must not flow through (stop-gradient) */
  stop?: string[];
}

export type LossBuilder = (c: LossContext) => LossResult;

export interface TrainStepSpec {
  model: TrainableModel;
  loss: LossBuilder;
  optimizer: Optimizer;
  /** global gradient-norm clipping threshold */
  clipNorm?: number;
  /** fuse K steps into one ONNX Loop (default 1: a plain step graph) */
  loopSteps?: number;
  opset?: number;
}

export interface DataInput { name: string; dtype: DType; shape: number[] }

export interface TrainStep {
  model: Model;
  params: string[];
  buffers: string[];
  /** state input names, e.g. 'm::fc.weight' */
  state: string[];
  /** per-batch inputs; in a Loop graph each has a leading K dimension */
  data: DataInput[];
  /** names of per-step outputs besides the `::next` values: 'loss', 'per_sample', extras, 'grad_norm' */
  stepOutputs: string[];
  loopSteps: number;
}

export const NEXT = '::next';
export const stateName = (slot: string, param: string) => `${slot}::${param}`;

interface StepIO {
  params: Record<string, string>;
  buffers: Record<string, string>;
  state: Record<string, string>;
  lr: string;
  step: string;
  data(name: string, dtype: DType, shape: Shape): string;
}

interface StepOut {
  params: Record<string, string>;
  buffers: Record<string, string>;
  state: Record<string, string>;
  outputs: Record<string, string>;
}

/** Emit one training step into `b`, reading the model's inputs through `io`. */
function emitStep(b: Builder, spec: TrainStepSpec, io: StepIO): StepOut {
  const o = new Ops(b);
  const m = spec.model;
  const inShape = m.graph.inputs.find((v) => v.name === m.input)!;
  const rename = new Map<string, string>([[m.input, io.data(m.input, inShape.dtype, inShape.shape!)]]);
  for (const p of m.params) rename.set(p, io.params[p]);
  for (const buf of Object.keys(m.buffers ?? {})) rename.set(buf, io.buffers[buf]);
  copyForward(b, m.graph, rename);
  const outputs = Object.fromEntries(Object.entries(m.outputs).map(([k, v]) => [k, rename.get(v) ?? v]));
  const batch = b.shape(outputs[Object.keys(outputs)[0]])[0];

  const lossRes = b.scope('loss', () => spec.loss({ b, o, data: io.data, outputs, params: io.params, batch }));
  const mask = io.data('mask', 'float32', [batch]);
  const loss = b.scope('loss', () => {
    const num = o.reduceSum(o.mul(lossRes.perSample, mask), undefined, false);
    const den = o.max(o.reduceSum(mask, undefined, false), o.scalar(1));
    return o.div(num, den);
  });

  const paramValues = m.params.map((p) => io.params[p]);
  const grads = differentiate(b, { loss, wrt: paramValues, stop: lossRes.stop });
  let gradList = paramValues.map((p) => grads.get(p)!);
  const out: Record<string, string> = { loss, per_sample: lossRes.perSample, ...(lossRes.extra ?? {}) };
  if (spec.clipNorm) {
    const clipped = b.scope('clip', () => clipGlobalNorm(o, gradList, spec.clipNorm!));
    gradList = clipped.grads;
    out.grad_norm = clipped.norm;
  }
  const noDecay = new Set(m.noDecay ?? []);
  const next: StepOut = { params: {}, buffers: {}, state: {}, outputs: out };
  b.scope('optim', () => m.params.forEach((p, i) => {
    const state = Object.fromEntries(spec.optimizer.stateSlots.map((s) => [s, io.state[stateName(s, p)]]));
    const scale = m.lrScale?.[p];
    const lr = scale !== undefined && scale !== 1 ? o.mul(io.lr, o.scalar(scale)) : io.lr;
    const upd = spec.optimizer.update(o, { param: io.params[p], grad: gradList[i], state, decay: !noDecay.has(p) }, lr, io.step);
    next.params[p] = upd.param;
    for (const [s, v] of Object.entries(upd.state)) next.state[stateName(s, p)] = v;
  }));
  for (const [buf, value] of Object.entries(m.buffers ?? {})) next.buffers[buf] = rename.get(value) ?? value;
  return next;
}

/** Append the forward graph's nodes and constants, renaming its inputs and parameters. */
function copyForward(b: Builder, g: Graph, rename: Map<string, string>): void {
  for (const [name, t] of g.initializers) if (!rename.has(name)) b.initializer(name, t);
  const r = (n: string) => (n ? rename.get(n) ?? n : n);
  for (const node of g.nodes) {
    const copy: Node = { ...node, name: b.fresh(node.name || node.opType), inputs: node.inputs.map(r), outputs: [...node.outputs] };
    b.append(copy);
  }
}

function declareStateInputs(b: Builder, spec: TrainStepSpec, shapeOf: (p: string) => number[]) {
  const m = spec.model;
  const params: Record<string, string> = {};
  const state: Record<string, string> = {};
  for (const p of m.params) {
    params[p] = b.input(p, 'float32', shapeOf(p));
    for (const s of spec.optimizer.stateSlots) state[stateName(s, p)] = b.input(stateName(s, p), 'float32', shapeOf(p));
  }
  const buffers: Record<string, string> = {};
  for (const buf of Object.keys(m.buffers ?? {})) buffers[buf] = b.input(buf, 'float32', shapeOf(buf));
  return { params, state, buffers };
}

const initShape = (g: Graph) => (name: string) => {
  const t = g.initializers.get(name);
  if (!t) throw new Error(`parameter '${name}' is not an initializer of the model`);
  return t.dims;
};

/** Build the train-step model (plain or K-step Loop). */
export function buildTrainStep(spec: TrainStepSpec): TrainStep {
  const K = spec.loopSteps ?? 1;
  return K <= 1 ? buildSingle(spec) : buildLoop(spec, K);
}

function buildSingle(spec: TrainStepSpec): TrainStep {
  const b = new Builder('train_step', spec.opset ?? 18);
  const decl = declareStateInputs(b, spec, initShape(spec.model.graph));
  const lr = b.input('lr', 'float32', []);
  const step = b.input('step', 'float32', []);
  const data: DataInput[] = [];
  const io: StepIO = {
    ...decl, lr, step,
    data: (name, dtype, shape) => {
      const existing = data.find((d) => d.name === name);
      if (existing) return name;
      data.push({ name, dtype, shape: shape as number[] });
      return b.input(name, dtype, shape);
    },
  };
  const next = emitStep(b, spec, io);
  return finish(b, spec, next, data, 1);
}

function finish(b: Builder, spec: TrainStepSpec, next: StepOut, data: DataInput[], K: number): TrainStep {
  for (const [k, v] of Object.entries(next.params)) b.output(v, k + NEXT);
  for (const [k, v] of Object.entries(next.buffers)) b.output(v, k + NEXT);
  for (const [k, v] of Object.entries(next.state)) b.output(v, k + NEXT);
  for (const [k, v] of Object.entries(next.outputs)) b.output(v, k);
  return {
    model: newModel(b.graph, b.opset),
    params: spec.model.params,
    buffers: Object.keys(spec.model.buffers ?? {}),
    state: Object.keys(next.state),
    data,
    stepOutputs: Object.keys(next.outputs),
    loopSteps: K,
  };
}

/**
 * K steps in one Loop. Body inputs: (iter, cond, step, params..., buffers..., state...);
 * body outputs: (cond, step+1, the same values updated, per-step scan outputs).
 * Data inputs and the per-step learning rates are outer [K, ...] tensors gathered by iter.
 */
function buildLoop(spec: TrainStepSpec, K: number): TrainStep {
  const opset = spec.opset ?? 18;
  const outer = new Builder('train_loop', opset);
  const body = new Builder(emptyGraph('train_step_body'), opset);
  const o = new Ops(body);
  const iter = body.input('iter', 'int64', []);
  const cond = body.input('cond_in', 'bool', []);
  const stepIn = body.input('step_in', 'float32', []);
  const shapeOf = initShape(spec.model.graph);
  const carried = [...spec.model.params, ...Object.keys(spec.model.buffers ?? {}),
    ...spec.model.params.flatMap((p) => spec.optimizer.stateSlots.map((s) => stateName(s, p)))];
  const carriedShape = (n: string) => shapeOf(n.includes('::') ? n.slice(n.indexOf('::') + 2) : n);
  const bodyName = (n: string) => `${n}::in`;
  for (const n of carried) body.input(bodyName(n), 'float32', carriedShape(n));

  const outerOnly = new Set<string>();
  const gatherOuter = (name: string, dtype: DType, shape: number[]): string => {
    if (!outer.has(name)) outer.input(name, dtype, [K, ...shape]);
    // let the body's shape inference see the outer value; removed again below
    body.graph.valueInfo.set(name, { name, dtype, shape: [K, ...shape] });
    outerOnly.add(name);
    return o.squeeze(o.gather(name, o.unsqueeze(iter, [0]), 0), [0]);
  };
  const data: DataInput[] = [];
  const gathered = new Map<string, string>();
  const io: StepIO = {
    params: Object.fromEntries(spec.model.params.map((p) => [p, bodyName(p)])),
    buffers: Object.fromEntries(Object.keys(spec.model.buffers ?? {}).map((k) => [k, bodyName(k)])),
    state: Object.fromEntries(carried.filter((n) => n.includes('::')).map((n) => [n, bodyName(n)])),
    lr: gatherOuter('lr', 'float32', []),
    step: stepIn,
    data: (name, dtype, shape) => {
      if (!gathered.has(name)) {
        data.push({ name, dtype, shape: shape as number[] });
        gathered.set(name, gatherOuter(name, dtype, shape as number[]));
      }
      return gathered.get(name)!;
    },
  };
  const next = emitStep(body, spec, io);
  for (const n of outerOnly) body.graph.valueInfo.delete(n);

  const condOut = body.output(body.op('Identity', [cond]), 'cond_out');
  body.output(o.add(stepIn, o.scalar(1)), 'step_out');
  const nextOf = (n: string) => next.params[n] ?? next.buffers[n] ?? next.state[n];
  for (const n of carried) body.output(nextOf(n), `${n}::out`);
  const scanNames = Object.keys(next.outputs);
  for (const k of scanNames) body.output(next.outputs[k], `${k}::scan`);
  void condOut;

  // Outer graph: carried inputs under their public names, then the Loop.
  const decl = declareStateInputs(outer, spec, shapeOf);
  const step0 = outer.input('step', 'float32', []);
  for (const d of data) void d; // data inputs were declared by gatherOuter
  const trip = outer.constant(tensor('int64', [], [K]), 'trip_count');
  const condTrue = outer.constant(tensor('bool', [], [1]), 'cond_true');
  const carriedIn = carried.map((n) => decl.params[n] ?? decl.buffers[n] ?? decl.state[n]);
  const loopOuts = [outer.fresh('step_final'), ...carried.map((n) => outer.fresh(`${n}::final`)), ...scanNames.map((k) => outer.fresh(`${k}::steps`))];
  outer.graph.nodes.push({
    opType: 'Loop', domain: '', name: outer.fresh('train_loop'),
    inputs: [trip, condTrue, step0, ...carriedIn], outputs: loopOuts,
    attrs: { body: { kind: 'graph', value: body.graph } },
  });
  // Loop output types: carried keep their shapes, scan outputs gain a leading K.
  const setInfo = (name: string, dtype: DType, shape: number[]) => outer.graph.valueInfo.set(name, { name, dtype, shape });
  setInfo(loopOuts[0], 'float32', []);
  carried.forEach((n, i) => setInfo(loopOuts[1 + i], 'float32', carriedShape(n)));
  scanNames.forEach((k, i) => setInfo(loopOuts[1 + carried.length + i], body.dtype(next.outputs[k]), [K, ...body.shape(next.outputs[k])]));
  const outNext: StepOut = { params: {}, buffers: {}, state: {}, outputs: {} };
  carried.forEach((n, i) => {
    const v = loopOuts[1 + i];
    if (spec.model.params.includes(n)) outNext.params[n] = v;
    else if (n.includes('::')) outNext.state[n] = v;
    else outNext.buffers[n] = v;
  });
  scanNames.forEach((k, i) => (outNext.outputs[k] = loopOuts[1 + carried.length + i]));
  return finish(outer, spec, outNext, data, K);
}
