// Representation metrics of the label-free distillation paper TinTeM/CosPress (arXiv
// 2411.15239): weighted kNN accuracy (DINO protocol), 1-NN OOD detection (AUROC,
// FPR95), a linear probe and linear CKA. Features are row-major Float32Array [n, d].
// The heavy products run in onnxruntime: the similarity search in feature-knn.ts, the
// probe's loss and gradient and the CKA Gram products in small graphs built here.
import { Builder } from '../graph/builder.js';
import { newModel } from '../graph/ir.js';
import { ops } from '../graph/ops.js';
import { createSession, type EpChoice, type Session } from '../runtime/session.js';
import { UsageError } from '../errors.js';
import { cosineNeighbours } from './feature-knn.js';

export { cosineNeighbours, inverseRowNorms, type Neighbours } from './feature-knn.js';

const rowsOf = (x: Float32Array, d: number, what: string): number => {
  if (!(d > 0) || x.length % d) throw new UsageError(`${what}: ${x.length} values are not rows of ${d} features`);
  return x.length / d;
};
const classCount = (...ls: ArrayLike<number>[]) => {
  let c = 0;
  for (const l of ls) for (let i = 0; i < l.length; i++) c = Math.max(c, l[i] + 1);
  return c;
};

export interface KnnOptions { k?: number; temperature?: number; ep?: EpChoice; classes?: number }

/** Weighted kNN top-1 (DINO): the k = 20 most cosine-similar training rows vote for their
 * label with weight exp(cos / 0.07); equal votes go to the lowest class. */
export async function knnAccuracy(train: Float32Array, trainLabels: ArrayLike<number>, test: Float32Array, testLabels: ArrayLike<number>, d: number,
  opts: KnnOptions = {}): Promise<number> {
  if (rowsOf(train, d, 'kNN train features') !== trainLabels.length) throw new UsageError(`kNN: ${train.length / d} training rows but ${trainLabels.length} labels`);
  const nq = rowsOf(test, d, 'kNN test features');
  if (nq !== testLabels.length) throw new UsageError(`kNN: ${nq} test rows but ${testLabels.length} labels`);
  if (nq === 0) return 0;
  const T = opts.temperature ?? 0.07, C = opts.classes ?? classCount(trainLabels, testLabels);
  const nb = await cosineNeighbours(test, train, d, opts.k ?? 20, { ep: opts.ep });
  const votes = new Float64Array(C);
  let hit = 0;
  for (let i = 0; i < nq; i++) {
    votes.fill(0);
    for (let j = i * nb.k; j < (i + 1) * nb.k; j++) votes[trainLabels[nb.index[j]]] += Math.exp(nb.sims[j] / T);
    let best = 0;
    for (let c = 1; c < C; c++) if (votes[c] > votes[best]) best = c;
    if (best === testLabels[i]) hit++;
  }
  return hit / nq;
}

/** 1-NN OOD score of each query: its largest cosine similarity to the reference rows. */
export async function oodScores(reference: Float32Array, queries: Float32Array, d: number, opts: { ep?: EpChoice } = {}): Promise<Float32Array> {
  rowsOf(queries, d, 'OOD query features');
  return (await cosineNeighbours(queries, reference, d, 1, opts)).sims;
}

/** AUROC with the in-distribution scores as positives, exact and tie-aware (Mann-Whitney
 * U with mid-ranks: a tie between an in and an out sample counts 1/2). */
export function auroc(inScores: ArrayLike<number>, outScores: ArrayLike<number>): number {
  const ni = inScores.length, no = outScores.length;
  if (!ni || !no) return NaN;
  const all = [...Array.from(inScores, (v) => [v, 1] as const), ...Array.from(outScores, (v) => [v, 0] as const)].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const mid = (i + 1 + j) / 2; // ranks i+1..j share their mean
    for (let k = i; k < j; k++) if (all[k][1]) rankSum += mid;
    i = j;
  }
  return (rankSum - (ni * (ni + 1)) / 2) / (ni * no);
}

/** FPR at 95% TPR: the threshold t is the largest score such that at least 95% of the
 * in-distribution scores are >= t; returns the fraction of OOD scores >= t. */
export function fpr95(inScores: ArrayLike<number>, outScores: ArrayLike<number>, tpr = 0.95): number {
  const ni = inScores.length, no = outScores.length;
  if (!ni || !no) return NaN;
  const desc = Array.from(inScores).sort((a, b) => b - a);
  const t = desc[Math.max(0, Math.ceil(tpr * ni - 1e-9) - 1)];
  let fp = 0;
  for (let i = 0; i < no; i++) if (outScores[i] >= t) fp++;
  return fp / no;
}

