// Shape rules for ops that move data around: reshape, transpose, slice, gather, concat...
import type { Dim, Shape } from './ir.js';
import { attrInt, attrInts, attrTensor } from './ir.js';
import { registerShape, normAxis, axesOf, broadcastShapes, dtypeOfCode, type ShapeCtx } from './shapes.js';
import { toNumbers } from './tensor.js';
import { ShapeError } from '../errors.js';

const known = (s: Shape) => s.every((d) => typeof d === 'number');
const prod = (s: Shape) => s.reduce<number>((a, d) => a * (d as number), 1);

function reshape(c: ShapeCtx) {
  const x = c.in(0);
  const target = c.constInts(1);
  if (!target) return [{ dtype: x.dtype, shape: c.in(1).shape && typeof c.in(1).shape![0] === 'number' ? Array(c.in(1).shape![0]).fill(null) : undefined }];
  const allowzero = attrInt(c.node, 'allowzero', 0) === 1;
  const shape: Dim[] = target.map((d, i) => (d === 0 && !allowzero ? (x.shape ? x.shape[i] : null) : d));
  const neg = shape.indexOf(-1);
  if (neg >= 0) {
    const rest = shape.filter((_, i) => i !== neg);
    if (x.shape && known(x.shape) && known(rest)) {
      const total = prod(x.shape);
      const part = prod(rest);
      if (part === 0 || total % part !== 0) throw new ShapeError(`Reshape node '${c.node.name}': cannot reshape [${x.shape}] to [${target}]`);
      shape[neg] = total / part;
    } else shape[neg] = null;
  } else if (x.shape && known(x.shape) && known(shape) && prod(x.shape) !== prod(shape)) {
    throw new ShapeError(`Reshape node '${c.node.name}': cannot reshape [${x.shape}] (${prod(x.shape)} values) to [${shape}]`);
  }
  return [{ dtype: x.dtype, shape }];
}

function slice(c: ShapeCtx) {
  const x = c.in(0);
  if (!x.shape) return [{ dtype: x.dtype }];
  const old = attrInts(c.node, 'starts') !== undefined;
  const starts = old ? attrInts(c.node, 'starts') : c.constInts(1);
  const ends = old ? attrInts(c.node, 'ends') : c.constInts(2);
  const axes = old ? attrInts(c.node, 'axes') : c.has(3) ? c.constInts(3) : undefined;
  const steps = old ? undefined : c.has(4) ? c.constInts(4) : undefined;
  if (!starts || !ends || (c.has(3) && !old && !axes) || (c.has(4) && !steps)) return [{ dtype: x.dtype, shape: x.shape.map(() => null) }];
  const shape = [...x.shape];
  const r = shape.length;
  starts.forEach((s, k) => {
    const ax = normAxis(axes ? axes[k] : k, r);
    const dim = shape[ax];
    if (typeof dim !== 'number') {
      shape[ax] = null;
      return;
    }
    const step = steps ? steps[k] : 1;
    shape[ax] = sliceLength(dim, s, ends[k], step);
  });
  return [{ dtype: x.dtype, shape }];
}

