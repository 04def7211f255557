// Static shape and type inference, one rule per op. Rules work on concrete numbers
// and tolerate symbolic dims (strings) where they pass through unchanged; a rule
// that cannot tell returns an output with unknown shape rather than guessing.
import type { DType, Dim, Node, Shape, Tensor, ValueInfo } from './ir.js';
import { attrInt, attrInts, attrTensor } from './ir.js';
import { toNumbers, dtypeOfCode as codeToDtype } from './tensor.js';
import { ShapeError } from '../errors.js';
import { registerLayoutShapes } from './shapes-layout.js';
import { registerNnShapes } from './shapes-nn.js';

export type InfoFn = (name: string) => ValueInfo | undefined;
export type ConstFn = (name: string) => Tensor | undefined;
export interface ShapeCtx {
  node: Node;
  opset: number;
  /** type of input i; throws when missing */
  in(i: number): ValueInfo;
  has(i: number): boolean;
  /** constant value of input i as numbers, when it is a constant */
  constInts(i: number): number[] | undefined;
}
type Out = { dtype: DType; shape?: Shape } | undefined;
export type ShapeRule = (c: ShapeCtx) => Out[];

const RULES = new Map<string, ShapeRule>();
export function registerShape(ops: string | string[], rule: ShapeRule): void {
  for (const op of Array.isArray(ops) ? ops : [ops]) {
    if (RULES.has(op)) throw new Error(`shape rule for ${op} registered twice`);
    RULES.set(op, rule);
  }
}
export function hasShapeRule(op: string): boolean {
  return RULES.has(op);
}

export function inferNode(node: Node, info: InfoFn, constOf: ConstFn, opset: number): Out[] {
  const ctx: ShapeCtx = {
    node,
    opset,
    in(i) {
      const name = node.inputs[i];
      const vi = name ? info(name) : undefined;
      if (!vi) throw new ShapeError(`${node.opType} node '${node.name}': input ${i} ('${name ?? ''}') has no known type`);
      return vi;
    },
    has: (i) => !!node.inputs[i],
    constInts(i) {
      const name = node.inputs[i];
      const t = name ? constOf(name) : undefined;
      return t ? toNumbers(t) : undefined;
    },
  };
  const rule = node.domain === '' || node.domain === 'ai.onnx' ? RULES.get(node.opType) : undefined;
  if (!rule) {
    // Unknown op: type of first input, shape unknown. Autodiff will refuse it later if needed.
    const first = node.inputs[0] ? info(node.inputs[0]) : undefined;
    return node.outputs.map(() => (first ? { dtype: first.dtype } : undefined));
  }
  return rule(ctx);
}

// ---------------------------------------------------------------- helpers shared by rule files

export function broadcastShapes(shapes: Shape[], where: string): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const j = s.length - rank + k;
      if (j < 0) continue;
      const e = s[j];
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (e !== d) {
        if (typeof d === 'number' && typeof e === 'number') {
          throw new ShapeError(`${where}: shapes [${shapes.map((x) => x.join(',')).join('] and [')}] do not broadcast`);
        }
        d = typeof d === 'number' ? d : typeof e === 'number' ? e : null;
      }
    }
    out.push(d);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Axes from attribute (old opsets) or input `i` (new opsets). undefined = not given. */
export function axesOf(c: ShapeCtx, inputIndex: number): number[] | undefined | 'unknown' {
  const a = attrInts(c.node, 'axes');
  if (a) return a;
  if (c.has(inputIndex)) return c.constInts(inputIndex) ?? 'unknown';
  return undefined;
}

const where = (c: ShapeCtx) => `${c.node.opType} node '${c.node.name}'`;

// ---------------------------------------------------------------- elementwise

