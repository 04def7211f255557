// MatMul (numpy semantics: batched, broadcast batch dims, 1-D operands) and Gemm.
import type { Node } from '../../src/graph/ir.js';
import { attrFloat, attrInt } from '../../src/graph/ir.js';
import {
  type OpTable, type Val, broadcastDims, broadcastTables, make, need, offsets, sizeOf,
} from './interp-core.js';

/** C[m,n] += sum_k A[aOff + m*sam + k*sak] * B[bOff + k*sbk + n*sbn] */
function gemmInto(
  c: Float64Array, cOff: number, a: Float64Array, aOff: number, sam: number, sak: number,
  b: Float64Array, bOff: number, sbk: number, sbn: number, M: number, K: number, N: number, alpha: number,
): void {
  for (let m = 0; m < M; m++) {
    const crow = cOff + m * N;
    for (let k = 0; k < K; k++) {
      const av = alpha * a[aOff + m * sam + k * sak];
      const brow = bOff + k * sbk;
      for (let n = 0; n < N; n++) c[crow + n] += av * b[brow + n * sbn];
    }
  }
}

function matmul(ins: (Val | undefined)[], node: Node): Val[] {
  const a = need(ins, 0, node), b = need(ins, 1, node);
  // 1-D operands: promote (prepend / append a 1) and drop that dim from the result.
  const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const M = aDims[aDims.length - 2], K = aDims[aDims.length - 1];
  const K2 = bDims[bDims.length - 2], N = bDims[bDims.length - 1];
  if (K !== K2) throw new Error(`reference MatMul node '${node.name}': [${a.dims}] x [${b.dims}] inner dims differ`);
  const aBatch = aDims.slice(0, -2), bBatch = bDims.slice(0, -2);
  const batch = broadcastDims([aBatch, bBatch], node);
  const nb = sizeOf(batch);
  // Batch offsets in units of whole matrices.
  const aOffs = offsets(batch, broadcastTables(aBatch, batch));
  const bOffs = offsets(batch, broadcastTables(bBatch, batch));
  const outDims = [...batch];
  if (a.dims.length !== 1) outDims.push(M);
  if (b.dims.length !== 1) outDims.push(N);
  const out = make(outDims, a.dtype);
  for (let i = 0; i < nb; i++) {
    gemmInto(out.data, i * M * N, a.data, aOffs[i] * M * K, K, 1, b.data, bOffs[i] * K * N, N, 1, M, K, N, 1);
  }
  return [out];
}

function gemm(ins: (Val | undefined)[], node: Node): Val[] {
  const a = need(ins, 0, node), b = need(ins, 1, node), c = ins[2];
  const tA = attrInt(node, 'transA', 0) !== 0, tB = attrInt(node, 'transB', 0) !== 0;
  const alpha = attrFloat(node, 'alpha', 1), beta = attrFloat(node, 'beta', 1);
  const [M, K] = tA ? [a.dims[1], a.dims[0]] : [a.dims[0], a.dims[1]];
  const [K2, N] = tB ? [b.dims[1], b.dims[0]] : [b.dims[0], b.dims[1]];
  if (K !== K2) throw new Error(`reference Gemm node '${node.name}': inner dims ${K} and ${K2} differ`);
  const out = make([M, N], a.dtype);
  if (c && beta !== 0) {
    // C broadcasts unidirectionally to (M, N).
    const offs = offsets([M, N], broadcastTables(c.dims, [M, N]));
    for (let i = 0; i < offs.length; i++) out.data[i] = beta * c.data[offs[i]];
  }
  const [sam, sak] = tA ? [1, M] : [K, 1];
  const [sbk, sbn] = tB ? [1, K] : [N, 1];
  gemmInto(out.data, 0, a.data, 0, sam, sak, b.data, 0, sbk, sbn, M, K, N, alpha);
  return [out];
}

export const linalgOps: OpTable = { MatMul: matmul, Gemm: gemm };
