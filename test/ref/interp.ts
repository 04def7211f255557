// A float64 reference interpreter of ONNX graphs: the ground truth of gradient tests
// (onnxruntime has no float64 Conv, so gradients are checked by central differences
// through this). Every value, int64 and bool included, is held as a Float64Array;
// float casts keep float64 precision on purpose. Ops follow opset 18 semantics and
// accept the older attribute forms of axes/pads/starts where they existed.
import type { DType, Graph, Node, Tensor } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { type OpTable, type Val, sizeOf } from './interp-core.js';
import { elementwiseOps } from './interp-elementwise.js';
import { reduceOps } from './interp-reduce.js';
import { linalgOps } from './interp-linalg.js';
import { convOps } from './interp-conv.js';
import { poolOps } from './interp-pool.js';
import { normOps } from './interp-norm.js';
import { shapeOps } from './interp-shape.js';
import { indexOps } from './interp-index.js';

export interface RefTensor {
  dims: number[];
  data: Float64Array;
  /** informative: the ONNX dtype this value stands for (graph inputs default to their declared type) */
  dtype?: DType;
}

const OPS: OpTable = {
  ...elementwiseOps, ...reduceOps, ...linalgOps, ...convOps, ...poolOps, ...normOps, ...shapeOps, ...indexOps,
  Constant: (_ins, node) => [constantValue(node)],
};

/** The op types this interpreter evaluates. */
export const SUPPORTED_OPS: readonly string[] = Object.keys(OPS).sort();

/**
 * Evaluate `graph` on `feeds` in float64. Nodes run in graph order (they are
 * topologically sorted); only nodes that the requested outputs depend on run.
 * Returns copies, so callers may mutate results (and feeds) freely.
 */
export function evaluate(graph: Graph, feeds: Record<string, RefTensor>, outputs?: string[]): Record<string, RefTensor> {
  const want = outputs ?? graph.outputs.map((o) => o.name);
  const env = new Map<string, Val>();
  for (const [name, t] of graph.initializers) env.set(name, fromTensor(t));
  for (const vi of graph.inputs) {
    if (!feeds[vi.name] && !env.has(vi.name)) throw new Error(`reference evaluate: no feed for graph input '${vi.name}'`);
  }
  const declared = new Map(graph.inputs.map((v) => [v.name, v.dtype]));
  for (const [name, f] of Object.entries(feeds)) {
    if (f.data.length !== sizeOf(f.dims)) throw new Error(`reference evaluate: feed '${name}' has ${f.data.length} values for shape [${f.dims}]`);
    env.set(name, { dims: f.dims, data: f.data, dtype: f.dtype ?? declared.get(name) ?? 'float32' });
  }
  for (const node of liveNodes(graph, want, env)) runNode(node, env);
  const res: Record<string, RefTensor> = {};
  for (const name of want) {
    const v = env.get(name);
    if (!v) throw new Error(`reference evaluate: value '${name}' is not produced by graph '${graph.name}'`);
    res[name] = { dims: [...v.dims], data: v.data.slice(), dtype: v.dtype };
  }
  return res;
}

/** Nodes needed for `want`, in graph order (values already in env are not recomputed). */
function liveNodes(graph: Graph, want: string[], env: Map<string, Val>): Node[] {
  const needed = new Set(want.filter((n) => !env.has(n)));
  const live: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (!node.outputs.some((o) => o && needed.has(o))) continue;
    live.push(node);
    for (const inp of node.inputs) if (inp && !env.has(inp)) needed.add(inp);
  }
  return live.reverse();
}

function runNode(node: Node, env: Map<string, Val>): void {
  const fn = node.domain === '' || node.domain === 'ai.onnx' ? OPS[node.opType] : undefined;
  if (!fn) {
    const op = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    throw new Error(`reference interpreter does not support op '${op}' (node '${node.name}')`);
  }
  const ins = node.inputs.map((name) => {
    if (!name) return undefined;
    const v = env.get(name);
    if (!v) throw new Error(`reference ${node.opType} node '${node.name}': input '${name}' has no value yet`);
    return v;
  });
  let outs: (Val | undefined)[];
  try {
    outs = fn(ins, node);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith('reference') ? msg : `reference ${node.opType} node '${node.name}': ${msg}`);
  }
  node.outputs.forEach((name, i) => {
    const v = outs[i];
    if (name && v) env.set(name, v);
  });
}

function constantValue(node: Node): Val {
  const a = node.attrs;
  if (a.value?.kind === 'tensor') return fromTensor(a.value.value);
  if (a.value_float?.kind === 'float') return { dims: [], dtype: 'float32', data: Float64Array.of(a.value_float.value) };
  if (a.value_floats?.kind === 'floats') return vec(a.value_floats.value, 'float32');
  if (a.value_int?.kind === 'int') return { dims: [], dtype: 'int64', data: Float64Array.of(a.value_int.value) };
  if (a.value_ints?.kind === 'ints') return vec(a.value_ints.value, 'int64');
  throw new Error(`reference Constant node '${node.name}': only value, value_float(s) and value_int(s) are supported`);
}

const vec = (xs: number[], dtype: DType): Val => ({ dims: [xs.length], dtype, data: Float64Array.from(xs) });

function fromTensor(t: Tensor): Val {
  return { dims: [...t.dims], dtype: t.dtype, data: numbersOf(t) };
}

function numbersOf(t: Tensor): Float64Array {
  const d = t.data;
  if (Array.isArray(d)) throw new Error('reference interpreter: string tensors are not supported');
  if (t.dtype === 'float16') return Float64Array.from(d as Uint16Array, halfToNumber);
  if (t.dtype === 'bfloat16') return Float64Array.from(d as Uint16Array, bf16ToNumber);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d as ArrayLike<bigint>, Number);
  return Float64Array.from(d as ArrayLike<number>);
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bfView = new DataView(new ArrayBuffer(4));
function bf16ToNumber(h: number): number {
  bfView.setUint32(0, h << 16);
  return bfView.getFloat32(0);
}

/** Our IR tensor as a reference value (float16/bfloat16 decoded, int64 converted). */
export function refFromTensor(t: Tensor): RefTensor {
  return fromTensor(t);
}

/** A reference value as a float32 IR tensor (for feeding onnxruntime). */
export function refToF32(t: RefTensor): Tensor {
  return { dtype: 'float32', dims: [...t.dims], data: Float32Array.from(t.data) };
}

/** A reference value as an IR tensor of its own dtype (float32 when unknown). */
export function refToTensor(t: RefTensor, dtype: DType = t.dtype ?? 'float32'): Tensor {
  if (dtype === 'float16' || dtype === 'bfloat16' || dtype === 'string') {
    throw new Error(`refToTensor: ${dtype} output is not supported`);
  }
  return tensor(dtype, t.dims, t.data);
}
