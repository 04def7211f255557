// tintem: "Faithful Label-free Knowledge Distillation" (TinTeM, arXiv 2411.15239; later
// "Preserving Angles Improves Feature Distillation", CosPress). Label-free.
//
// A mapping h on the teacher side, LayerNorm then Linear (teacher width -> student
// width), is trained jointly with the student:
//   - h learns to preserve the teacher's cosine-similarity structure: simKL(t, h(t))
//     over the batch's pooled features (global) and, per sample, over its tokens
//     (local; a CNN's spatial positions are its tokens), averaged over tau in
//     {0.01, ..., 0.10} (similarity.ts has the exact definition);
//   - the student is pulled towards the detached h(t): (1 - cos) of its pooled
//     features and (1 - cos) of its flattened token map (the teacher's mapped tokens
//     bilinearly resampled to the student's grid when the grids differ).
// The student's own pooled features are the distilled representation (no student head).
// h must preserve cosines, so it tends to be approximately orthogonal; the paper adds no
// explicit constraint. `ortho_weight` adds one: 1 - tr(G)^2 / (d ||G||_F^2) with
// G = W W^T (d = student width), which is ||G/c - I||_F^2 / d at the best scale c and
// 0 exactly when W's rows are orthogonal with one common length.
//
// For a teacher feature tensor that is a flattened [C, H, W] map (`teacherMap`), the
// tokens are its H*W columns of width C and the pooled feature is their mean; otherwise,
// or with the option `tokens` = 0, the whole tensor is one global feature (h maps its full
// width) and the local terms are left out.
import type { LossBuilder, LossContext } from '../step.js';
import type { AuxParam, ObjectiveShapes } from './registry.js';
import type { Ops } from '../../graph/ops.js';
import { tensor } from '../../graph/tensor.js';
import { Rng } from '../../util/rng.js';
import { TAUS, bilinearMatrix, cosineDistance, localSimilarityKl, similarityKl } from './similarity.js';

export const TINTEM_HEAD = 'tintem.h';

/** Teacher token width and grid: the map's channels, else the whole feature vector. */
export function teacherTokenShape(s: ObjectiveShapes, useTokens = true): { width: number; grid?: [number, number] } {
  if (s.teacherMap && useTokens) return { width: s.teacherMap[0], grid: [s.teacherMap[1], s.teacherMap[2]] };
  return { width: s.teacherFeatures! };
}

/** LayerNorm(in) + Linear(in -> out) parameters with PyTorch's default initialisation. */
export function layerNormLinearParams(prefix: string, inDim: number, outDim: number, seed: number): AuxParam[] {
  const rng = new Rng(seed ^ 0x7e4d);
  const bound = 1 / Math.sqrt(inDim);
  const uniform = (n: number) => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * bound);
  return [
    { name: `${prefix}.ln.weight`, init: tensor('float32', [inDim], new Float32Array(inDim).fill(1)), decay: false },
    { name: `${prefix}.ln.bias`, init: tensor('float32', [inDim], new Float32Array(inDim)), decay: false },
    { name: `${prefix}.weight`, init: tensor('float32', [outDim, inDim], uniform(outDim * inDim)), decay: true },
    { name: `${prefix}.bias`, init: tensor('float32', [outDim], uniform(outDim)), decay: false },
  ];
}

/** y = Linear(LayerNorm(x)) over the last axis of x; W is [out, in] (PyTorch layout). */
export function layerNormLinear(c: LossContext, prefix: string, x: string): string {
  const { b, o, params } = c;
  const normed = b.op('LayerNormalization', [x, params[`${prefix}.ln.weight`], params[`${prefix}.ln.bias`]], { axis: -1, epsilon: 1e-5 });
  return o.add(o.matmul(normed, o.transpose(params[`${prefix}.weight`], [1, 0])), params[`${prefix}.bias`]);
}

/** 1 - tr(G)^2 / (d ||G||_F^2), G = W W^T: scale-free distance of W from orthogonal rows. */
export function orthogonalityPenalty(o: Ops, w: string): string {
  const d = o.b.shape(w)[0] as number;
  const g = o.matmul(w, o.transpose(w, [1, 0]));
  const tr = o.reduceSumSquare(w, undefined, false);
  const g2 = o.reduceSumSquare(g, undefined, false);
  return o.sub(o.scalar(1), o.div(o.mul(tr, tr), o.scale(g2, d)));
}

export function tintemLoss(opts: Record<string, number>, shapes: ObjectiveShapes): LossBuilder {
  const { width: Ct, grid } = teacherTokenShape(shapes, opts.tokens !== 0);
  return (c) => {
    const { o, data, outputs, batch } = c;
    const tf = data('teacher_features', 'float32', [batch, shapes.teacherFeatures!]);
    const mask = data('mask', 'float32', [batch]);
    const tokens = grid ? o.transpose(o.reshape(tf, [batch, Ct, grid[0] * grid[1]]), [0, 2, 1]) : undefined;
    const pooled = tokens ? o.reduceMean(tokens, [1], false) : tf;
    const h = (x: string) => layerNormLinear(c, TINTEM_HEAD, x);
    const mapped = h(pooled);
    const mappedFixed = o.identity(mapped); // the student's target: no gradient into h
    const stop = [mappedFixed];
    const simGlobal = similarityKl(o, pooled, mapped, TAUS, mask);
    const cosGlobal = cosineDistance(o, outputs.features, mappedFixed);
    const extra: Record<string, string> = { sim_global: simGlobal, cos_global: cosGlobal };
    let perSample = o.add(cosGlobal, o.scale(simGlobal, opts.sim_weight));
    if (tokens && opts.local_weight > 0) {
      const mappedTokens = h(tokens);
      const simLocal = localSimilarityKl(o, tokens, mappedTokens, TAUS);
      extra.sim_local = simLocal;
      perSample = o.add(perSample, o.scale(simLocal, opts.sim_weight * opts.local_weight));
      const sm = shapes.studentMap;
      if (sm && outputs.feature_map && sm[0] === shapes.studentFeatures) {
        const L = sm[1] * sm[2];
        const studentTokens = o.transpose(o.reshape(outputs.feature_map, [batch, sm[0], L]), [0, 2, 1]);
        let target = o.identity(mappedTokens);
        stop.push(target);
        if (sm[1] !== grid![0] || sm[2] !== grid![1]) {
          target = o.matmul(o.floats([...bilinearMatrix(grid![0], grid![1], sm[1], sm[2])], [L, grid![0] * grid![1]]), target);
        }
        const cosLocal = cosineDistance(o, o.reshape(studentTokens, [batch, L * sm[0]]), o.reshape(target, [batch, L * sm[0]]));
        extra.cos_local = cosLocal;
        perSample = o.add(perSample, o.scale(cosLocal, opts.local_weight));
      }
    }
    if (opts.ortho_weight > 0) {
      const pen = orthogonalityPenalty(o, c.params[`${TINTEM_HEAD}.weight`]);
      extra.ortho = pen;
      perSample = o.add(perSample, o.scale(pen, opts.ortho_weight));
    }
    return { perSample, extra, stop };
  };
}

export function tintemParams(opts: Record<string, number>, shapes: ObjectiveShapes, seed: number): AuxParam[] {
  return layerNormLinearParams(TINTEM_HEAD, teacherTokenShape(shapes, opts.tokens !== 0).width, shapes.studentFeatures, seed);
}
