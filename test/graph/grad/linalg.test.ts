// Gradient checks for the linalg family: MatMul (batched, broadcast, 1-D) and Gemm.
import { test } from 'node:test';
import { gradCheck } from '../../helpers/gradcheck.js';

const mm = (name: string, sa: number[], sb: number[]) =>
  test(`MatMul ${name}: [${sa}] x [${sb}]`, async () => {
    await gradCheck({
      inputs: [{ name: 'a', shape: sa }, { name: 'b', shape: sb }],
      build: (_b, o, [a, b]) => o.matmul(a, b),
    });
  });

mm('batched A, shared B', [2, 3, 4, 5], [5, 6]);
mm('shared A, batched B', [4, 5], [2, 5, 6]);
mm('both batched, broadcast batch axes', [3, 1, 4, 5], [2, 5, 6]);
mm('equal batch', [2, 4, 5], [2, 5, 3]);
mm('1-D A', [5], [5, 6]);
mm('1-D A, batched B', [5], [2, 5, 3]);
mm('1-D B', [2, 4, 5], [5]);
mm('dot product', [5], [5]);

for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    for (const [alpha, beta] of [[1, 1], [0.7, -1.3]]) {
      test(`Gemm transA=${transA} transB=${transB} alpha=${alpha} beta=${beta}`, async () => {
        const [M, K, N] = [3, 4, 5];
        await gradCheck({
          inputs: [
            { name: 'a', shape: transA ? [K, M] : [M, K] },
            { name: 'b', shape: transB ? [N, K] : [K, N] },
            { name: 'c', shape: [M, N] },
          ],
          build: (_b, o, [a, b, c]) => o.gemm(a, b, c, { transA: !!transA, transB: !!transB, alpha, beta }),
        });
      });
    }
  }
}

// C broadcast forms (unidirectional to [M, N]) and no C at all.
for (const cs of [[5], [1, 5], [3, 1], [], [1, 1]]) {
  test(`Gemm C of shape [${cs}] broadcast to [3,5]`, async () => {
    await gradCheck({
      inputs: [{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [5, 4] }, { name: 'c', shape: cs }],
      build: (_b, o, [a, b, c]) => o.gemm(a, b, c, { transB: true, beta: 0.5 }),
    });
  });
}

test('Gemm without C', async () => {
  await gradCheck({
    inputs: [{ name: 'a', shape: [4, 3] }, { name: 'b', shape: [4, 5] }],
    build: (_b, o, [a, b]) => o.gemm(a, b, undefined, { transA: true, alpha: 2 }),
  });
});
