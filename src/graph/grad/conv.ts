// Gradient rule for Conv (any spatial rank, groups, strides, dilations, pads,
// auto_pad, optional bias). Registered through nn.ts.
import type { AttrInput } from '../ir.js';
import { attrInt, attrInts } from '../ir.js';
import { windowParams, type WindowParams } from '../shapes-nn.js';
import { GraphError } from '../../errors.js';
import { registerGrad, type GradCtx } from './registry.js';

const iota = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);
const allOnes = (v: number[]) => v.every((d) => d === 1);

/** Attributes of a window op with defaults left out (keeps generated graphs readable). */
export function windowAttrs(p: WindowParams, extra: Record<string, AttrInput | undefined> = {}) {
  return {
    strides: allOnes(p.strides) ? undefined : p.strides,
    dilations: allOnes(p.dilations) ? undefined : p.dilations,
    pads: p.pads.every((d) => d === 0) ? undefined : p.pads,
    ...extra,
  };
}

// Y[n,m,o] = sum_{c in group(m), k} W[m,c,k] * Xpad[n, c, o*s + k*d - pad_begin] + B[m].
registerGrad('Conv', (c) => {
  const x = c.x(0), w = c.x(1), bias = c.x(2);
  const sx = c.shape(x), sw = c.shape(w);
  const dy = c.dy[0]!;
  const sy = c.shape(dy);
  const kernel = attrInts(c.node, 'kernel_shape') ?? sw.slice(2);
  const p = windowParams(c, sx.slice(2), kernel);
  const group = attrInt(c.node, 'group', 1);
  return [
    c.needs(0) ? convInputGrad(c, dy, w, sx, sy, p, group) : undefined,
    c.needs(1) ? convWeightGrad(c, dy, x, sx, sw, sy, p, group) : undefined,
    bias && c.needs(2) ? c.o.reduceSum(dy, [0, ...iota(sy.length - 2, 2)], false) : undefined,
  ];
});

// dX is the transposed convolution of dY with the same weights (the ConvTranspose
// weight layout [C_in, C_out/group, k] is exactly Conv's [M, C/group, k]).
// output_padding restores the rows/columns the forward stride never reached:
// H - (s*(Ho-1) + (k-1)*d + 1 - pad_begin - pad_end), always in [0, s).
function convInputGrad(c: GradCtx, dy: string, w: string, sx: number[], sy: number[], p: WindowParams, group: number) {
  const n = sx.length - 2;
  const outPad = iota(n).map((i) => sx[i + 2] - (p.strides[i] * (sy[i + 2] - 1) + (p.kernel[i] - 1) * p.dilations[i] + 1
    - p.pads[i] - p.pads[i + n]));
  if (outPad.some((v, i) => v < 0 || v >= Math.max(p.strides[i], p.dilations[i]))) {
    throw new GraphError(`Conv node '${c.node.name}': cannot express the input gradient (output_padding ${outPad})`,
      'check the node\'s pads and strides');
  }
  return c.b.op('ConvTranspose', [dy, w], windowAttrs(p, {
    group: group === 1 ? undefined : group,
    output_padding: outPad.every((v) => v === 0) ? undefined : outPad,
    kernel_shape: p.kernel,
  }));
}

// dW[m,c,k] = sum_{n,o} dY[n,m,o] * Xpad[n, c, k*d + o*s - pad_begin]: a convolution in
// which the batch axis plays the channel role. X becomes [C/g, g*N, H] (group-major
// channels), dY becomes the kernel [M, N, Ho], and a Conv with group=g, strides=d and
// dilations=s yields [C/g, M, >=k]; slice to k and swap the first two axes.
function convWeightGrad(c: GradCtx, dy: string, x: string, sx: number[], sw: number[], sy: number[],
  p: WindowParams, group: number) {
  const { o } = c;
  const n = sx.length - 2;
  const [N, C] = sx, M = sw[0], Cg = C / group, Mg = M / group;
  const sp = sx.slice(2), osp = sy.slice(2);
  const rest = iota(n, 3);
  const xt = group === 1
    ? o.transpose(x, [1, 0, ...iota(n, 2)])
    : o.reshape(o.transpose(o.reshape(x, [N, group, Cg, ...sp]), [2, 1, 0, ...rest]), [Cg, group * N, ...sp]);
  const dyt = group === 1
    ? o.transpose(dy, [1, 0, ...iota(n, 2)])
    : o.reshape(o.transpose(o.reshape(dy, [N, group, Mg, ...osp]), [1, 2, 0, ...rest]), [M, N, ...osp]);
  // Trim the end padding to what the last kernel tap reads, so the result is k wide
  // whenever the input has no unread tail.
  const pads = [...p.pads];
  for (let i = 0; i < n; i++) {
    const need = (p.kernel[i] - 1) * p.dilations[i] + (osp[i] - 1) * p.strides[i] + 1 - sp[i] - p.pads[i];
    pads[i + n] = Math.min(p.pads[i + n], Math.max(0, need));
  }
  const trick: WindowParams = { kernel: osp, strides: p.dilations, dilations: p.strides, pads };
  let gw = c.b.op('Conv', [xt, dyt], windowAttrs(trick, { group: group === 1 ? undefined : group, kernel_shape: osp }));
  const got = c.shape(gw).slice(2);
  if (got.some((d, i) => d !== p.kernel[i])) gw = o.slice(gw, iota(n).map(() => 0), p.kernel, iota(n, 2));
  return o.transpose(gw, [1, 0, ...iota(n, 2)]);
}
