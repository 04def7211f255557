// Plain float64 reference of the tintem / proteus formulas, written straight from their
// definitions (TinTeM/CosPress, arXiv 2411.15239) and independent of the graph emitters
// in src/train/objectives/: no import from there.
//   cos(u, v)    = <u, v> / (max(|u|, 1e-6) * max(|v|, 1e-6))
//   D            = cosine matrix of the rows, diagonal (and padded rows/cols) excluded
//   P(x, tau)    = row-softmax(D / tau) over the included entries; S = P + P^T; S / sum(S)
//   simKL(a, b)  = mean over tau in {0.01, ..., 0.10} of KL(P(a, tau) || P(b, tau))
// Matrices are number[][] (row-major, rows = samples or tokens).

export type Mat = number[][];

/** tau in {0.01, 0.02, ..., 0.10}, spelled out */
export const REF_TAUS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1];

export const dot = (u: number[], v: number[]) => u.reduce((s, x, i) => s + x * v[i], 0);
export const norm = (u: number[]) => Math.sqrt(dot(u, u));

export function normalise(u: number[]): number[] {
  const n = Math.max(norm(u), 1e-6);
  return u.map((x) => x / n);
}

export function cos(u: number[], v: number[]): number {
  return dot(u, v) / (Math.max(norm(u), 1e-6) * Math.max(norm(v), 1e-6));
}

export function cosMatrix(x: Mat): Mat {
  return x.map((u) => x.map((v) => cos(u, v)));
}

/** 1 - cos(u, v) */
export function cosDistance(u: number[], v: number[]): number {
  return 1 - cos(u, v);
}

/**
 * Symmetrised similarity distribution of the rows of x at temperature tau: an N x N
 * matrix summing to 1. Entries of the diagonal and of rows/columns with valid[i] false
 * are exactly 0.
 */
export function simDistribution(x: Mat, tau: number, valid?: boolean[]): Mat {
  const n = x.length;
  const ok = (i: number) => !valid || valid[i];
  const c = cosMatrix(x);
  const p: Mat = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    if (!ok(i)) continue;
    const js = [...Array(n).keys()].filter((j) => j !== i && ok(j));
    if (js.length === 0) continue;
    const m = Math.max(...js.map((j) => c[i][j] / tau));
    const e = js.map((j) => Math.exp(c[i][j] / tau - m));
    const z = e.reduce((s, v) => s + v, 0);
    js.forEach((j, k) => { p[i][j] = e[k] / z; });
  }
  const s = p.map((row, i) => row.map((v, j) => v + p[j][i]));
  const total = s.flat().reduce((a, v) => a + v, 0);
  return s.map((row) => row.map((v) => v / total));
}

/** KL(p || q) over all entries (terms with p = 0 contribute 0) */
export function klMat(p: Mat, q: Mat): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    for (let j = 0; j < p[i].length; j++) if (p[i][j] > 0) s += p[i][j] * Math.log(p[i][j] / q[i][j]);
  }
  return s;
}

/** mean over taus of KL(P(a) || P(b)); a and b have the same rows (widths may differ) */
export function simKL(a: Mat, b: Mat, taus = REF_TAUS, valid?: boolean[]): number {
  return taus.reduce((s, t) => s + klMat(simDistribution(a, t, valid), simDistribution(b, t, valid)), 0) / taus.length;
}

/** LayerNorm over the vector (biased variance, eps 1e-5) with scale g and shift beta */
export function layerNorm(x: number[], g: number[], beta: number[], eps = 1e-5): number[] {
  const m = x.reduce((s, v) => s + v, 0) / x.length;
  const v = x.reduce((s, t) => s + (t - m) ** 2, 0) / x.length;
  return x.map((t, i) => ((t - m) / Math.sqrt(v + eps)) * g[i] + beta[i]);
}

/** y = W x + bias, W [out][in] (PyTorch layout) */
export function linear(x: number[], w: Mat, bias: number[]): number[] {
  return w.map((row, o) => dot(row, x) + bias[o]);
}

export interface HeadRef {
  lnWeight: number[];
  lnBias: number[];
  /** [out][in] */
  weight: Mat;
  bias: number[];
}

export function head(h: HeadRef, x: number[]): number[] {
  return linear(layerNorm(x, h.lnWeight, h.lnBias), h.weight, h.bias);
}

/** 1-D linear interpolation weights, PyTorch align_corners=False: [outSize][inSize] */
export function linearWeights(inSize: number, outSize: number): Mat {
  const w: Mat = Array.from({ length: outSize }, () => new Array<number>(inSize).fill(0));
  const scale = inSize / outSize;
  for (let d = 0; d < outSize; d++) {
    let src = scale * (d + 0.5) - 0.5;
    if (src < 0) src = 0;
    const i0 = Math.floor(src);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = src - i0;
    w[d][i0] += 1 - l1;
    w[d][i1] += l1;
  }
  return w;
}

