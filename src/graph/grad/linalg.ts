// Gradient rules: linalg family (MatMul, Gemm).
import { attrFloat, attrInt } from '../ir.js';
import { registerGrad, type GradCtx } from './registry.js';

/** Swap the last two axes of a rank >= 2 value. */
function transposeLast2(c: GradCtx, x: string): string {
  const r = c.shape(x).length;
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return c.o.transpose(x, perm);
}

// Y = A @ B with numpy semantics: a 1-D A is [1,K] (row), a 1-D B is [K,1] (column),
// the promoted axis is dropped from Y, and batch axes broadcast.
// dA = dY @ B^T and dB = A^T @ dY on the promoted shapes, summed over broadcast batch axes.
registerGrad('MatMul', (c) => {
  const { o } = c;
  const [a, bb] = [c.x(0), c.x(1)];
  const sa = c.shape(a), sb = c.shape(bb);
  const dy = c.dy[0]!;
  if (sa.length === 1 && sb.length === 1) {
    // dot product: Y is a scalar
    return [c.needs(0) ? o.mul(dy, bb) : undefined, c.needs(1) ? o.mul(dy, a) : undefined];
  }
  const a2 = sa.length === 1 ? o.unsqueeze(a, [0]) : a;
  const b2 = sb.length === 1 ? o.unsqueeze(bb, [1]) : bb;
  const sa2 = c.shape(a2), sb2 = c.shape(b2);
  // dY on the promoted shape [..., M, N]
  let dy2 = dy;
  if (sa.length === 1) dy2 = o.unsqueeze(dy2, [c.shape(dy2).length - 1]);
  else if (sb.length === 1) dy2 = o.unsqueeze(dy2, [c.shape(dy2).length]);
  const sdy = c.shape(dy2);

  let ga: string | undefined;
  if (c.needs(0)) {
    ga = c.unbroadcast(o.matmul(dy2, transposeLast2(c, b2)), sa2);
    if (sa.length === 1) ga = o.reshape(ga, sa);
  }
  let gb: string | undefined;
  if (c.needs(1)) {
    if (sb2.length === 2 && sa2.length > 2) {
      // B shared across A's batch (a Linear layer on tokens): A's batch axes are Y's,
      // so dB = A_flat^T @ dY_flat is one MatMul instead of a batched one plus a sum.
      const K = sa2[sa2.length - 1], N = sdy[sdy.length - 1];
      gb = o.matmul(o.transpose(o.reshape(a2, [-1, K]), [1, 0]), o.reshape(dy2, [-1, N]));
    } else {
      gb = c.unbroadcast(o.matmul(transposeLast2(c, a2), dy2), sb2);
    }
    if (sb.length === 1) gb = o.reshape(gb, sb);
  }
  return [ga, gb];
});

// Y = alpha * A' @ B' + beta * C with A' = transA ? A^T : A, B' = transB ? B^T : B.
// dA' = alpha dY B'^T, dB' = alpha A'^T dY; transposing back folds into Gemm's own
// trans flags, so each gradient is one Gemm. dC = beta * dY summed to C's shape.
registerGrad('Gemm', (c) => {
  const { o } = c;
  const ta = attrInt(c.node, 'transA', 0) === 1, tb = attrInt(c.node, 'transB', 0) === 1;
  const alpha = attrFloat(c.node, 'alpha', 1), beta = attrFloat(c.node, 'beta', 1);
  const [a, bb, cc] = [c.x(0), c.x(1), c.x(2)];
  const dy = c.dy[0]!;
  const al = alpha === 1 ? {} : { alpha };
  let ga: string | undefined, gb: string | undefined, gc: string | undefined;
  if (c.needs(0)) {
    // transA=0: dA = dY B'^T;  transA=1: dA = B' dY^T
    ga = ta ? o.gemm(bb, dy, undefined, { transA: tb, transB: true, ...al })
      : o.gemm(dy, bb, undefined, { transB: !tb, ...al });
  }
  if (c.needs(1)) {
    // transB=0: dB = A'^T dY;  transB=1: dB = dY^T A'
    gb = tb ? o.gemm(dy, a, undefined, { transA: true, transB: ta, ...al })
      : o.gemm(a, dy, undefined, { transA: !ta, ...al });
  }
  if (cc && c.needs(2)) {
    gc = c.unbroadcast(dy, c.shape(cc));
    if (beta !== 1) gc = o.scale(gc, beta);
  }
  return [ga, gb, gc];
});
