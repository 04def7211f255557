// Gradient checks for the data-movement family: reshapes, transpose, concat/split,
// slice (steps 2, -1, -2, clamped bounds), gather with repeated indices, expand,
// tile, pad; old-opset attribute forms are rewritten to inputs for onnxruntime.
import { test } from 'node:test';
import { gradCheck, type GradCheckSpec } from '../../helpers/gradcheck.js';
import type { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';
import { i64, tensor } from '../../../src/graph/tensor.js';

const check = (name: string, spec: GradCheckSpec) => test(name, () => gradCheck(spec).then(() => undefined));
const one = (shape: number[], build: GradCheckSpec['build'], extra: Partial<GradCheckSpec> = {}): GradCheckSpec =>
  ({ inputs: [{ name: 'x', shape }], build, ...extra });

/** onnxruntime runs opset 18: move old attribute forms (axes, split, starts/ends, pads) to inputs. */
function liftAttrs(b: Builder): void {
  const o = new Ops(b);
  const order: Record<string, string[]> = {
    Squeeze: ['axes'], Unsqueeze: ['axes'], Split: ['split'], Slice: ['starts', 'ends', 'axes'], Pad: ['pads'],
  };
  b.graph.nodes.forEach((n, k) => {
    const names = order[n.opType];
    if (!names || !names.some((a) => n.attrs[a])) return;
    const attrs = { ...n.attrs };
    const lifted = names.map((a) => {
      const v = attrs[a];
      delete attrs[a];
      return v && v.kind === 'ints' ? o.ints(v.value) : '';
    });
    while (lifted.length && !lifted[lifted.length - 1]) lifted.pop();
    b.graph.nodes[k] = { ...n, inputs: [n.inputs[0], ...lifted], attrs };
  });
}

// ------------------------------------------------------------------ reshapes

check('Reshape [2,3,4] -> [4,-1]', one([2, 3, 4], (_b, o, [x]) => o.reshape(x, [4, -1])));
check('Flatten axis 1, 0 and -1', one([2, 3, 5], (_b, o, [x]) => [o.flatten(x, 1), o.flatten(x, 0), o.flatten(x, -1)]));
check('Transpose perm [2,0,1] and default (reverse)', one([2, 3, 5],
  (b, o, [x]) => [o.transpose(x, [2, 0, 1]), b.op('Transpose', [x])]));
check('Squeeze axes [0,-2] and all unit axes', one([1, 3, 1, 5], (b, o, [x]) => [o.squeeze(x, [0, -2]), b.op('Squeeze', [x])]));
check('Unsqueeze axes [0,-1]', one([3, 5], (_b, o, [x]) => o.unsqueeze(x, [0, -1])));
check('Squeeze/Unsqueeze, opset 11 form with axes attributes', one([3, 1, 5],
  (b, _o, [x]) => [b.op('Squeeze', [x], { axes: [1] }), b.op('Unsqueeze', [x], { axes: [0, 4] })], { beforeRun: liftAttrs }));

// ------------------------------------------------------------------ concat / split

for (const axis of [0, 1, -1]) {
  check(`Concat of three along axis ${axis}, one input constant`, {
    inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [2, 3, 4] }],
    build: (b, o, [x, y]) => {
      const shape = [2, 3, 4];
      const k = axis < 0 ? axis + 3 : axis;
      shape[k] = 3;
      const c = b.constant(tensor('float32', shape, Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i / 10)));
      return o.concat([x, c, o.scale(y, 2)], axis);
    },
  });
}
check('Concat with a value used twice', one([3, 2], (_b, o, [x]) => o.concat([x, x], 1)));

check('Split into equal parts, axis 1, all outputs used', one([2, 6, 3],
  (b, _o, [x]) => b.opN('Split', [x], { axis: 1, num_outputs: 3 }, { numOutputs: 3 })));
check('Split with sizes, axis -1, middle output unused', one([2, 3, 7], (b, o, [x]) => {
  const [p, , r] = b.opN('Split', [x, o.ints([2, 4, 1])], { axis: -1 }, { numOutputs: 3 });
  return [p, r];
}));
check('Split, opset 11 form with a split attribute, first output unused', one([5, 3],
  (b, _o, [x]) => b.opN('Split', [x], { split: [2, 3] }, { numOutputs: 2 })[1], { beforeRun: liftAttrs }));

// ------------------------------------------------------------------ slice