/**
 * Bilinear resampling of a grid of tokens, row-major (token index y*W + x), each token a
 * vector: [H*W][C] -> [h*w][C]. Separable: rows then columns, PyTorch align_corners=False.
 */
export function resampleTokens(tokens: Mat, H: number, W: number, h: number, w: number): Mat {
  const wy = linearWeights(H, h), wx = linearWeights(W, w);
  const C = tokens[0].length;
  const out: Mat = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = new Array<number>(C).fill(0);
      for (let Y = 0; Y < H; Y++) {
        for (let X = 0; X < W; X++) {
          const k = wy[y][Y] * wx[x][X];
          if (k !== 0) for (let c = 0; c < C; c++) v[c] += k * tokens[Y * W + X][c];
        }
      }
      out.push(v);
    }
  }
  return out;
}

/** 1 - tr(G)^2 / (d ||G||_F^2), G = W W^T, d = rows of W */
export function orthoPenalty(w: Mat): number {
  const g = w.map((u) => w.map((v) => dot(u, v)));
  const tr = g.reduce((s, row, i) => s + row[i], 0);
  const f2 = g.flat().reduce((s, v) => s + v * v, 0);
  return 1 - (tr * tr) / (w.length * f2);
}

/** tokens of a flattened C-major [C, H, W] map: [H*W][C] */
export function tokensOf(flat: number[], C: number, L: number): Mat {
  return Array.from({ length: L }, (_, l) => Array.from({ length: C }, (_, c) => flat[c * L + l]));
}

export interface TintemRefInput {
  /** student pooled features [B][Cs] */
  features: Mat;
  /** student feature map, flattened C-major [B][Cs*Hs*Ws] */
  featureMap?: Mat;
  studentMap?: [number, number, number];
  /** teacher feature tensor [B][Ft] */
  teacher: Mat;
  /** [C, H, W] when the teacher tensor is a flattened map */
  teacherMap?: [number, number, number];
  mask: number[];
  head: HeadRef;
  opts: { sim_weight: number; local_weight: number; ortho_weight: number };
  taus?: number[];
}

export interface TintemRefOutput {
  perSample: number[];
  simGlobal: number;
  cosGlobal: number[];
  simLocal?: number[];
  cosLocal?: number[];
  ortho?: number;
}

/** The tintem per-sample loss and its parts, from the definitions. */
export function tintemRef(r: TintemRefInput): TintemRefOutput {
  const B = r.features.length;
  const taus = r.taus ?? REF_TAUS;
  const { sim_weight: sw, local_weight: lw, ortho_weight: ow } = r.opts;
  const tokens = r.teacherMap ? r.teacher.map((t) => tokensOf(t, r.teacherMap![0], r.teacherMap![1] * r.teacherMap![2])) : undefined;
  const pooled = tokens ? tokens.map((tk) => tk[0].map((_, c) => tk.reduce((s, v) => s + v[c], 0) / tk.length)) : r.teacher;
  const mapped = pooled.map((p) => head(r.head, p));
  const valid = r.mask.map((m) => m !== 0);
  const simGlobal = simKL(pooled, mapped, taus, valid);
  const cosGlobal = r.features.map((s, i) => cosDistance(s, mapped[i]));
  const out: TintemRefOutput = { perSample: cosGlobal.map((c) => c + sw * simGlobal), simGlobal, cosGlobal };
  if (tokens && lw > 0) {
    const mappedTokens = tokens.map((tk) => tk.map((v) => head(r.head, v)));
    out.simLocal = tokens.map((tk, i) => simKL(tk, mappedTokens[i], taus));
    out.perSample = out.perSample.map((v, i) => v + sw * lw * out.simLocal![i]);
    const sm = r.studentMap;
    if (sm && r.featureMap && sm[0] === r.features[0].length) {
      const [, Ht, Wt] = r.teacherMap!;
      out.cosLocal = [];
      for (let i = 0; i < B; i++) {
        const st = tokensOf(r.featureMap[i], sm[0], sm[1] * sm[2]);
        const target = sm[1] === Ht && sm[2] === Wt ? mappedTokens[i] : resampleTokens(mappedTokens[i], Ht, Wt, sm[1], sm[2]);
        out.cosLocal.push(cosDistance(st.flat(), target.flat()));
      }
      out.perSample = out.perSample.map((v, i) => v + lw * out.cosLocal![i]);
    }
  }
  if (ow > 0) {
    out.ortho = orthoPenalty(r.head.weight);
    out.perSample = out.perSample.map((v) => v + ow * out.ortho!);
  }
  return out;
}

/** proteus: mean_d (head(s)_d - t_d)^2 per sample */
export function proteusRef(features: Mat, teacher: Mat, h: HeadRef): number[] {
  return features.map((s, i) => {
    const y = head(h, s);
    return y.reduce((a, v, d) => a + (v - teacher[i][d]) ** 2, 0) / y.length;
  });
}

/** rows x cols matrix from a flat row-major array */
export function reshape(flat: ArrayLike<number>, rows: number, cols: number): Mat {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => flat[i * cols + j]));
}
