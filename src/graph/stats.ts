// Parameter and FLOP counts of a graph, for `inspect` and for sizing students.
//
// Conventions (the numbers are only comparable with tools that count the same way):
// - params: elements of the initializers that hold weights: float dtypes, and int8/uint8
//   (quantised weights). int32/int64 initializers are shape, axis and index constants.
//   BatchNormalization running mean/variance are not trained: they are `buffers`.
// - FLOPs = 2 x multiply-accumulates for Conv (MACs per output element = C_in/group x
//   kernel area), ConvTranspose, Gemm and MatMul (and their quantised forms); a bias
//   adds one FLOP per output element.
// - Pooling: one FLOP per window element per output (MaxPool, AveragePool, LpPool);
//   global pooling and reductions: one per input element.
// - BatchNormalization: 2 per element (the scale and the shift it folds into);
//   Layer/InstanceNormalization: 5 per element (mean, variance, normalise, scale, shift);
//   Softmax/LogSoftmax: 3 per element (exp, sum, divide or subtract).
// - Data movement (Reshape, Transpose, Concat, Slice, Gather, Cast, ...) is free.
// - Every other op (elementwise arithmetic, activations, comparisons, quantisation):
//   one FLOP per output element.
// - Shapes are the graph's static shapes; symbolic dims (the batch dim of an imported
//   model, or of a student built for export) are bound to `batch`, default 1, so such a
//   model is counted per sample. A graph built with batch B is counted for B samples.
// - Only the top-level graph is counted: the bodies of Loop/If/Scan are not.
import type { DType, Graph, Node, ValueInfo } from './ir.js';
import { attrInt, attrInts, isStaticShape, numel } from './ir.js';
import { DTYPE_BYTES } from './tensor.js';
import { inferShapes } from './infer.js';

export interface OpStats {
  count: number;
  flops: number;
}

export interface GraphStats {
  /** trainable-weight elements (see the conventions above) */
  params: number;
  paramBytes: number;
  /** BatchNorm running statistics: state, not trained */
  buffers: number;
  bufferBytes: number;
  flops: number;
  perOp: Record<string, OpStats>;
  /** names of nodes whose FLOPs could not be counted because a shape is unknown */
  unknown: string[];
}

export interface StatsOptions {
  /** opset used to re-infer shapes when the graph's own are incomplete (default 18) */
  opset?: number;
  /** value bound to symbolic dims (default 1: per sample) */
  batch?: number;
}

const WEIGHT_DTYPES = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64', 'int8', 'uint8']);

const FREE = new Set([
  'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Concat', 'Split', 'Slice', 'Gather',
  'GatherElements', 'GatherND', 'Expand', 'Tile', 'Pad', 'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Cast',
  'CastLike', 'Dropout', 'DepthToSpace', 'SpaceToDepth', 'Range', 'NonZero', 'ScatterElements', 'ScatterND',
]);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2',
  'ReduceLogSumExp', 'ReduceSumSquare', 'ReduceLogSum', 'ArgMax', 'ArgMin',
  'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const PER_ELEMENT: Record<string, number> = {
  BatchNormalization: 2, LayerNormalization: 5, InstanceNormalization: 5, Softmax: 3, LogSoftmax: 3,
};

/** Static shapes of every value: the graph's own when complete, else re-inferred. */
function shapesOf(graph: Graph, opts: StatsOptions): Map<string, ValueInfo> {
  const complete = graph.nodes.every((n) => n.outputs.every((o) => !o || isStaticShape(graph.valueInfo.get(o)?.shape)))
    && graph.inputs.every((v) => isStaticShape(v.shape));
  if (!complete) return inferShapes(graph, opts.opset ?? 18, { bind: opts.batch ?? 1 });
  const values = new Map(graph.valueInfo);
  for (const v of graph.inputs) values.set(v.name, v);
  for (const [name, t] of graph.initializers) values.set(name, { name, dtype: t.dtype, shape: [...t.dims] });
  return values;
}

/** FLOPs of one node by the conventions above; undefined when a needed shape is unknown. */
export function nodeFlops(node: Node, shape: (name: string) => number[] | undefined): number | undefined {
  const op = node.opType;
  if (FREE.has(op)) return 0;
  const inp = (i: number) => (node.inputs[i] ? shape(node.inputs[i]) : undefined);
  const out = shape(node.outputs[0]);
  const has = (i: number) => !!node.inputs[i];
  switch (op) {
    case 'Conv': case 'ConvInteger': case 'QLinearConv': {
      const [wi, bi] = op === 'QLinearConv' ? [3, 8] : [1, 2];
      const w = inp(wi);
      if (!out || !w) return undefined;
      const macs = numel(out) * (numel(w) / w[0]);
      return 2 * macs + (op !== 'ConvInteger' && has(bi) ? numel(out) : 0);
    }
    case 'ConvTranspose': {
      const x = inp(0), w = inp(1);
      if (!x || !w || !out) return undefined;
      return 2 * numel(x) * (numel(w) / w[0]) + (has(2) ? numel(out) : 0);
    }
    case 'Gemm': {
      const a = inp(0);
      if (!a || !out) return undefined;
      const k = attrInt(node, 'transA', 0) ? a[0] : a[1];
      return 2 * numel(out) * k + (has(2) ? numel(out) : 0);
    }
    case 'MatMul': case 'MatMulInteger': case 'QLinearMatMul': {
      const a = inp(0);
      if (!a || !out) return undefined;
      return 2 * numel(out) * a[a.length - 1];
    }
    case 'MaxPool': case 'AveragePool': case 'LpPool': {
      const k = attrInts(node, 'kernel_shape');
      return out && k ? numel(out) * numel(k) : undefined;
    }
  }
  if (REDUCE.has(op)) {
    const x = inp(0);
    return x ? numel(x) : undefined;
  }
  return out ? numel(out) * (PER_ELEMENT[op] ?? 1) : undefined;
}

export function graphStats(graph: Graph, opts: StatsOptions = {}): GraphStats {
  const bufferNames = new Set<string>();
  for (const n of graph.nodes) {
    if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.inputs[i]) bufferNames.add(n.inputs[i]);
  }
  const s: GraphStats = { params: 0, paramBytes: 0, buffers: 0, bufferBytes: 0, flops: 0, perOp: {}, unknown: [] };
  for (const [name, t] of graph.initializers) {
    if (!WEIGHT_DTYPES.has(t.dtype)) continue;
    const n = numel(t.dims), bytes = n * DTYPE_BYTES[t.dtype];
    if (bufferNames.has(name)) {
      s.buffers += n;
      s.bufferBytes += bytes;
    } else {
      s.params += n;
      s.paramBytes += bytes;
    }
  }
  const values = shapesOf(graph, opts);
  const shape = (name: string) => {
    const sh = values.get(name)?.shape;
    return isStaticShape(sh) ? sh : undefined;
  };
  for (const node of graph.nodes) {
    const f = nodeFlops(node, shape);
    if (f === undefined) s.unknown.push(node.name || `${node.opType}(${node.outputs[0]})`);
    const entry = (s.perOp[node.opType] ??= { count: 0, flops: 0 });
    entry.count += 1;
    entry.flops += f ?? 0;
    s.flops += f ?? 0;
  }
  return s;
}
