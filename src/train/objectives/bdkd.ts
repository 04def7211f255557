// bdkd: "BD-KD: Balancing the Divergences for Online Knowledge Distillation"
// (Amara et al., arXiv 2212.12965). Student loss per sample:
//
//   L_i = CE(y_i, s_i) + T^2 * ( w_f(i) * KL(p_t || p_s) + w_r(i) * KL(p_s || p_t) )
//
// with p = softmax(logits / T). Forward KL is mass-covering (it softens the student),
// reverse KL mode-seeking (it sharpens it). The weights follow the entropy gap between
// the two softened predictions: where the student is more confident than the teacher
// (H(p_s) < H(p_t)) the forward KL gets the larger weight, elsewhere the reverse KL.
//
// OUR READING: the paper's exact weighting formula was not available to us. We use
//   g_i   = [H_s(i) < H_t(i)]                         (hard, `smooth` = 0)
//         = sigmoid((H_t(i) - H_s(i)) / smooth)        (smooth, `smooth` > 0, in nats)
//   w_f(i) = base + (wf - base) * g_i,   w_r(i) = base + (wr - base) * (1 - g_i)
// with defaults wf = wr = 2 and base = 1 (the favoured divergence counts double); base 0
// gives a pure switch. The gate is not differentiated (weights, not targets). Change the
// rule in `balanceWeights` alone: the loss and the online mode call nothing else.
//
// Online mode (`--online`), the teacher trained alongside: its loss is
//   L_t,i = CE(y_i, t_i) + beta * T^2 * KL(p_t || p_s)
// (a reverse KL, from the teacher's side, towards the detached student). `dml` (deep
// mutual learning, Zhang et al. 2018) is the baseline: each model CE + T^2 KL(other || self).
import type { LossContext } from '../step.js';
import { crossEntropyPerSample } from './ce.js';
import { klPerSample } from './kd.js';

export interface BalanceOptions { wf: number; wr: number; base: number; smooth: number }

/** H(p) per row from log-probabilities. */
export function entropyPerSample(c: LossContext, logP: string): string {
  const { o } = c;
  return o.neg(o.reduceSum(o.mul(o.exp(logP), logP), [1], false));
}

/** (w_f, w_r) per sample from the entropies of the softened student and teacher. */
export function balanceWeights(c: LossContext, logPs: string, logPt: string, opt: BalanceOptions): { wf: string; wr: string; gate: string } {
  const { o } = c;
  const gap = o.sub(entropyPerSample(c, logPt), entropyPerSample(c, logPs)); // > 0: student more confident
  const gate = opt.smooth > 0 ? o.sigmoid(o.scale(gap, 1 / opt.smooth)) : o.cast(o.greater(gap, o.scalar(0)), 'float32');
  const ramp = (w: number, g: string) => o.add(o.scalar(opt.base), o.scale(g, w - opt.base));
  return { wf: ramp(opt.wf, gate), wr: ramp(opt.wr, o.sub(o.scalar(1), gate)), gate };
}

/** CE + T^2 (w_f KL(p_t||p_s) + w_r KL(p_s||p_t)) for the student; `teacher` is treated as fixed. */
export function bdkdStudentLoss(c: LossContext, student: string, teacher: string, T: number, opt: BalanceOptions) {
  const { o } = c;
  const logPs = o.logSoftmax(o.scale(student, 1 / T), 1);
  const logPt = o.logSoftmax(o.scale(teacher, 1 / T), 1);
  const { wf, wr, gate } = balanceWeights(c, logPs, logPt, opt);
  const forward = klPerSample(c, logPt, logPs), reverse = klPerSample(c, logPs, logPt);
  const soft = o.scale(o.add(o.mul(wf, forward), o.mul(wr, reverse)), T * T);
  const ce = crossEntropyPerSample(c, student);
  return { perSample: o.add(ce, soft), extra: { kl_forward: forward, kl_reverse: reverse, gate }, stop: [wf, wr, gate] };
}

/** The online teacher's loss: CE + beta T^2 KL(p_t || p_s), the student fixed. */
export function bdkdTeacherLoss(c: LossContext, teacher: string, student: string, T: number, beta: number): string {
  const { o } = c;
  const logPt = o.logSoftmax(o.scale(teacher, 1 / T), 1);
  const logPs = o.logSoftmax(o.scale(student, 1 / T), 1);
  return o.add(crossEntropyPerSample(c, teacher), o.scale(klPerSample(c, logPt, logPs), beta * T * T));
}

/** DML: CE(self) + T^2 KL(p_other || p_self), the other model fixed. */
export function mutualLoss(c: LossContext, self: string, other: string, T: number): string {
  const { o } = c;
  const logSelf = o.logSoftmax(o.scale(self, 1 / T), 1);
  const logOther = o.logSoftmax(o.scale(other, 1 / T), 1);
  return o.add(crossEntropyPerSample(c, self), o.scale(klPerSample(c, logOther, logSelf), T * T));
}