/** 1-NN OOD detection: AUROC and FPR95 of in- vs out-of-distribution queries against the reference (training) rows. */
export async function oodMetrics(reference: Float32Array, inQ: Float32Array, outQ: Float32Array, d: number, opts: { ep?: EpChoice } = {}): Promise<{ auroc: number; fpr95: number }> {
  const si = await oodScores(reference, inQ, d, opts), so = await oodScores(reference, outQ, d, opts);
  return { auroc: auroc(si, so), fpr95: fpr95(si, so) };
}

export interface ProbeOptions {
  /** L2 weight on the standardised-feature weights (not the bias); default 1e-4 */
  l2?: number;
  /** L-BFGS iterations (default 100; stops earlier once the gradient vanishes) */
  iterations?: number;
  ep?: EpChoice;
  classes?: number;
}

/**
 * Linear probe: multinomial logistic regression on features standardised with the
 * training rows' mean and std (std 0 -> 1), loss = mean cross-entropy + l2/2 ||W||^2,
 * trained full-batch by L-BFGS (memory 10, Armijo backtracking from step 1; the first
 * step is 1/||g||), from zero weights, for a fixed number of iterations: no randomness,
 * so no seed. The loss and gradient over all rows are one onnxruntime run (Gemm X W and
 * Gemm X^T G), so 54,000 x 3,200 features need no subsampling. Returns test top-1
 * (ties to the lowest class).
 */
export async function linearProbe(train: Float32Array, trainLabels: ArrayLike<number>, test: Float32Array, testLabels: ArrayLike<number>, d: number,
  opts: ProbeOptions = {}): Promise<number> {
  const n = rowsOf(train, d, 'probe train features'), m = rowsOf(test, d, 'probe test features');
  if (n !== trainLabels.length || m !== testLabels.length) throw new UsageError(`linear probe: ${n}/${m} train/test rows but ${trainLabels.length}/${testLabels.length} labels`);
  if (n === 0 || m === 0) return 0;
  const C = opts.classes ?? classCount(trainLabels, testLabels), l2 = opts.l2 ?? 1e-4;
  const mu = new Float64Array(d), sd = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += train[i * d + j];
  for (let j = 0; j < d; j++) mu[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) sd[j] += (train[i * d + j] - mu[j]) ** 2;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j] / n) || 1;
  const xs = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xs[i * d + j] = (train[i * d + j] - mu[j]) / sd[j];
  const y = new Float32Array(n * C);
  for (let i = 0; i < n; i++) y[i * C + trainLabels[i]] = 1;

  const b = new Builder('probe_loss_grad');
  const o = ops(b);
  const [X, W, B, Y] = [b.input('x', 'float32', ['N', d]), b.input('w', 'float32', [d, C]), b.input('b', 'float32', [C]), b.input('y', 'float32', ['N', C])];
  const lp = o.logSoftmax(o.gemm(X, W, B), 1);
  const g = o.sub(o.exp(lp), Y);
  b.output(o.neg(o.reduceSum(o.mul(Y, lp), undefined, false)), 'loss_sum');
  b.output(o.gemm(X, g, undefined, { transA: true }), 'xtg');
  b.output(o.reduceSum(g, [0], false), 'gsum');
  const session = await createSession(newModel(b.graph), { ep: opts.ep ?? 'cpu' });
  const P = d * C;
  const feeds = { x: { dtype: 'float32' as const, dims: [n, d], data: xs }, y: { dtype: 'float32' as const, dims: [n, C], data: y } };
  const evaluate = async (theta: Float64Array): Promise<[number, Float64Array]> => {
    const out = await session.run({ ...feeds, w: { dtype: 'float32', dims: [d, C], data: Float32Array.from(theta.subarray(0, P)) },
      b: { dtype: 'float32', dims: [C], data: Float32Array.from(theta.subarray(P)) } });
    const xtg = out.xtg.data as Float32Array, gs = out.gsum.data as Float32Array;
    const grad = new Float64Array(P + C);
    let reg = 0;
    for (let k = 0; k < P; k++) { grad[k] = xtg[k] / n + l2 * theta[k]; reg += theta[k] * theta[k]; }
    for (let c = 0; c < C; c++) grad[P + c] = gs[c] / n;
    return [(out.loss_sum.data as Float32Array)[0] / n + (l2 / 2) * reg, grad];
  };
  let theta: Float64Array;
  try {
    theta = await lbfgs(evaluate, P + C, opts.iterations ?? 100);
  } finally {
    await session.release();
  }
  let hit = 0;
  const z = new Float64Array(C), xr = new Float64Array(d);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < d; j++) xr[j] = (test[i * d + j] - mu[j]) / sd[j];
    for (let c = 0; c < C; c++) z[c] = theta[P + c];
    for (let j = 0; j < d; j++) if (xr[j] !== 0) for (let c = 0; c < C; c++) z[c] += xr[j] * theta[j * C + c];
    let best = 0;
    for (let c = 1; c < C; c++) if (z[c] > z[best]) best = c;
    if (best === testLabels[i]) hit++;
  }
  return hit / m;
}

