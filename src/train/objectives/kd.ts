// kd: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network" (2015).
//   L_i = alpha * CE(y_i, s_i) + (1 - alpha) * T^2 * KL( softmax(t_i/T) || softmax(s_i/T) )
// T^2 keeps the soft-target gradients on the scale of the hard-label ones as T grows.
// Without labels the loss is pure KD (alpha is treated as 0).
import type { LossBuilder, LossContext } from '../step.js';
import { crossEntropyPerSample } from './ce.js';

/** KL(p || q) per row from log-probabilities: sum_c p_c (log p_c - log q_c). */
export function klPerSample(c: LossContext, logP: string, logQ: string): string {
  const { o } = c;
  return o.reduceSum(o.mul(o.exp(logP), o.sub(logP, logQ)), [1], false);
}

/** The T^2-scaled soft-target term shared by KD-style objectives. */
export function softTargetKl(c: LossContext, studentLogits: string, teacherLogits: string, T: number): string {
  const { o } = c;
  const logPt = o.logSoftmax(o.scale(teacherLogits, 1 / T), 1);
  const logPs = o.logSoftmax(o.scale(studentLogits, 1 / T), 1);
  return o.scale(klPerSample(c, logPt, logPs), T * T);
}

export function hintonKd(alpha: number, T: number, hasLabels: boolean): LossBuilder {
  return (c) => {
    const { o, data, outputs, batch, b } = c;
    const s = outputs.logits;
    const t = data('teacher_logits', 'float32', [batch, b.shape(s)[1]]);
    const soft = softTargetKl(c, s, t, T);
    if (!hasLabels || alpha === 0) return { perSample: soft };
    const hard = crossEntropyPerSample(c, s);
    return { perSample: o.add(o.scale(hard, alpha), o.scale(soft, 1 - alpha)) };
  };
}
