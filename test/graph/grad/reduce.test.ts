// Gradient checks for the reductions: axes as input (opset 18) or attribute (old
// opsets), negative axes, keepdims 0/1, all axes, noop_with_empty_axes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from '../../helpers/gradcheck.js';
import type { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';

const OPS = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceSumSquare', 'ReduceL2', 'ReduceL1',
  'ReduceLogSumExp', 'ReduceLogSum'];

interface Case { label: string; axes?: number[]; keepdims: number; noop?: number }
const CASES: Case[] = [
  { label: 'axis 1, keepdims 1', axes: [1], keepdims: 1 },
  { label: 'axis -1, keepdims 0', axes: [-1], keepdims: 0 },
  { label: 'axes [0,-1], keepdims 0', axes: [0, -1], keepdims: 0 },
  { label: 'axes [2,0], keepdims 1', axes: [2, 0], keepdims: 1 },
  { label: 'all axes (none given), keepdims 0', keepdims: 0 },
  { label: 'all axes (none given), keepdims 1', keepdims: 1 },
  { label: 'empty axes, noop_with_empty_axes 1', axes: [], keepdims: 0, noop: 1 },
];

// ReduceLogSum needs a positive sum; ReduceL1 a kink-free input (random values are).
for (const op of OPS) {
  for (const cs of CASES) {
    test(`${op} on [2,3,5], ${cs.label}`, async () => {
      await gradCheck({
        inputs: [{ name: 'x', shape: [2, 3, 5], positive: op === 'ReduceLogSum' }],
        build: (b, o, [x]) => b.op(op, cs.axes ? [x, o.ints(cs.axes)] : [x],
          { keepdims: cs.keepdims, noop_with_empty_axes: cs.noop }),
      });
    });
  }
  test(`${op}, old-opset form with an axes attribute`, async () => {
    await gradCheck({
      inputs: [{ name: 'x', shape: [3, 4, 5], positive: op === 'ReduceLogSum' }],
      build: (b, _o, [x]) => [b.op(op, [x], { axes: [-2], keepdims: 0 }), b.op(op, [x], { axes: [0, 2] })],
      beforeRun: liftAxes,
    });
  });
}

/** onnxruntime runs opset 18: turn an `axes` attribute into the second input. */
function liftAxes(b: Builder): void {
  const o = new Ops(b);
  b.graph.nodes.forEach((n, k) => {
    const a = n.attrs.axes;
    if (!a || a.kind !== 'ints') return;
    const { axes: _drop, ...rest } = n.attrs;
    b.graph.nodes[k] = { ...n, inputs: [n.inputs[0], o.ints(a.value)], attrs: rest };
  });
}

// A two-way tie: central differences give each tied element half, as the rule does.
for (const op of ['ReduceMax', 'ReduceMin']) {
  test(`${op} splits the gradient evenly between tied elements`, async () => {
    const r = await gradCheck({
      inputs: [{ name: 'x', shape: [2, 4], data: [0.5, 0.5, -0.5, -0.5, 0.25, -0.75, 0.25, -0.75] }],
      build: (b, o, [x]) => b.op(op, [x, o.ints([1])], { keepdims: 0 }),
    });
    const g = Array.from(r.analytic.x);
    assert.equal(g[0], g[1]);
    assert.equal(g[2], g[3]);
  });
}

test('ReduceL2 of an all-zero slice has gradient 0, not NaN', async () => {
  const r = await gradCheck({
    inputs: [{ name: 'x', shape: [2, 3], data: [0, 0, 0, 0.5, -0.25, 0.75] }],
    build: (b, o, [x]) => b.op('ReduceL2', [x, o.ints([1])], { keepdims: 0 }),
    maxProbes: 0,
  });
  assert.deepEqual(Array.from(r.analytic.x).slice(0, 3), [0, 0, 0]);
});
