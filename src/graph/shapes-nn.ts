// Shape rules for linear algebra, convolution, pooling, normalisation and quantisation.
import type { Dim, Shape } from './ir.js';
import { attrInt, attrInts, attrString } from './ir.js';
import { registerShape, broadcastShapes, normAxis, type ShapeCtx } from './shapes.js';
import { ShapeError } from '../errors.js';

export interface WindowParams {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...] as in the ONNX `pads` attribute */
  pads: number[];
}

/** Resolve kernel/stride/dilation/pads (auto_pad included) for a window op. */
export function windowParams(c: { node: ShapeCtx['node'] }, spatial: Dim[], kernel: number[]): WindowParams {
  const n = kernel.length;
  const strides = attrInts(c.node, 'strides') ?? Array(n).fill(1);
  const dilations = attrInts(c.node, 'dilations') ?? Array(n).fill(1);
  let pads = attrInts(c.node, 'pads') ?? Array(2 * n).fill(0);
  const auto = attrString(c.node, 'auto_pad', 'NOTSET');
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    pads = Array(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const d = spatial[i];
      if (typeof d !== 'number') continue;
      const out = Math.ceil(d / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - d);
      const small = Math.floor(total / 2);
      pads[i] = auto === 'SAME_UPPER' ? small : total - small;
      pads[i + n] = total - pads[i];
    }
  } else if (auto === 'VALID') pads = Array(2 * n).fill(0);
  return { kernel, strides, dilations, pads };
}

export function windowOutput(spatial: Dim[], p: WindowParams, ceil = false): Dim[] {
  return spatial.map((d, i) => {
    if (typeof d !== 'number') return null;
    const eff = (p.kernel[i] - 1) * p.dilations[i] + 1;
    const span = d + p.pads[i] + p.pads[i + spatial.length] - eff;
    const o = (ceil ? Math.ceil(span / p.strides[i]) : Math.floor(span / p.strides[i])) + 1;
    // ceil mode must not start a window entirely in the end padding
    return ceil && (o - 1) * p.strides[i] >= d + p.pads[i] ? o - 1 : o;
  });
}

function matmulShape(a: Shape, b: Shape, where: string): Shape {
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const [m, k1] = a2.slice(-2), [k2, n] = b2.slice(-2);
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    throw new ShapeError(`${where}: inner dimensions differ ([${a}] x [${b}])`);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], where);
  const out = [...batch, m, n];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.pop();
  return out;
}

function conv(c: ShapeCtx, weightIndex: number, transposed: boolean) {
  const x = c.in(0), w = c.in(weightIndex);
  if (!x.shape || !w.shape) return [{ dtype: x.dtype }];
  const spatial = x.shape.slice(2);
  const kernel = attrInts(c.node, 'kernel_shape') ?? (w.shape.slice(2) as number[]);
  const p = windowParams(c, spatial, kernel);
  const group = attrInt(c.node, 'group', 1);
  if (!transposed) return [{ dtype: x.dtype, shape: [x.shape[0], w.shape[0], ...windowOutput(spatial, p)] }];
  const outPad = attrInts(c.node, 'output_padding') ?? Array(kernel.length).fill(0);
  const explicit = attrInts(c.node, 'output_shape');
  const sp = explicit ?? spatial.map((d, i) => (typeof d === 'number'
    ? p.strides[i] * (d - 1) + outPad[i] + (kernel[i] - 1) * p.dilations[i] + 1 - p.pads[i] - p.pads[i + kernel.length] : null));
  const cout = typeof w.shape[1] === 'number' ? w.shape[1] * group : null;
  return [{ dtype: x.dtype, shape: [x.shape[0], cout, ...sp] }];
}

function pool(c: ShapeCtx) {
  const x = c.in(0);
  if (!x.shape) return [{ dtype: x.dtype }, { dtype: 'int64' as const }];
  const spatial = x.shape.slice(2);
  const kernel = attrInts(c.node, 'kernel_shape')!;
  const p = windowParams(c, spatial, kernel);
  const shape = [x.shape[0], x.shape[1], ...windowOutput(spatial, p, attrInt(c.node, 'ceil_mode', 0) === 1)];
  return [{ dtype: x.dtype, shape }, { dtype: 'int64' as const, shape }];
}

