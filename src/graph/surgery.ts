// Graph surgery on teachers: taps (intermediate values exposed as outputs), choice of
// the classifier output, output-kind detection (surgery-kind.ts) and batch freeing
// (surgery-batch.ts). Every pass returns a new Model and leaves its argument alone.
import type { Model, Node, Shape, ValueInfo } from './ir.js';
import { isFloatDType } from './tensor.js';
import { cloneModel, constOf, valueTypes } from './surgery-common.js';
import { GraphError } from '../errors.js';

export { detectOutputKind, classifyOutputValues, toLogits, softmaxAxis, PROB_FLOOR, type OutputKind, type ClassifyOptions } from './surgery-kind.js';
export { freeBatch, fixBatch, type FreeBatchResult } from './surgery-batch.js';
export { realInputs, dropInitializerInputs, valueTypes, cloneModel } from './surgery-common.js';

/** Is this the shape of class scores: [N, C] or [N, C, 1, 1]? */
export function isClassifierShape(shape: Shape | undefined): boolean {
  if (!shape) return false;
  if (shape.length === 2) return shape[1] !== 1;
  return shape.length === 4 && shape[2] === 1 && shape[3] === 1 && shape[1] !== 1;
}

/** The classifier output: `wanted` when given (a graph output, or any value, which is
 * then exposed), else the first float graph output shaped [N, C] or [N, C, 1, 1]. */
export function findClassifierOutput(model: Model, wanted?: string): ValueInfo {
  const g = model.graph;
  if (wanted) {
    const out = g.outputs.find((o) => o.name === wanted);
    if (out) return out;
    const info = valueTypes(model).get(wanted);
    if (!info) throw new GraphError(`the teacher has no value named '${wanted}'`, `its outputs are: ${g.outputs.map((o) => o.name).join(', ')}`);
    return info;
  }
  const found = g.outputs.find((o) => isFloatDType(o.dtype) && o.opaqueType === undefined && isClassifierShape(o.shape));
  if (!found) {
    const list = g.outputs.map((o) => `${o.name} ${o.dtype}[${o.shape ?? '?'}]`).join(', ');
    throw new GraphError(`the teacher has no float output shaped [N, C] or [N, C, 1, 1] (outputs: ${list})`, 'name the classifier output with --output');
  }
  return found;
}

// Ops between the final classifier layer and the output that keep one data input:
// activations of the head, bias adds, scaling, reshapes and the quantization pair.
const HEAD_PASS = new Set(['Softmax', 'LogSoftmax', 'Identity', 'Add', 'Sub', 'Mul', 'Div', 'Reshape', 'Flatten', 'Squeeze',
  'Unsqueeze', 'Cast', 'QuantizeLinear', 'DequantizeLinear']);
const CLASSIFIER = new Set(['Gemm', 'MatMul', 'QLinearMatMul', 'MatMulInteger']);

/**
 * `--features auto`: the penultimate representation, i.e. the data input of the final
 * classifier Gemm/MatMul reached by walking back from `output` through head ops (bias,
 * Softmax, reshapes, quantization). For quantized graphs the float value before the
 * QuantizeLinear that feeds the classifier is returned, so taps stay float. Throws
 * GraphError naming the op where the walk stopped when no such layer is found.
 */
export function findFeatureTap(model: Model, output: string): string {
  const g = model.graph;
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  // constant-derived values (a DequantizeLinear of a quantized bias) are not data
  const memo = new Map<string, boolean>();
  const isConst = (v: string): boolean => {
    if (!memo.has(v)) {
      memo.set(v, false);
      const p = producer.get(v);
      memo.set(v, !!constOf(g, v, producer) || (!p ? false : p.inputs.filter(Boolean).every(isConst)));
    }
    return memo.get(v)!;
  };
  const isData = (v: string) => v !== '' && !isConst(v);
  let v = output;
  for (let steps = 0; steps < 64; steps++) {
    const node = producer.get(v);
    if (!node) break;
    if (CLASSIFIER.has(node.opType)) {
      let tap = node.inputs[0];
      const q = producer.get(tap);
      if (q?.opType === 'QuantizeLinear') tap = q.inputs[0];
      return tap;
    }
    const data = node.inputs.filter(isData);
    if (!HEAD_PASS.has(node.opType) || data.length !== 1) {
      throw new GraphError(`--features auto: no final Gemm/MatMul found before output '${output}' (the walk back stopped at ${node.opType} '${node.name || v}')`,
        'name the feature tensor with --features NAME (see `onnx-distill inspect`)');
    }
    v = data[0];
  }
  throw new GraphError(`--features auto: no final Gemm/MatMul found before output '${output}'`, 'name the feature tensor with --features NAME (see `onnx-distill inspect`)');
}

/** Names of every value in the graph (inputs, initializers, node outputs). */
export function valueNames(model: Model): string[] {
  const g = model.graph;
  return [...g.inputs.map((v) => v.name), ...g.nodes.flatMap((n) => n.outputs.filter(Boolean))];
}

/**
 * Make the named values graph outputs so onnxruntime returns them (feature taps).
 * Values that are already outputs are left as they are; a name that is not a value of
 * the graph raises GraphError naming it (with close matches, when there are any).
 */
export function exposeOutputs(model: Model, names: string[]): Model {
  const g = model.graph;
  const missing = names.filter((n) => !g.outputs.some((o) => o.name === n));
  if (missing.length === 0) return model;
  const known = new Set(valueNames(model));
  for (const n of missing) {
    if (known.has(n)) continue;
    const near = closeNames(n, [...known]);
    throw new GraphError(`the teacher has no tensor named '${n}'`,
      near.length ? `did you mean ${near.map((k) => `'${k}'`).join(', ')}? (see \`onnx-distill inspect\`)` : 'list its tensors with `onnx-distill inspect`');
  }
  const infos = valueTypes(model);
  const out = cloneModel(model);
  for (const n of new Set(missing)) {
    const vi = infos.get(n);
    // onnxruntime checks the declared element type; an unknown shape is fine
    out.graph.outputs.push(vi ? { name: n, dtype: vi.dtype, ...(vi.shape ? { shape: [...vi.shape] } : {}) } : { name: n, dtype: 'float32' });
  }
  return out;
}

/** Up to 5 names that contain `name` or are within 2 edits of it (typos). */
function closeNames(name: string, names: string[]): string[] {
  const lower = name.toLowerCase();
  return names.filter((k) => {
    const l = k.toLowerCase();
    return l.includes(lower) || lower.includes(l) || editDistance(l, lower, 2) <= 2;
  }).slice(0, 5);
}

/** Levenshtein distance, giving up (returning max + 1) once it exceeds `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    if (Math.min(...cur) > max) return max + 1;
    prev = cur;
  }
  return prev[b.length];
}