/** Number of elements selected by ONNX Slice semantics on a dimension of size `dim`. */
export function sliceLength(dim: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, -1, dim - 1);
  e = clamp(e, -1, dim - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

export function registerLayoutShapes(): void {
  registerShape('Reshape', reshape);
  registerShape('Flatten', (c) => {
    const x = c.in(0);
    if (!x.shape) return [{ dtype: x.dtype }];
    const ax = normAxis(attrInt(c.node, 'axis', 1), x.shape.length);
    const a = x.shape.slice(0, ax), b = x.shape.slice(ax);
    // a single leading dim keeps its name (a symbolic batch stays symbolic)
    const lead = a.length === 1 ? a[0] : known(a) ? prod(a) : null;
    return [{ dtype: x.dtype, shape: [lead, known(b) ? prod(b) : null] }];
  });
  registerShape('Transpose', (c) => {
    const x = c.in(0);
    if (!x.shape) return [{ dtype: x.dtype }];
    const perm = attrInts(c.node, 'perm') ?? x.shape.map((_, i) => x.shape!.length - 1 - i);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape![p]) }];
  });
  registerShape('Squeeze', (c) => {
    const x = c.in(0);
    const axes = axesOf(c, 1);
    if (!x.shape || axes === 'unknown') return [{ dtype: x.dtype }];
    const r = x.shape.length;
    const set = new Set((axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, r)));
    return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !set.has(i)) }];
  });
  registerShape('Unsqueeze', (c) => {
    const x = c.in(0);
    const axes = axesOf(c, 1);
    if (!x.shape || axes === 'unknown' || !axes) return [{ dtype: x.dtype }];
    const r = x.shape.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, r)));
    const src = [...x.shape];
    return [{ dtype: x.dtype, shape: Array.from({ length: r }, (_, i) => (set.has(i) ? 1 : src.shift()!)) }];
  });
  registerShape('Concat', (c) => {
    const ins = c.node.inputs.map((_, i) => c.in(i));
    if (!ins.every((v) => v.shape)) return [{ dtype: ins[0].dtype }];
    const r = ins[0].shape!.length;
    const ax = normAxis(attrInt(c.node, 'axis', 0), r);
    const shape = [...ins[0].shape!];
    const parts = ins.map((v) => v.shape![ax]);
    shape[ax] = parts.every((d) => typeof d === 'number') ? parts.reduce<number>((a, d) => a + (d as number), 0) : null;
    return [{ dtype: ins[0].dtype, shape }];
  });
  registerShape('Slice', slice);
  registerShape('Gather', (c) => {
    const x = c.in(0), idx = c.in(1);
    if (!x.shape || !idx.shape) return [{ dtype: x.dtype }];
    const ax = normAxis(attrInt(c.node, 'axis', 0), x.shape.length);
    return [{ dtype: x.dtype, shape: [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)] }];
  });
  registerShape(['GatherElements'], (c) => [{ dtype: c.in(0).dtype, shape: c.in(1).shape }]);
  registerShape(['ScatterElements', 'ScatterND'], (c) => [{ dtype: c.in(0).dtype, shape: c.in(0).shape }]);
  registerShape('Shape', (c) => {
    const x = c.in(0);
    if (!x.shape) return [{ dtype: 'int64', shape: [null] }];
    const r = x.shape.length;
    const clampAx = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const s = clampAx(attrInt(c.node, 'start', 0)), e = clampAx(attrInt(c.node, 'end', r));
    return [{ dtype: 'int64', shape: [Math.max(0, e - s)] }];
  });
  registerShape('Size', () => [{ dtype: 'int64', shape: [] }]);
  registerShape('Expand', (c) => {
    const x = c.in(0), target = c.constInts(1);
    if (!x.shape || !target) return [{ dtype: x.dtype }];
    return [{ dtype: x.dtype, shape: broadcastShapes([x.shape, target], `Expand node '${c.node.name}'`) }];
  });
  registerShape('Tile', (c) => {
    const x = c.in(0), reps = c.constInts(1);
    if (!x.shape || !reps) return [{ dtype: x.dtype }];
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (typeof d === 'number' ? d * reps[i] : null)) }];
  });
  registerShape('Pad', (c) => {
    const x = c.in(0);
    const pads = attrInts(c.node, 'pads') ?? c.constInts(1);
    if (!x.shape || !pads) return [{ dtype: x.dtype }];
    const r = x.shape.length;
    const axes = c.has(3) ? c.constInts(3) : undefined;
    const ax = axes ? axes.map((a) => normAxis(a, r)) : x.shape.map((_, i) => i);
    const shape = [...x.shape];
    ax.forEach((a, k) => {
      const d = shape[a];
      shape[a] = typeof d === 'number' ? d + pads[k] + pads[k + ax.length] : null;
    });
    return [{ dtype: x.dtype, shape }];
  });
  registerShape('ConstantOfShape', (c) => {
    const t = attrTensor(c.node, 'value');
    const dims = c.constInts(0);
    return [{ dtype: t ? t.dtype : 'float32', shape: dims ?? undefined }];
  });
  registerShape('Range', (c) => {
    const [s, l, d] = [0, 1, 2].map((i) => c.constInts(i));
    const n = s && l && d ? Math.max(Math.ceil((l[0] - s[0]) / d[0]), 0) : null;
    return [{ dtype: c.in(0).dtype, shape: [n] }];
  });
  registerShape('Split', (c) => {
    const x = c.in(0);
    const n = c.node.outputs.length;
    if (!x.shape) return c.node.outputs.map(() => ({ dtype: x.dtype }));
    const ax = normAxis(attrInt(c.node, 'axis', 0), x.shape.length);
    const dim = x.shape[ax];
    const sizes = attrInts(c.node, 'split') ?? (c.has(1) ? c.constInts(1) : undefined)
      ?? (typeof dim === 'number' ? Array.from({ length: n }, (_, i) => Math.min(Math.ceil(dim / n), dim - i * Math.ceil(dim / n))) : undefined);
    return c.node.outputs.map((_, i) => {
      const shape = [...x.shape!];
      shape[ax] = sizes ? sizes[i] : null;
      return { dtype: x.dtype, shape };
    });
  });
  registerShape('OneHot', (c) => {
    const idx = c.in(0), depth = c.constInts(1);
    if (!idx.shape) return [{ dtype: c.in(2).dtype }];
    const r = idx.shape.length + 1;
    const ax = normAxis(attrInt(c.node, 'axis', -1), r);
    const shape = [...idx.shape];
    shape.splice(ax, 0, depth ? depth[0] : null);
    return [{ dtype: c.in(2).dtype, shape }];
  });
  registerShape('TopK', (c) => {
    const x = c.in(0), k = c.constInts(1);
    if (!x.shape) return [{ dtype: x.dtype }, { dtype: 'int64' }];
    const shape = [...x.shape];
    shape[normAxis(attrInt(c.node, 'axis', -1), shape.length)] = k ? k[0] : null;
    return [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }];
  });
  registerShape('EyeLike', (c) => [{ dtype: c.node.attrs.dtype ? dtypeOfCode(attrInt(c.node, 'dtype', 1)) : c.in(0).dtype, shape: c.in(0).shape }]);
}

export { toNumbers };
