// ce: cross-entropy with hard labels, per sample: -log softmax(s)_y.
// The baseline every distillation objective is compared against.
import type { LossBuilder, LossContext } from '../step.js';

/** -log softmax(logits)[y] for each row, reading the `labels` batch input. */
export function crossEntropyPerSample(c: LossContext, logits: string): string {
  const { b, o, data, batch } = c;
  const labels = data('labels', 'int64', [batch]);
  const logp = o.logSoftmax(logits, 1);
  const picked = b.op('GatherElements', [logp, o.unsqueeze(labels, [1])], { axis: 1 });
  return o.neg(o.squeeze(picked, [1]));
}

export const crossEntropy: LossBuilder = (c) => ({ perSample: crossEntropyPerSample(c, c.outputs.logits) });
