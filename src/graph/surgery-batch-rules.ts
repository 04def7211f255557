// Batch-axis tracking for freeBatch: for every value, where its batch axis is, or that
// it does not depend on the batch, or why we cannot tell. Each rule is conservative:
// when it cannot prove the batch stays a separate leading-style axis it says why, and
// the caller falls back to one request per sample rather than risk wrong answers.
// This file: the registry, elementwise, nn and reduction rules; data movement is in
// surgery-batch-layout.ts, the shared types in surgery-batch-state.ts.
import type { Node } from './ir.js';
import { attrInt } from './ir.js';
import { axesArg, bad, isBad, ints, norm, type BatchState, type Rule, type RuleCtx } from './surgery-batch-state.js';
import { LAYOUT_RULES } from './surgery-batch-layout.js';

export { isBad, type BatchState, type RuleCtx } from './surgery-batch-state.js';

/** Numpy-style broadcast: batch-carrying inputs must agree on the (right-aligned)
 * axis; a constant may only have size 1 there. */
function elementwise(c: RuleCtx, inputs = c.node.inputs.flatMap((n, i) => (n ? [i] : []))): BatchState {
  const ranks = inputs.map((i) => c.shape(i)?.length);
  if (ranks.some((r) => r === undefined)) return bad(c, 'has an input of unknown rank');
  const R = Math.max(...(ranks as number[]));
  let axis: number | undefined;
  for (const [k, i] of inputs.entries()) {
    const s = c.st(i);
    if (typeof s !== 'number') continue;
    const a = s + R - ranks[k]!;
    if (axis !== undefined && axis !== a) return bad(c, 'combines inputs whose batch axes differ');
    axis = a;
  }
  if (axis === undefined) return 'const';
  for (const [k, i] of inputs.entries()) {
    if (c.st(i) !== 'const') continue;
    const p = axis - (R - ranks[k]!);
    if (p >= 0 && c.shape(i)![p] !== 1) return bad(c, `broadcasts a constant of shape [${c.shape(i)}] over the batch axis`);
  }
  return axis;
}

/** Ops whose first input is NC... with the batch at axis 0, the rest weights. */
function leadingBatch(c: RuleCtx): BatchState | BatchState[] {
  if (c.st(0) !== 0) return bad(c, 'needs the batch at axis 0 of its data input');
  for (let i = 1; i < c.node.inputs.length; i++) if (c.st(i) !== 'const') return bad(c, `has a batch-dependent input ${i}`);
  return c.node.opType === 'BatchNormalization' ? c.node.outputs.map((_, i) => (i === 0 ? 0 : bad(c, 'outputs batch statistics'))) : c.node.outputs.map(() => 0);
}

function quantize(c: RuleCtx): BatchState {
  const b = c.st(0);
  if (typeof b !== 'number') return bad(c, 'has batch-dependent scales');
  const scale = c.shape(1);
  const r = c.shape(0)?.length;
  if (scale && scale.length === 1 && scale[0] !== 1 && r !== undefined && norm(attrInt(c.node, 'axis', 1), r) === b) {
    return bad(c, 'quantizes per channel along the batch axis');
  }
  return b;
}

function softmaxLike(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  if (r === undefined) return bad(c, 'has an input of unknown rank');
  // before opset 13 the input is coerced to 2-D at `axis`: axes >= axis are mixed
  const old = c.opset < 13;
  const axis = norm(attrInt(c.node, 'axis', old ? 1 : -1), r);
  return (old ? b < axis : b !== axis) ? b : bad(c, 'normalises across the batch axis');
}

/** Ops that only act along one axis, given as attribute `axis`. */
function alongAxis(dflt: number): Rule {
  return (c) => {
    const b = c.st(0) as number;
    const r = c.shape(0)?.length;
    if (r === undefined) return bad(c, 'has an input of unknown rank');
    for (let i = 1; i < c.node.inputs.length; i++) if (c.st(i) !== 'const') return bad(c, `has a batch-dependent input ${i}`);
    return norm(attrInt(c.node, 'axis', dflt), r) === b ? bad(c, 'works along the batch axis') : c.node.outputs.map(() => b);
  };
}

function reduce(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const axes = c.node.opType.startsWith('Arg') ? [attrInt(c.node, 'axis', 0)] : axesArg(c, 1);
  if (r === undefined || axes === 'unknown') return bad(c, 'reduces unknown axes');
  if (!axes || axes.length === 0) return attrInt(c.node, 'noop_with_empty_axes', 0) ? b : bad(c, 'reduces over every axis, the batch included');
  const set = axes.map((a) => norm(a, r));
  if (set.includes(b)) return bad(c, 'reduces over the batch axis');
  return attrInt(c.node, 'keepdims', 1) ? b : b - set.filter((a) => a < b).length;
}

