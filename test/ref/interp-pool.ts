// Pooling of the reference interpreter: MaxPool (with Indices), AveragePool, and the
// global forms. Spatial ranks 1..3, lifted to 3-D like Conv.
import type { Node } from '../../src/graph/ir.js';
import { attrInt, attrInts } from '../../src/graph/ir.js';
import { type OpTable, type Val, make, need, sizeOf } from './interp-core.js';
import { type Geom, forwardGeom } from './interp-conv.js';

/** Visit every output position of every (n, c) plane with its window bounds. */
type Visit = (y: number, plane: number, win: Window) => void;
interface Window { d0: number; h0: number; w0: number }

function poolGeom(node: Node, x: Val): Geom {
  const k = attrInts(node, 'kernel_shape');
  if (!k) throw new Error(`reference ${node.opType} node '${node.name}': kernel_shape is required`);
  return forwardGeom(node, x.dims.slice(2), k, attrInt(node, 'ceil_mode', 0) !== 0);
}

function eachWindow(x: Val, g: Geom, visit: Visit): number {
  const planes = x.dims[0] * x.dims[1];
  const [OD, OH, OW] = g.out;
  const win: Window = { d0: 0, h0: 0, w0: 0 };
  let y = 0;
  for (let p = 0; p < planes; p++) {
    for (let od = 0; od < OD; od++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++, y++) {
      win.d0 = od * g.s[0] - g.pb[0];
      win.h0 = oh * g.s[1] - g.pb[1];
      win.w0 = ow * g.s[2] - g.pb[2];
      visit(y, p, win);
    }
  }
  return y;
}

function outDims(x: Val, g: Geom): number[] {
  return [x.dims[0], x.dims[1], ...g.out.slice(3 - g.rank)];
}

/** MaxPool: padding never wins (it acts as -inf); Indices index the flat NC... input. */
function maxPool(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const g = poolGeom(node, x);
  if (attrInt(node, 'storage_order', 0) !== 0) throw new Error(`reference MaxPool node '${node.name}': storage_order=1 is not supported`);
  const dims = outDims(x, g);
  const out = make(dims, x.dtype), idx = make([...dims], 'int64');
  const [ID, IH, IW] = g.inp, [KD, KH, KW] = g.k, [dD, dH, dW] = g.d;
  const plane = ID * IH * IW, X = x.data;
  eachWindow(x, g, (y, p, w) => {
    let best = -Infinity, at = -1;
    for (let kd = 0; kd < KD; kd++) {
      const id = w.d0 + kd * dD;
      if (id < 0 || id >= ID) continue;
      for (let kh = 0; kh < KH; kh++) {
        const ih = w.h0 + kh * dH;
        if (ih < 0 || ih >= IH) continue;
        for (let kw = 0; kw < KW; kw++) {
          const iw = w.w0 + kw * dW;
          if (iw < 0 || iw >= IW) continue;
          const o = p * plane + (id * IH + ih) * IW + iw;
          if (X[o] > best || at < 0) { best = X[o]; at = o; }
        }
      }
    }
    out.data[y] = best;
    idx.data[y] = at;
  });
  return [out, idx];
}

/**
 * AveragePool. count_include_pad=1 divides by the window clipped to the padded input
 * (explicit pads count, the ceil_mode overhang beyond them does not); 0 divides by
 * the number of real input elements in the window.
 */
function averagePool(ins: (Val | undefined)[], node: Node): Val[] {
  const x = need(ins, 0, node);
  const g = poolGeom(node, x);
  const includePad = attrInt(node, 'count_include_pad', 0) !== 0;
  const out = make(outDims(x, g), x.dtype);
  const [ID, IH, IW] = g.inp, [KD, KH, KW] = g.k, [dD, dH, dW] = g.d;
  const plane = ID * IH * IW, X = x.data;
  const inPadded = (i: number, lo: number, hi: number) => i >= lo && i < hi;
  eachWindow(x, g, (y, p, w) => {
    let sum = 0, real = 0, padded = 0;
    for (let kd = 0; kd < KD; kd++) {
      const id = w.d0 + kd * dD;
      if (!inPadded(id, -g.pb[0], ID + g.pe[0])) continue;
      for (let kh = 0; kh < KH; kh++) {
        const ih = w.h0 + kh * dH;
        if (!inPadded(ih, -g.pb[1], IH + g.pe[1])) continue;
        for (let kw = 0; kw < KW; kw++) {
          const iw = w.w0 + kw * dW;
          if (!inPadded(iw, -g.pb[2], IW + g.pe[2])) continue;
          padded++;
          if (id < 0 || id >= ID || ih < 0 || ih >= IH || iw < 0 || iw >= IW) continue;
          sum += X[p * plane + (id * IH + ih) * IW + iw];
          real++;
        }
      }
    }
    out.data[y] = sum / (includePad ? padded : real);
  });
  return [out];
}

function globalPool(max: boolean) {
  return (ins: (Val | undefined)[], node: Node): Val[] => {
    const x = need(ins, 0, node);
    const planes = x.dims[0] * x.dims[1];
    const len = sizeOf(x.dims.slice(2));
    const out = make([x.dims[0], x.dims[1], ...x.dims.slice(2).map(() => 1)], x.dtype);
    for (let p = 0; p < planes; p++) {
      let acc = max ? -Infinity : 0;
      for (let i = 0; i < len; i++) {
        const v = x.data[p * len + i];
        acc = max ? Math.max(acc, v) : acc + v;
      }
      out.data[p] = max ? acc : acc / len;
    }
    return [out];
  };
}

export const poolOps: OpTable = {
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalPool(false),
  GlobalMaxPool: globalPool(true),
};
