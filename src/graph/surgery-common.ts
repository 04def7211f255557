// Helpers shared by the surgery passes: graph-wide shape inference that never
// throws, constants by name, real (non-initializer) inputs, fresh names, copies.
import type { Graph, Model, Node, Tensor, ValueInfo } from './ir.js';
import { indexGraph, opsetOf } from './ir.js';
import { inferNode } from './shapes.js';

/** Graph inputs that are not initializers (IR < 4 files list every weight as an input). */
export function realInputs(graph: Graph): ValueInfo[] {
  return graph.inputs.filter((v) => !graph.initializers.has(v.name));
}

/** Drop initializers from graph.inputs, so onnxruntime may treat them as constants
 * (folding, fusions); feeding a weight by name is then no longer possible. */
export function dropInitializerInputs(model: Model): Model {
  const g = model.graph;
  if (realInputs(g).length === g.inputs.length) return model;
  return { ...model, irVersion: Math.max(model.irVersion, 4), graph: { ...g, inputs: realInputs(g) } };
}

/** Constant value of `name`: an initializer or the output of a Constant node. */
export function constOf(graph: Graph, name: string, producer?: Map<string, Node>): Tensor | undefined {
  const init = graph.initializers.get(name);
  if (init) return init;
  const node = producer ? producer.get(name) : graph.nodes.find((n) => n.outputs.includes(name));
  if (!node || node.opType !== 'Constant' || node.domain !== '') return undefined;
  const a = node.attrs.value;
  if (a && a.kind === 'tensor') return a.value;
  const ints = node.attrs.value_ints ?? node.attrs.value_int;
  if (ints && (ints.kind === 'ints' || ints.kind === 'int')) {
    const v = ints.kind === 'ints' ? ints.value : [ints.value];
    return { dtype: 'int64', dims: ints.kind === 'ints' ? [v.length] : [], data: BigInt64Array.from(v, (x) => BigInt(x)) };
  }
  return undefined;
}

/** Types of every value in the graph: declared value_info, inputs, outputs and
 * initializers first, then whatever our shape rules infer (a rule that throws, or an
 * op we do not know, just leaves the value unknown). Never mutates the graph. */
export function valueTypes(model: Model, graph: Graph = model.graph): Map<string, ValueInfo> {
  const opset = opsetOf(model);
  const infos = new Map<string, ValueInfo>();
  for (const v of graph.valueInfo.values()) infos.set(v.name, v);
  for (const v of [...graph.inputs, ...graph.outputs]) if (v.opaqueType === undefined) infos.set(v.name, v);
  for (const [name, t] of graph.initializers) infos.set(name, { name, dtype: t.dtype, shape: [...t.dims] });
  const { producer } = indexGraph(graph);
  for (const node of graph.nodes) {
    let outs: ({ dtype: ValueInfo['dtype']; shape?: ValueInfo['shape'] } | undefined)[] = [];
    try {
      outs = inferNode(node, (n) => infos.get(n), (n) => constOf(graph, n, producer), opset);
    } catch {
      continue;
    }
    node.outputs.forEach((o, i) => {
      const vi = outs[i];
      if (!o || !vi) return;
      const old = infos.get(o);
      // keep a declared shape unless inference knows more
      if (old?.shape && (!vi.shape || vi.shape.some((d, k) => d === null && old.shape![k] !== null))) return;
      infos.set(o, { ...vi, name: o });
    });
  }
  return infos;
}

/** Every name used for a value or node anywhere in the graph (for fresh names). */
export function usedNames(graph: Graph): Set<string> {
  const used = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.outputs.map((v) => v.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) {
    if (n.name) used.add(n.name);
    for (const v of [...n.inputs, ...n.outputs]) if (v) used.add(v);
  }
  return used;
}

/** A generator of names not yet used in the graph. */
export function namer(graph: Graph): (hint: string) => string {
  const used = usedNames(graph);
  return (hint) => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
}

/** A copy deep enough that editing nodes, attrs, value infos and the initializer map
 * never touches the original (tensor data is shared: passes replace, never mutate). */
export function cloneModel(model: Model): Model {
  return { ...model, opsetImports: model.opsetImports.map((o) => ({ ...o })), metadata: { ...model.metadata }, graph: cloneGraph(model.graph) };
}

export function cloneGraph(g: Graph): Graph {
  return {
    ...g,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })),
    inputs: g.inputs.map(cloneInfo),
    outputs: g.outputs.map(cloneInfo),
    initializers: new Map(g.initializers),
    valueInfo: new Map([...g.valueInfo].map(([k, v]) => [k, cloneInfo(v)])),
  };
}

function cloneInfo(v: ValueInfo): ValueInfo {
  return v.shape ? { ...v, shape: [...v.shape] } : { ...v };
}
