// Gradient rule for Conv (any spatial rank, groups, strides, dilations, pads,
// auto_pad, optional bias). Registered through nn.ts.
import type { AttrInput } from '../ir.js';
import { attrInt, attrInts } from '../ir.js';
import { windowParams, type WindowParams } from '../shapes-nn.js';
import { GraphError } from '../../errors.js';
import { tensor } from '../tensor.js';
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
// Forms chosen by measurement (ORT 1.29 CPU, 2 cores; docs/benchmarks.md): stride-1 dX
// as a Conv with the flipped kernel, dW as im2col (one Gather) + one Gemm/MatMul.
registerGrad('Conv', (c) => {
  const x = c.x(0), w = c.x(1), bias = c.x(2);
  const sx = c.shape(x), sw = c.shape(w);
  const dy = c.dy[0]!;
  const sy = c.shape(dy);
  const kernel = attrInts(c.node, 'kernel_shape') ?? sw.slice(2);
  const p = windowParams(c, sx.slice(2), kernel);
  const group = attrInt(c.node, 'group', 1);
  const inputGrad = () => (p.strides.every((v) => v === 1) ? flippedInputGrad(c, dy, w, sw, p, group) : undefined)
    ?? convInputGrad(c, dy, w, sx, sy, p, group);
  const weightGrad = () => (sw[1] === 1 && sw[0] === group ? depthwiseWeightGrad(c, dy, x, sy, p)
    : im2colWeightGrad(c, dy, x, sx, sw, sy, p, group));
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

/** Upper bound on one im2col tensor; larger ones are built and multiplied in tap chunks.
 * At 64 MiB the benchmark convnet's step runs as fast as unchunked (whose largest
 * tensor is 151 MB) and its process grows about 500 MB instead of 755; at 32 MiB one-tap
 * chunks make narrow GEMMs, 1.2x slower on 2 threads. */
const IM2COL_BYTES = 64 * 2 ** 20;

// dW[m,c,t] = sum_{n,o} dY[n,m,o] * Xpad[n, c, o*s + t*d]: a matrix product over (o, n).
// X goes to [C, Hp*Wp, N] (batch innermost), so one Gather of whole N-float rows with
// constant [T, P] indices builds the columns [C*T, P*N] in the order dY [M, P*N] has
// after one Transpose; a Gemm (transB) then gives [M, C*T]. Groups use a batched MatMul.
// ORT 1.29 CPU, 3x3 layers at batch 128: 2-3x faster than a Conv of the N/C-transposed
// tensors on 2 threads, 1.6x on one (that Conv has a [Ho, Wo] kernel: one huge im2col
// and a 9-column GEMM per input channel). Cost: the columns are T times X's size.
function im2colWeightGrad(c: GradCtx, dy: string, x: string, sx: number[], sw: number[], sy: number[],
  p: WindowParams, group: number) {
  const { o } = c;
  const n = sx.length - 2;
  const [N, C] = sx, M = sw[0], Cg = C / group, Mg = M / group;
  const sp = sx.slice(2), osp = sy.slice(2);
  const P = osp.reduce((a, d) => a * d, 1), T = p.kernel.reduce((a, d) => a * d, 1);
  let xt = o.transpose(x, [1, ...iota(n, 2), 0]);
  if (p.pads.some((v) => v !== 0)) xt = o.pad(xt, [0, ...p.pads.slice(0, n), 0, 0, ...p.pads.slice(n), 0]);
  const psp = sp.map((d, i) => d + p.pads[i] + p.pads[i + n]);
  xt = o.reshape(xt, [C, psp.reduce((a, d) => a * d, 1), N]);
  const dyt = o.reshape(o.transpose(dy, [1, ...iota(n, 2), 0]), group === 1 ? [M, P * N] : [group, Mg, P * N]);
  // equal chunks of taps, each chunk's columns under IM2COL_BYTES where one tap fits
  const perTap = C * P * N * 4; // float32 bytes (an upper bound for smaller types)
  const chunks = Math.ceil(T / Math.max(1, Math.floor(IM2COL_BYTES / perTap)));
  const chunk = Math.ceil(T / chunks);
  const parts: string[] = [];
  for (let t0 = 0; t0 < T; t0 += chunk) {
    const taps = iota(Math.min(chunk, T - t0), t0);
    const cols = gatherColumns(c, xt, taps, psp, osp, p); // [C, taps, P, N]
    let g: string;
    if (group === 1) {
      g = o.gemm(dyt, o.reshape(cols, [C * taps.length, P * N]), undefined, { transB: true }); // [M, C*taps]
    } else {
      const colsT = o.transpose(o.reshape(cols, [group, Cg * taps.length, P * N]), [0, 2, 1]);
      g = o.matmul(dyt, colsT); // [g, Mg, Cg*taps]
    }
    parts.push(o.reshape(g, [M, Cg, taps.length]));
  }
  const all = parts.length === 1 ? parts[0] : o.concat(parts, 2);
  return o.reshape(all, [M, Cg, ...p.kernel]);
}

/** im2col rows: [C, taps, P, N] from X laid out [C, padded spatial (flat), N]. */
function gatherColumns(c: GradCtx, xt: string, taps: number[], psp: number[], osp: number[], p: WindowParams): string {
  const n = psp.length;
  const P = osp.reduce((a, d) => a * d, 1);
  const idx = new Array<number>(taps.length * P);
  const tap = new Array<number>(n), pos = new Array<number>(n);
  taps.forEach((t, ti) => {
    for (let i = n - 1, r = t; i >= 0; i--) { tap[i] = r % p.kernel[i]; r = Math.floor(r / p.kernel[i]); }
    for (let q = 0; q < P; q++) {
      for (let i = n - 1, r = q; i >= 0; i--) { pos[i] = r % osp[i]; r = Math.floor(r / osp[i]); }
      let flat = 0;
      for (let i = 0; i < n; i++) flat = flat * psp[i] + pos[i] * p.strides[i] + tap[i] * p.dilations[i];
      idx[ti * P + q] = flat;
    }
  });
  // an identity gather (1x1 kernel, stride 1, no pad) is a plain copy: skip it
  const identity = idx.length === psp.reduce((a, d) => a * d, 1) && idx.every((v, i) => v === i);
  if (identity) return c.o.reshape(xt, [c.shape(xt)[0], 1, P, c.shape(xt)[2]]);
  return c.o.gather(xt, c.b.constant(tensor('int64', [taps.length, P], idx), 'im2col_idx'), 1);
}

// Stride 1 only: dX is a plain Conv of dY with the spatially flipped kernel, input and
// output channel roles swapped within each group, and pads (k-1)*d - pad. onnxruntime's
// grouped ConvTranspose loops over groups; its grouped Conv is the forward kernel
// (ORT 1.29 CPU, one thread, depthwise 3x3 on [32,64,32,32]: 6.3 ms vs 12.6 ms). With
// one group its ConvTranspose (GEMM then col2im) is slower too: 3x3 convs at batch 128,
// 2 threads, 0.55-0.95x the time (docs/benchmarks.md).
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
  return c.b.op('Conv', [dy, wf], windowAttrs(flip, { group: group === 1 ? undefined : group, kernel_shape: p.kernel }));
}

// Depthwise (one input and one output channel per group): dW[c, tap] is
// sum over n and o of dY[n,c,o] * Xpad[n, c, o*s + tap*d], one strided Slice,
// Mul and ReduceSum per kernel tap. (Measured against the older generic form, a grouped
// Conv with a [Ho, Wo] kernel: 30 ms vs 20 ms in the case above. The im2col form would
// make one tiny [1, P*N] x [P*N, T] product per channel.)
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
