// Gradient checks for the elementwise family, plus the registry's failure modes
// (a missing rule names op, node and where to add it; a second registration throws).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from '../../helpers/gradcheck.js';
import { Builder } from '../../../src/graph/builder.js';
import { Ops } from '../../../src/graph/ops.js';
import { differentiate } from '../../../src/graph/autodiff.js';
import { registerGrad } from '../../../src/graph/grad/index.js';
import { newModel, type AttrInput } from '../../../src/graph/ir.js';
import { f32, tensor } from '../../../src/graph/tensor.js';
import { createSession } from '../../../src/runtime/session.js';
import { GraphError } from '../../../src/errors.js';

// ------------------------------------------------------------------ binary, broadcasting

const binaryCases: [string, number[], number[]][] = [
  ['same shape', [2, 3, 4], [2, 3, 4]],
  ['[3,1] broadcast', [2, 3, 4], [3, 1]],
  ['scalar', [2, 3, 4], []],
  ['left broadcast', [5, 1], [2, 1, 3]],
];
for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']) {
  for (const [label, sa, sb] of binaryCases) {
    test(`${op} ${label}: [${sa}] with [${sb}]`, async () => {
      await gradCheck({
        inputs: [
          { name: 'a', shape: sa, positive: op === 'Pow' },
          { name: 'b', shape: sb, positive: op === 'Div' },
        ],
        build: (b, _o, [x, y]) => b.op(op, [x, y]),
      });
    });
  }
}

test('Pow with an integer exponent tensor (no gradient to it)', async () => {
  await gradCheck({
    inputs: [{ name: 'a', shape: [3, 5] }],
    build: (b, _o, [a]) => b.op('Pow', [a, b.constant(tensor('int64', [5], [0, 1, 2, 3, 4]))]),
  });
});

// Central differences at a two-way tie give each input 1/2, which is exactly the even split.
for (const op of ['Max', 'Min']) {
  test(`${op} ties split the gradient evenly`, async () => {
    await gradCheck({
      inputs: [
        { name: 'a', shape: [2, 3], data: [0.5, -0.25, 1, 0.75, 0.125, -1] },
        { name: 'b', shape: [2, 3], data: [0.5, 0.25, 1, -0.75, 0.125, 0] },
      ],
      build: (b, _o, [x, y]) => b.op(op, [x, y]),
    });
  });
  test(`${op} variadic with broadcast, and of one input`, async () => {
    await gradCheck({
      inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [3, 1] }, { name: 'c', shape: [4] }],
      build: (b, _o, [x, y, z]) => [b.op(op, [x, y, z]), b.op(op, [y])],
    });
  });
  test(`${op} of a value with itself`, async () => {
    await gradCheck({ inputs: [{ name: 'a', shape: [7] }], build: (b, _o, [x]) => b.op(op, [x, x]) });
  });
}

for (const op of ['Sum', 'Mean']) {
  test(`${op} variadic with broadcast`, async () => {
    await gradCheck({
      inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [3, 1] }, { name: 'c', shape: [] }],
      build: (b, _o, [x, y, z]) => [b.op(op, [x, y, z]), b.op(op, [y])],
    });
  });
}

// ------------------------------------------------------------------ unary

const unary: [string, boolean][] = [
  ['Neg', false], ['Exp', false], ['Log', true], ['Sqrt', true], ['Abs', false], ['Reciprocal', true], ['Identity', false],
];
for (const [op, positive] of unary) {
  test(`${op} on [3,5]`, async () => {
    await gradCheck({ inputs: [{ name: 'x', shape: [3, 5], positive }], build: (b, _o, [x]) => b.op(op, [x]) });
  });
}

// ------------------------------------------------------------------ Where, Cast

test('Where with broadcast condition and operands; no gradient to the condition', async () => {
  await gradCheck({
    inputs: [{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4] }],
    build: (b, _o, [x, y]) => b.op('Where', [b.constant(tensor('bool', [3, 1], [1, 0, 1])), x, y]),
  });
});

test('Cast float32 -> float64 -> float32 routes the gradient through both casts', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [3, 4] }],
    build: (_b, o, [x]) => o.cast(o.mul(o.cast(x, 'float64'), o.scalar(3, 'float64')), 'float32'),
  });
});

test('Cast to an integer type stops the gradient', async () => {
  // the int path contributes nothing: the gradient is that of the `+ x` term alone
  await gradCheck({
    inputs: [{ name: 'x', shape: [6], data: [0.3, -0.4, 0.6, 1.2, -1.2, 0.1] }],
    build: (_b, o, [x]) => o.add(o.cast(o.cast(o.scale(x, 2), 'int32'), 'float32'), x),
  });
});

