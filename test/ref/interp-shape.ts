// Layout ops of the reference interpreter: Reshape, Flatten, Transpose, Squeeze,
// Unsqueeze, Concat, Split, Slice, Expand, Tile, Pad, Shape, Size, ConstantOfShape, Range.
// Data movement goes through per-axis offset tables (see interp-core.ts).
import type { Node } from '../../src/graph/ir.js';
import { attrInt, attrInts, attrString, attrTensor } from '../../src/graph/ir.js';
import { toNumbers } from '../../src/graph/tensor.js';
import {
  type AxisTables, type OpTable, type Val, broadcastDims, broadcastTo, gatherOffsets, intsFrom, make, need,
  normAxis, offsets, sizeOf, stridesOf,
} from './interp-core.js';

const ints = (dims: number[]): Val => make([dims.length], 'int64', Float64Array.from(dims));

/** Read x into outDims through per-axis tables (-1 entries get `fill`). */
function remap(x: Val, outDims: number[], tables: AxisTables, fill = 0): Val {
  return make(outDims, x.dtype, gatherOffsets(x.data, offsets(outDims, tables), fill));
}

function reshape(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const shape = Array.from(need(ins, 1, node).data);
  const allowZero = attrInt(node, 'allowzero', 0) !== 0;
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.dims[i] : d));
  const hole = dims.indexOf(-1);
  if (hole >= 0) {
    const rest = sizeOf(dims.filter((_, i) => i !== hole));
    dims[hole] = rest === 0 ? 0 : sizeOf(x.dims) / rest;
  }
  if (sizeOf(dims) !== x.data.length) throw new Error(`reference Reshape node '${node.name}': cannot reshape [${x.dims}] to [${shape}]`);
  return [make(dims, x.dtype, x.data)];
}

function flatten(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  let axis = attrInt(node, 'axis', 1);
  if (axis < 0) axis += x.dims.length;
  return [make([sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))], x.dtype, x.data)];
}

function transpose(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const perm = attrInts(node, 'perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i);
  const st = stridesOf(x.dims);
  const outDims = perm.map((p) => x.dims[p]);
  return [remap(x, outDims, perm.map((p, a) => Int32Array.from({ length: outDims[a] }, (_, i) => i * st[p])))];
}

function squeeze(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const given = intsFrom(ins, 1, node, 'axes');
  const axes = given ? given.map((a) => normAxis(a, x.dims.length, node)) : x.dims.flatMap((d, a) => (d === 1 ? [a] : []));
  return [make(x.dims.filter((_, a) => !axes.includes(a)), x.dtype, x.data)];
}

function unsqueeze(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const given = intsFrom(ins, 1, node, 'axes') ?? [];
  const rank = x.dims.length + given.length;
  const axes = new Set(given.map((a) => normAxis(a, rank, node)));
  const dims: number[] = [];
  let k = 0;
  for (let a = 0; a < rank; a++) dims.push(axes.has(a) ? 1 : x.dims[k++]);
  return [make(dims, x.dtype, x.data)];
}

function concat(ins: (Val | undefined)[], node: Node): Val[] {
  const xs = ins.filter((v): v is Val => !!v);
  const axis = normAxis(attrInt(node, 'axis', 0), xs[0].dims.length, node);
  const outer = sizeOf(xs[0].dims.slice(0, axis));
  const dims = [...xs[0].dims];
  dims[axis] = xs.reduce((s, v) => s + v.dims[axis], 0);
  const out = make(dims, xs[0].dtype);
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const v of xs) {
      const chunk = v.data.length / outer;
      out.data.set(v.data.subarray(o * chunk, (o + 1) * chunk), pos);
      pos += chunk;
    }
  }
  return [out];
}

function split(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const axis = normAxis(attrInt(node, 'axis', 0), x.dims.length, node);
  const n = node.outputs.length, len = x.dims[axis];
  // sizes: the `split` input (13+), the old attribute, or n equal parts (last smaller).
  let sizes = intsFrom(ins, 1, node, 'split');
  if (!sizes) {
    const chunk = Math.ceil(len / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, len - i * chunk)));
  }
  let start = 0;
  return sizes.map((s) => {
    const v = sliceAxis(x, axis, start, s);
    start += s;
    return v;
  });
}

function sliceAxis(x: Val, axis: number, start: number, count: number): Val {
  const st = stridesOf(x.dims);
  const dims = [...x.dims];
  dims[axis] = count;
  return remap(x, dims, dims.map((d, a) => Int32Array.from({ length: d }, (_, i) => (a === axis ? start + i : i) * st[a])));
}

