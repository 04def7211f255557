// Tape-style graph builder: every op call appends one node, names are deterministic
// (scope/OpType_counter), and output types are inferred as the node is added so
// later code (autodiff, optimizers) can ask any value for its dtype and shape.
import type { AttrInput, DType, Graph, Node, Shape, Tensor, ValueInfo } from './ir.js';
import { emptyGraph, isStaticShape, toAttr } from './ir.js';
import { inferNode } from './shapes.js';
import { ShapeError, GraphError } from '../errors.js';

export interface OpOptions {
  /** explicit output names (otherwise generated) */
  outputs?: string[];
  /** number of outputs to create when names are generated */
  numOutputs?: number;
  domain?: string;
  name?: string;
}

export class Builder {
  readonly graph: Graph;
  readonly opset: number;
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly scopes: string[] = [];
  private readonly constCache = new Map<string, string>();

  constructor(graph: Graph | string, opset = 18) {
    this.graph = typeof graph === 'string' ? emptyGraph(graph) : graph;
    this.opset = opset;
    for (const v of this.graph.inputs) this.used.add(v.name);
    for (const k of this.graph.initializers.keys()) this.used.add(k);
    for (const n of this.graph.nodes) {
      for (const o of n.outputs) this.used.add(o);
      if (n.name) this.used.add(n.name);
    }
  }

  /** Run fn with names prefixed by `name/`. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A name not used yet in this graph, deterministic for a given build sequence. */
  fresh(hint: string): string {
    const base = this.scopes.length ? `${this.scopes.join('/')}/${hint}` : hint;
    if (!this.used.has(base) && !this.counters.has(base)) {
      this.counters.set(base, 0);
      this.used.add(base);
      return base;
    }
    let i = this.counters.get(base) ?? 0;
    let name: string;
    do name = `${base}_${++i}`; while (this.used.has(name));
    this.counters.set(base, i);
    this.used.add(name);
    return name;
  }

  /** Reserve an exact name (graph inputs/outputs whose names are part of a contract). */
  reserve(name: string): string {
    if (this.used.has(name)) throw new GraphError(`name '${name}' is already used in graph '${this.graph.name}'`);
    this.used.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.used.has(name);
  }

  // ---------------------------------------------------------------- types

  info(name: string): ValueInfo {
    const vi = this.graph.valueInfo.get(name)
      ?? this.graph.inputs.find((v) => v.name === name)
      ?? initInfo(name, this.graph.initializers.get(name));
    if (!vi) throw new GraphError(`value '${name}' has no known type in graph '${this.graph.name}'`);
    return vi;
  }

  dtype(name: string): DType {
    return this.info(name).dtype;
  }

  /** The static shape of a value; throws when any dimension is unknown or symbolic. */
  shape(name: string): number[] {
    const s = this.info(name).shape;
    if (!isStaticShape(s)) {
      throw new ShapeError(`value '${name}' has shape [${s ?? '?'}], a static shape is needed here`,
        'fix the batch size of the graph (e.g. freeBatch/fixBatch in surgery) before differentiating');
    }
    return s;
  }

  /** One static dimension (other dims, e.g. a symbolic batch, may be unknown). */
  dim(name: string, axis: number): number {
    const s = this.info(name).shape;
    const d = s?.[axis < 0 ? s.length + axis : axis];
    if (typeof d !== 'number') throw new ShapeError(`value '${name}' has no static size on axis ${axis} (shape [${s ?? '?'}])`);
    return d;
  }

  rank(name: string): number {
    const s = this.info(name).shape;
    if (!s) throw new ShapeError(`value '${name}' has unknown rank`);
    return s.length;
  }

  /** A constant's value when it is an initializer or produced by a Constant node. */
  constValue(name: string): Tensor | undefined {
    const init = this.graph.initializers.get(name);
    if (init) return init;
    for (const n of this.graph.nodes) {
      if (n.opType === 'Constant' && n.outputs[0] === name) {
        const a = n.attrs.value;
        return a && a.kind === 'tensor' ? a.value : undefined;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- graph edits

  input(name: string, dtype: DType, shape: Shape): string {
    this.reserve(name);
    this.graph.inputs.push({ name, dtype, shape: [...shape] });
    return name;
  }

  /** Mark a value as a graph output, optionally under a new name (via Identity). */
  output(value: string, as?: string): string {
    let name = value;
    if (as && as !== value) name = this.op('Identity', [value], {}, { outputs: [this.reserve(as)] });
    const vi = this.info(name);
    this.graph.outputs.push({ ...vi, name });
    return name;
  }

  initializer(name: string, t: Tensor): string {
    this.reserve(name);
    this.graph.initializers.set(name, t);
    return name;
  }

  /** A constant stored as an initializer; small identical constants are shared. */
  constant(t: Tensor, hint = 'const'): string {
    const key = t.data.length <= 16 ? `${t.dtype}|${t.dims}|${Array.from(t.data as ArrayLike<unknown>).join(',')}` : '';
    const hit = key ? this.constCache.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh(hint);
    this.graph.initializers.set(name, t);
    if (key) this.constCache.set(key, name);
    return name;
  }

  /** Append a node with one output and return the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrInput | undefined> = {}, opts: OpOptions = {}): string {
    return this.opN(opType, inputs, attrs, { numOutputs: 1, ...opts })[0];
  }

  /** Append a node and return all its output names. */
  opN(opType: string, inputs: string[], attrs: Record<string, AttrInput | undefined> = {}, opts: OpOptions = {}): string[] {
    const outputs = opts.outputs ?? Array.from({ length: opts.numOutputs ?? 1 }, () => this.fresh(opType));
    const node: Node = {
      opType,
      domain: opts.domain ?? '',
      name: opts.name ?? this.fresh(`${opType}_node`),
      inputs,
      outputs,
      attrs: Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toAttr(v!)])),
    };
    this.append(node);
    return outputs;
  }

  /** Append a prepared node (names already unique) and infer its output types. */
  append(node: Node): void {
    for (const o of node.outputs) if (o) this.used.add(o);
    this.used.add(node.name);
    this.graph.nodes.push(node);
    const infos = inferNode(node, (n) => this.tryInfo(n), (n) => this.constValue(n), this.opset);
    infos.forEach((vi, i) => {
      if (vi && node.outputs[i]) this.graph.valueInfo.set(node.outputs[i], { ...vi, name: node.outputs[i] });
    });
  }

  tryInfo(name: string): ValueInfo | undefined {
    try {
      return this.info(name);
    } catch {
      return undefined;
    }
  }
}

function initInfo(name: string, t: Tensor | undefined): ValueInfo | undefined {
  return t ? { name, dtype: t.dtype, shape: [...t.dims] } : undefined;
}
