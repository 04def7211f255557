// Freeing a fixed batch dimension (e.g. an exporter that baked in batch 1), and the
// opposite, fixing a symbolic one. Freeing rewrites Reshape targets only where the
// batch-axis analysis (surgery-batch-rules.ts) proves it keeps every sample separate.
import type { Model, Node, Shape, ValueInfo } from './ir.js';
import { indexGraph, opsetOf } from './ir.js';
import { tensor } from './tensor.js';
import { cloneModel, constOf, valueTypes, namer, realInputs } from './surgery-common.js';
import { isBad, nodeStates, type BatchState } from './surgery-batch-rules.js';
import { GraphError } from '../errors.js';

export interface FreeBatchResult {
  model: Model;
  /** whether the returned model differs from the input */
  changed: boolean;
  /** true when one request may carry any batch size */
  safe: boolean;
  /** why the batch could not be freed (safe = false), or what was done */
  why?: string;
  /** the batch size the inputs had fixed, when they had one */
  fixedBatch?: number;
}

interface Analysis {
  states: Map<string, BatchState>;
  rewrites: Map<Node, number[]>;
  unsafe?: string;
}

/** Where the batch axis of every value is, starting from axis 0 of every real input. */
function analyse(model: Model, batch: number | undefined): Analysis {
  const g = model.graph;
  const shapes = valueTypes(model);
  const { producer } = indexGraph(g);
  const states = new Map<string, BatchState>();
  for (const name of g.initializers.keys()) states.set(name, 'const');
  for (const v of realInputs(g)) states.set(v.name, 0);
  const rewrites = new Map<Node, number[]>();
  const opset = opsetOf(model);
  for (const node of g.nodes) {
    const st = (i: number): BatchState => {
      const name = node.inputs[i];
      if (!name) return 'const';
      return states.get(name) ?? { bad: `value '${name}' is read before it is computed` };
    };
    const outs = nodeStates({
      node, opset, st, batch, rewrites,
      shape: (i) => (node.inputs[i] ? shapes.get(node.inputs[i])?.shape : undefined),
      const: (i) => (node.inputs[i] && st(i) === 'const' ? constOf(g, node.inputs[i], producer) : undefined),
    });
    node.outputs.forEach((o, i) => o && states.set(o, outs[i]));
  }
  let unsafe: string | undefined;
  for (const o of g.outputs) {
    const s = states.get(o.name);
    if (s === 0) continue;
    unsafe = isBad(s) ? s.bad : s === 'const' ? `output '${o.name}' does not depend on the input` : `output '${o.name}' has its batch on axis ${String(s)}`;
    break;
  }
  return { states, rewrites, unsafe };
}

/** The one batch size all real inputs share: a number (fixed), a symbol, or an error. */
function inputBatch(inputs: ValueInfo[]): { fixed?: number; symbol?: string | null } {
  if (inputs.length === 0) throw new GraphError('the graph has no inputs', 'a teacher needs one image input');
  const dims = inputs.map((v) => {
    if (!v.shape || v.shape.length === 0) throw new GraphError(`input '${v.name}' has no batch axis (shape [${v.shape ?? '?'}])`, 'the first axis of each input must be the batch');
    return v.shape[0];
  });
  const fixed = dims.filter((d): d is number => typeof d === 'number');
  if (fixed.length && new Set(fixed).size > 1) throw new GraphError(`inputs have different fixed batch sizes [${fixed}]`);
  return fixed.length === dims.length ? { fixed: fixed[0] } : { symbol: dims.find((d) => typeof d !== 'number') as string | null };
}

function freshSymbol(model: Model): string {
  const used = new Set<string>();
  const g = model.graph;
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo.values()]) for (const d of v.shape ?? []) if (typeof d === 'string') used.add(d);
  return used.has('N') ? (used.has('batch') ? 'N_batch' : 'batch') : 'N';
}

/** Put `dim` at `axis` of a shape that has that axis. */
function withDim(shape: Shape | undefined, axis: number, dim: string | null): Shape | undefined {
  if (!shape || axis >= shape.length) return shape;
  const s = [...shape];
  s[axis] = dim;
  return s;
}

