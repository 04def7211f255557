// ce: cross-entropy with hard labels, per sample: -log softmax(s)_y.
// The baseline every distillation objective is compared against.
import type { LossBuilder } from '../step.js';

export const crossEntropy: LossBuilder = ({ b, o, data, outputs, batch }) => {
  const logits = outputs.logits;
  const labels = data('labels', 'int64', [batch]);
  const logp = o.logSoftmax(logits, 1);
  // log p[i, y_i] for each row i
  const picked = b.op('GatherElements', [logp, o.unsqueeze(labels, [1])], { axis: 1 });
  return { perSample: o.neg(o.squeeze(picked, [1])) };
};
