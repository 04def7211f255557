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
  // Grouped convolutions take faster special forms where they apply (see each function).
  const inputGrad = () => (group > 1 && p.strides.every((v) => v === 1) ? flippedInputGrad(c, dy, w, sw, p, group) : undefined)
    ?? convInputGrad(c, dy, w, sx, sy, p, group);
  const weightGrad = () => (sw[1] === 1 && sw[0] === group ? depthwiseWeightGrad(c, dy, x, sy, p)
    : convWeightGrad(c, dy, x, sx, sw, sy, p, group));
  return [
    c.needs(0) ? inputGrad() : undefined,
    c.needs(1) ? weightGrad() : undefined,
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

// Stride 1 only: dX is a plain Conv of dY with the spatially flipped kernel, input and
// output channel roles swapped within each group, and pads (k-1)*d - pad. onnxruntime's
// grouped ConvTranspose loops over groups; its grouped Conv is the forward kernel
// (ORT 1.29 CPU, one thread, depthwise 3x3 on [32,64,32,32]: 6.3 ms vs 12.6 ms).
// Returns undefined when a pad exceeds (k-1)*d (the flipped pads would be negative).
function flippedInputGrad(c: GradCtx, dy: string, w: string, sw: number[], p: WindowParams, group: number) {
  const { o } = c;
  const n = sw.length - 2;
  const pads = p.pads.map((v, j) => (p.kernel[j % n] - 1) * p.dilations[j % n] - v);
  if (pads.some((v) => v < 0)) return undefined;
  const [M, Cg] = sw, Mg = M / group;
  let wf = o.slice(w, iota(n).map(() => -1), p.kernel.map((k) => -k - 1), iota(n, 2), iota(n).map(() => -1));
  if (Cg !== 1 || Mg !== 1) {
    wf = o.reshape(o.transpose(o.reshape(wf, [group, Mg, Cg, ...p.kernel]), [0, 2, 1, ...iota(n, 3)]), [group * Cg, Mg, ...p.kernel]);
  }
  const flip: WindowParams = { kernel: p.kernel, strides: p.strides, dilations: p.dilations, pads };
  return c.b.op('Conv', [dy, wf], windowAttrs(flip, { group, kernel_shape: p.kernel }));
}

// Depthwise (one input and one output channel per group): dW[c, tap] is
// sum over n and o of dY[n,c,o] * Xpad[n, c, o*s + tap*d], one strided Slice,
// Mul and ReduceSum per kernel tap. The generic trick below becomes a grouped Conv with
// a [Ho, Wo] kernel, one small im2col per channel: 30 ms vs 20 ms in the case above.
function depthwiseWeightGrad(c: GradCtx, dy: string, x: string, sy: number[], p: WindowParams) {
  const { o } = c;
  const n = sy.length - 2, C = sy[1];
  const osp = sy.slice(2);
  const xp = p.pads.some((v) => v !== 0) ? o.pad(x, [0, 0, ...p.pads.slice(0, n), 0, 0, ...p.pads.slice(n)]) : x;
  const taps: string[] = [];
  const total = p.kernel.reduce((a, k) => a * k, 1);
  for (let t = 0; t < total; t++) {
    // multi-index of tap t, last axis fastest (matches W's layout)
    const tap = new Array<number>(n);
    for (let i = n - 1, r = t; i >= 0; i--) {
      tap[i] = r % p.kernel[i];
      r = Math.floor(r / p.kernel[i]);
    }
    const starts = tap.map((k, i) => k * p.dilations[i]);
    const ends = starts.map((st, i) => st + (osp[i] - 1) * p.strides[i] + 1);
    const win = o.slice(xp, starts, ends, iota(n, 2), p.strides);
    taps.push(o.reduceSum(o.mul(win, dy), [0, ...iota(n, 2)], false));
  }
  return o.reshape(o.concat(taps.map((v) => o.unsqueeze(v, [1])), 1), [C, 1, ...p.kernel]);
}
