// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) with
// the update rule of PyTorch's torch.optim.AdamW (amsgrad=False), step t = 1, 2, ...:
//   p    = p * (1 - lr * wd)                (only for parameters with decay)
//   m    = b1 * m + (1 - b1) * g
//   v    = b2 * v + (1 - b2) * g^2
//   p    = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// which is p -= lr * mhat / (sqrt(vhat) + eps) evaluated in PyTorch's order.
// The bias corrections are computed in float64 from the float32 `step` and cast back:
// in float32, 1 - 0.999^1 carries a 1.3e-5 relative error (0.999 is not exact in
// float32), which PyTorch, computing them in Python doubles, does not have.
import type { Ops } from '../../graph/ops.js';
import type { Optimizer, ParamUpdateIn, ParamUpdateOut } from './types.js';
import { resolveHyper, checkRange, type Hyper } from './hyper.js';
import { castLike, ScalarCache } from './scalars.js';
import { UsageError } from '../../errors.js';

export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
export type AdamwHyper = typeof ADAMW_DEFAULTS;

export function createAdamw(given: Hyper = {}): Optimizer {
  const h = resolveHyper('adamw', ADAMW_DEFAULTS, given);
  checkRange('adamw', 'beta1', h.beta1, 0, 1, true);
  checkRange('adamw', 'beta2', h.beta2, 0, 1, true);
  checkRange('adamw', 'eps', h.eps, 0, Infinity);
  checkRange('adamw', 'weightDecay', h.weightDecay, 0, Infinity);
  const cache = new ScalarCache();
  return {
    name: 'adamw',
    hyper: Object.freeze({ ...h }),
    stateSlots: ['m', 'v'],
    update: (o, p, lr, step) => adamwUpdate(o, h, cache, p, lr, step),
  };
}

function adamwUpdate(o: Ops, h: AdamwHyper, cache: ScalarCache, p: ParamUpdateIn, lr: string, step: string): ParamUpdateOut {
  const { m, v } = p.state;
  if (!m || !v) throw new UsageError(`adamw: parameter '${p.param}' needs state 'm' and 'v'`, 'pass both (zeros at the start)');
  const dt = o.b.dtype(p.param);
  const lrP = cache.get(o, `lr|${lr}|${dt}`, () => castLike(o, lr, p.param));
  let param = p.param;
  if (p.decay && h.weightDecay > 0) {
    // decoupled decay: a scalar factor computed once per graph, then one Mul per element
    const factor = cache.get(o, `decay|${lr}|${dt}`, () => o.sub(o.scalarLike(1, lrP), o.scale(lrP, h.weightDecay)));
    param = o.mul(param, factor);
  }
  const g = p.grad;
  const m2 = o.add(o.scale(m, h.beta1), o.scale(g, 1 - h.beta1));
  const v2 = o.add(o.scale(v, h.beta2), o.scale(o.square(g), 1 - h.beta2));
  const { stepSize, bc2Sqrt } = cache.get(o, `bc|${lr}|${step}|${dt}`, () => {
    const bc = biasCorrections(o, h, step);
    return { stepSize: o.div(lrP, castLike(o, bc.bc1, p.param)), bc2Sqrt: castLike(o, bc.bc2Sqrt, p.param) };
  });
  const denom = o.add(o.div(o.sqrt(v2), bc2Sqrt), o.scalarLike(h.eps, p.param));
  param = o.sub(param, o.mul(stepSize, o.div(m2, denom)));
  return { param, state: { m: m2, v: v2 } };
}

/** 1 - b1^t and sqrt(1 - b2^t), computed in float64, returned as float32 scalars. */
function biasCorrections(o: Ops, h: AdamwHyper, step: string): { bc1: string; bc2Sqrt: string } {
  const t = o.cast(step, 'float64');
  const one = o.scalar(1, 'float64');
  const bc1 = o.sub(one, o.pow(o.scalar(h.beta1, 'float64'), t));
  const bc2Sqrt = o.sqrt(o.sub(one, o.pow(o.scalar(h.beta2, 'float64'), t)));
  return { bc1: o.cast(bc1, 'float32'), bc2Sqrt: o.cast(bc2Sqrt, 'float32') };
}
