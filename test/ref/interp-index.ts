// Indexing ops of the reference interpreter: Gather, GatherElements, ScatterElements,
// OneHot. Negative indices count from the end of the indexed axis.
import type { Node } from '../../src/graph/ir.js';
import { attrInt, attrString } from '../../src/graph/ir.js';
import { type OpTable, type Val, make, need, normAxis, sizeOf, stridesOf } from './interp-core.js';

function checkIndex(i: number, n: number, node: Node): number {
  const j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) throw new Error(`reference ${node.opType} node '${node.name}': index ${i} out of range for axis of size ${n}`);
  return j;
}

/** Gather: out = data[:axis] + indices.dims + data[axis+1:]. */
function gather(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), idx = need(ins, 1, node);
  const axis = normAxis(attrInt(node, 'axis', 0), x.dims.length, node);
  const outer = sizeOf(x.dims.slice(0, axis)), inner = sizeOf(x.dims.slice(axis + 1));
  const len = x.dims[axis], k = idx.data.length;
  const out = make([...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)], x.dtype);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const src = (o * len + checkIndex(idx.data[j], len, node)) * inner;
      out.data.set(x.data.subarray(src, src + inner), (o * k + j) * inner);
    }
  }
  return [out];
}

/**
 * For every element of `idx` (shape idxDims), the flat offset in a tensor of shape
 * `dims` with the `axis` coordinate replaced by the index value.
 */
function elementTargets(dims: number[], idx: Val, axis: number, node: Node): Int32Array {
  const st = stridesOf(dims);
  const rank = dims.length;
  const res = new Int32Array(idx.data.length);
  const coord = new Array<number>(rank).fill(0);
  for (let i = 0; i < idx.data.length; i++) {
    let off = 0;
    for (let a = 0; a < rank; a++) off += (a === axis ? checkIndex(idx.data[i], dims[a], node) : coord[a]) * st[a];
    res[i] = off;
    for (let a = rank - 1; a >= 0; a--) {
      if (++coord[a] < idx.dims[a]) break;
      coord[a] = 0;
    }
  }
  return res;
}

function gatherElements(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), idx = need(ins, 1, node);
  const axis = normAxis(attrInt(node, 'axis', 0), x.dims.length, node);
  const t = elementTargets(x.dims, idx, axis, node);
  const out = make([...idx.dims], x.dtype);
  for (let i = 0; i < t.length; i++) out.data[i] = x.data[t[i]];
  return [out];
}

const SCATTER: Record<string, (a: number, b: number) => number> = {
  none: (_a, b) => b,
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  max: (a, b) => Math.max(a, b),
  min: (a, b) => Math.min(a, b),
};

function scatterElements(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), idx = need(ins, 1, node), upd = need(ins, 2, node);
  const axis = normAxis(attrInt(node, 'axis', 0), x.dims.length, node);
  const reduction = attrString(node, 'reduction', 'none');
  const f = SCATTER[reduction];
  if (!f) throw new Error(`reference ScatterElements node '${node.name}': unknown reduction '${reduction}'`);
  const t = elementTargets(x.dims, idx, axis, node);
  const out = make([...x.dims], x.dtype, x.data.slice());
  for (let i = 0; i < t.length; i++) out.data[t[i]] = f(out.data[t[i]], upd.data[i]);
  return [out];
}

/** OneHot: indices in [-depth, depth) select `on`, everything else is `off`. */
function oneHot(ins: (Val | undefined)[], node: Node): Val[] {
  const idx = need(ins, 0, node), depthV = need(ins, 1, node), values = need(ins, 2, node);
  const depth = Math.trunc(depthV.data[0]);
  const rank = idx.dims.length + 1;
  const axis = normAxis(attrInt(node, 'axis', -1), rank, node);
  const outer = sizeOf(idx.dims.slice(0, axis)), inner = sizeOf(idx.dims.slice(axis));
  const out = make([...idx.dims.slice(0, axis), depth, ...idx.dims.slice(axis)], values.dtype);
  const [off, on] = [values.data[0], values.data[1]];
  out.data.fill(off);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let k = Math.trunc(idx.data[o * inner + i]);
      if (k < 0) k += depth;
      if (k >= 0 && k < depth) out.data[(o * depth + k) * inner + i] = on;
    }
  }
  return [out];
}

export const indexOps: OpTable = {
  Gather: gather,
  GatherElements: gatherElements,
  ScatterElements: scatterElements,
  OneHot: oneHot,
};
