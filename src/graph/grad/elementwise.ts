// Gradient rules: elementwise family (arithmetic, Max/Min, variadic Sum/Mean, Where,
// Identity, Cast, Clip). Binary ops broadcast multidirectionally, so every input
// gradient is summed back to that input's shape with c.unbroadcast.
import { registerGrad, type GradCtx } from './registry.js';
import { attrFloat, attrInt } from '../ir.js';
import { dtypeOfCode, isFloatDType } from '../tensor.js';

/** Gradient for input i when it needs one: `make()` at output shape, summed to x(i)'s shape. */
function to(c: GradCtx, i: number, make: () => string): string | undefined {
  return c.needs(i) ? c.unbroadcast(make(), c.shape(c.x(i))) : undefined;
}

/** Value of `name` in the dtype of `like` (Pow's exponent may be an integer tensor). */
function castLike(c: GradCtx, name: string, like: string): string {
  const dt = c.b.dtype(like);
  return c.b.dtype(name) === dt ? name : c.o.cast(name, dt);
}

registerGrad('Add', (c) => {
  const dy = c.dy[0]!;
  return [to(c, 0, () => dy), to(c, 1, () => dy)];
});

registerGrad('Sub', (c) => {
  const dy = c.dy[0]!;
  return [to(c, 0, () => dy), to(c, 1, () => c.o.neg(dy))];
});

registerGrad('Mul', (c) => {
  const dy = c.dy[0]!;
  return [to(c, 0, () => c.o.mul(dy, c.x(1))), to(c, 1, () => c.o.mul(dy, c.x(0)))];
});

// y = a / b: dy/db = -a / b^2 = -y / b, which reuses the forward output.
registerGrad('Div', (c) => {
  const dy = c.dy[0]!;
  const g = c.needs(0) || c.needs(1) ? c.o.div(dy, c.x(1)) : '';
  return [to(c, 0, () => g), to(c, 1, () => c.o.neg(c.o.mul(g, c.y(0))))];
});

registerGrad('Neg', (c) => [c.needs(0) ? c.o.neg(c.dy[0]!) : undefined]);
registerGrad('Exp', (c) => [c.needs(0) ? c.o.mul(c.dy[0]!, c.y(0)) : undefined]);
registerGrad('Log', (c) => [c.needs(0) ? c.o.div(c.dy[0]!, c.x(0)) : undefined]);
// d sqrt(x) = 1 / (2 sqrt(x)): uses y, no second square root.
registerGrad('Sqrt', (c) => [c.needs(0) ? c.o.div(c.o.scale(c.dy[0]!, 0.5), c.y(0)) : undefined]);
// Sign(0) = 0: the zero subgradient at the kink, as PyTorch.
registerGrad('Abs', (c) => [c.needs(0) ? c.o.mul(c.dy[0]!, c.o.sign(c.x(0))) : undefined]);
// d(1/x) = -1/x^2 = -y^2.
registerGrad('Reciprocal', (c) => [c.needs(0) ? c.o.neg(c.o.mul(c.dy[0]!, c.o.square(c.y(0)))) : undefined]);

// y = a^b: dy/da = b a^(b-1) (pow keeps a = 0 finite for b >= 1), dy/db = y ln a
// (defined for a > 0 only; NaN for negative bases, like every framework).
registerGrad('Pow', (c) => {
  const dy = c.dy[0]!, a = c.x(0);
  return [
    to(c, 0, () => {
      const e = castLike(c, c.x(1), a);
      return c.o.mul(dy, c.o.mul(e, c.o.pow(a, c.o.sub(e, c.o.scalarLike(1, e)))));
    }),
    to(c, 1, () => castLike(c, c.o.mul(dy, c.o.mul(c.y(0), c.o.log(a))), c.x(1))),
  ];
});

// Max/Min (variadic, broadcasting): inputs that attain y share the gradient evenly,
// so ties split it (torch.maximum gives each of two tied inputs dy/2). The counts
// are at least 1 wherever y is defined, so the division is safe.
function extremum(c: GradCtx): (string | undefined)[] {
  const dy = c.dy[0]!, y = c.y(0);
  const n = c.node.inputs.length;
  if (n === 1) return [c.needs(0) ? dy : undefined];
  const dt = c.b.dtype(dy);
  const masks = c.node.inputs.map((x) => c.o.cast(c.o.equal(x, y), dt));
  const share = c.o.div(dy, c.b.op('Sum', masks));
  return c.node.inputs.map((_, i) => to(c, i, () => c.o.mul(share, masks[i])));
}
registerGrad('Max', extremum);
registerGrad('Min', extremum);

registerGrad('Sum', (c) => c.node.inputs.map((_, i) => to(c, i, () => c.dy[0]!)));
registerGrad('Mean', (c) => {
  const n = c.node.inputs.length;
  let g: string | undefined;
  const scaled = () => (g ??= n === 1 ? c.dy[0]! : c.o.scale(c.dy[0]!, 1 / n));
  return c.node.inputs.map((_, i) => to(c, i, scaled));
});

// Where(cond, a, b): the condition is boolean and gets no gradient.
registerGrad('Where', (c) => {
  const dy = c.dy[0]!, cond = c.x(0);
  const zero = () => c.o.scalarLike(0, dy);
  return [undefined, to(c, 1, () => c.o.where(cond, dy, zero())), to(c, 2, () => c.o.where(cond, zero(), dy))];
});

registerGrad('Identity', (c) => [c.needs(0) ? c.dy[0] : undefined]);

// Cast between float types: the gradient goes back to the input's dtype. A cast to
// an integer or bool type is piecewise constant and stops the gradient.
registerGrad('Cast', (c) => {
  if (!c.needs(0)) return [undefined];
  const from = c.b.dtype(c.x(0));
  const toType = dtypeOfCode(attrInt(c.node, 'to', 1));
  if (!toType || !isFloatDType(toType)) return [undefined];
  const dy = c.dy[0]!;
  return [c.b.dtype(dy) === from ? dy : c.o.cast(dy, from)];
});

// Clip: y = min(max(x, lo), hi). Boundary convention (as torch.clamp): x passes the
// gradient where lo <= x <= hi, inclusive; lo gets it where x < lo, hi where x > hi.
// Old opsets (< 11) give lo/hi as float attributes, newer ones as optional inputs.
registerGrad('Clip', (c) => {
  const dy = c.dy[0]!, x = c.x(0);
  const bound = (i: number, attr: string, dflt: number): string | undefined => {
    if (c.x(i)) return c.x(i);
    if (!c.node.attrs[attr]) return undefined;
    return c.o.scalarLike(attrFloat(c.node, attr, dflt), x);
  };
  const lo = bound(1, 'min', -3.4028234663852886e38), hi = bound(2, 'max', 3.4028234663852886e38);
  const zero = () => c.o.scalarLike(0, dy);
  const below = lo ? c.o.less(x, lo) : undefined;
  const above = hi ? c.o.greater(x, hi) : undefined;
  let inside: string | undefined;
  if (below && above) inside = c.o.not(c.b.op('Or', [below, above]));
  else inside = below ? c.o.not(below) : above ? c.o.not(above) : undefined;
  const dx = c.needs(0) ? (inside ? c.o.where(inside, dy, zero()) : dy) : undefined;
  // bounds are scalars: their gradient is the sum over the clipped elements
  const dlo = c.needs(1) ? c.unbroadcast(c.o.where(below!, dy, zero()), c.shape(c.x(1))) : undefined;
  const dhi = c.needs(2) ? c.unbroadcast(c.o.where(above!, dy, zero()), c.shape(c.x(2))) : undefined;
  return [dx, dlo, dhi];
});
