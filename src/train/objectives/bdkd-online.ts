// Loss builders of bdkd (offline and --online) and dml, composed from bdkd.ts. Online,
// the teacher's logits are the joint model's output `teacher_logits` (online.ts); each
// model's loss sees a stop-gradient copy of the other's, and the per-sample loss is the
// sum of the two models' losses (their parameters are disjoint).
import type { LossBuilder, LossContext } from '../step.js';
import { bdkdStudentLoss, bdkdTeacherLoss, mutualLoss, type BalanceOptions } from './bdkd.js';

const balance = (o: Record<string, number>): BalanceOptions => ({ wf: o.bd_wf, wr: o.bd_wr, base: o.bd_base, smooth: o.bd_smooth });

/** detached copies of both models' logits (online), registered as stop-gradient values */
function fixedPair(c: LossContext): { s: string; t: string; stop: string[] } {
  const s = c.o.identity(c.outputs.logits), t = c.o.identity(c.outputs.teacher_logits);
  return { s, t, stop: [s, t] };
}

export function bdkdObjective(o: Record<string, number>, online: boolean): LossBuilder {
  return (c) => {
    const { outputs, data, batch, b } = c;
    if (!online) {
      const t = data('teacher_logits', 'float32', [batch, b.shape(outputs.logits)[1]]);
      return bdkdStudentLoss(c, outputs.logits, t, o.temperature, balance(o));
    }
    const fixed = fixedPair(c);
    const student = bdkdStudentLoss(c, outputs.logits, fixed.t, o.temperature, balance(o));
    const teacher = bdkdTeacherLoss(c, outputs.teacher_logits, fixed.s, o.temperature, o.bd_beta);
    return {
      perSample: c.o.add(student.perSample, teacher), stop: [...student.stop, ...fixed.stop],
      extra: { ...student.extra, student_loss: student.perSample, teacher_loss: teacher },
    };
  };
}

export function dmlObjective(T: number): LossBuilder {
  return (c) => {
    if (!c.outputs.teacher_logits) throw new Error('dml needs --online');
    const fixed = fixedPair(c);
    const student = mutualLoss(c, c.outputs.logits, fixed.t, T), teacher = mutualLoss(c, c.outputs.teacher_logits, fixed.s, T);
    return { perSample: c.o.add(student, teacher), stop: fixed.stop, extra: { student_loss: student, teacher_loss: teacher } };
  };
}
