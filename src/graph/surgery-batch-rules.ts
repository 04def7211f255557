// Batch-axis tracking for freeBatch: for every value, where its batch axis is, or that
// it does not depend on the batch, or why we cannot tell. Each rule is conservative:
// when it cannot prove the batch stays a separate leading-style axis it says why, and
// the caller falls back to one request per sample rather than risk wrong answers.
import type { Node, Shape, Tensor } from './ir.js';
import { attrInt, attrInts } from './ir.js';
import { toNumbers } from './tensor.js';

export interface Bad { bad: string }
/** an axis index, 'const' (does not depend on the batch), or why we lost track */
export type BatchState = number | 'const' | Bad;

export const isBad = (s: BatchState | undefined): s is Bad => typeof s === 'object';

export interface RuleCtx {
  node: Node;
  opset: number;
  /** state of input i ('const' for omitted inputs) */
  st(i: number): BatchState;
  shape(i: number): Shape | undefined;
  const(i: number): Tensor | undefined;
  /** the old fixed batch size, or undefined when the input batch is symbolic */
  batch: number | undefined;
  /** Reshape targets to rewrite: node -> new target */
  rewrites: Map<Node, number[]>;
}

type Rule = (c: RuleCtx) => BatchState | BatchState[];

const bad = (c: RuleCtx, why: string): Bad => ({ bad: `${c.node.opType} node '${c.node.name}' ${why}` });
const norm = (a: number, r: number) => (a < 0 ? a + r : a);
const ints = (c: RuleCtx, i: number) => {
  const t = c.const(i);
  return t ? toNumbers(t) : undefined;
};
const axesArg = (c: RuleCtx, i: number) => attrInts(c.node, 'axes') ?? (c.node.inputs[i] ? ints(c, i) ?? 'unknown' : undefined);

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

function flatten(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  if (!s) return bad(c, 'has an input of unknown rank');
  const a = norm(attrInt(c.node, 'axis', 1), s.length);
  const others = s.slice(0, a).filter((_, i) => i !== b);
  return b < a && others.every((d) => d === 1) ? 0 : bad(c, 'merges the batch with other axes');
}

function reshape(c: RuleCtx): BatchState {
  if (c.st(1) !== 'const') return bad(c, 'takes a computed target shape');
  const b = c.st(0);
  const target = ints(c, 1);
  const s = c.shape(0);
  if (!target) return bad(c, 'takes a computed target shape');
  if (b !== 0 || !s || !s.slice(1).every((d) => typeof d === 'number')) return bad(c, 'reshapes a tensor whose batch is not a leading axis of known size');
  const perSample = (s.slice(1) as number[]).reduce((x, y) => x * y, 1);
  const allowzero = attrInt(c.node, 'allowzero', 0) === 1;
  const rest = target.slice(1).map((d, i) => (d === 0 && !allowzero ? (s[i + 1] as number | undefined) : d));
  if (rest.some((d) => d === undefined)) return bad(c, `copies a dimension the input does not have`);
  const known = (rest as number[]).filter((d) => d !== -1);
  const prod = known.reduce((x, y) => x * y, 1);
  const holes = rest.length - known.length;
  // the per-sample part must be exactly the input's per-sample elements
  const ok = holes === 0 ? prod === perSample : holes === 1 && prod > 0 && perSample % prod === 0;
  const lead = target[0];
  if (ok && lead === 0 && !allowzero) return 0;
  if (ok && lead === -1 && holes === 0) return 0;
  if (ok && c.batch !== undefined && lead === c.batch) {
    const fixed = [...target];
    fixed[0] = allowzero ? -1 : 0; // 0 copies the input's (batch) dim; -1 when zeros are literal
    if (fixed[0] === -1 && holes > 0) return bad(c, `bakes the batch ${lead} into its target [${target}]`);
    c.rewrites.set(c.node, fixed);
    return 0;
  }
  return bad(c, `bakes the batch into its target [${target}] for an input of shape [${s}]`);
}

function squeeze(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  const axes = axesArg(c, 1);
  if (!s || axes === 'unknown') return bad(c, 'squeezes unknown axes');
  if (!axes) return bad(c, 'squeezes every size-1 axis, the batch of 1 included');
  const set = axes.map((a) => norm(a, s.length));
  return set.includes(b) ? bad(c, 'squeezes the batch axis') : b - set.filter((a) => a < b).length;
}

function unsqueeze(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  const axes = axesArg(c, 1);
  if (!s || !axes || axes === 'unknown') return bad(c, 'inserts unknown axes');
  const R = s.length + axes.length;
  const set = new Set(axes.map((a) => norm(a, R)));
  let seen = -1;
  for (let i = 0; i < R; i++) if (!set.has(i) && ++seen === b) return i;
  return bad(c, 'inserts unknown axes');
}

