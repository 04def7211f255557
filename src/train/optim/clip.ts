// Global-norm gradient clipping with the semantics of PyTorch's
// torch.nn.utils.clip_grad_norm_(norm_type=2):
//   norm  = sqrt(sum_i sum(g_i^2))               (over all gradients together)
//   scale = min(1, maxNorm / (norm + 1e-6))
//   g_i   = g_i * scale                           (always multiplied, as PyTorch does)
// The norm is returned too so training can log it.
import type { Ops } from '../../graph/ops.js';
import { castLike } from './scalars.js';
import { UsageError } from '../../errors.js';

export interface ClipResult {
  /** the scaled gradients, in the order given */
  grads: string[];
  /** float32 scalar: the total norm before clipping */
  norm: string;
}

export function clipGlobalNorm(o: Ops, grads: string[], maxNorm: number): ClipResult {
  if (grads.length === 0) throw new UsageError('clipGlobalNorm: no gradients to clip', 'pass at least one gradient value');
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new UsageError(`clipGlobalNorm: maxNorm must be a positive finite number, got ${maxNorm}`,
      'use e.g. 1.0, or leave clipping off');
  }
  // Sums of squares are accumulated in float32 whatever the gradient dtype.
  const squares = grads.map((g) => {
    const s = o.reduceSumSquare(g, undefined, false);
    return o.b.dtype(s) === 'float32' ? s : o.cast(s, 'float32');
  });
  const total = squares.length === 1 ? squares[0] : o.b.op('Sum', squares);
  const norm = o.sqrt(total);
  const coef = o.div(o.scalar(maxNorm), o.add(norm, o.scalar(1e-6)));
  const scale = o.min(coef, o.scalar(1));
  return { grads: grads.map((g) => o.mul(g, castLike(o, scale, g))), norm };
}
