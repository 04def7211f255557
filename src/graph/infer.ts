// Whole-graph static shape inference: re-runs the per-op rules of shapes.ts over the
// nodes in order, starting from the graph inputs, initializers and Constant nodes.
// The Builder does this as it appends nodes; models read from disk need it run once
// (their value_info is often missing, partial, or stale: exporters write traced shapes).
import type { Dim, Graph, Shape, Tensor, ValueInfo } from './ir.js';
import { inferNode } from './shapes.js';

export interface InferOptions {
  /**
   * Values for symbolic or unknown input dimensions: a number binds them all (e.g. 1
   * for a per-sample view of a model with a free batch dim), a record binds by symbol.
   * Unbound symbols stay symbolic and flow through the rules that tolerate them.
   */
  bind?: number | Record<string, number>;
}

function bindShape(shape: Shape | undefined, bind: InferOptions['bind']): Shape | undefined {
  if (!shape || bind === undefined) return shape;
  return shape.map((d): Dim => {
    if (typeof d === 'number' && d >= 0) return d;
    if (typeof bind === 'number') return bind;
    return typeof d === 'string' && d in bind ? bind[d] : d;
  });
}

/**
 * Types of every value of `graph` (not of its subgraphs) as the shape rules see them.
 * The graph is not modified; assign the result to `graph.valueInfo` to keep it. A node
 * whose rule fails (an op without a rule, an input without a type) leaves its outputs
 * untyped or shapeless instead of stopping the walk, so one exotic op does not hide the
 * shapes of everything else.
 */
export function inferShapes(graph: Graph, opset: number, opts: InferOptions = {}): Map<string, ValueInfo> {
  const values = new Map<string, ValueInfo>();
  for (const [name, t] of graph.initializers) values.set(name, { name, dtype: t.dtype, shape: [...t.dims] });
  for (const vi of graph.inputs) {
    // IR < 4 models list their weights as inputs too; the initializer's dims are exact.
    if (!values.has(vi.name)) values.set(vi.name, { ...vi, shape: bindShape(vi.shape, opts.bind) });
  }
  const constants = new Map<string, Tensor>();
  for (const n of graph.nodes) {
    const a = n.attrs.value;
    if (n.opType === 'Constant' && a && a.kind === 'tensor') constants.set(n.outputs[0], a.value);
  }
  const constOf = (name: string) => graph.initializers.get(name) ?? constants.get(name);
  for (const node of graph.nodes) {
    let outs: ReturnType<typeof inferNode> = [];
    try {
      outs = inferNode(node, (n) => values.get(n), constOf, opset);
    } catch {
      outs = [];
    }
    node.outputs.forEach((name, i) => {
      const vi = outs[i];
      if (name && vi) values.set(name, { ...vi, name });
    });
  }
  return values;
}
