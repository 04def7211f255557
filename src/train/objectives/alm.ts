// alm: "ALM-KD: Knowledge Distillation with noisy labels via adaptive loss mixing"
// (Sarfraz et al., arXiv 2202.03250; later "Adaptive Mixing of Auxiliary Losses in
// Supervised Learning", AMAL). For noisy labels, one or more teachers.
//
//   L_i = w_i0 * CE(y_i, s_i) + sum_m w_im * T^2 * KL(softmax(t_im/T) || softmax(s_i/T))
//
// averaged over the batch. The per-sample weights come from a table over the N training
// samples (the `alm_weights` batch input, [B, 1+M]), meta-learned between epochs on a
// clean validation split by a one-step lookahead of the student's last linear layer
// (alm-meta.ts builds that graph, ../alm-run.ts runs it and owns the table). Initial
// values: lambda_im = 0.9 and lambda_i0 = 1 - max_m lambda_im; lambda in [0, 2]. With
// `convex` (the first version of the paper) the table holds lambda_im in [0, 1] and the
// weights are (1 - sum_m lambda_im, lambda_i1, ...), i.e. (1 - lambda, lambda) for one teacher.
import type { LossBuilder } from '../step.js';
import { crossEntropyPerSample } from './ce.js';
import { softTargetKl } from './kd.js';

/** batch input name of teacher m's logits (0-based): the first is the usual `teacher_logits` */
export const teacherLogitsInput = (m: number) => (m === 0 ? 'teacher_logits' : `teacher_logits_${m + 1}`);

export function almLoss(temperature: number, teachers: number): LossBuilder {
  return (c) => {
    const { o, data, outputs, batch, b } = c;
    const s = outputs.logits;
    const C = b.shape(s)[1] as number;
    const w = data('alm_weights', 'float32', [batch, 1 + teachers]);
    const column = (j: number) => o.squeeze(o.slice(w, [j], [j + 1], [1]), [1]);
    const ce = crossEntropyPerSample(c, s);
    let perSample = o.mul(column(0), ce);
    const extra: Record<string, string> = { ce };
    for (let m = 0; m < teachers; m++) {
      const kl = softTargetKl(c, s, data(teacherLogitsInput(m), 'float32', [batch, C]), temperature);
      extra[`kd_${m + 1}`] = kl;
      perSample = o.add(perSample, o.mul(column(1 + m), kl));
    }
    return { perSample, extra };
  };
}