function transpose(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const perm = attrInts(c.node, 'perm') ?? (r === undefined ? undefined : Array.from({ length: r }, (_, i) => r - 1 - i));
  return perm ? perm.indexOf(b) : bad(c, 'has an input of unknown rank');
}

function concat(c: RuleCtx): BatchState {
  const states = c.node.inputs.map((_, i) => c.st(i));
  const b = states[0];
  if (!states.every((s) => s === b) || typeof b !== 'number') return bad(c, 'joins tensors that do not all carry the batch on one axis');
  const r = c.shape(0)?.length;
  if (r === undefined) return bad(c, 'has an input of unknown rank');
  return norm(attrInt(c.node, 'axis', 0), r) === b ? bad(c, 'concatenates along the batch axis') : b;
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

function slice(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const old = attrInts(c.node, 'starts') !== undefined;
  const starts = old ? attrInts(c.node, 'starts') : ints(c, 1);
  const ends = old ? attrInts(c.node, 'ends') : ints(c, 2);
  const axes = old ? attrInts(c.node, 'axes') : c.node.inputs[3] ? ints(c, 3) : undefined;
  const steps = !old && c.node.inputs[4] ? ints(c, 4) : undefined;
  if (r === undefined || !starts || !ends || (!old && c.node.inputs[3] && !axes) || (c.node.inputs[4] && !steps)) return bad(c, 'slices with computed bounds');
  for (let k = 0; k < starts.length; k++) {
    if (norm(axes ? axes[k] : k, r) !== b) continue;
    const full = starts[k] === 0 && ends[k] >= 2 ** 31 - 1 && (!steps || steps[k] === 1);
    if (!full) return bad(c, 'slices the batch axis');
  }
  return b;
}

function gather(c: RuleCtx): BatchState {
  const r = c.shape(0)?.length, ri = c.shape(1)?.length;
  if (r === undefined || ri === undefined) return bad(c, 'has an input of unknown rank');
  const axis = norm(attrInt(c.node, 'axis', 0), r);
  const d = c.st(0), i = c.st(1);
  if (typeof d === 'number' && i === 'const') return axis === d ? bad(c, 'gathers along the batch axis') : axis < d ? d + ri - 1 : d;
  if (d === 'const' && typeof i === 'number') return axis + i; // embedding lookup by per-sample indices
  return bad(c, 'gathers batch-dependent data with batch-dependent indices');
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

function padRule(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const pads = attrInts(c.node, 'pads') ?? attrInts(c.node, 'paddings') ?? ints(c, 1);
  if (r === undefined || !pads || c.node.inputs[3]) return bad(c, 'pads unknown axes');
  return pads[b] === 0 && pads[b + r] === 0 ? b : bad(c, 'pads the batch axis');
}

function tile(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const reps = ints(c, 1);
  return reps && reps[b] === 1 ? b : bad(c, 'repeats along the batch axis');
}

function expand(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const target = ints(c, 1);
  if (r === undefined || !target) return bad(c, 'expands to a computed shape');
  const R = Math.max(r, target.length);
  const p = b + R - r - (R - target.length);
  return p < 0 || target[p] === 1 ? b + R - r : bad(c, 'expands along the batch axis');
}

function resize(c: RuleCtx): BatchState {
  const b = c.st(0);
  const attr = c.node.attrs.scales;
  const scales = attr && attr.kind === 'floats' ? attr.value : c.node.opType === 'Upsample' || c.opset < 11 ? ints(c, 1) : ints(c, 2);
  if (b !== 0 || c.node.inputs.slice(1).some((_, i) => c.st(i + 1) !== 'const')) return bad(c, 'needs the batch at axis 0');
  if (c.node.opType === 'Resize' && c.opset >= 11 && c.node.inputs[3]) return bad(c, 'resizes to fixed sizes that include the batch');
  return scales && scales[0] === 1 ? 0 : bad(c, 'scales the batch axis');
}

const RULES = new Map<string, Rule>();
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
reg(['Flatten'], flatten);
reg(['Reshape'], reshape);
reg(['Squeeze'], squeeze);
reg(['Unsqueeze'], unsqueeze);
reg(['Transpose'], transpose);
reg(['Concat'], concat);
reg(['Split', 'TopK', 'CumSum', 'LayerNormalization', 'LpNormalization'], (c) => (c.node.opType === 'LayerNormalization' ? layerNorm(c) : alongAxis(c.node.opType === 'Split' ? 0 : -1)(c)));
reg(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp', 'ReduceSumSquare',
  'ReduceLogSum', 'ArgMax', 'ArgMin'], reduce);
reg(['Slice'], slice);
reg(['Gather'], gather);
reg(['MatMul'], matmul);
reg(['Gemm'], gemm);
reg(['Pad'], padRule);
reg(['Tile'], tile);
reg(['Expand'], expand);
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
