// Gradient rules: norm family (BatchNormalization, LayerNormalization).
// Statistics are recomputed from X in the backward pass (cheap reductions) rather than
// read from optional outputs, so the rules work whatever outputs the forward node has.
import { attrFloat, attrInt, numel } from '../ir.js';
import { normAxis } from '../shapes.js';
import { registerGrad, type GradCtx } from './registry.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => i + from);

/** mean, centred input and 1/sqrt(var + eps) over `axes` (kept as size-1 axes). */
function moments(c: GradCtx, x: string, axes: number[], eps: number, mean?: string, variance?: string) {
  const { o } = c;
  const mu = mean ?? o.reduceMean(x, axes, true);
  const xc = o.sub(x, mu);
  const v = variance ?? o.reduceMean(o.mul(xc, xc), axes, true);
  const inv = o.reciprocal(o.sqrt(o.add(v, o.scalarLike(eps, x))));
  return { xc, inv };
}

// Per-channel parameters [C] as [1, C, 1, ...] so they broadcast against X [N, C, ...].
function perChannel(c: GradCtx, p: string, rank: number): string {
  return c.o.unsqueeze(p, [0, ...range(2, rank)]);
}

// Y = scale * (X - mu) * inv + B with inv = 1/sqrt(var + eps), per channel.
// Training form (training_mode=1, or a pre-14 node with the extra outputs): mu and
// var are the batch mean and biased variance, and with xc = X - mu, M = N * H * W...,
//   dX = scale * inv * (dY - (sum(dY) + xc * inv^2 * sum(dY * xc)) / M) = k * dY + a * xc + b
// with per-channel k = scale * inv, a = -k * inv^2 * sum(dY * xc) / M, b = -k * sum(dY) / M
// (see trainingGrad). The running-statistics outputs carry no gradient, nor do
// input_mean / input_var.
// Inference form: mu and var are the inputs, so dX = scale * inv * dY and
//   dmean = -scale * inv * sum(dY),  dvar = -scale * inv^3 / 2 * sum(dY * (X - mu)).
registerGrad('BatchNormalization', (c) => {
  const { o } = c;
  const x = c.x(0), scale = c.x(1);
  const dy = c.dy[0];
  if (!dy) return [];
  const sx = c.shape(x), r = sx.length, C = sx[1];
  const axes = [0, ...range(2, r)];
  const eps = attrFloat(c.node, 'epsilon', 1e-5);
  const training = attrInt(c.node, 'training_mode', 0) === 1 || c.node.outputs.filter((n) => n).length > 1;
  if (training) return trainingGrad(c, x, scale, dy, axes, eps);
  const scaleB = perChannel(c, scale, r);
  const { xc, inv } = moments(c, x, axes, eps, perChannel(c, c.x(3), r), perChannel(c, c.x(4), r));
  const sumDy = o.reduceSum(dy, axes, true);
  const sumDyXc = o.reduceSum(o.mul(dy, xc), axes, true);
  const k = o.mul(scaleB, inv);
  const flat = (t: string) => o.reshape(t, [C]);
  return [
    c.needs(0) ? o.mul(dy, k) : undefined,
    c.needs(1) ? flat(o.mul(sumDyXc, inv)) : undefined,
    c.needs(2) ? flat(sumDy) : undefined,
    c.needs(3) ? flat(o.neg(o.mul(sumDy, k))) : undefined,
    c.needs(4) ? flat(o.mul(sumDyXc, o.mul(k, o.scale(o.mul(inv, inv), -0.5)))) : undefined,
  ];
});

// The training-form backward with per-channel coefficients: 6 full-tensor writes (xc,
// dY * xc, xc * xc, k * dY, the affine, the sum) and 4 reductions instead of 9 and 4;
// everything else is [C]. a * xc + b is one BatchNormalization in inference form
// (mean 0, var 1 - eps with the default eps 1e-5, which cuDNN accepts too:
// sqrt(var + eps) = 1 exactly in float32).
// The centred xc is kept for the variance and for sum(dY * xc): E[X^2] - mu^2 and
// sum(dY * X) - mu * sum(dY) cancel badly in float32 once |mu| is ~100 times the
// spread (the large-mean gradient check fails with them). ReduceSumSquare(xc) would save
// the xc * xc write but is a slower kernel in onnxruntime 1.29 (docs/benchmarks.md).
function trainingGrad(c: GradCtx, x: string, scale: string, dy: string, axes: number[], eps: number) {
  const { o } = c;
  const sx = c.shape(x), r = sx.length, C = sx[1], M = numel(sx) / C, dt = c.b.dtype(x);
  const mu = o.reduceMean(x, axes, false);
  const xc = o.sub(x, perChannel(c, mu, r));
  const inv = o.reciprocal(o.sqrt(o.add(o.reduceMean(o.mul(xc, xc), axes, false), o.scalarLike(eps, x))));
  const sumDy = o.reduceSum(dy, axes, false);
  const sumDyXhat = o.mul(o.reduceSum(o.mul(dy, xc), axes, false), inv);
  let gx: string | undefined;
  if (c.needs(0)) {
    const k = o.mul(scale, inv);
    const a = o.mul(o.mul(k, inv), o.scale(sumDyXhat, -1 / M));
    const b = o.scale(o.mul(k, sumDy), -1 / M);
    const fill = (v: number) => o.floats(new Array(C).fill(v), [C], dt);
    const affine = c.b.op('BatchNormalization', [xc, a, b, fill(0), fill(1 - 1e-5)]);
    gx = o.add(o.mul(dy, perChannel(c, k, r)), affine);
  }
  return [gx, c.needs(1) ? sumDyXhat : undefined, c.needs(2) ? sumDy : undefined];
}

// Y = Scale * xhat + B with xhat = (X - mu) * inv over the axes [axis, rank), D values each.
//   dX = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dY * Scale
// plus, when the optional Mean / InvStdDev outputs are used downstream,
//   dX += dMean / D  and  dX += dInv * (-inv^3) * (X - mu) / D.
registerGrad('LayerNormalization', (c) => {
  const { o } = c;
  const x = c.x(0), scale = c.x(1), bias = c.x(2);
  const [dy, dMean, dInv] = c.dy;
  const sx = c.shape(x), r = sx.length;
  const ax = normAxis(attrInt(c.node, 'axis', -1), r);
  const axes = range(ax, r);
  const D = numel(sx.slice(ax));
  const { xc, inv } = moments(c, x, axes, attrFloat(c.node, 'epsilon', 1e-5));
  const xhat = o.mul(xc, inv);
  const terms: string[] = [];
  if (dy && c.needs(0)) {
    const dxhat = o.mul(dy, scale);
    const m1 = o.reduceMean(dxhat, axes, true);
    const m2 = o.reduceMean(o.mul(dxhat, xhat), axes, true);
    terms.push(o.mul(inv, o.sub(o.sub(dxhat, m1), o.mul(xhat, m2))));
  }
  if (dMean && c.needs(0)) terms.push(o.expand(o.scale(dMean, 1 / D), sx));
  if (dInv && c.needs(0)) terms.push(o.mul(o.mul(dInv, o.scale(o.mul(inv, o.mul(inv, inv)), -1 / D)), xc));
  const gx = terms.length === 0 ? undefined : terms.length === 1 ? terms[0] : c.b.op('Sum', terms);
  return [
    gx,
    dy && c.needs(1) ? c.unbroadcast(o.mul(dy, xhat), c.shape(scale)) : undefined,
    dy && bias && c.needs(2) ? c.unbroadcast(dy, c.shape(bias)) : undefined,
  ];
});
