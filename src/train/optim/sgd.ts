// SGD with momentum, Nesterov momentum and coupled (L2) weight decay, with the update
// rule of PyTorch's torch.optim.SGD (foreach=False), step t = 1, 2, ...:
//   g'  = g + wd * p                       (only for parameters with decay)
//   buf = g'                               at t = 1
//   buf = momentum * buf + (1 - dampening) * g'   at t > 1
//   d   = g' + momentum * buf   (nesterov)   or   d = buf   (momentum > 0)   or   d = g'
//   p   = p - lr * d
// The t = 1 case only differs from the general one when dampening != 0 (the state is
// zero-initialised, so momentum*0 + 1*g' == g' exactly); the Where on `step` is
// emitted only then, to keep the common graph small.
import type { Ops } from '../../graph/ops.js';
import type { Optimizer, ParamUpdateIn, ParamUpdateOut } from './types.js';
import { resolveHyper, checkRange, type Hyper } from './hyper.js';
import { castLike, ScalarCache } from './scalars.js';
import { UsageError } from '../../errors.js';

export const SGD_DEFAULTS = { momentum: 0.9, nesterov: false, weightDecay: 5e-4, dampening: 0 };
export type SgdHyper = typeof SGD_DEFAULTS;

export function createSgd(given: Hyper = {}): Optimizer {
  const h = resolveHyper('sgd', SGD_DEFAULTS, given);
  checkRange('sgd', 'momentum', h.momentum, 0, 1, true);
  checkRange('sgd', 'dampening', h.dampening, 0, 1);
  checkRange('sgd', 'weightDecay', h.weightDecay, 0, Infinity);
  if (h.nesterov && (h.momentum === 0 || h.dampening !== 0)) {
    throw new UsageError('sgd: Nesterov momentum needs momentum > 0 and dampening = 0',
      'set momentum (e.g. 0.9) and dampening=0, or nesterov=false');
  }
  const cache = new ScalarCache();
  return {
    name: 'sgd',
    hyper: Object.freeze({ ...h }),
    stateSlots: h.momentum > 0 ? ['momentum'] : [],
    update: (o, p, lr, step) => sgdUpdate(o, h, cache, p, lr, step),
  };
}

function sgdUpdate(o: Ops, h: SgdHyper, cache: ScalarCache, p: ParamUpdateIn, lr: string, step: string): ParamUpdateOut {
  let g = p.grad;
  if (p.decay && h.weightDecay > 0) g = o.add(g, o.scale(p.param, h.weightDecay));
  let d = g;
  const state: Record<string, string> = {};
  if (h.momentum > 0) {
    const buf = p.state.momentum;
    if (!buf) throw new UsageError(`sgd: parameter '${p.param}' has no 'momentum' state`, 'pass state.momentum (zeros at the start)');
    const gIn = h.dampening === 0 ? g : o.scale(g, 1 - h.dampening);
    let next = o.add(o.scale(buf, h.momentum), gIn);
    if (h.dampening !== 0) {
      // PyTorch starts the buffer as g' itself, undamped, on the first step.
      const first = cache.get(o, `first|${step}`, () => o.less(step, o.scalar(1.5, o.b.dtype(step))));
      next = o.where(first, g, next);
    }
    state.momentum = next;
    d = h.nesterov ? o.add(g, o.scale(next, h.momentum)) : next;
  }
  const lrP = cache.get(o, `lr|${lr}|${o.b.dtype(p.param)}`, () => castLike(o, lr, p.param));
  const param = o.sub(p.param, o.mul(lrP, d));
  return { param, state };
}