function matmul(c: RuleCtx): BatchState {
  const a = c.st(0), m = c.st(1);
  const ra = c.shape(0)?.length, rb = c.shape(1)?.length;
  if (ra === undefined || rb === undefined) return bad(c, 'has an input of unknown rank');
  if (typeof a === 'number' && m === 'const' && ra >= 2 && rb <= 2 && a <= ra - 2) return a;
  return bad(c, 'multiplies in a way that mixes the batch');
}

function gemm(c: RuleCtx): BatchState {
  const want = attrInt(c.node, 'transA', 0) ? 1 : 0;
  if (c.st(0) !== want || c.st(1) !== 'const' || (c.node.inputs[2] && c.st(2) !== 'const')) return bad(c, 'multiplies in a way that mixes the batch');
  const cs = c.node.inputs[2] ? c.shape(2) : undefined;
  if (cs && cs.length === 2 && cs[0] !== 1) return bad(c, `adds a bias of shape [${cs}] that spans the batch`);
  return 0;
}

function resize(c: RuleCtx): BatchState {
  const b = c.st(0);
  const attr = c.node.attrs.scales;
  const scales = attr && attr.kind === 'floats' ? attr.value : c.node.opType === 'Upsample' || c.opset < 11 ? ints(c, 1) : ints(c, 2);
  if (b !== 0 || c.node.inputs.slice(1).some((_, i) => c.st(i + 1) !== 'const')) return bad(c, 'needs the batch at axis 0');
  if (c.node.opType === 'Resize' && c.opset >= 11 && c.node.inputs[3]) return bad(c, 'resizes to fixed sizes that include the batch');
  return scales && scales[0] === 1 ? 0 : bad(c, 'scales the batch axis');
}

const RULES = new Map<string, Rule>(Object.entries(LAYOUT_RULES));
const reg = (ops: string[], r: Rule) => ops.forEach((o) => RULES.set(o, r));
reg(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Mod', 'PRelu', 'BitShift', 'Where', 'Equal', 'Less', 'Greater',
  'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Identity', 'Neg', 'Exp', 'Log', 'Sqrt', 'Abs', 'Relu', 'LeakyRelu', 'Sigmoid',
  'Tanh', 'Erf', 'Gelu', 'Reciprocal', 'Sign', 'Floor', 'Ceil', 'Round', 'Softplus', 'Softsign', 'Elu', 'Selu', 'Celu', 'Mish',
  'HardSigmoid', 'HardSwish', 'ThresholdedRelu', 'Sin', 'Cos', 'Clip', 'Not', 'IsNaN', 'IsInf', 'Cast', 'CastLike'], (c) => elementwise(c));
reg(['Dropout'], (c) => { const s = elementwise(c, [0]); return c.node.outputs.map(() => s); });
reg(['Conv', 'ConvTranspose', 'MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool',
  'BatchNormalization', 'InstanceNormalization', 'LRN', 'QLinearConv', 'ConvInteger', 'MaxRoiPool', 'SpaceToDepth', 'DepthToSpace'], leadingBatch);
reg(['QuantizeLinear', 'DequantizeLinear'], quantize);
reg(['Softmax', 'LogSoftmax', 'Hardmax'], softmaxLike);
reg(['Split', 'TopK', 'CumSum', 'LayerNormalization', 'LpNormalization'], (c) => (c.node.opType === 'LayerNormalization' ? layerNorm(c) : alongAxis(c.node.opType === 'Split' ? 0 : -1)(c)));
reg(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare',
  'ReduceLogSum', 'ArgMax', 'ArgMin'], reduce);
reg(['MatMul'], matmul);
reg(['Gemm'], gemm);
reg(['Resize', 'Upsample'], resize);

function layerNorm(c: RuleCtx): BatchState | BatchState[] {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  if (r === undefined) return bad(c, 'has an input of unknown rank');
  return b < norm(attrInt(c.node, 'axis', -1), r) ? c.node.outputs.map(() => b) : bad(c, 'normalises across the batch axis');
}

/** The state of every output of `c.node`. */
export function nodeStates(c: RuleCtx): BatchState[] {
  const n = c.node.outputs.length;
  const ins = c.node.inputs.map((_, i) => c.st(i));
  const hit = ins.find(isBad);
  if (hit) return Array(n).fill(hit);
  if (ins.every((s) => s === 'const') && !hasGraphAttr(c.node)) return Array(n).fill('const');
  if (c.node.domain !== '' && c.node.domain !== 'ai.onnx') return Array(n).fill(bad(c, `is from domain '${c.node.domain}', which batch analysis does not know`));
  if (c.node.opType === 'Shape' || c.node.opType === 'Size') return Array(n).fill(bad(c, 'computes with the batch size'));
  const rule = RULES.get(c.node.opType);
  if (!rule) return Array(n).fill(bad(c, 'is an op batch analysis does not know'));
  const out = rule(c);
  return Array.isArray(out) ? out : Array(n).fill(out);
}

function hasGraphAttr(node: Node): boolean {
  return Object.values(node.attrs).some((a) => a.kind === 'graph' || a.kind === 'graphs');
}
