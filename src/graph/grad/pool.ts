// Gradient rules for pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
// Registered through nn.ts.
import type { Attr } from '../ir.js';
import { attrInt, attrInts, numel } from '../ir.js';
import { tensor } from '../tensor.js';
import { windowParams, type WindowParams } from '../shapes-nn.js';
import { registerGrad, type GradCtx } from './registry.js';
import { windowAttrs } from './conv.js';

/** Zeros of a static shape via ConstantOfShape (no large initializer in the model). */
function zeros(c: GradCtx, dims: number[], like: string): string {
  return c.b.op('ConstantOfShape', [c.o.ints(dims)], { value: tensor(c.b.dtype(like), [1], [0]) });
}

// The gradient goes to the argmax of each window. MaxPool's Indices index the
// flattened X (batch and channel included, storage_order 0), so dX is a
// scatter-add of dY into a flat zero vector (overlapping windows may share an argmax).
registerGrad('MaxPool', (c) => {
  const x = c.x(0);
  const sx = c.shape(x);
  let indices = c.y(1);
  if (!indices || attrInt(c.node, 'storage_order', 0) !== 0) {
    // forward node did not emit Indices (or in column-major order): recompute them
    const attrs: Record<string, Attr> = { ...c.node.attrs };
    delete attrs.storage_order;
    indices = c.b.opN('MaxPool', [x], attrs, { numOutputs: 2 })[1];
  }
  const n = numel(sx);
  const flat = c.b.op('ScatterElements',
    [zeros(c, [n], x), c.o.reshape(indices, [-1]), c.o.reshape(c.dy[0]!, [-1])], { axis: 0, reduction: 'add' });
  return [c.o.reshape(flat, sx)];
});

/** Per-axis window divisors of AveragePool: in-bounds taps (count_include_pad=0) or
 * taps inside the padded extent [-pad_begin, H + pad_end) (count_include_pad=1;
 * this is what onnxruntime divides by when ceil_mode overhangs the end padding). */
function axisCounts(h: number, ho: number, p: WindowParams, i: number, includePad: boolean): number[] {
  const r = p.kernel.length;
  const lo = includePad ? -p.pads[i] : 0, hi = includePad ? h + p.pads[i + r] : h;
  return Array.from({ length: ho }, (_, o) => {
    let cnt = 0;
    for (let k = 0; k < p.kernel[i]; k++) {
      const pos = o * p.strides[i] + k * p.dilations[i] - p.pads[i];
      if (pos >= lo && pos < hi) cnt++;
    }
    return cnt;
  });
}

/** 1/count per output position: a scalar when uniform, else an [Ho, Wo, ...] constant. */
function reciprocalCounts(c: GradCtx, sp: number[], osp: number[], p: WindowParams, includePad: boolean, like: string): string {
  const per = sp.map((h, i) => axisCounts(h, osp[i], p, i, includePad));
  const vals = new Array<number>(numel(osp));
  for (let flat = 0; flat < vals.length; flat++) {
    let rem = flat, cnt = 1;
    for (let i = osp.length - 1; i >= 0; i--) {
      cnt *= per[i][rem % osp[i]];
      rem = Math.floor(rem / osp[i]);
    }
    vals[flat] = 1 / cnt;
  }
  if (vals.every((v) => v === vals[0])) return c.o.scalarLike(vals[0], like);
  return c.b.constant(tensor(c.b.dtype(like), osp, vals), 'avgpool_recip');
}

// Y[o] = (1/count(o)) * sum_{k} Xpad[o*s + k*d - pad_begin]. dX is dY/count spread back
// over each window: a ConvTranspose with a ones kernel, run per channel by folding
// channels into the batch ([N*C, 1, Ho]). Ceil-mode windows overhanging the input are
// cropped through a larger end pad of the ConvTranspose.
registerGrad('AveragePool', (c) => {
  const x = c.x(0), dy = c.dy[0]!;
  const sx = c.shape(x), sy = c.shape(dy);
  const r = sx.length - 2, sp = sx.slice(2), osp = sy.slice(2);
  const p = windowParams(c, sp, attrInts(c.node, 'kernel_shape')!);
  const includePad = attrInt(c.node, 'count_include_pad', 0) === 1;
  const g = c.o.mul(dy, reciprocalCounts(c, sp, osp, p, includePad, dy));
  const pads = [...p.pads];
  const outPad = sp.map((h, i) => {
    const reach = p.strides[i] * (osp[i] - 1) + (p.kernel[i] - 1) * p.dilations[i] + 1 - p.pads[i];
    if (reach - pads[i + r] > h) pads[i + r] = reach - h;
    return h - (reach - pads[i + r]);
  });
  const ones = c.b.constant(tensor(c.b.dtype(x), [1, 1, ...p.kernel], new Array(numel(p.kernel)).fill(1)), 'ones_kernel');
  const folded = c.o.reshape(g, [sx[0] * sx[1], 1, ...osp]);
  const spread = c.b.op('ConvTranspose', [folded, ones], windowAttrs({ ...p, pads }, {
    kernel_shape: p.kernel,
    output_padding: outPad.every((v) => v === 0) ? undefined : outPad,
  }));
  return [c.o.reshape(spread, sx)];
});

// Y = mean over all spatial positions: dX = dY / (H*W...) broadcast back.
registerGrad('GlobalAveragePool', (c) => {
  const sx = c.shape(c.x(0));
  const g = c.o.scale(c.dy[0]!, 1 / numel(sx.slice(2)));
  return [c.o.expand(g, sx)];
});

// Y = max over all spatial positions: the gradient goes to the first argmax only
// (as MaxPool does), via ArgMax over the flattened plane and a scatter.
registerGrad('GlobalMaxPool', (c) => {
  const x = c.x(0);
  const sx = c.shape(x);
  const [N, C] = sx, hw = numel(sx.slice(2));
  const idx = c.b.op('ArgMax', [c.o.reshape(x, [N, C, hw])], { axis: 2, keepdims: 1 });
  const flat = c.b.op('ScatterElements', [zeros(c, [N, C, hw], x), idx, c.o.reshape(c.dy[0]!, [N, C, 1])], { axis: 2 });
  return [c.o.reshape(flat, sx)];
});
