// Typed helpers over Builder for the ops the engine emits (opset 18 forms:
// Reduce*/Squeeze/Unsqueeze/Slice/Split/Pad take axes and sizes as inputs).
import type { Builder } from './builder.js';
import type { DType } from './ir.js';
import { A } from './ir.js';
import { tensor, dtypeCode } from './tensor.js';

export class Ops {
  constructor(readonly b: Builder) {}

  // ------------------------------------------------------------ constants
  /** float constant of the given dtype (default float32); scalar when `dims` omitted */
  scalar(v: number, dtype: DType = 'float32'): string {
    return this.b.constant(tensor(dtype, [], [v]), 'c');
  }
  /** float constant shaped like `like`'s dtype, as a scalar */
  scalarLike(v: number, like: string): string {
    return this.scalar(v, this.b.dtype(like));
  }
  floats(values: number[], dims = [values.length], dtype: DType = 'float32'): string {
    return this.b.constant(tensor(dtype, dims, values), 'c');
  }
  ints(values: number[]): string {
    return this.b.constant(tensor('int64', [values.length], values), 'c_i64');
  }
  int(v: number): string {
    return this.b.constant(tensor('int64', [], [v]), 'c_i64');
  }

  // ------------------------------------------------------------ elementwise
  add(a: string, c: string) { return this.b.op('Add', [a, c]); }
  sub(a: string, c: string) { return this.b.op('Sub', [a, c]); }
  mul(a: string, c: string) { return this.b.op('Mul', [a, c]); }
  div(a: string, c: string) { return this.b.op('Div', [a, c]); }
  pow(a: string, c: string) { return this.b.op('Pow', [a, c]); }
  neg(x: string) { return this.b.op('Neg', [x]); }
  exp(x: string) { return this.b.op('Exp', [x]); }
  log(x: string) { return this.b.op('Log', [x]); }
  sqrt(x: string) { return this.b.op('Sqrt', [x]); }
  abs(x: string) { return this.b.op('Abs', [x]); }
  sign(x: string) { return this.b.op('Sign', [x]); }
  reciprocal(x: string) { return this.b.op('Reciprocal', [x]); }
  relu(x: string) { return this.b.op('Relu', [x]); }
  sigmoid(x: string) { return this.b.op('Sigmoid', [x]); }
  tanh(x: string) { return this.b.op('Tanh', [x]); }
  erf(x: string) { return this.b.op('Erf', [x]); }
  max(a: string, c: string) { return this.b.op('Max', [a, c]); }
  min(a: string, c: string) { return this.b.op('Min', [a, c]); }
  identity(x: string) { return this.b.op('Identity', [x]); }
  where(cond: string, a: string, c: string) { return this.b.op('Where', [cond, a, c]); }
  equal(a: string, c: string) { return this.b.op('Equal', [a, c]); }
  greater(a: string, c: string) { return this.b.op('Greater', [a, c]); }
  less(a: string, c: string) { return this.b.op('Less', [a, c]); }
  not(x: string) { return this.b.op('Not', [x]); }
  and(a: string, c: string) { return this.b.op('And', [a, c]); }
  cast(x: string, to: DType) { return this.b.op('Cast', [x], { to: dtypeCode(to) }); }
  /** x * s for a JS number s (constant of x's dtype) */
  scale(x: string, s: number) { return this.mul(x, this.scalarLike(s, x)); }
  square(x: string) { return this.mul(x, x); }

  // ------------------------------------------------------------ linear algebra
  matmul(a: string, c: string) { return this.b.op('MatMul', [a, c]); }
  gemm(a: string, c: string, bias?: string, opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}) {
    return this.b.op('Gemm', bias ? [a, c, bias] : [a, c], {
      transA: opts.transA ? 1 : undefined,
      transB: opts.transB ? 1 : undefined,
      alpha: opts.alpha !== undefined ? A.float(opts.alpha) : undefined,
      beta: opts.beta !== undefined ? A.float(opts.beta) : undefined,
    });
  }

  // ------------------------------------------------------------ reductions (axes as input, opset 18)
  private reduce(op: string, x: string, axes: number[] | undefined, keepdims: boolean) {
    return this.b.op(op, axes ? [x, this.ints(axes)] : [x], { keepdims: keepdims ? 1 : 0 });
  }
  reduceSum(x: string, axes?: number[], keepdims = true) { return this.reduce('ReduceSum', x, axes, keepdims); }
  reduceMean(x: string, axes?: number[], keepdims = true) { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceMax(x: string, axes?: number[], keepdims = true) { return this.reduce('ReduceMax', x, axes, keepdims); }
  reduceSumSquare(x: string, axes?: number[], keepdims = true) { return this.reduce('ReduceSumSquare', x, axes, keepdims); }

  softmax(x: string, axis = -1) { return this.b.op('Softmax', [x], { axis }); }
  logSoftmax(x: string, axis = -1) { return this.b.op('LogSoftmax', [x], { axis }); }

  // ------------------------------------------------------------ layout
  reshape(x: string, shape: number[]) { return this.b.op('Reshape', [x, this.ints(shape)]); }
  transpose(x: string, perm: number[]) { return this.b.op('Transpose', [x], { perm }); }
  flatten(x: string, axis = 1) { return this.b.op('Flatten', [x], { axis }); }
  squeeze(x: string, axes: number[]) { return this.b.op('Squeeze', [x, this.ints(axes)]); }
  unsqueeze(x: string, axes: number[]) { return this.b.op('Unsqueeze', [x, this.ints(axes)]); }
  concat(xs: string[], axis: number) { return this.b.op('Concat', xs, { axis }); }
  expand(x: string, shape: number[]) { return this.b.op('Expand', [x, this.ints(shape)]); }
  slice(x: string, starts: number[], ends: number[], axes?: number[], steps?: number[]) {
    const ins = [x, this.ints(starts), this.ints(ends)];
    if (axes || steps) ins.push(axes ? this.ints(axes) : '');
    if (steps) ins.push(this.ints(steps));
    return this.b.op('Slice', ins);
  }
  pad(x: string, pads: number[], mode: 'constant' | 'reflect' | 'edge' = 'constant') {
    return this.b.op('Pad', [x, this.ints(pads)], mode === 'constant' ? {} : { mode });
  }
  gather(x: string, indices: string, axis = 0) { return this.b.op('Gather', [x, indices], { axis }); }
  shapeOf(x: string) { return this.b.op('Shape', [x]); }
  /** zeros with the shape and dtype of `like` (static shapes) */
  zerosLike(like: string) {
    return this.b.constant(tensor(this.b.dtype(like), this.b.shape(like), new Array(this.b.shape(like).reduce((a, d) => a * d, 1)).fill(0)), 'zeros');
  }
}

export function ops(b: Builder): Ops {
  return new Ops(b);
}
