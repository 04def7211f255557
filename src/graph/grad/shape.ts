// Gradient rules: ops that move data without arithmetic. Each rule routes dy back to
// where the element came from: reshape back, inverse permutation, split/concat,
// zero-fill for dropped elements, scatter-add where an element was read many times.
import { registerGrad, type GradCtx } from './registry.js';
import { attrInt, attrInts, attrString } from '../ir.js';
import { toNumbers } from '../tensor.js';
import { GraphError } from '../../errors.js';

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

/** Zeros of a static shape, as Expand of a scalar (no large initializer). */
function zeros(c: GradCtx, shape: number[], like: string): string {
  return c.o.expand(c.o.scalarLike(0, like), shape);
}

/** Numbers of a constant input, or a GraphError: these rules need static parameters. */
function constInput(c: GradCtx, i: number, what: string): number[] {
  const t = c.b.constValue(c.x(i));
  if (!t) {
    throw new GraphError(`${c.node.opType} node '${c.node.name}': ${what} '${c.x(i)}' is computed at run time`,
      `make the ${what} a constant (initializer) before differentiating`);
  }
  return toNumbers(t);
}

const reshapeBack = (c: GradCtx) => [c.needs(0) ? c.o.reshape(c.dy[0]!, c.shape(c.x(0))) : undefined];
for (const op of ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']) registerGrad(op, reshapeBack);

registerGrad('Transpose', (c) => {
  if (!c.needs(0)) return [undefined];
  const r = c.shape(c.x(0)).length;
  const perm = attrInts(c.node, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  const inv: number[] = [];
  perm.forEach((p, i) => (inv[p] = i));
  return [c.o.transpose(c.dy[0]!, inv)];
});

registerGrad('Concat', (c) => {
  const n = c.node.inputs.length, dy = c.dy[0]!;
  if (n === 1) return [c.needs(0) ? dy : undefined];
  const shapes = c.node.inputs.map((x) => c.shape(x));
  const ax = norm(attrInt(c.node, 'axis', 0), shapes[0].length);
  const parts = c.b.opN('Split', [dy, c.o.ints(shapes.map((s) => s[ax]))], { axis: ax }, { numOutputs: n });
  return parts.map((p, i) => (c.needs(i) ? p : undefined));
});

// Split: concatenate the output gradients; outputs that do not reach the loss get zeros.
registerGrad('Split', (c) => {
  if (!c.needs(0)) return [undefined];
  const ax = norm(attrInt(c.node, 'axis', 0), c.shape(c.x(0)).length);
  const parts = c.node.outputs.map((y, i) => c.dy[i] ?? zeros(c, c.shape(y), c.x(0)));
  return [parts.length === 1 ? parts[0] : c.o.concat(parts, ax)];
});

// Slice: the selected elements of axis a are lo, lo + |s|, ..., lo + (n-1)|s|. The
// gradient reverses dy along axes with s < 0, spaces its elements |s| apart by
// padding a new inner axis and folding it in, then zero-pads to x's extent. Only
// Slice/Reshape/Pad: no scatter, so any execution provider runs it quickly.
registerGrad('Slice', (c) => {
  if (!c.needs(0)) return [undefined];
  const xs = c.shape(c.x(0)), ys = c.shape(c.y(0)), r = xs.length;
  const old = attrInts(c.node, 'starts') !== undefined;
  const starts = old ? attrInts(c.node, 'starts')! : constInput(c, 1, 'starts');
  const axes = (old ? attrInts(c.node, 'axes') : c.x(3) ? constInput(c, 3, 'axes') : undefined)
    ?? starts.map((_, k) => k);
  const steps = !old && c.x(4) ? constInput(c, 4, 'steps') : starts.map(() => 1);
  if (ys.some((d) => d === 0)) return [zeros(c, xs, c.x(0))];
  let g = c.dy[0]!;
  const pads = new Array<number>(2 * r).fill(0);
  axes.forEach((axRaw, k) => {
    const ax = norm(axRaw, r), dim = xs[ax], n = ys[ax], step = steps[k];
    let start = norm(starts[k], dim);
    start = step > 0 ? Math.min(Math.max(start, 0), dim) : Math.min(Math.max(start, 0), dim - 1);
    const lo = step > 0 ? start : start + (n - 1) * step;
    if (step < 0 && n > 1) g = c.o.slice(g, [-1], [-(n + 1)], [ax], [-1]);
    const a = Math.abs(step);
    let len = n;
    if (a > 1 && n > 1) {
      const gs = c.shape(g);
      const split = [...gs.slice(0, ax + 1), 1, ...gs.slice(ax + 1)];
      const spaced = c.o.pad(c.o.reshape(g, split), [...split.map(() => 0), ...split.map((_, i) => (i === ax + 1 ? a - 1 : 0))]);
      len = n * a;
      g = c.o.reshape(spaced, gs.map((d, i) => (i === ax ? len : d)));
      if (lo + len > dim) {
        len = dim - lo;
        g = c.o.slice(g, [0], [len], [ax]);
      }
    }
    pads[ax] = lo;
    pads[ax + r] = dim - lo - len;
  });
  return [pads.some((p) => p !== 0) ? c.o.pad(g, pads) : g];
});

// Gather: rows read several times accumulate, hence scatter with reduction 'add'
// (opset 16+, onnxruntime CPU runs it). Axis 0 (embeddings) uses ScatterND with the
// indices as they are; other axes use ScatterElements with broadcast indices.
registerGrad('Gather', (c) => {
  if (!c.needs(0)) return [undefined];
  const x = c.x(0), xs = c.shape(x), r = xs.length, dy = c.dy[0]!;
  const ax = norm(attrInt(c.node, 'axis', 0), r);
  let idx = c.x(1);
  const is = c.shape(idx);
  if (ax === 0) {
    if (c.b.dtype(idx) !== 'int64') idx = c.o.cast(idx, 'int64');
    return [c.b.op('ScatterND', [zeros(c, xs, x), c.o.unsqueeze(idx, [-1]), dy], { reduction: 'add' })];
  }
  const m = is.reduce((p, d) => p * d, 1);
  const flat = xs.map((d, i) => (i === ax ? m : d));
  const ones = xs.map((_, i) => (i === ax ? m : 1));
  const spots = c.o.expand(c.o.reshape(idx, ones), flat);
  const upd = c.shape(dy).length === r && c.shape(dy)[ax] === m ? dy : c.o.reshape(dy, flat);
  return [c.b.op('ScatterElements', [zeros(c, xs, x), spots, upd], { axis: ax, reduction: 'add' })];
});

registerGrad('GatherElements', (c) => {
  if (!c.needs(0)) return [undefined];
  const x = c.x(0), ax = norm(attrInt(c.node, 'axis', 0), c.shape(x).length);
  return [c.b.op('ScatterElements', [zeros(c, c.shape(x), x), c.x(1), c.dy[0]!], { axis: ax, reduction: 'add' })];
});

registerGrad('Expand', (c) => [c.needs(0) ? c.unbroadcast(c.dy[0]!, c.shape(c.x(0))) : undefined]);

// Tile: view dy as [r0, d0, r1, d1, ...] and sum the repeat axes.
registerGrad('Tile', (c) => {
  if (!c.needs(0)) return [undefined];
  const xs = c.shape(c.x(0)), reps = constInput(c, 1, 'repeats');
  const view: number[] = [], sum: number[] = [];
  xs.forEach((d, i) => {
    if (reps[i] !== 1) {
      sum.push(view.length);
      view.push(reps[i]);
    }
    view.push(d);
  });
  if (!sum.length) return [c.dy[0]];
  return [c.o.reduceSum(c.o.reshape(c.dy[0]!, view), sum, false)];
});

// Pad, constant mode: x's gradient is the unpadded window of dy (Slice); negative
// pads crop x, and the cropped elements get zeros. The pad value gets the sum of dy
// over the padding. Edge and reflect modes read x again for the padding: see foldPad.
registerGrad('Pad', (c) => {
  const mode = attrString(c.node, 'mode', 'constant');
  const x = c.x(0), xs = c.shape(x), r = xs.length, dy = c.dy[0]!;
  const raw = attrInts(c.node, 'pads') ?? constInput(c, 1, 'pads');
  const axes = c.x(3) ? constInput(c, 3, 'axes').map((a) => norm(a, r)) : xs.map((_, i) => i);
  const pads = new Array<number>(2 * r).fill(0);
  axes.forEach((a, k) => {
    pads[a] = raw[k];
    pads[a + r] = raw[k + axes.length];
  });
  if (mode !== 'constant') {
    if (!c.needs(0)) return [undefined];
    let g = dy;
    xs.forEach((n, a) => {
      if (pads[a] !== 0 || pads[a + r] !== 0) g = foldPad(c, g, a, n, pads[a], pads[a + r], mode);
    });
    return [g];
  }
  const ys = c.shape(c.y(0));
  let g = dy;
  if (pads.some((p) => p > 0)) {
    const all = xs.map((_, i) => i);
    g = c.o.slice(dy, all.map((i) => Math.max(pads[i], 0)), all.map((i) => ys[i] - Math.max(pads[i + r], 0)), all);
  }
  const inner = g;
  if (pads.some((p) => p < 0)) g = c.o.pad(g, pads.map((p) => Math.max(-p, 0)));
  let dv: string | undefined;
  if (c.needs(2)) {
    const total = c.o.sub(c.o.reduceSum(dy, undefined, false), c.o.reduceSum(inner, undefined, false));
    dv = c.shape(c.x(2)).length ? c.o.reshape(total, c.shape(c.x(2))) : total;
  }
  return [c.needs(0) ? g : undefined, undefined, dv];
});

/** Pad along one axis only (opset 18 `axes` input). */
const padAxis = (c: GradCtx, g: string, ax: number, before: number, after: number) =>
  c.b.op('Pad', [g, c.o.ints([before, after]), '', c.o.ints([ax])]);

// Edge/reflect padding reads x[i] again for each padded position; the index map is
// separable, so the adjoint folds one axis at a time: the middle of dy, plus
// edge: the sums of both pad blocks added to the first/last element,
// reflect: both pad blocks reversed, added to x[1..pb] and x[n-1-pe..n-2].
function foldPad(c: GradCtx, g: string, ax: number, n: number, pb: number, pe: number, mode: string): string {
  const fail = (why: string) => new GraphError(`Pad node '${c.node.name}': no gradient for mode '${mode}' ${why}`,
    "use mode 'constant', or extend foldPad in src/graph/grad/shape.ts");
  if (pb < 0 || pe < 0) throw fail('with negative pads');
  if (mode !== 'edge' && mode !== 'reflect') throw fail('');
  if (mode === 'reflect' && (pb > n - 1 || pe > n - 1)) throw fail('with pads as large as the axis');
  const total = pb + n + pe;
  let sum = c.o.slice(g, [pb], [pb + n], [ax]);
  if (mode === 'edge') {
    if (pb) sum = c.o.add(sum, padAxis(c, c.o.reduceSum(c.o.slice(g, [0], [pb], [ax]), [ax], true), ax, 0, n - 1));
    if (pe) sum = c.o.add(sum, padAxis(c, c.o.reduceSum(c.o.slice(g, [pb + n], [total], [ax]), [ax], true), ax, n - 1, 0));
    return sum;
  }
  if (pb) sum = c.o.add(sum, padAxis(c, c.o.slice(g, [pb - 1], [-(total + 1)], [ax], [-1]), ax, 1, n - 1 - pb));
  if (pe) sum = c.o.add(sum, padAxis(c, c.o.slice(g, [total - 1], [pb + n - 1], [ax], [-1]), ax, n - 1 - pe, 1));
  return sum;
}
