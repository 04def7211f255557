// alm meta-step: the one-step lookahead that meta-learns ALM-KD's per-sample mixing
// weights (AMAL, arXiv 2202.03250), as one generated ONNX graph (opset 18).
//
// Per-sample training loss over components j = 0..M:
//   L_i = sum_j w_ij l_ij,  l_i0 = CE(y_i, s_i),  l_im = T^2 KL(softmax(t_im/T) || softmax(s_i/T))
// Only the student's LAST LINEAR LAYER takes part in the lookahead:
//   s_i = W f_i + b,  W [C, D] (Gemm transB=1 layout), b [C], f_i [D] the penultimate features.
//
// Gradients of the components w.r.t. the logits (closed form):
//   g_i0 = softmax(s_i) - onehot(y_i)
//   g_im = T (softmax(s_i/T) - softmax(t_im/T))
// Batch training loss L = (1/n) sum_i mask_i sum_j w_ij l_ij with n = max(sum mask, 1)
// (the same normalisation as the training step), so with gs_i = (mask_i/n) sum_j w_ij g_ij:
//   grad_W L = sum_i gs_i f_i^T = gs^T F,   grad_b L = sum_i gs_i
// Lookahead: W' = W - lr grad_W L,  b' = b - lr grad_b L.
// Validation loss (mean over unmasked val rows, nv = max(sum val_mask, 1)):
//   val_loss = (1/nv) sum_v val_mask_v CE(yv_v, W' fv_v + b')
// Its gradient w.r.t. the lookahead parameters:
//   gv_v = (val_mask_v/nv) (softmax(W' fv_v + b') - onehot(yv_v)),  Gv = gv^T Fv [C, D],  gbv = sum_v gv_v [C]
// Exact meta-gradient (chain rule through W', b'; dW'/dw_ij = -lr (mask_i/n) g_ij f_i^T):
//   d val_loss / d w_ij = -(lr/n) mask_i g_ij . (Gv f_i + gbv)
// Gv f_i + gbv for all i is one Gemm (F Gv^T + gbv); no per-sample [C, D] tensors are formed.
//
// inputs:  features [B,D] f32, labels [B] i64, teacher_logits [M,B,C] f32, weights [B,1+M] f32,
//          mask [B] f32 (1 = real, 0 = padding), weight [C,D], bias [C], lr [] f32,
//          val_features [Bv,D], val_labels [Bv] i64, val_mask [Bv] f32
// outputs: val_loss [] f32, meta_grad [B,1+M] f32
// (with teachers = 0 there is no teacher_logits input and the weights are [B, 1]: CE only)
// Options: outputs `lookahead_weight` [C,D] and `lookahead_bias` [C] on request.
import { Builder } from '../../graph/builder.js';
import { Ops } from '../../graph/ops.js';
import { newModel, type Model } from '../../graph/ir.js';
import { tensor } from '../../graph/tensor.js';

export interface MetaStepShapes {
  batch: number;
  valBatch: number;
  width: number;
  classes: number;
  teachers: number;
  temperature: number;
}

export interface MetaStepOptions {
  /** also output the lookahead parameters W' (`lookahead_weight`) and b' (`lookahead_bias`) */
  lookaheadOutputs?: boolean;
}

