// Shared pieces of the float64 reference interpreter: the value type, the op table
// type, shape/stride helpers and the offset tables every data-movement op uses.
import type { DType, Node } from '../../src/graph/ir.js';
import { attrInts } from '../../src/graph/ir.js';

/** A value inside the interpreter: every dtype is held as float64 (ints exactly). */
export interface Val {
  dims: number[];
  data: Float64Array;
  dtype: DType;
}

/** An op: inputs in node order (undefined where omitted) to outputs in node order. */
export type OpFn = (ins: (Val | undefined)[], node: Node) => (Val | undefined)[];
export type OpTable = Record<string, OpFn>;

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

export function make(dims: number[], dtype: DType, data?: Float64Array): Val {
  return { dims, dtype, data: data ?? new Float64Array(sizeOf(dims)) };
}

export function isIntDType(d: DType): boolean {
  return d.startsWith('int') || d.startsWith('uint');
}

/** Input i, which the op requires. */
export function need(ins: (Val | undefined)[], i: number, node: Node): Val {
  const v = ins[i];
  if (!v) throw new Error(`reference ${node.opType} node '${node.name}': required input ${i} is missing`);
  return v;
}

export function normAxis(axis: number, rank: number, node?: Node): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw new Error(`reference ${node?.opType ?? ''} node '${node?.name ?? ''}': axis ${axis} out of range for rank ${rank}`);
  }
  return a;
}

/** Integer list from an optional input, else from the (pre-opset-13/18) attribute. */
export function intsFrom(ins: (Val | undefined)[], i: number, node: Node, attr: string): number[] | undefined {
  const v = ins[i];
  if (v) return Array.from(v.data);
  return attrInts(node, attr);
}

/** Multidirectional (numpy) broadcast of several shapes. */
export function broadcastDims(shapes: number[][], node?: Node): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let k = 0; k < s.length; k++) {
      const j = rank - s.length + k;
      const d = s[k];
      if (d === out[j] || d === 1) continue;
      if (out[j] === 1) out[j] = d;
      else throw new Error(`reference ${node?.opType ?? ''}: shapes [${shapes.map((x) => x.join(',')).join('] [')}] do not broadcast`);
    }
  }
  return out;
}

/**
 * Per-axis offset tables: tables[a][i] is the input offset contributed by output
 * coordinate i along axis a, or -1 when that coordinate has no input (padding).
 */
export type AxisTables = Int32Array[];

/** Input offset for every output element; -1 where any axis table says padding. */
export function offsets(outDims: readonly number[], tables: AxisTables): Int32Array {
  const n = sizeOf(outDims);
  const res = new Int32Array(n);
  const rank = outDims.length;
  if (n === 0) return res;
  if (rank === 0) {
    res[0] = 0;
    return res;
  }
  // Innermost axis runs in a tight loop; the outer coordinates advance an odometer.
  const last = rank - 1;
  const inner = outDims[last];
  const tLast = tables[last];
  const coord = new Array<number>(rank).fill(0);
  let base = 0;
  for (let a = 0; a < last; a++) base = addOff(base, tables[a][0]);
  for (let o = 0; o < n; o += inner) {
    for (let i = 0; i < inner; i++) {
      const t = tLast[i];
      res[o + i] = base < 0 || t < 0 ? -1 : base + t;
    }
    // advance outer coordinates
    let a = last - 1;
    while (a >= 0) {
      coord[a]++;
      if (coord[a] < outDims[a]) break;
      coord[a] = 0;
      a--;
    }
    base = 0;
    for (let b = 0; b < last; b++) base = addOff(base, tables[b][coord[b]]);
  }
  return res;
}

function addOff(base: number, t: number): number {
  return base < 0 || t < 0 ? -1 : base + t;
}

/** Tables that read an input of shape inDims broadcast (right-aligned) to outDims. */
export function broadcastTables(inDims: readonly number[], outDims: readonly number[]): AxisTables {
  const st = stridesOf(inDims);
  const lead = outDims.length - inDims.length;
  return outDims.map((d, a) => {
    const t = new Int32Array(d);
    const j = a - lead;
    if (j >= 0 && inDims[j] !== 1) for (let i = 0; i < d; i++) t[i] = i * st[j];
    return t;
  });
}

/** Input offset of every output element when `inDims` is broadcast to `outDims`. */
export function broadcastOffsets(inDims: readonly number[], outDims: readonly number[]): Int32Array | undefined {
  if (sameDims(inDims, outDims)) return undefined; // identity: callers index directly
  return offsets(outDims, broadcastTables(inDims, outDims));
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Gather src through precomputed offsets; -1 offsets get `fill`. */
export function gatherOffsets(src: Float64Array, offs: Int32Array, fill = 0): Float64Array {
  const out = new Float64Array(offs.length);
  for (let i = 0; i < offs.length; i++) {
    const o = offs[i];
    out[i] = o < 0 ? fill : src[o];
  }
  return out;
}

/** A value broadcast to outDims (a copy only when the shape changes). */
export function broadcastTo(v: Val, outDims: number[]): Float64Array {
  const offs = broadcastOffsets(v.dims, outDims);
  return offs ? gatherOffsets(v.data, offs) : v.data;
}