const slices: [string, number[], number[], number[] | undefined, number[] | undefined][] = [
  ['step 1, negative start/end', [-4, 1], [-1, 100], [2, 0], undefined],
  ['step 2 on odd size', [1], [7], [1], [2]],
  ['step 2 from 0 to end', [0], [9223372036854775807], [-1], [2]],
  ['step -1 reverses', [-1], [-100], [1], [-1]],
  ['step -2 on odd size', [6], [0], [1], [-2]],
  ['step -3 with clamped start', [100], [-100], [2], [-3]],
  ['steps 3 and -2 on two axes', [0, 4], [7, -8], [1, 2], [3, -2]],
];
for (const [label, starts, ends, axes, steps] of slices) {
  check(`Slice ${label}`, one([3, 7, 5], (_b, o, [x]) => o.slice(x, starts, ends, axes, steps)));
}
check('Slice that selects nothing', one([3, 4], (_b, o, [x]) => o.concat([o.slice(x, [2], [2], [1]), x], 1)));
check('Slice, opset 9 form with starts/ends/axes attributes', one([4, 5],
  (b, _o, [x]) => b.op('Slice', [x], { starts: [1, -3], ends: [3, 100], axes: [0, 1] }), { beforeRun: liftAttrs }));

// ------------------------------------------------------------------ gather

const idx = (b: Builder, dims: number[], v: number[]) => b.constant(i64(dims, v), 'idx');
check('Gather axis 0 with repeated indices (embedding)', one([5, 3],
  (b, o, [x]) => o.gather(x, idx(b, [2, 4], [0, 2, 0, 4, 2, 2, 1, 0]), 0)));
check('Gather axis 0 with a scalar index and negative indices', one([5, 3], (b, o, [x]) =>
  [o.gather(x, b.constant(i64([], [3])), 0), o.gather(x, idx(b, [3], [-1, 0, -1]), 0)]));
check('Gather axis 1 with repeated 2-D indices', one([2, 4, 3],
  (b, o, [x]) => o.gather(x, idx(b, [2, 3], [1, 1, 3, 0, 1, 2]), 1)));
check('Gather axis -1 with int32 indices and a scalar index', one([2, 3, 4], (b, o, [x]) =>
  [o.gather(x, b.constant(tensor('int32', [5], [3, 0, 3, -1, 2])), -1), o.gather(x, b.constant(i64([], [2])), -1)]));

check('Gather axis 0 with int32 indices', one([4, 2], (b, o, [x]) =>
  o.gather(x, b.constant(tensor('int32', [5], [3, 3, 0, -4, 1])), 0)));
check('Gather axis 0 with run-time (graph input) indices', {
  inputs: [{ name: 'x', shape: [4, 3] }, { name: 'i', shape: [2, 3], dtype: 'int64', data: [1, 1, 3, 0, 1, -1] }],
  build: (_b, o, [x, i]) => o.gather(x, i, 0),
});

check('GatherElements axis 1 with repeated indices', one([3, 4], (b, _o, [x]) =>
  b.op('GatherElements', [x, idx(b, [3, 5], [0, 0, 3, 1, 0, 2, 2, 2, 2, -1, 3, 3, 0, 1, 3])], { axis: 1 })));
check('GatherElements axis -3', one([3, 2, 2], (b, _o, [x]) =>
  b.op('GatherElements', [x, idx(b, [2, 2, 2], [0, 2, 2, 0, 1, 1, 1, 0])], { axis: -3 })));

// ------------------------------------------------------------------ expand / tile / pad

check('Expand [3,1] -> [2,3,4]', one([3, 1], (_b, o, [x]) => o.expand(x, [2, 3, 4])));
check('Expand [2,1,4] by [3,1] (shape smaller than input)', one([2, 1, 4], (_b, o, [x]) => o.expand(x, [3, 1])));
check('Tile [2,3,1] by [2,1,3]', one([2, 3, 1], (b, o, [x]) => b.op('Tile', [x, o.ints([2, 1, 3])])));
check('Tile by ones', one([2, 3], (b, o, [x]) => b.op('Tile', [x, o.ints([1, 1])])));

check('Pad constant, positive pads', one([2, 3, 5], (_b, o, [x]) => o.pad(x, [0, 1, 2, 1, 0, 3])));
check('Pad constant, negative pads crop', one([3, 5], (_b, o, [x]) => o.pad(x, [-1, 2, 1, -2])));
check('Pad with axes input (opset 18)', one([2, 3, 5], (b, o, [x]) => b.op('Pad', [x, o.ints([1, -1, 2, 0]), '', o.ints([-1, 1])])));
check('Pad with a differentiable constant value', {
  inputs: [{ name: 'x', shape: [2, 3] }, { name: 'v', shape: [], data: [0.7] }],
  build: (b, o, [x, v]) => b.op('Pad', [x, o.ints([1, 0, 0, 2]), v]),
});
check('Pad, opset 2 form with a pads attribute', one([2, 3], (b, _o, [x]) => b.op('Pad', [x], { pads: [1, 1, 0, 2] }),
  { beforeRun: liftAttrs }));

for (const mode of ['edge', 'reflect']) {
  check(`Pad mode ${mode} on two axes`, one([3, 4, 5], (b, o, [x]) => b.op('Pad', [x, o.ints([0, 2, 1, 0, 1, 3])], { mode })));
  check(`Pad mode ${mode} on one axis (axes input), one side`, one([2, 4], (b, o, [x]) =>
    b.op('Pad', [x, o.ints([0, 3]), '', o.ints([-1])], { mode })));
}