/** Slice (opset 13): negative starts/ends count from the end, then clamp by step sign. */
function slice(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const starts = intsFrom(ins, 1, node, 'starts')!, ends = intsFrom(ins, 2, node, 'ends')!;
  const axes = (intsFrom(ins, 3, node, 'axes') ?? starts.map((_, i) => i)).map((a) => normAxis(a, x.dims.length, node));
  const steps = ins[4] ? Array.from(ins[4].data) : starts.map(() => 1);
  const st = stridesOf(x.dims);
  const first = x.dims.map(() => 0), step = x.dims.map(() => 1), dims = [...x.dims];
  axes.forEach((a, i) => {
    const d = x.dims[a], s = steps[i];
    let b = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (s > 0) {
      b = Math.min(Math.max(b, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      b = Math.min(Math.max(b, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    first[a] = b;
    step[a] = s;
    dims[a] = Math.max(0, Math.ceil((e - b) / s));
  });
  return [remap(x, dims, dims.map((d, a) => Int32Array.from({ length: d }, (_, i) => (first[a] + i * step[a]) * st[a])))];
}

function expand(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const dims = broadcastDims([x.dims, Array.from(need(ins, 1, node).data)], node);
  return [make(dims, x.dtype, broadcastTo(x, dims).slice())];
}

function tile(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const reps = Array.from(need(ins, 1, node).data);
  const st = stridesOf(x.dims);
  const dims = x.dims.map((d, a) => d * reps[a]);
  return [remap(x, dims, dims.map((d, a) => Int32Array.from({ length: d }, (_, i) => (i % x.dims[a]) * st[a])))];
}

/** Input coordinate of output coordinate i (before-pad b) in a dim of size n. */
function padIndex(i: number, b: number, n: number, mode: string): number {
  let j = i - b;
  if (j >= 0 && j < n) return j;
  if (mode === 'constant') return -1;
  if (mode === 'edge') return j < 0 ? 0 : n - 1;
  if (mode === 'wrap') return ((j % n) + n) % n;
  if (n === 1) return 0;
  const period = 2 * (n - 1); // reflect: mirror without repeating the edge
  j = ((j % period) + period) % period;
  return j < n ? j : period - j;
}

/** Pad (opset 18): pads, constant_value and axes as inputs; negative pads crop. */
function pad(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const rank = x.dims.length;
  const mode = attrString(node, 'mode', 'constant');
  const pads = intsFrom(ins, 1, node, 'pads')!;
  const value = ins[2] && ins[2].data.length ? ins[2].data[0] : 0;
  const axes = (ins[3] ? Array.from(ins[3].data) : x.dims.map((_, a) => a)).map((a) => normAxis(a, rank, node));
  const pb = x.dims.map(() => 0), pe = x.dims.map(() => 0);
  axes.forEach((a, i) => { pb[a] = pads[i]; pe[a] = pads[i + axes.length]; });
  const st = stridesOf(x.dims);
  const dims = x.dims.map((d, a) => d + pb[a] + pe[a]);
  const tables = dims.map((d, a) => Int32Array.from({ length: d }, (_, i) => {
    const j = padIndex(i, pb[a], x.dims[a], mode);
    return j < 0 ? -1 : j * st[a];
  }));
  return [remap(x, dims, tables, value)];
}

function shape(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const r = x.dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(attrInt(node, 'start', 0));
  const end = node.attrs.end ? clamp(attrInt(node, 'end', r)) : r;
  return [ints(x.dims.slice(start, Math.max(start, end)))];
}

function constantOfShape(ins: (Val | undefined)[], node: Node): Val[] {
  const dims = Array.from(need(ins, 0, node).data);
  const t = attrTensor(node, 'value');
  const out = make(dims, t ? t.dtype : 'float32');
  if (t) out.data.fill(toNumbers(t)[0]);
  return [out];
}

function range(ins: (Val | undefined)[], node: Node): Val[] {
  const start = need(ins, 0, node), limit = need(ins, 1, node), delta = need(ins, 2, node);
  const s = start.data[0], d = delta.data[0];
  const n = Math.max(Math.ceil((limit.data[0] - s) / d), 0);
  const out = make([n], start.dtype);
  for (let i = 0; i < n; i++) out.data[i] = s + i * d;
  return [out];
}

export const shapeOps: OpTable = {
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  Shape: shape,
  Size: (ins, node) => [make([], 'int64', Float64Array.of(need(ins, 0, node).data.length))],
  ConstantOfShape: constantOfShape,
  Range: range,
};
