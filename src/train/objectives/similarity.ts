// Graph emitters for similarity-structure and cosine losses (used by tintem and
// proteus). All work on float32 values with static shapes.
//
//   cos(u, v)      = <u, v> / (max(|u|, 1e-6) * max(|v|, 1e-6))
//   D(x)           = cosine-similarity matrix of the rows of x, diagonal masked out
//   P(x, tau)      = row-softmax(D(x) / tau), then symmetrised: (P + P^T) / sum(P + P^T)
//   simKL(a, b)    = mean over tau of KL(P(a, tau) || P(b, tau))
import type { Ops } from '../../graph/ops.js';

/** tau in {0.01, 0.02, ..., 0.10} */
export const TAUS = Array.from({ length: 10 }, (_, i) => (i + 1) / 100);

/** logit added to excluded entries: exp() of it is 0 in float32 */
const EXCLUDED = -1e9;

/** Rows of x (last axis) scaled to unit length; rows shorter than 1e-6 are divided by 1e-6. */
export function normaliseRows(o: Ops, x: string): string {
  const norm = o.sqrt(o.reduceSumSquare(x, [-1], true));
  return o.div(x, o.max(norm, o.scalarLike(1e-6, x)));
}

/** Cosine similarity of every pair of rows: x [..., N, D] -> [..., N, N]. */
export function cosineMatrix(o: Ops, x: string): string {
  const n = normaliseRows(o, x);
  const rank = o.b.shape(n).length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return o.matmul(n, o.transpose(n, perm));
}

/** 1 - cos(x_i, y_i) per row: [B, D] x [B, D] -> [B]. */
export function cosineDistance(o: Ops, x: string, y: string): string {
  const dot = o.reduceSum(o.mul(normaliseRows(o, x), normaliseRows(o, y)), [-1], false);
  return o.sub(o.scalarLike(1, dot), dot);
}

/** Additive logit mask [N, N]: EXCLUDED on the diagonal, 0 elsewhere. */
function diagonalMask(o: Ops, n: number): string {
  const m = new Array(n * n).fill(0);
  for (let i = 0; i < n; i++) m[i * n + i] = EXCLUDED;
  return o.floats(m, [n, n]);
}

/**
 * log of the symmetrised similarity distributions of x at temperature tau over the last
 * two axes ([..., N, N], each slice's exp() summing to 1). `extra` is an additive logit
 * mask broadcast over the slices; `rowExtra` ([..., N, 1], 0 or EXCLUDED) drops excluded
 * rows before symmetrising. Worked in the log domain: at tau = 0.01 the probability of a
 * dissimilar pair is exp(-200) or less, below float32's range, and KL needs its log.
 */
function symmetrisedLogP(o: Ops, cos: string, tau: number, extra: string, rowExtra?: string): string {
  let lp = o.logSoftmax(o.add(o.scale(cos, 1 / tau), extra), -1);
  if (rowExtra) lp = o.add(lp, rowExtra);
  const rank = o.b.shape(lp).length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  const lpT = o.transpose(lp, perm);
  // log(P + P^T) = max(lp, lpT) + log(1 + exp(-|lp - lpT|))
  const lsym = o.add(o.max(lp, lpT), o.log(o.add(o.scalarLike(1, lp), o.exp(o.neg(o.abs(o.sub(lp, lpT)))))));
  return o.sub(lsym, o.log(o.reduceSum(o.exp(lsym), [rank - 2, rank - 1], true)));
}

/** sum over the last two axes of p * (log p - log q), from log p and log q -> [...] */
function klOverPairs(o: Ops, lp: string, lq: string): string {
  const rank = o.b.shape(lp).length;
  return o.reduceSum(o.mul(o.exp(lp), o.sub(lp, lq)), [rank - 2, rank - 1], false);
}

/**
 * Global similarity-structure loss over a batch: a [N, Da] (reference), b [N, Db]
 * (mapped) -> scalar. With `mask` [N] (1 = sample, 0 = padding) padded rows and columns
 * take no part.
 */
export function similarityKl(o: Ops, a: string, b: string, taus: number[], mask?: string): string {
  const n = o.b.shape(a)[0] as number;
  let extra = diagonalMask(o, n);
  let rowExtra: string | undefined;
  if (mask) {
    // columns and rows of padded samples get EXCLUDED added
    const excluded = o.scale(o.sub(o.scalarLike(1, mask), mask), EXCLUDED);
    extra = o.add(extra, o.unsqueeze(excluded, [0]));
    rowExtra = o.unsqueeze(excluded, [1]);
  }
  const ca = cosineMatrix(o, a), cb = cosineMatrix(o, b);
  const terms = taus.map((tau) => klOverPairs(o, symmetrisedLogP(o, ca, tau, extra, rowExtra), symmetrisedLogP(o, cb, tau, extra, rowExtra)));
  return o.scale(terms.reduce((s, t) => o.add(s, t)), 1 / taus.length);
}

/** Local similarity-structure loss per sample over its tokens: a [B, L, Da], b [B, L, Db] -> [B]. */
export function localSimilarityKl(o: Ops, a: string, b: string, taus: number[]): string {
  const L = o.b.shape(a)[1] as number;
  const extra = diagonalMask(o, L);
  const ca = cosineMatrix(o, a), cb = cosineMatrix(o, b);
  const terms = taus.map((tau) => klOverPairs(o, symmetrisedLogP(o, ca, tau, extra), symmetrisedLogP(o, cb, tau, extra)));
  return o.scale(terms.reduce((s, t) => o.add(s, t)), 1 / taus.length);
}

/**
 * Bilinear resampling of an [H, W] grid of tokens to [h, w] as a constant matrix
 * [h*w, H*W] (half-pixel centres, edges clamped: PyTorch's align_corners=False).
 */
export function bilinearMatrix(H: number, W: number, h: number, w: number): Float32Array {
  const m = new Float32Array(h * w * H * W);
  const taps = (outSize: number, inSize: number, i: number): [number, number, number] => {
    const src = Math.max(0, (i + 0.5) * (inSize / outSize) - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, src - i0];
  };
  for (let y = 0; y < h; y++) {
    const [y0, y1, fy] = taps(h, H, y);
    for (let x = 0; x < w; x++) {
      const [x0, x1, fx] = taps(w, W, x);
      const row = (y * w + x) * H * W;
      m[row + y0 * W + x0] += (1 - fy) * (1 - fx);
      m[row + y0 * W + x1] += (1 - fy) * fx;
      m[row + y1 * W + x0] += fy * (1 - fx);
      m[row + y1 * W + x1] += fy * fx;
    }
  }
  return m;
}
