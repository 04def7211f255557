// Conv and ConvTranspose of the reference interpreter. Spatial ranks 1..3 are all
// lifted to 3-D (leading spatial dims of size 1) so one loop nest serves every rank.
import type { Node } from '../../src/graph/ir.js';
import { attrInt, attrInts, attrString } from '../../src/graph/ir.js';
import { type OpTable, type Val, make, need } from './interp-core.js';

/** Spatial geometry lifted to 3-D: every array has length 3. */
export interface Geom {
  /** spatial dims of the op before lifting */
  rank: number;
  inp: number[];
  k: number[];
  out: number[];
  s: number[];
  d: number[];
  /** padding before each spatial dim (after: implied by out) */
  pb: number[];
  pe: number[];
}

export function lift3(xs: number[], fill: number): number[] {
  if (xs.length > 3) throw new Error(`reference interpreter: ${xs.length}-D spatial ops are not supported (at most 3)`);
  return [...new Array<number>(3 - xs.length).fill(fill), ...xs];
}

/** Strides, dilations, explicit pads (NOTSET) of a Conv/Pool-family node. */
export function spatialAttrs(node: Node, rank: number): { s: number[]; d: number[]; pads: number[]; auto: string } {
  const s = attrInts(node, 'strides') ?? new Array<number>(rank).fill(1);
  const d = attrInts(node, 'dilations') ?? new Array<number>(rank).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * rank).fill(0);
  const auto = attrString(node, 'auto_pad', 'NOTSET');
  return { s, d, pads, auto };
}

/**
 * Output size and padding of Conv and pooling. SAME_UPPER puts the odd padding
 * element at the end, SAME_LOWER at the start; ceil_mode (pools) rounds the output
 * size up but drops a last window that would start in the end padding.
 */
export function forwardGeom(node: Node, inp: number[], k: number[], ceil = false): Geom {
  const rank = inp.length;
  const { s, d, pads, auto } = spatialAttrs(node, rank);
  const pb: number[] = [], pe: number[] = [], out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const ek = (k[i] - 1) * d[i] + 1;
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const o = Math.ceil(inp[i] / s[i]);
      const total = Math.max(0, (o - 1) * s[i] + ek - inp[i]);
      const small = Math.floor(total / 2), big = total - small;
      pb.push(auto === 'SAME_UPPER' ? small : big);
      pe.push(auto === 'SAME_UPPER' ? big : small);
      out.push(o);
      continue;
    }
    const [b, e] = auto === 'VALID' ? [0, 0] : [pads[i], pads[i + rank]];
    const span = inp[i] + b + e - ek;
    let o = (ceil ? Math.ceil(span / s[i]) : Math.floor(span / s[i])) + 1;
    if (ceil && (o - 1) * s[i] >= inp[i] + b) o--;
    pb.push(b);
    pe.push(e);
    out.push(Math.max(0, o));
  }
  return {
    rank, inp: lift3(inp, 1), k: lift3(k, 1), out: lift3(out, 1), s: lift3(s, 1), d: lift3(d, 1),
    pb: lift3(pb, 0), pe: lift3(pe, 0),
  };
}

function conv(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), w = need(ins, 1, node), bias = ins[2];
  const [N, C] = x.dims;
  const M = w.dims[0];
  const group = attrInt(node, 'group', 1);
  const Cg = C / group, Mg = M / group;
  if (w.dims[1] !== Cg) throw new Error(`reference Conv node '${node.name}': weight [${w.dims}] does not fit ${C} channels in ${group} groups`);
  const g = forwardGeom(node, x.dims.slice(2), w.dims.slice(2));
  const [ID, IH, IW] = g.inp, [KD, KH, KW] = g.k, [OD, OH, OW] = g.out;
  const [sD, sH, sW] = g.s, [dD, dH, dW] = g.d, [pD, pH, pW] = g.pb;
  const out = make([N, M, ...g.out.slice(3 - g.rank)], x.dtype);
  const X = x.data, Wd = w.data, Y = out.data;
  const inC = ID * IH * IW, kC = KD * KH * KW;
  let y = 0;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const c0 = Math.floor(m / Mg) * Cg;
      const b0 = bias ? bias.data[m] : 0;
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++, y++) {
            let acc = b0;
            for (let c = 0; c < Cg; c++) {
              const xc = (n * C + c0 + c) * inC, wc = (m * Cg + c) * kC;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * sD - pD + kd * dD;
                if (id < 0 || id >= ID) continue;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * sH - pH + kh * dH;
                  if (ih < 0 || ih >= IH) continue;
                  const xr = xc + (id * IH + ih) * IW, wr = wc + (kd * KH + kh) * KW;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * sW - pW + kw * dW;
                    if (iw >= 0 && iw < IW) acc += X[xr + iw] * Wd[wr + kw];
                  }
                }
              }
            }
            Y[y] = acc;
          }
        }
      }
    }
  }
  return [out];
}