const same: ShapeRule = (c) => c.node.outputs.map(() => ({ dtype: c.in(0).dtype, shape: c.in(0).shape }));
registerShape(['Identity', 'Neg', 'Exp', 'Log', 'Sqrt', 'Abs', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Erf', 'Gelu',
  'Reciprocal', 'Sign', 'Floor', 'Ceil', 'Round', 'Softplus', 'Elu', 'Selu', 'HardSigmoid', 'HardSwish', 'Sin', 'Cos',
  'Clip', 'Softmax', 'LogSoftmax', 'Not', 'CumSum', 'Mish', 'Celu', 'ThresholdedRelu', 'Softsign'], same);
registerShape(['IsNaN', 'IsInf'], (c) => [{ dtype: 'bool', shape: c.in(0).shape }]);
registerShape('Dropout', (c) => [{ dtype: c.in(0).dtype, shape: c.in(0).shape }, { dtype: 'bool', shape: c.in(0).shape }]);

function broadcastRule(outDtype?: DType): ShapeRule {
  return (c) => {
    const ins = c.node.inputs.map((_, i) => c.in(i));
    const shape = ins.every((v) => v.shape) ? broadcastShapes(ins.map((v) => v.shape!), where(c)) : undefined;
    return [{ dtype: outDtype ?? ins[0].dtype, shape }];
  };
}
registerShape(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Mod', 'PRelu', 'BitShift'], broadcastRule());
registerShape(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'], broadcastRule('bool'));
registerShape('Where', (c) => {
  const ins = [0, 1, 2].map((i) => c.in(i));
  const shape = ins.every((v) => v.shape) ? broadcastShapes(ins.map((v) => v.shape!), where(c)) : undefined;
  return [{ dtype: ins[1].dtype, shape }];
});

export function dtypeOfCode(code: number): DType {
  const d = codeToDtype(code);
  if (!d) throw new ShapeError(`unsupported ONNX data type code ${code}`);
  return d;
}
registerShape('Cast', (c) => [{ dtype: dtypeOfCode(attrInt(c.node, 'to', 1)), shape: c.in(0).shape }]);
registerShape('CastLike', (c) => [{ dtype: c.in(1).dtype, shape: c.in(0).shape }]);

// ---------------------------------------------------------------- reductions

function reduceRule(outDtype?: DType): ShapeRule {
  return (c) => {
    const x = c.in(0);
    const keep = attrInt(c.node, 'keepdims', 1) === 1;
    const dtype = outDtype ?? x.dtype;
    if (!x.shape) return [{ dtype }];
    const r = x.shape.length;
    let axes: number[] | undefined | 'unknown';
    if (c.node.opType === 'ArgMax' || c.node.opType === 'ArgMin') axes = [attrInt(c.node, 'axis', 0)];
    else axes = axesOf(c, 1);
    if (axes === 'unknown') return [{ dtype }];
    if (axes === undefined || axes.length === 0) {
      if (attrInt(c.node, 'noop_with_empty_axes', 0) === 1) return [{ dtype, shape: x.shape }];
      axes = x.shape.map((_, i) => i);
    }
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const shape: Shape = [];
    x.shape.forEach((d, i) => {
      if (!set.has(i)) shape.push(d);
      else if (keep) shape.push(1);
    });
    return [{ dtype, shape }];
  };
}
registerShape(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2',
  'ReduceLogSumExp', 'ReduceSumSquare', 'ReduceLogSum'], reduceRule());
registerShape(['ArgMax', 'ArgMin'], reduceRule('int64'));

// ---------------------------------------------------------------- constants

registerShape('Constant', (c) => {
  const t = attrTensor(c.node, 'value');
  if (t) return [{ dtype: t.dtype, shape: [...t.dims] }];
  const a = c.node.attrs;
  if (a.value_float) return [{ dtype: 'float32', shape: [] }];
  if (a.value_int) return [{ dtype: 'int64', shape: [] }];
  if (a.value_floats && a.value_floats.kind === 'floats') return [{ dtype: 'float32', shape: [a.value_floats.value.length] }];
  if (a.value_ints && a.value_ints.kind === 'ints') return [{ dtype: 'int64', shape: [a.value_ints.value.length] }];
  return [undefined];
});

registerLayoutShapes();
registerNnShapes();
