// Folding of the integer shape arithmetic exporters emit, e.g. PyTorch's
// `x.view(x.size(0), -1)`: Shape -> Gather -> Unsqueeze -> Concat -> Reshape. Once every
// input dimension is a number, Shape of a statically shaped value is a constant, and so
// is anything a few integer ops compute from constants. Folding them gives the Reshape a
// constant target, so shape inference (and the gradient rules, which need static shapes
// and constant targets) see through it. Only integer results are folded: float values
// may hold trainable weights and are never touched.
import type { DType, Graph, Node, Tensor, ValueInfo } from './ir.js';
import { attrInt, attrInts, attrTensor } from './ir.js';
import { inferNode } from './shapes.js';
import { tensor, toNumbers } from './tensor.js';

const INT = new Set<DType>(['int64', 'int32']);

interface Ints { dtype: DType; dims: number[]; v: number[] }

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

/** Evaluate one integer op on constant inputs; undefined when it is not one we fold. */
function evaluate(n: Node, ins: (Ints | undefined)[]): Ints | undefined {
  const x = ins[0];
  if (!x || ins.some((t, i) => n.inputs[i] && !t)) return undefined;
  const like = (dims: number[], v: number[]): Ints => ({ dtype: x.dtype, dims, v });
  switch (n.opType) {
    case 'Identity': return x;
    case 'Cast': {
      const to = attrInt(n, 'to', 0);
      return to === 7 ? { ...x, dtype: 'int64' } : to === 6 ? { ...x, dtype: 'int32' } : undefined;
    }
    case 'Gather': {
      const idx = ins[1]!;
      if (x.dims.length !== 1 || norm(attrInt(n, 'axis', 0), 1) !== 0) return undefined;
      const v = idx.v.map((i) => x.v[norm(i, x.v.length)]);
      return v.some((e) => e === undefined) ? undefined : like([...idx.dims], v);
    }
    case 'Unsqueeze': case 'Squeeze': {
      const axes = ins[1]?.v ?? attrInts(n, 'axes');
      if (n.opType === 'Unsqueeze') {
        if (!axes) return undefined;
        const r = x.dims.length + axes.length, set = new Set(axes.map((a) => norm(a, r))), src = [...x.dims];
        return like(Array.from({ length: r }, (_, i) => (set.has(i) ? 1 : src.shift()!)), x.v);
      }
      const set = new Set((axes ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => norm(a, x.dims.length)));
      return like(x.dims.filter((_, i) => !set.has(i)), x.v);
    }
    case 'Concat':
      if (ins.some((t) => t!.dims.length !== 1)) return undefined;
      return like([ins.reduce((a, t) => a + t!.v.length, 0)], ins.flatMap((t) => t!.v));
    case 'Slice': {
      if (x.dims.length !== 1 || (ins[3] && ins[3].v.some((a) => norm(a, 1) !== 0))) return undefined;
      const len = x.v.length, step = ins[4]?.v[0] ?? 1;
      if (step !== 1) return undefined;
      const clamp = (e: number) => Math.min(Math.max(norm(e, len), 0), len);
      return like([Math.max(0, clamp(ins[2]!.v[0]) - clamp(ins[1]!.v[0]))], x.v.slice(clamp(ins[1]!.v[0]), clamp(ins[2]!.v[0])));
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': {
      const y = ins[1]!;
      if (x.v.length !== y.v.length && x.v.length !== 1 && y.v.length !== 1) return undefined;
      const f = { Add: (a: number, b: number) => a + b, Sub: (a: number, b: number) => a - b, Mul: (a: number, b: number) => a * b,
        Div: (a: number, b: number) => Math.trunc(a / b) }[n.opType]!;
      const big = x.v.length >= y.v.length ? x : y;
      return like([...big.dims], big.v.map((_, i) => f(x.v[x.v.length === 1 ? 0 : i], y.v[y.v.length === 1 ? 0 : i])));
    }
    default: return undefined;
  }
}

/**
 * Replace every foldable integer node of `graph` by an initializer holding its value
 * (under the node's output name, so readers are unchanged). Returns the number of nodes
 * folded. Shapes are inferred on the way, so a fold can feed the next one.
 */
export function foldShapeConstants(graph: Graph, opset: number): number {
  const values = new Map<string, ValueInfo>();
  for (const v of graph.inputs) values.set(v.name, v);
  for (const [name, t] of graph.initializers) values.set(name, { name, dtype: t.dtype, shape: [...t.dims] });
  const constants = new Map<string, Tensor>(graph.initializers);
  const ints = (name: string): Ints | undefined => {
    const t = name ? constants.get(name) : undefined;
    return t && INT.has(t.dtype) ? { dtype: t.dtype, dims: [...t.dims], v: toNumbers(t) } : undefined;
  };
  const kept: Node[] = [];
  let folded = 0;
  for (const node of graph.nodes) {
    const value = node.outputs.length === 1 && node.domain === '' ? foldOne(node, values, ints) : undefined;
    if (value) {
      const t = tensor(value.dtype, value.dims, value.v);
      graph.initializers.set(node.outputs[0], t);
      constants.set(node.outputs[0], t);
      values.set(node.outputs[0], { name: node.outputs[0], dtype: t.dtype, shape: [...t.dims] });
      folded++;
      continue;
    }
    kept.push(node);
    const c = attrTensor(node, 'value');
    if (node.opType === 'Constant' && c) constants.set(node.outputs[0], c);
    let outs: ReturnType<typeof inferNode> = [];
    try {
      outs = inferNode(node, (n) => values.get(n), (n) => constants.get(n), opset);
    } catch {
      outs = [];
    }
    node.outputs.forEach((o, i) => o && outs[i] && values.set(o, { ...outs[i]!, name: o }));
  }
  graph.nodes = kept;
  return folded;
}

function foldOne(node: Node, values: Map<string, ValueInfo>, ints: (name: string) => Ints | undefined): Ints | undefined {
  if (node.opType === 'Shape') {
    const s = values.get(node.inputs[0])?.shape;
    if (!s || !s.every((d) => typeof d === 'number')) return undefined;
    const r = s.length, clampAx = (a: number) => Math.min(Math.max(norm(a, r), 0), r);
    const v = (s as number[]).slice(clampAx(attrInt(node, 'start', 0)), clampAx(attrInt(node, 'end', r)));
    return { dtype: 'int64', dims: [v.length], v };
  }
  return evaluate(node, node.inputs.map((i) => (i ? ints(i) : undefined)));
}