/**
 * ConvTranspose geometry. Output size s*(in-1) + output_padding + (k-1)*d + 1 - pads;
 * with output_shape (or SAME_*: output = in*s) the total padding is derived and split
 * as the ONNX spec says: SAME_UPPER puts the larger half at the end.
 */
function transposeGeom(node: Node, inp: number[], k: number[]): Geom {
  const rank = inp.length;
  const { s, d, pads, auto } = spatialAttrs(node, rank);
  const op = attrInts(node, 'output_padding') ?? new Array<number>(rank).fill(0);
  const shape = attrInts(node, 'output_shape');
  const pb: number[] = [], pe: number[] = [], out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const full = s[i] * (inp[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1;
    const target = shape ? shape[shape.length - rank + i] : auto === 'SAME_UPPER' || auto === 'SAME_LOWER' ? inp[i] * s[i] : undefined;
    if (target !== undefined) {
      const total = full - target;
      const small = Math.floor(total / 2), big = total - small;
      const upper = auto === 'SAME_UPPER';
      pb.push(upper ? small : big);
      pe.push(upper ? big : small);
      out.push(target);
    } else {
      const [b, e] = auto === 'VALID' ? [0, 0] : [pads[i], pads[i + rank]];
      pb.push(b);
      pe.push(e);
      out.push(full - b - e);
    }
  }
  return {
    rank, inp: lift3(inp, 1), k: lift3(k, 1), out: lift3(out, 1), s: lift3(s, 1), d: lift3(d, 1),
    pb: lift3(pb, 0), pe: lift3(pe, 0),
  };
}

function convTranspose(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), w = need(ins, 1, node), bias = ins[2];
  const [N, C] = x.dims;
  const group = attrInt(node, 'group', 1);
  const Cg = C / group, Mg = w.dims[1], M = Mg * group;
  const g = transposeGeom(node, x.dims.slice(2), w.dims.slice(2));
  const [ID, IH, IW] = g.inp, [KD, KH, KW] = g.k, [OD, OH, OW] = g.out;
  const [sD, sH, sW] = g.s, [dD, dH, dW] = g.d, [pD, pH, pW] = g.pb;
  const out = make([N, M, ...g.out.slice(3 - g.rank)], x.dtype);
  const X = x.data, Wd = w.data, Y = out.data;
  const inC = ID * IH * IW, kC = KD * KH * KW, outC = OD * OH * OW;
  // Scatter form: each input element adds x * w into the outputs its kernel covers.
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const gi = Math.floor(c / Cg);
      const xc = (n * C + c) * inC;
      for (let m = 0; m < Mg; m++) {
        const oc = gi * Mg + m;
        const yc = (n * M + oc) * outC, wc = (c * Mg + m) * kC;
        for (let id = 0; id < ID; id++) for (let ih = 0; ih < IH; ih++) for (let iw = 0; iw < IW; iw++) {
          const xv = X[xc + (id * IH + ih) * IW + iw];
          for (let kd = 0; kd < KD; kd++) {
            const od = id * sD - pD + kd * dD;
            if (od < 0 || od >= OD) continue;
            for (let kh = 0; kh < KH; kh++) {
              const oh = ih * sH - pH + kh * dH;
              if (oh < 0 || oh >= OH) continue;
              const yr = yc + (od * OH + oh) * OW, wr = wc + (kd * KH + kh) * KW;
              for (let kw = 0; kw < KW; kw++) {
                const ow = iw * sW - pW + kw * dW;
                if (ow >= 0 && ow < OW) Y[yr + ow] += xv * Wd[wr + kw];
              }
            }
          }
        }
      }
    }
  }
  if (bias) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) {
    const yc = (n * M + m) * outC;
    for (let i = 0; i < outC; i++) Y[yc + i] += bias.data[m];
  }
  return [out];
}

export const convOps: OpTable = { Conv: conv, ConvTranspose: convTranspose };