// ------------------------------------------------------------------ Clip

test('Clip with min and max inputs', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [4, 5] }],
    build: (b, o, [x]) => b.op('Clip', [x, o.scalar(-0.4), o.scalar(0.5)]),
  });
});
test('Clip with only min, only max', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [4, 5] }],
    build: (b, o, [x]) => [b.op('Clip', [x, o.scalar(-0.3)]), b.op('Clip', [x, '', o.scalar(0.2)]), b.op('Clip', [x])],
  });
});
test('Clip with differentiable bounds', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [4, 5] }, { name: 'lo', shape: [], data: [-0.35] }, { name: 'hi', shape: [], data: [0.45] }],
    build: (b, _o, [x, lo, hi]) => b.op('Clip', [x, lo, hi]),
  });
});
test('Clip, opset 6 form with min/max attributes', async () => {
  await gradCheck({
    inputs: [{ name: 'x', shape: [4, 5] }],
    build: (b, _o, [x]) => [b.op('Clip', [x], clipAttrs(-0.4, 0.3)), b.op('Clip', [x], { max: { kind: 'float', value: 0.1 } })],
    beforeRun: (b) => liftClipAttrs(b),
  });
});

const clipAttrs = (min: number, max: number): Record<string, AttrInput> =>
  ({ min: { kind: 'float', value: min }, max: { kind: 'float', value: max } });

/** onnxruntime runs opset 18: turn Clip's old min/max attributes into inputs. */
function liftClipAttrs(b: Builder): void {
  const o = new Ops(b);
  b.graph.nodes.forEach((n, k) => {
    if (n.opType !== 'Clip' || n.inputs.length > 1) return;
    const bound = (a: string) => (n.attrs[a]?.kind === 'float' ? o.scalar(n.attrs[a].value as number) : '');
    b.graph.nodes[k] = { ...n, inputs: [n.inputs[0], bound('min'), bound('max')], attrs: {} };
  });
}

/** d sum(y * w) / d inputs, computed by onnxruntime, for conventions at kinks. */
async function ortGrads(inputs: Record<string, number[]>, build: (b: Builder, o: Ops, x: string[]) => string, w: number[]) {
  const b = new Builder('g');
  const o = new Ops(b);
  const names = Object.keys(inputs);
  for (const n of names) b.input(n, 'float32', [inputs[n].length]);
  const y = build(b, o, names);
  const loss = o.reduceSum(o.mul(y, o.floats(w)), undefined, false);
  const grads = differentiate(b, { loss, wrt: names });
  for (const n of names) b.output(grads.get(n)!, `d_${n}`);
  const s = await createSession(newModel(b.graph));
  const res = await s.run(Object.fromEntries(names.map((n) => [n, f32([inputs[n].length], inputs[n])])));
  await s.release();
  return Object.fromEntries(names.map((n) => [n, Array.from(res[`d_${n}`].data as Float32Array)]));
}

test('Clip boundary convention: x equal to a bound passes the gradient (like torch.clamp)', async () => {
  const g = await ortGrads({ x: [-0.5, 0.5, -0.7, 0.7, 0], lo: [-0.5], hi: [0.5] },
    (b, _o, [x, lo, hi]) => b.op('Clip', [x, lo, hi]), [1, 2, 3, 4, 5]);
  assert.deepEqual(g.x, [1, 2, 0, 0, 5]);
  assert.deepEqual(g.lo, [3]);
  assert.deepEqual(g.hi, [4]);
});

// ------------------------------------------------------------------ registry failure modes

for (const [label, opType, domain] of [['an op without a rule', 'Hardmax', ''], ['a custom-domain op', 'Relu', 'com.example']]) {
  test(`differentiate refuses ${label} with a GraphError naming op, node and src/graph/grad`, () => {
    const b = new Builder('g');
    b.input('x', 'float32', [2, 3]);
    b.input('dy', 'float32', [2, 3]);
    const y = b.op(opType, ['x'], {}, { domain, name: 'the_node' });
    assert.throws(() => differentiate(b, { loss: y, wrt: ['x'], seed: 'dy' }), (e: unknown) => {
      assert.ok(e instanceof GraphError);
      const text = e.oneLine();
      assert.match(text, new RegExp(opType));
      assert.match(text, /the_node/);
      assert.match(text, /src\/graph\/grad/);
      if (domain) assert.match(text, /com\.example/);
      return true;
    });
  });
}

test('registering a gradient rule twice throws', () => {
  assert.throws(() => registerGrad('Add', () => []), /registered twice/);
});
