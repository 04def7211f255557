// BatchNormalization (inference and training_mode forms) and LayerNormalization.
import type { Node } from '../../src/graph/ir.js';
import { attrFloat, attrInt } from '../../src/graph/ir.js';
import { type OpTable, type Val, broadcastTo, make, need, normAxis, sizeOf } from './interp-core.js';

/**
 * BatchNormalization (opset 15). Inference: Y = (X - mean) / sqrt(var + eps) * scale + B
 * with the given statistics. training_mode=1: the statistics are the batch's, over every
 * axis but 1, with the population (biased) variance, and the outputs add
 *   running_mean = input_mean * momentum + batch_mean * (1 - momentum)
 *   running_var  = input_var  * momentum + batch_var  * (1 - momentum)
 * where batch_var is the same biased variance (the spec's ReduceVar is the population one).
 */
function batchNorm(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), scale = need(ins, 1, node), bias = need(ins, 2, node);
  const mean = need(ins, 3, node), vr = need(ins, 4, node);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const training = attrInt(node, 'training_mode', 0) !== 0;
  const N = x.dims[0], C = x.dims.length > 1 ? x.dims[1] : 1;
  const inner = sizeOf(x.dims.slice(2));
  let m = mean.data, v = vr.data;
  if (training) {
    const count = N * inner;
    m = new Float64Array(C);
    v = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) s += x.data[(n * C + c) * inner + i];
      m[c] = s / count;
      let q = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < inner; i++) {
        const dlt = x.data[(n * C + c) * inner + i] - m[c];
        q += dlt * dlt;
      }
      v[c] = q / count;
    }
  }
  const y = make([...x.dims], x.dtype);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
    const a = scale.data[c] / Math.sqrt(v[c] + eps);
    const off = (n * C + c) * inner;
    for (let i = 0; i < inner; i++) y.data[off + i] = (x.data[off + i] - m[c]) * a + bias.data[c];
  }
  if (!training) return [y];
  const mom = attrFloat(node, 'momentum', 0.9);
  const rm = make([C], mean.dtype), rv = make([C], vr.dtype);
  for (let c = 0; c < C; c++) {
    rm.data[c] = mean.data[c] * mom + m[c] * (1 - mom);
    rv.data[c] = vr.data[c] * mom + v[c] * (1 - mom);
  }
  return [y, rm, rv];
}

/**
 * LayerNormalization (opset 17): normalise over axes [axis, rank); Scale and B
 * broadcast to those trailing dims. Mean and InvStdDev keep X's rank with the
 * normalised dims set to 1.
 */
function layerNorm(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node), scale = need(ins, 1, node), bias = ins[2];
  const axis = normAxis(attrInt(node, 'axis', -1), x.dims.length, node);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const normDims = x.dims.slice(axis);
  const len = sizeOf(normDims), outer = sizeOf(x.dims.slice(0, axis));
  const sc = broadcastTo(scale, normDims);
  const bs = bias ? broadcastTo(bias, normDims) : undefined;
  const statDims = x.dims.map((d, a) => (a < axis ? d : 1));
  const y = make([...x.dims], x.dtype), mu = make(statDims, x.dtype), inv = make([...statDims], x.dtype);
  for (let o = 0; o < outer; o++) {
    const off = o * len;
    let s = 0;
    for (let i = 0; i < len; i++) s += x.data[off + i];
    const m = s / len;
    let q = 0;
    for (let i = 0; i < len; i++) q += (x.data[off + i] - m) ** 2;
    const r = 1 / Math.sqrt(q / len + eps);
    mu.data[o] = m;
    inv.data[o] = r;
    for (let i = 0; i < len; i++) y.data[off + i] = (x.data[off + i] - m) * r * sc[i] + (bs ? bs[i] : 0);
  }
  return [y, mu, inv];
}

export const normOps: OpTable = { BatchNormalization: batchNorm, LayerNormalization: layerNorm };