export function buildMetaStep(s: MetaStepShapes, opts: MetaStepOptions = {}): Model {
  const { batch: B, valBatch: Bv, width: D, classes: C, teachers: M, temperature: T } = s;
  for (const [k, v] of Object.entries({ batch: B, valBatch: Bv, width: D, classes: C })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`buildMetaStep: ${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(M) || M < 0) throw new Error(`buildMetaStep: teachers must be a non-negative integer, got ${M}`);
  if (!(T > 0)) throw new Error(`buildMetaStep: temperature must be > 0, got ${T}`);

  const b = new Builder('alm_meta_step');
  const o = new Ops(b);
  const F = b.input('features', 'float32', [B, D]);
  const y = b.input('labels', 'int64', [B]);
  const tl = M > 0 ? b.input('teacher_logits', 'float32', [M, B, C]) : '';
  const w = b.input('weights', 'float32', [B, 1 + M]);
  const mask = b.input('mask', 'float32', [B]);
  const W = b.input('weight', 'float32', [C, D]);
  const bias = b.input('bias', 'float32', [C]);
  const lr = b.input('lr', 'float32', []);
  const Fv = b.input('val_features', 'float32', [Bv, D]);
  const yv = b.input('val_labels', 'int64', [Bv]);
  const vmask = b.input('val_mask', 'float32', [Bv]);

  const classRange = b.constant(tensor('int64', [1, C], Array.from({ length: C }, (_, i) => i)), 'class_range');
  const onehot = (labels: string) => o.cast(o.equal(o.unsqueeze(labels, [1]), classRange), 'float32');
  /** mask / max(sum mask, 1), shaped [N, 1] */
  const rowCoef = (m: string) => o.unsqueeze(o.div(m, o.max(o.reduceSum(m, undefined, false), o.scalar(1))), [1]);

  // ---- per-component logit gradients G [1+M, B, C]
  const G = b.scope('train_grads', () => {
    const logits = o.gemm(F, W, bias, { transB: true }); // [B, C]
    const g0 = o.sub(o.softmax(logits, 1), onehot(y));
    if (M === 0) return o.unsqueeze(g0, [0]);
    const psT = o.softmax(o.scale(logits, 1 / T), 1); // [B, C]
    const ptT = o.softmax(o.scale(tl, 1 / T), 2); // [M, B, C]
    const gm = o.scale(o.sub(o.unsqueeze(psT, [0]), ptT), T); // [M, B, C]
    return o.concat([o.unsqueeze(g0, [0]), gm], 0);
  });
  const coef = rowCoef(mask); // [B, 1]

  // ---- lookahead W', b'
  const [Wp, bp] = b.scope('lookahead', () => {
    const wT = o.unsqueeze(o.transpose(w, [1, 0]), [2]); // [1+M, B, 1]
    const gs = o.mul(o.reduceSum(o.mul(G, wT), [0], false), coef); // [B, C] = dL/ds
    const gradW = o.gemm(gs, F, undefined, { transA: true }); // [C, D]
    const gradB = o.reduceSum(gs, [0], false); // [C]
    return [o.sub(W, o.mul(lr, gradW)), o.sub(bias, o.mul(lr, gradB))];
  });

  // ---- validation loss and its gradient at (W', b')
  const { valLoss, Gv, gbv } = b.scope('val', () => {
    const sv = o.gemm(Fv, Wp, bp, { transB: true }); // [Bv, C]
    const logp = o.logSoftmax(sv, 1);
    const picked = o.squeeze(b.op('GatherElements', [logp, o.unsqueeze(yv, [1])], { axis: 1 }), [1]); // [Bv]
    const nv = o.max(o.reduceSum(vmask, undefined, false), o.scalar(1));
    const valLoss = o.neg(o.div(o.reduceSum(o.mul(picked, vmask), undefined, false), nv));
    const gv = o.mul(o.sub(o.softmax(sv, 1), onehot(yv)), rowCoef(vmask)); // [Bv, C]
    return { valLoss, Gv: o.gemm(gv, Fv, undefined, { transA: true }), gbv: o.reduceSum(gv, [0], false) };
  });

  // ---- meta-gradient: -lr * (mask_i/n) * g_ij . (Gv f_i + gbv)
  const metaGrad = b.scope('meta', () => {
    const h = o.gemm(F, Gv, gbv, { transB: true }); // [B, C]
    const dots = o.reduceSum(o.mul(G, o.unsqueeze(h, [0])), [2], false); // [1+M, B]
    return o.mul(o.mul(o.transpose(dots, [1, 0]), coef), o.neg(lr)); // [B, 1+M]
  });

  b.output(valLoss, 'val_loss');
  b.output(metaGrad, 'meta_grad');
  if (opts.lookaheadOutputs) {
    b.output(Wp, 'lookahead_weight');
    b.output(bp, 'lookahead_bias');
  }
  return newModel(b.graph, 18);
}
