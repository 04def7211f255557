// Elementwise ops of the reference interpreter: unary maths, activations, broadcast
// binary and variadic ops, comparisons and logic, Where, Clip, Cast.
import type { DType, Node } from '../../src/graph/ir.js';
import { attrFloat, attrInt, attrString } from '../../src/graph/ir.js';
import { dtypeOfCode } from '../../src/graph/tensor.js';
import {
  type OpFn, type OpTable, type Val, broadcastDims, broadcastOffsets, isIntDType, make, need,
} from './interp-core.js';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf to about 1e-15 relative: erf(x) = 2/sqrt(pi) e^{-x^2} sum_n (2x^2)^n x / (2n+1)!!
 * has only positive terms, so there is no cancellation; erf(6) is 1 in float64.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax === 0 || Number.isNaN(x)) return x;
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 0; term > sum * 1e-17; n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function unary(f: (x: number, node: Node) => number, outDtype?: DType): OpFn {
  return (ins, node) => {
    const x = need(ins, 0, node);
    const out = make([...x.dims], outDtype ?? x.dtype);
    const s = x.data, d = out.data;
    for (let i = 0; i < s.length; i++) d[i] = f(s[i], node);
    return [out];
  };
}

/** A unary op whose scalar function depends on attributes, resolved once per node. */
function unaryWith(make1: (node: Node) => (x: number) => number): OpFn {
  return (ins, node) => {
    const f = make1(node);
    return unary((x) => f(x))(ins, node);
  };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function gelu(node: Node): (x: number) => number {
  const approx = attrString(node, 'approximate', 'none');
  if (approx === 'tanh') return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  if (approx !== 'none') throw new Error(`reference Gelu: unknown approximate '${approx}'`);
  return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** Binary op with multidirectional broadcasting. */
export function binaryOp(a: Val, b: Val, f: (x: number, y: number) => number, dtype: DType, node?: Node): Val {
  const dims = broadcastDims([a.dims, b.dims], node);
  const out = make(dims, dtype);
  const oa = broadcastOffsets(a.dims, dims), ob = broadcastOffsets(b.dims, dims);
  const ad = a.data, bd = b.data, d = out.data;
  if (!oa && !ob) for (let i = 0; i < d.length; i++) d[i] = f(ad[i], bd[i]);
  else if (!oa) for (let i = 0; i < d.length; i++) d[i] = f(ad[i], bd[ob![i]]);
  else if (!ob) for (let i = 0; i < d.length; i++) d[i] = f(ad[oa[i]], bd[i]);
  else for (let i = 0; i < d.length; i++) d[i] = f(ad[oa[i]], bd[ob[i]]);
  return out;
}

function binary(f: (x: number, y: number) => number, boolOut = false): OpFn {
  return (ins, node) => {
    const a = need(ins, 0, node), b = need(ins, 1, node);
    return [binaryOp(a, b, f, boolOut ? 'bool' : a.dtype, node)];
  };
}

function div(ins: (Val | undefined)[], node: Node): Val[] {
  const a = need(ins, 0, node), b = need(ins, 1, node);
  // Integer Div truncates toward zero (C semantics), as onnxruntime does.
  const f = isIntDType(a.dtype) ? (x: number, y: number) => Math.trunc(x / y) : (x: number, y: number) => x / y;
  return [binaryOp(a, b, f, a.dtype, node)];
}

/** Sum/Max/Min/Mean: fold pairwise with broadcasting. */
function variadic(f: (x: number, y: number) => number, mean = false): OpFn {
  return (ins, node) => {
    const xs = ins.filter((v): v is Val => !!v);
    if (xs.length === 0) throw new Error(`reference ${node.opType}: needs at least one input`);
    let acc = make([...xs[0].dims], xs[0].dtype, xs[0].data.slice());
    for (let k = 1; k < xs.length; k++) acc = binaryOp(acc, xs[k], f, acc.dtype, node);
    if (mean) for (let i = 0; i < acc.data.length; i++) acc.data[i] /= xs.length;
    return [acc];
  };
}

function where(ins: (Val | undefined)[], node: Node): Val[] {
  const c = need(ins, 0, node), x = need(ins, 1, node), y = need(ins, 2, node);
  const dims = broadcastDims([c.dims, x.dims, y.dims], node);
  const out = make(dims, x.dtype);
  const oc = broadcastOffsets(c.dims, dims), ox = broadcastOffsets(x.dims, dims), oy = broadcastOffsets(y.dims, dims);
  for (let i = 0; i < out.data.length; i++) {
    const cond = c.data[oc ? oc[i] : i];
    out.data[i] = cond ? x.data[ox ? ox[i] : i] : y.data[oy ? oy[i] : i];
  }
  return [out];
}

function clip(ins: (Val | undefined)[], node: Node): Val[] {
  // opset >= 11: min and max are optional scalar inputs; before, attributes.
  const lo = ins[1] ? ins[1].data[0] : attrFloat(node, 'min', -Infinity);
  const hi = ins[2] ? ins[2].data[0] : attrFloat(node, 'max', Infinity);
  return unary((x) => Math.min(Math.max(x, lo), hi))(ins, node) as Val[];
}

function cast(ins: (Val | undefined)[], node: Node): Val[] {
  const to = dtypeOfCode(attrInt(node, 'to', 1));
  if (!to || to === 'string') throw new Error(`reference Cast node '${node.name}': unsupported target type ${attrInt(node, 'to', 1)}`);
  // Float targets keep float64 precision on purpose (the point of the reference);
  // integer targets truncate toward zero; bool is "not zero".
  const f = to === 'bool' ? (v: number) => (v !== 0 ? 1 : 0)
    : isIntDType(to) ? (v: number) => (Number.isFinite(v) ? Math.trunc(v) : 0)
      : (v: number) => v;
  return unary(f, to)(ins, node) as Val[];
}

function dropout(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const training = ins[2] ? ins[2].data[0] !== 0 : false;
  const ratio = ins[1] ? ins[1].data[0] : 0.5;
  if (training && ratio !== 0) throw new Error(`reference Dropout node '${node.name}': training mode is random, not supported`);
  return [x, make([...x.dims], 'bool', new Float64Array(x.data.length).fill(1))];
}

const b2n = (c: boolean) => (c ? 1 : 0);

export const elementwiseOps: OpTable = {
  Identity: (ins, node) => [need(ins, 0, node)],
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Sqrt: unary(Math.sqrt),
  Sin: unary(Math.sin),
  Cos: unary(Math.cos),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  // Round is half-to-even in ONNX
  Round: unary((x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; }),
  Reciprocal: unary((x) => 1 / x),
  Sign: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)),
  Relu: unary((x) => (x > 0 ? x : 0)),
  LeakyRelu: unaryWith((node) => { const a = attrFloat(node, 'alpha', 0.01); return (x) => (x >= 0 ? x : a * x); }),
  Sigmoid: unary(sigmoid),
  Tanh: unary(Math.tanh),
  Erf: unary(erf),
  Gelu: unaryWith(gelu),
  Softplus: unary(softplus),
  Not: unary((x) => b2n(!x), 'bool'),
  Clip: clip,
  Cast: cast,
  Dropout: dropout,
  Add: binary((x, y) => x + y),
  Sub: binary((x, y) => x - y),
  Mul: binary((x, y) => x * y),
  Div: div,
  Pow: binary(Math.pow),
  Equal: binary((x, y) => b2n(x === y), true),
  Less: binary((x, y) => b2n(x < y), true),
  Greater: binary((x, y) => b2n(x > y), true),
  LessOrEqual: binary((x, y) => b2n(x <= y), true),
  GreaterOrEqual: binary((x, y) => b2n(x >= y), true),
  And: binary((x, y) => b2n(!!x && !!y), true),
  Or: binary((x, y) => b2n(!!x || !!y), true),
  Xor: binary((x, y) => b2n(!!x !== !!y), true),
  Where: where,
  Sum: variadic((x, y) => x + y),
  Mean: variadic((x, y) => x + y, true),
  Max: variadic((x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y))),
  Min: variadic((x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y))),
};
