// Reductions of the reference interpreter: Reduce* (axes as input from opset 18, or
// the older attribute), Softmax/LogSoftmax over one axis, ArgMax/ArgMin.
import type { Node } from '../../src/graph/ir.js';
import { attrInt } from '../../src/graph/ir.js';
import { type OpFn, type OpTable, type Val, intsFrom, make, need, normAxis, sizeOf, stridesOf } from './interp-core.js';

interface Reduced {
  outDims: number[];
  /** output index of every input element */
  map: Int32Array;
  /** number of input elements per output element */
  count: number;
}

/** Which output element each input element reduces into. */
function reduceMap(dims: number[], axes: number[], keepdims: boolean): Reduced {
  const rank = dims.length;
  const red = new Array<boolean>(rank).fill(false);
  for (const a of axes) red[a] = true;
  const kept = dims.map((d, a) => (red[a] ? 1 : d));
  const outDims = keepdims ? kept : dims.filter((_, a) => !red[a]);
  const ks = stridesOf(kept);
  const n = sizeOf(dims);
  const map = new Int32Array(n);
  const coord = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < n; i++) {
    map[i] = o;
    for (let a = rank - 1; a >= 0; a--) {
      coord[a]++;
      if (!red[a]) o += ks[a];
      if (coord[a] < dims[a]) break;
      if (!red[a]) o -= ks[a] * dims[a];
      coord[a] = 0;
    }
  }
  let count = 1;
  for (const a of axes) count *= dims[a];
  return { outDims, map, count };
}

/**
 * The axes of a Reduce* node, normalised. Empty axes with noop_with_empty_axes=1
 * reduce over no axis at all: the elementwise part still applies (ReduceSumSquare
 * gives x^2, ReduceL1 |x|, ReduceLogSum log x), as in onnxruntime and the ONNX reference.
 */
function reduceAxes(ins: (Val | undefined)[], node: Node, rank: number): number[] {
  const given = intsFrom(ins, 1, node, 'axes') ?? [];
  if (given.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0)) return [];
    return Array.from({ length: rank }, (_, a) => a);
  }
  return [...new Set(given.map((a) => normAxis(a, rank, node)))];
}

type Fold = { init: number; step: (acc: number, x: number) => number; finish?: (acc: number, count: number) => number };

const FOLDS: Record<string, Fold> = {
  ReduceSum: { init: 0, step: (a, x) => a + x },
  ReduceMean: { init: 0, step: (a, x) => a + x, finish: (a, n) => a / n },
  ReduceMax: { init: -Infinity, step: (a, x) => (x > a || Number.isNaN(x) ? x : a) },
  ReduceMin: { init: Infinity, step: (a, x) => (x < a || Number.isNaN(x) ? x : a) },
  ReduceProd: { init: 1, step: (a, x) => a * x },
  ReduceSumSquare: { init: 0, step: (a, x) => a + x * x },
  ReduceL1: { init: 0, step: (a, x) => a + Math.abs(x) },
  ReduceL2: { init: 0, step: (a, x) => a + x * x, finish: (a) => Math.sqrt(a) },
  ReduceLogSum: { init: 0, step: (a, x) => a + x, finish: (a) => Math.log(a) },
};

function reduceOp(fold: Fold): OpFn {
  return (ins, node) => {
    const x = need(ins, 0, node);
    const axes = reduceAxes(ins, node, x.dims.length);
    const r = reduceMap(x.dims, axes, attrInt(node, 'keepdims', 1) !== 0);
    const out = make(r.outDims, x.dtype);
    out.data.fill(fold.init);
    const d = out.data, s = x.data, m = r.map, step = fold.step;
    for (let i = 0; i < s.length; i++) d[m[i]] = step(d[m[i]], s[i]);
    if (fold.finish) for (let i = 0; i < d.length; i++) d[i] = fold.finish(d[i], r.count);
    return [out];
  };
}

/** log(sum(exp(x))) with the max subtracted first, so large inputs do not overflow. */
function reduceLogSumExp(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const axes = reduceAxes(ins, node, x.dims.length);
  const r = reduceMap(x.dims, axes, attrInt(node, 'keepdims', 1) !== 0);
  const mx = new Float64Array(sizeOf(r.outDims)).fill(-Infinity);
  const s = x.data, m = r.map;
  for (let i = 0; i < s.length; i++) if (s[i] > mx[m[i]]) mx[m[i]] = s[i];
  // an all -inf (or +inf) slice has no finite shift; exp/log then give -inf (+inf)
  for (let i = 0; i < mx.length; i++) if (!Number.isFinite(mx[i])) mx[i] = 0;
  const out = make(r.outDims, x.dtype);
  for (let i = 0; i < s.length; i++) out.data[m[i]] += Math.exp(s[i] - mx[m[i]]);
  for (let i = 0; i < out.data.length; i++) out.data[i] = mx[i] + Math.log(out.data[i]);
  return [out];
}

/** Softmax (opset 13+): over the single axis `axis`, default -1. */
function softmaxOp(log: boolean): OpFn {
  return (ins, node) => {
    const x = need(ins, 0, node);
    const axis = normAxis(attrInt(node, 'axis', -1), x.dims.length, node);
    const len = x.dims[axis];
    const inner = sizeOf(x.dims.slice(axis + 1));
    const outer = sizeOf(x.dims.slice(0, axis));
    const out = make([...x.dims], x.dtype);
    const s = x.data, d = out.data;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        let mx = -Infinity;
        for (let k = 0; k < len; k++) mx = Math.max(mx, s[base + k * inner]);
        let sum = 0;
        for (let k = 0; k < len; k++) sum += Math.exp(s[base + k * inner] - mx);
        const lse = Math.log(sum);
        for (let k = 0; k < len; k++) {
          const z = s[base + k * inner] - mx;
          d[base + k * inner] = log ? z - lse : Math.exp(z) / sum;
        }
      }
    }
    return [out];
  };
}

/** ArgMax/ArgMin: first extreme index unless select_last_index; int64 output. */
function argOp(better: (x: number, best: number) => boolean): OpFn {
  return (ins, node) => {
    const x = need(ins, 0, node);
    const rank = x.dims.length;
    const axis = normAxis(attrInt(node, 'axis', 0), rank, node);
    const keep = attrInt(node, 'keepdims', 1) !== 0;
    const last = attrInt(node, 'select_last_index', 0) !== 0;
    const len = x.dims[axis];
    const inner = sizeOf(x.dims.slice(axis + 1));
    const outer = sizeOf(x.dims.slice(0, axis));
    const dims = keep ? x.dims.map((d, a) => (a === axis ? 1 : d)) : x.dims.filter((_, a) => a !== axis);
    const out = make(dims, 'int64');
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        let best = 0;
        for (let k = 1; k < len; k++) {
          const v = x.data[base + k * inner], b = x.data[base + best * inner];
          if (better(v, b) || (last && v === b)) best = k;
        }
        out.data[o * inner + i] = best;
      }
    }
    return [out];
  };
}

export const reduceOps: OpTable = {
  ...Object.fromEntries(Object.entries(FOLDS).map(([op, f]) => [op, reduceOp(f)])),
  ReduceLogSumExp: reduceLogSumExp,
  Softmax: softmaxOp(false),
  LogSoftmax: softmaxOp(true),
  ArgMax: argOp((x, b) => x > b),
  ArgMin: argOp((x, b) => x < b),
};
