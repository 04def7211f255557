// Cosine similarity search for the feature metrics (feature-metrics.ts): for each query
// row, the k reference rows of largest cosine similarity. The products run in
// onnxruntime: one small graph, Gemm(query chunk, reference^T) scaled by the reference
// rows' inverse norms, then TopK. The reference matrix is a graph input fed as it is
// (no normalised copy: 60,000 x 3,200 floats are 768 MB), queries are normalised in JS a
// chunk at a time, and chunks are sized so the score matrix stays near 64 MB.
import { Builder } from '../graph/builder.js';
import { newModel } from '../graph/ir.js';
import { ops } from '../graph/ops.js';
import { tensor } from '../graph/tensor.js';
import { createSession, type EpChoice } from '../runtime/session.js';
import { UsageError } from '../errors.js';

export interface Neighbours {
  /** k per query: number of columns of sims/index (min(k, n_ref)) */
  k: number;
  /** [n_query, k] cosine similarities, largest first */
  sims: Float32Array;
  /** [n_query, k] reference rows; equal similarities list the lower row first (TopK's rule) */
  index: Int32Array;
}

export interface SearchOptions {
  ep?: EpChoice;
  /** queries per onnxruntime call (default: about 16M scores per call) */
  chunk?: number;
}

/** 1 / ||row|| for every row (0 for a zero row, whose similarities are then 0). */
export function inverseRowNorms(x: Float32Array, d: number): Float32Array {
  const n = x.length / d;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * d, e = j + d; j < e; j++) s += x[j] * x[j];
    out[i] = s > 0 ? 1 / Math.sqrt(s) : 0;
  }
  return out;
}

/** The k most cosine-similar reference rows of each query row (row-major [n, d] inputs). */
export async function cosineNeighbours(query: Float32Array, ref: Float32Array, d: number, k: number, opts: SearchOptions = {}): Promise<Neighbours> {
  if (!(d > 0) || query.length % d || ref.length % d) throw new UsageError(`features: arrays of ${query.length} and ${ref.length} values are not rows of ${d}`);
  const nq = query.length / d, nr = ref.length / d;
  if (nr === 0) throw new UsageError('features: the reference set is empty');
  const kk = Math.max(1, Math.min(k, nr));
  const sims = new Float32Array(nq * kk), index = new Int32Array(nq * kk);
  if (nq === 0) return { k: kk, sims, index };

  const b = new Builder('cosine_topk');
  const o = ops(b);
  const q = b.input('q', 'float32', ['M', d]);
  const r = b.input('r', 'float32', ['R', d]);
  const rinv = b.input('rinv', 'float32', [1, 'R']);
  const s = o.mul(o.gemm(q, r, undefined, { transB: true }), rinv);
  const [vals, idx] = b.opN('TopK', [s, o.ints([kk])], { axis: -1, largest: 1, sorted: 1 }, { numOutputs: 2 });
  b.output(vals, 'sims');
  b.output(idx, 'index');
  const session = await createSession(newModel(b.graph), { ep: opts.ep ?? 'cpu' });
  try {
    const rinvT = tensor('float32', [1, nr], inverseRowNorms(ref, d));
    const refT = { dtype: 'float32' as const, dims: [nr, d], data: ref };
    const chunk = Math.max(1, opts.chunk ?? Math.floor(2 ** 24 / nr));
    const qinv = inverseRowNorms(query, d);
    for (let start = 0; start < nq; start += chunk) {
      const m = Math.min(chunk, nq - start);
      const qc = new Float32Array(m * d);
      for (let i = 0; i < m; i++) {
        const f = qinv[start + i], off = (start + i) * d;
        for (let j = 0; j < d; j++) qc[i * d + j] = query[off + j] * f;
      }
      const out = await session.run({ q: { dtype: 'float32', dims: [m, d], data: qc }, r: refT, rinv: rinvT }, ['sims', 'index']);
      sims.set(out.sims.data as Float32Array, start * kk);
      const ix = out.index.data as BigInt64Array;
      for (let i = 0; i < ix.length; i++) index[start * kk + i] = Number(ix[i]);
    }
  } finally {
    await session.release();
  }
  return { k: kk, sims, index };
}
