// Gradient rules: reductions. Each rule brings dy back to the keepdims shape (Unsqueeze
// of the reduced axes when keepdims = 0) and lets broadcasting spread it over x.
// Axes come from the `axes` attribute (old opsets) or the constant second input
// (ReduceSum from 13, the rest from 18); none or empty means all axes unless
// noop_with_empty_axes = 1, in which case nothing is reduced.
import { registerGrad, type GradCtx } from './registry.js';
import { attrInt, attrInts } from '../ir.js';
import { toNumbers } from '../tensor.js';
import { GraphError } from '../../errors.js';

interface Red {
  x: string;
  xs: number[];
  /** reduced axes, normalised and sorted; empty for a no-op reduction */
  axes: number[];
  /** dy with the reduced axes kept as size 1 */
  dyk: string;
  /** the forward output with the reduced axes kept as size 1 */
  yk(): string;
  /** elements reduced into each output element */
  count: number;
}

function reduction(c: GradCtx): Red {
  const x = c.x(0), xs = c.shape(x), r = xs.length;
  let axes = attrInts(c.node, 'axes');
  if (!axes && c.x(1)) {
    const t = c.b.constValue(c.x(1));
    if (!t) {
      throw new GraphError(`${c.node.opType} node '${c.node.name}': axes '${c.x(1)}' are computed at run time`,
        'make the axes a constant (initializer) before differentiating');
    }
    axes = toNumbers(t);
  }
  if (!axes || axes.length === 0) axes = attrInt(c.node, 'noop_with_empty_axes', 0) === 1 ? [] : xs.map((_, i) => i);
  const norm = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((a, b) => a - b);
  const keep = attrInt(c.node, 'keepdims', 1) === 1 || norm.length === 0;
  const restore = (v: string) => (keep ? v : c.o.unsqueeze(v, norm));
  let yk: string | undefined;
  return {
    x, xs, axes: norm,
    dyk: restore(c.dy[0]!),
    yk: () => (yk ??= restore(c.y(0))),
    count: norm.reduce((n, a) => n * xs[a], 1),
  };
}

/** Broadcast g (keepdims shape) to x's shape, unless it already is. */
function spread(c: GradCtx, g: string, xs: number[]): string {
  const gs = c.shape(g);
  return gs.length === xs.length && gs.every((d, i) => d === xs[i]) ? g : c.o.expand(g, xs);
}

function rule(f: (c: GradCtx, r: Red) => string) {
  return (c: GradCtx) => [c.needs(0) ? f(c, reduction(c)) : undefined];
}

registerGrad('ReduceSum', rule((c, r) => spread(c, r.dyk, r.xs)));
registerGrad('ReduceMean', rule((c, r) => spread(c, r.count === 1 ? r.dyk : c.o.scale(r.dyk, 1 / r.count), r.xs)));

// Max/Min: the gradient goes to the positions equal to the result; ties share it
// evenly (like torch.amax), so the gradient still sums to dy.
function extremum(c: GradCtx, r: Red): string {
  if (r.axes.length === 0) return r.dyk;
  const mask = c.o.cast(c.o.equal(r.x, r.yk()), c.b.dtype(r.dyk));
  const ties = c.o.reduceSum(mask, r.axes, true);
  return c.o.mul(mask, c.o.div(r.dyk, ties));
}
registerGrad('ReduceMax', rule(extremum));
registerGrad('ReduceMin', rule(extremum));

// sum x^2 -> 2 x
registerGrad('ReduceSumSquare', rule((c, r) => c.o.mul(c.o.scale(r.dyk, 2), r.x)));

// sqrt(sum x^2) -> x / y; where y = 0 (all of x zero) the subgradient 0 is used,
// as torch.norm does, instead of 0/0.
registerGrad('ReduceL2', rule((c, r) => {
  const yk = r.yk(), zero = c.o.scalarLike(0, yk);
  const safe = c.o.where(c.o.equal(yk, zero), zero, c.o.div(r.dyk, yk));
  return c.o.mul(r.x, safe);
}));

// sum |x| -> sign(x)
registerGrad('ReduceL1', rule((c, r) => c.o.mul(r.dyk, c.o.sign(r.x))));

// log sum exp x -> exp(x - y) = softmax over the reduced axes
registerGrad('ReduceLogSumExp', rule((c, r) => c.o.mul(r.dyk, c.o.exp(c.o.sub(r.x, r.yk())))));

// log sum x -> 1 / sum x = exp(-y)
registerGrad('ReduceLogSum', rule((c, r) => spread(c, c.o.mul(r.dyk, c.o.exp(c.o.neg(r.yk()))), r.xs)));
