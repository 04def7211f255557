// Gradient checks for the norm family: BatchNormalization (inference and training
// forms, including channels with a large mean) and LayerNormalization (axis -1 / -2,
// with and without bias, optional outputs).
import { test } from 'node:test';
import { A } from '../../../src/graph/ir.js';
import { gradCheck, rng } from '../../helpers/gradcheck.js';

const bnInputs = (xs: number[], statsWrt: boolean) => {
  const C = xs[1];
  return [
    { name: 'x', shape: xs },
    { name: 'scale', shape: [C] },
    { name: 'bias', shape: [C] },
    { name: 'mean', shape: [C], wrt: statsWrt },
    { name: 'var', shape: [C], positive: true, wrt: statsWrt },
  ];
};

test('BatchNormalization inference form: gradients to X, scale, B, mean, var', async () => {
  await gradCheck({
    inputs: bnInputs([2, 3, 4, 5], true),
    build: (b, _o, ins) => b.op('BatchNormalization', ins, { epsilon: A.float(1e-3) }),
  });
});

test('BatchNormalization inference form on [N, C]', async () => {
  await gradCheck({
    inputs: bnInputs([4, 3], true),
    build: (b, _o, ins) => b.op('BatchNormalization', ins),
  });
});

// onnxruntime 1.29 CPU runs training_mode=1 at opset 18 when all three outputs are
// declared (it rejects a training node with Y alone).
test('BatchNormalization training form (batch statistics): gradients to X, scale, B', async () => {
  await gradCheck({
    inputs: bnInputs([3, 2, 4, 3], false),
    build: (b, _o, ins) => b.opN('BatchNormalization', ins, { training_mode: 1, momentum: A.float(0.9) }, { numOutputs: 3 })[0],
  });
});

test('BatchNormalization training form on [N, C], statistics inputs marked wrt (zero gradient)', async () => {
  await gradCheck({
    inputs: bnInputs([5, 3], true),
    build: (b, _o, ins) => b.opN('BatchNormalization', ins, { training_mode: 1 }, { numOutputs: 3 })[0],
  });
});

test('BatchNormalization training form on [N, C, L], gradients to scale and B only', async () => {
  await gradCheck({
    inputs: bnInputs([4, 3, 5], false).map((i) => (i.name === 'x' ? { ...i, wrt: false } : i)),
    build: (b, _o, ins) => b.opN('BatchNormalization', ins, { training_mode: 1 }, { numOutputs: 3 })[0],
  });
});

// Channels whose mean is about 100-1000 times their standard deviation (offset * (c + 1)
// plus uniform [-1, 1]): the backward must centre X before the variance and sum(dY * X);
// E[X^2] - mu^2 and sum(dY * X) - mu * sum(dY) fail both cases in float32. (Much larger
// offsets make onnxruntime's own training-mode forward drift from the float64 one.)
for (const [xs, offset] of [[[3, 2, 4, 3], 300], [[16, 4, 8, 8], 50]] as [number[], number][]) {
  test(`BatchNormalization training form, large channel means (offset ${offset}, [${xs}])`, async () => {
    const C = xs[1], inner = xs.slice(2).reduce((a, d) => a * d, 1), r = rng(7);
    const data = Array.from({ length: xs.reduce((a, d) => a * d, 1) }, (_, i) =>
      offset * (1 + (Math.floor(i / inner) % C)) + 2 * r() - 1);
    await gradCheck({
      inputs: bnInputs(xs, false).map((i) => (i.name === 'x' ? { ...i, data } : i)),
      build: (b, _o, ins) => b.opN('BatchNormalization', ins, { training_mode: 1 }, { numOutputs: 3 })[0],
    });
  });
}

function lnCase(name: string, xs: number[], axis: number, withBias: boolean, outputs = 1) {
  test(`LayerNormalization ${name}`, async () => {
    const r = xs.length, ax = axis < 0 ? axis + r : axis;
    const ps = xs.slice(ax);
    const inputs = [{ name: 'x', shape: xs }, { name: 'scale', shape: ps }];
    if (withBias) inputs.push({ name: 'bias', shape: ps });
    await gradCheck({
      inputs,
      build: (b, _o, ins) => {
        const outs = b.opN('LayerNormalization', ins, { axis, epsilon: A.float(1e-3) }, { numOutputs: outputs });
        return outs;
      },
    });
  });
}

lnCase('axis -1 with bias', [2, 3, 6], -1, true);
lnCase('axis -2 with bias', [2, 3, 4], -2, true);
lnCase('axis -1 without bias', [3, 5], -1, false);
lnCase('axis 1 on rank 4', [2, 3, 2, 2], 1, true);
lnCase('axis -1, Mean and InvStdDev outputs used downstream', [2, 3, 5], -1, true, 3);
