// Gradient rules: activation family. Where a derivative is a function of the output
// (Relu, Sigmoid, Tanh, Softmax) it is built from y: the input can then be freed
// early, and ORT keeps fusing Conv+Relu because the Relu input has no other reader.
import { registerGrad, type GradCtx } from './registry.js';
import { attrFloat, attrInt, attrString } from '../ir.js';
import { toNumbers } from '../tensor.js';
import { GraphError } from '../../errors.js';

const unary = (c: GradCtx, f: (dy: string) => string) => [c.needs(0) ? f(c.dy[0]!) : undefined];

registerGrad('Relu', (c) => unary(c, (dy) => c.o.where(c.o.greater(c.y(0), c.o.scalarLike(0, dy)), dy, c.o.scalarLike(0, dy))));

// For alpha >= 0, y > 0 exactly where x > 0, so the output serves as the mask.
registerGrad('LeakyRelu', (c) => unary(c, (dy) => {
  const alpha = attrFloat(c.node, 'alpha', 0.01);
  const pos = c.o.greater(alpha >= 0 ? c.y(0) : c.x(0), c.o.scalarLike(0, dy));
  return c.o.where(pos, dy, c.o.scale(dy, alpha));
}));

// sigma' = y (1 - y)
registerGrad('Sigmoid', (c) => unary(c, (dy) => {
  const y = c.y(0);
  return c.o.mul(dy, c.o.sub(y, c.o.square(y)));
}));
// tanh' = 1 - y^2
registerGrad('Tanh', (c) => unary(c, (dy) => c.o.mul(dy, c.o.sub(c.o.scalarLike(1, dy), c.o.square(c.y(0))))));

// erf'(x) = 2/sqrt(pi) exp(-x^2)
registerGrad('Erf', (c) => unary(c, (dy) => {
  const x = c.x(0);
  return c.o.mul(dy, c.o.scale(c.o.exp(c.o.neg(c.o.square(x))), 2 / Math.sqrt(Math.PI)));
}));

// softplus(x) = log(1 + e^x); its derivative is the logistic sigmoid.
registerGrad('Softplus', (c) => unary(c, (dy) => c.o.mul(dy, c.o.sigmoid(c.x(0)))));

// Gelu is an ai.onnx op from opset 20 (onnxruntime-node 1.29 CPU runs it at opset
// 20; an opset-18 graph cannot contain it, use Erf/Tanh forms there).
// exact: y = x Phi(x), y' = Phi(x) + x phi(x)
// tanh:  y = x/2 (1 + t), t = tanh(k (x + a x^3)), y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2)
registerGrad('Gelu', (c) => unary(c, (dy) => {
  const x = c.x(0), o = c.o;
  const one = o.scalarLike(1, x);
  const approx = attrString(c.node, 'approximate', 'none');
  let d: string;
  if (approx === 'tanh') {
    const k = Math.sqrt(2 / Math.PI), a = 0.044715;
    const x2 = o.square(x);
    const t = o.tanh(o.scale(o.mul(x, o.add(one, o.scale(x2, a))), k));
    const dt = o.mul(o.sub(one, o.square(t)), o.scale(o.add(one, o.scale(x2, 3 * a)), k));
    d = o.scale(o.add(o.add(one, t), o.mul(x, dt)), 0.5);
  } else if (approx === 'none') {
    const cdf = o.scale(o.add(one, o.erf(o.scale(x, Math.SQRT1_2))), 0.5);
    const pdf = o.scale(o.exp(o.scale(o.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    d = o.add(cdf, o.mul(x, pdf));
  } else {
    throw new GraphError(`Gelu node '${c.node.name}': unknown approximate='${approx}'`, "use 'none' or 'tanh'");
  }
  return o.mul(dy, d);
}));

/** The softmax axis (normalised); before opset 13 only the last axis means the same thing. */
function softmaxAxis(c: GradCtx): number {
  const r = c.shape(c.x(0)).length;
  const old = c.b.opset < 13;
  const raw = attrInt(c.node, 'axis', old ? 1 : -1);
  const axis = raw < 0 ? raw + r : raw;
  if (old && axis !== r - 1) {
    throw new GraphError(
      `${c.node.opType} node '${c.node.name}': opset ${c.b.opset} ${c.node.opType} with axis ${raw} on rank ${r} ` +
      'flattens the trailing axes into one, which this gradient rule does not support',
      'upgrade the model to opset 13 or later, or reshape so the softmax axis is the last one');
  }
  return axis;
}

// softmax: dx = y (dy - sum(dy y)) along the axis
registerGrad('Softmax', (c) => unary(c, (dy) => {
  const y = c.y(0);
  const dyy = c.o.mul(dy, y);
  return c.o.mul(y, c.o.sub(dy, c.o.reduceSum(dyy, [softmaxAxis(c)], true)));
}));
// log-softmax: dx = dy - softmax(x) sum(dy), with softmax(x) = exp(y)
registerGrad('LogSoftmax', (c) => unary(c, (dy) => {
  const s = c.o.reduceSum(dy, [softmaxAxis(c)], true);
  return c.o.sub(dy, c.o.mul(c.o.exp(c.y(0)), s));
}));

/** A constant input's numbers, or undefined when absent or computed at run time. */
function constInput(c: GradCtx, i: number): number[] | undefined {
  const name = c.x(i);
  const t = name ? c.b.constValue(name) : undefined;
  return t ? toNumbers(t) : undefined;
}

// Dropout: y = x * mask / (1 - ratio) when training, y = x otherwise. The random mask
// cannot be recomputed, so training mode needs the node's mask output. Before opset
// 12 Dropout has no training flag and runs as the identity.
registerGrad('Dropout', (c) => unary(c, (dy) => {
  if (c.b.opset < 12 || !c.x(2)) return dy;
  const flag = constInput(c, 2);
  if (flag && flag[0] === 0) return dy;
  const ratio = c.x(1) ? constInput(c, 1) : [0.5];
  if (ratio && ratio[0] === 0) return dy;
  const mask = c.y(1);
  if (!mask) {
    throw new GraphError(`Dropout node '${c.node.name}' runs in training mode without a mask output, so its gradient is unknown`,
      'give the node a second output (the mask) before differentiating');
  }
  let scale = ratio ? c.o.scalarLike(1 / (1 - ratio[0]), dy)
    : c.o.reciprocal(c.o.sub(c.o.scalarLike(1, dy), c.b.dtype(c.x(1)) === c.b.dtype(dy) ? c.x(1) : c.o.cast(c.x(1), c.b.dtype(dy))));
  // a run-time training flag: the scale applies only when it is true (the mask is all true otherwise)
  if (!flag) scale = c.o.where(c.x(2), scale, c.o.scalarLike(1, dy));
  return c.o.where(mask, c.o.mul(dy, scale), c.o.scalarLike(0, dy));
}));