/**
 * Give a graph whose inputs fix the batch (e.g. [1,1,28,28]) a symbolic batch 'N' on
 * inputs, outputs and value_info, and rewrite constant Reshape targets that bake the
 * batch in, but only when the analysis proves every output keeps its samples apart.
 * When it cannot, the model comes back unchanged with safe = false and the reason:
 * the caller then runs one request per (fixed-size) batch.
 * A graph whose inputs already have a symbolic batch is left as it is (safe = true),
 * except that outputs declaring a fixed leading size that the analysis shows to be
 * the batch (exporters write the trace-time batch there) get the input's symbol.
 */
export function freeBatch(model: Model): FreeBatchResult {
  const inputs = realInputs(model.graph);
  const { fixed, symbol } = inputBatch(inputs);
  const a = analyse(model, fixed);
  if (fixed === undefined) return relabelOutputs(model, a, symbol ?? null);
  if (a.unsafe) return { model, changed: false, safe: false, why: a.unsafe, fixedBatch: fixed };
  const out = cloneModel(model);
  const g = out.graph;
  const sym = freshSymbol(model);
  const fresh = namer(g);
  for (const v of g.inputs) if (!g.initializers.has(v.name)) v.shape = withDim(v.shape, 0, sym);
  for (const v of g.outputs) v.shape = withDim(v.shape, 0, sym);
  for (const v of g.valueInfo.values()) {
    const s = a.states.get(v.name);
    if (typeof s === 'number') v.shape = withDim(v.shape, s, sym);
  }
  // the clone's nodes are new objects in the same order as the original's
  const index = new Map(model.graph.nodes.map((n, i) => [n, i]));
  for (const [node, target] of a.rewrites) {
    const copy = g.nodes[index.get(node)!];
    copy.inputs[1] = fresh(`${node.inputs[1] || 'shape'}_free_batch`);
    g.initializers.set(copy.inputs[1], tensor('int64', [target.length], target));
  }
  const what = a.rewrites.size ? `; rewrote ${a.rewrites.size} Reshape target(s): ${[...a.rewrites].map(([n, t]) => `'${n.name}' -> [${t}]`).join(', ')}` : '';
  return { model: out, changed: true, safe: true, why: `batch ${fixed} freed to '${sym}'${what}`, fixedBatch: fixed };
}

function relabelOutputs(model: Model, a: Analysis, symbol: string | null): FreeBatchResult {
  const stale = model.graph.outputs.filter((o) => a.states.get(o.name) === 0 && o.shape && typeof o.shape[0] === 'number');
  if (stale.length === 0) return { model, changed: false, safe: true, why: 'the batch is already free' };
  const out = cloneModel(model);
  const names = new Set(stale.map((o) => o.name));
  for (const v of out.graph.outputs) if (names.has(v.name)) v.shape = withDim(v.shape, 0, symbol);
  return { model: out, changed: true, safe: true, why: `declared fixed batch on output(s) ${[...names].map((n) => `'${n}'`).join(', ')} made symbolic` };
}

/** The reverse: set a symbolic batch to `n` on inputs, outputs and value_info that use
 * the inputs' batch symbol (static shapes are needed to differentiate a graph). */
export function fixBatch(model: Model, n: number): Model {
  const { fixed, symbol } = inputBatch(realInputs(model.graph));
  if (fixed !== undefined) {
    if (fixed !== n) throw new GraphError(`the batch is fixed at ${fixed}, cannot fix it at ${n}`, 'free it first with freeBatch');
    return model;
  }
  const out = cloneModel(model);
  const g = out.graph;
  const fix = (v: ValueInfo) => {
    if (v.shape && (v.shape[0] === symbol || (symbol === null && v.shape[0] === null))) v.shape = withDim(v.shape, 0, null)!.map((d, i) => (i === 0 ? n : d));
  };
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo.values()]) if (!g.initializers.has(v.name)) fix(v);
  return out;
}