export function registerNnShapes(): void {
  registerShape(['MatMul', 'MatMulInteger'], (c) => {
    const a = c.in(0), b = c.in(1);
    const dtype = c.node.opType === 'MatMulInteger' ? 'int32' : a.dtype;
    return [{ dtype, shape: a.shape && b.shape ? matmulShape(a.shape, b.shape, `MatMul node '${c.node.name}'`) : undefined }];
  });
  registerShape('QLinearMatMul', (c) => {
    const a = c.in(0), b = c.in(3);
    return [{ dtype: c.in(7).dtype, shape: a.shape && b.shape ? matmulShape(a.shape, b.shape, `QLinearMatMul '${c.node.name}'`) : undefined }];
  });
  registerShape('Gemm', (c) => {
    const a = c.in(0), b = c.in(1);
    if (!a.shape || !b.shape) return [{ dtype: a.dtype }];
    const m = attrInt(c.node, 'transA', 0) ? a.shape[1] : a.shape[0];
    const ka = attrInt(c.node, 'transA', 0) ? a.shape[0] : a.shape[1];
    const kb = attrInt(c.node, 'transB', 0) ? b.shape[1] : b.shape[0];
    const n = attrInt(c.node, 'transB', 0) ? b.shape[0] : b.shape[1];
    if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
      throw new ShapeError(`Gemm node '${c.node.name}': inner dimensions differ (${ka} vs ${kb})`);
    }
    return [{ dtype: a.dtype, shape: [m, n] }];
  });
  registerShape('Conv', (c) => conv(c, 1, false));
  registerShape('ConvTranspose', (c) => conv(c, 1, true));
  registerShape('QLinearConv', (c) => {
    const [out] = conv({ ...c, in: (i: number) => c.in(i === 1 ? 3 : i) }, 1, false);
    return [{ dtype: c.in(7).dtype, shape: (out as { shape?: Shape }).shape }];
  });
  registerShape(['MaxPool', 'AveragePool', 'LpPool'], pool);
  registerShape(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'], (c) => {
    const x = c.in(0);
    return [{ dtype: x.dtype, shape: x.shape ? [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)] : undefined }];
  });
  registerShape('BatchNormalization', (c) => {
    const x = c.in(0), s = c.in(1);
    return c.node.outputs.map((_, i) => (i === 0 ? { dtype: x.dtype, shape: x.shape } : { dtype: s.dtype, shape: s.shape }));
  });
  registerShape(['LayerNormalization'], (c) => {
    const x = c.in(0);
    if (!x.shape) return c.node.outputs.map(() => ({ dtype: x.dtype }));
    const ax = normAxis(attrInt(c.node, 'axis', -1), x.shape.length);
    const stat = x.shape.map((d, i) => (i < ax ? d : 1));
    return c.node.outputs.map((_, i) => (i === 0 ? { dtype: x.dtype, shape: x.shape } : { dtype: 'float32' as const, shape: stat }));
  });
  registerShape(['InstanceNormalization', 'LpNormalization', 'LRN'], (c) => [{ dtype: c.in(0).dtype, shape: c.in(0).shape }]);
  registerShape('DequantizeLinear', (c) => [{ dtype: c.has(1) ? c.in(1).dtype : 'float32', shape: c.in(0).shape }]);
  registerShape('QuantizeLinear', (c) => [{ dtype: c.has(2) ? c.in(2).dtype : 'uint8', shape: c.in(0).shape }]);
  registerShape('DynamicQuantizeLinear', (c) => [{ dtype: 'uint8', shape: c.in(0).shape }, { dtype: 'float32', shape: [] }, { dtype: 'uint8', shape: [] }]);
  registerShape(['SoftmaxCrossEntropyLoss', 'NegativeLogLikelihoodLoss'], (c) => {
    const x = c.in(0);
    const red = attrString(c.node, 'reduction', 'mean');
    const shape = red === 'none' && x.shape ? [x.shape[0], ...x.shape.slice(2)] : [];
    return c.node.outputs.map((_, i) => (i === 0 ? { dtype: x.dtype, shape } : { dtype: x.dtype, shape: x.shape }));
  });
}