const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };

/** Minimise f from 0 by L-BFGS (two-loop recursion, memory 10, Armijo backtracking). */
async function lbfgs(f: (x: Float64Array) => Promise<[number, Float64Array]>, size: number, iterations: number): Promise<Float64Array> {
  let x = new Float64Array(size);
  let [fx, g] = await f(x);
  const S: Float64Array[] = [], Yv: Float64Array[] = [], rho: number[] = [];
  for (let it = 0; it < iterations; it++) {
    const gnorm = Math.sqrt(dot(g, g));
    if (!(gnorm > 1e-7)) break;
    const q = Float64Array.from(g), alpha: number[] = [];
    for (let i = S.length - 1; i >= 0; i--) { alpha[i] = rho[i] * dot(S[i], q); for (let k = 0; k < size; k++) q[k] -= alpha[i] * Yv[i][k]; }
    const gamma = S.length ? dot(S[S.length - 1], Yv[S.length - 1]) / dot(Yv[S.length - 1], Yv[S.length - 1]) : 1 / gnorm;
    for (let k = 0; k < size; k++) q[k] *= gamma;
    for (let i = 0; i < S.length; i++) { const beta = rho[i] * dot(Yv[i], q); for (let k = 0; k < size; k++) q[k] += (alpha[i] - beta) * S[i][k]; }
    const slope = -dot(g, q);
    if (!(slope < 0)) break;
    let t = 1, accepted = false, xn = x, fn = fx, gn = g;
    for (let ls = 0; ls < 30; ls++, t /= 2) {
      xn = new Float64Array(size);
      for (let k = 0; k < size; k++) xn[k] = x[k] - t * q[k];
      [fn, gn] = await f(xn);
      if (fn <= fx + 1e-4 * t * slope) { accepted = true; break; }
    }
    if (!accepted) break;
    const s = new Float64Array(size), yv = new Float64Array(size);
    for (let k = 0; k < size; k++) { s[k] = xn[k] - x[k]; yv[k] = gn[k] - g[k]; }
    const sy = dot(s, yv);
    if (sy > 1e-12) {
      S.push(s); Yv.push(yv); rho.push(1 / sy);
      if (S.length > 10) { S.shift(); Yv.shift(); rho.shift(); }
    }
    x = xn; fx = fn; g = gn;
  }
  return x;
}

/** Linear CKA (Kornblith et al. 2019) of two feature sets on the same n samples:
 * columns centred, ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), all in float64 in
 * onnxruntime through d x d products (cost n (dx + dy)^2, memory (dx + dy)^2). */
export async function linearCka(x: Float32Array, dx: number, y: Float32Array, dy: number, opts: { ep?: EpChoice } = {}): Promise<number> {
  const n = rowsOf(x, dx, 'CKA features X');
  if (rowsOf(y, dy, 'CKA features Y') !== n) throw new UsageError(`CKA: ${n} rows of X but ${y.length / dy} rows of Y`);
  if (n < 2) return NaN;
  const b = new Builder('linear_cka');
  const o = ops(b);
  const X = b.input('x', 'float64', ['N', dx]), Y = b.input('y', 'float64', ['N', dy]);
  const xc = o.sub(X, o.reduceMean(X, [0])), yc = o.sub(Y, o.reduceMean(Y, [0]));
  const fro2 = (a: string, c: string) => o.reduceSumSquare(o.gemm(a, c, undefined, { transA: true }), undefined, false);
  b.output(fro2(xc, xc), 'xx');
  b.output(fro2(yc, yc), 'yy');
  b.output(fro2(yc, xc), 'yx');
  const session: Session = await createSession(newModel(b.graph), { ep: opts.ep ?? 'cpu' });
  try {
    const out = await session.run({ x: { dtype: 'float64', dims: [n, dx], data: Float64Array.from(x) }, y: { dtype: 'float64', dims: [n, dy], data: Float64Array.from(y) } });
    const v = (k: string) => (out[k].data as Float64Array)[0];
    return v('yx') / Math.sqrt(v('xx') * v('yy'));
  } finally {
    await session.release();
  }
}
