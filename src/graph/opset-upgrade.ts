// Upgrade a model to ai.onnx opset 18, the opset our generated graphs (gradients,
// training steps) use, so an old teacher can be composed with them. Only ops whose
// signature or meaning changed between opset 7 and 18 are rewritten: attributes that
// became inputs, Upsample -> Resize, the 2-D coercion of Softmax-like ops before 13,
// and attributes that were removed. Everything else keeps its node as it is.
import type { Attr, Graph, Model, Node, Tensor, ValueInfo } from './ir.js';
import { A, attrFloat, attrInt, attrInts, attrString, opsetOf } from './ir.js';
import { tensor } from './tensor.js';
import { cloneModel, constOf, valueTypes, namer } from './surgery-common.js';
import { GraphError } from '../errors.js';

export const TARGET_OPSET = 18;

interface Ctx {
  graph: Graph;
  /** the model's ai.onnx opset before the upgrade */
  from: number;
  info: Map<string, ValueInfo>;
  fresh: (hint: string) => string;
  /** new initializer holding `t`; returns its name */
  constant(t: Tensor, hint: string): string;
  /** is `value` read by any node or graph output? */
  used(value: string): boolean;
}

type Rule = (n: Node, c: Ctx) => Node[];

const REDUCE = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum',
  'ReduceLogSumExp', 'ReduceSumSquare'];
const LEGACY_BROADCAST = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less', 'PRelu'];

const where = (n: Node) => `${n.opType} node '${n.name}'`;
const without = (n: Node, ...names: string[]): Node => {
  const attrs = { ...n.attrs };
  for (const k of names) delete attrs[k];
  return { ...n, attrs };
};
const i64 = (v: number[]) => tensor('int64', [v.length], v);
/** a scalar of the value's element type (Clip bounds, Pad value must match it) */
const scalarLike = (c: Ctx, value: string, v: number) => tensor(c.info.get(value)?.dtype ?? 'float32', [], [v]);
const rankOf = (c: Ctx, value: string) => c.info.get(value)?.shape?.length;

/** Move an ints attribute to input slot `slot` (as an int64 constant). */
function attrToInput(n: Node, c: Ctx, attr: string, slot: number): Node {
  const v = attrInts(n, attr);
  if (v === undefined) return n;
  const inputs = [...n.inputs];
  while (inputs.length < slot) inputs.push('');
  inputs[slot] = c.constant(i64(v), `${n.name || n.opType}_${attr}`);
  return { ...without(n, attr), inputs };
}

const RULES = new Map<string, Rule>();
const reg = (ops: string[], r: Rule) => ops.forEach((o) => RULES.set(o, r));

reg(['Squeeze', 'Unsqueeze'], (n, c) => [attrToInput(n, c, 'axes', 1)]);
reg(REDUCE, (n, c) => [attrToInput(n, c, 'axes', 1)]);
reg(['Split'], (n, c) => {
  const m = attrToInput(n, c, 'split', 1);
  // Split-18 needs either the split input or num_outputs (earlier: an even split)
  return [m.inputs[1] || m.attrs.num_outputs ? m : { ...m, attrs: { ...m.attrs, num_outputs: A.int(n.outputs.length) } }];
});
reg(['Slice'], (n, c) => {
  if (!attrInts(n, 'starts')) return [n];
  const ins = [n.inputs[0], ...['starts', 'ends', 'axes'].flatMap((k) => (attrInts(n, k) ? [c.constant(i64(attrInts(n, k)!), `${n.name || 'Slice'}_${k}`)] : []))];
  return [{ ...without(n, 'starts', 'ends', 'axes'), inputs: ins }];
});
reg(['Pad'], (n, c) => {
  const pads = attrInts(n, 'pads') ?? attrInts(n, 'paddings');
  if (!pads) return [n];
  const ins = [n.inputs[0], c.constant(i64(pads), `${n.name || 'Pad'}_pads`)];
  if (n.attrs.value) ins.push(c.constant(scalarLike(c, n.inputs[0], attrFloat(n, 'value', 0)), `${n.name || 'Pad'}_value`));
  return [{ ...without(n, 'pads', 'paddings', 'value'), inputs: ins }];
});
reg(['Clip'], (n, c) => {
  if (!n.attrs.min && !n.attrs.max) return [n];
  const bound = (k: string) => (n.attrs[k] ? c.constant(scalarLike(c, n.inputs[0], attrFloat(n, k, 0)), `${n.name || 'Clip'}_${k}`) : '');
  const ins = [n.inputs[0], bound('min'), bound('max')];
  if (!ins[2]) ins.pop();
  return [{ ...without(n, 'min', 'max'), inputs: ins }];
});
reg(['Dropout'], (n, c) => {
  const m = without(n, 'is_test', 'ratio');
  if (!n.attrs.ratio) return [m];
  return [{ ...m, inputs: [n.inputs[0], c.constant(tensor('float32', [], [attrFloat(n, 'ratio', 0.5)]), `${n.name || 'Dropout'}_ratio`)] }];
});
reg(['BatchNormalization'], (n, c) => {
  if (n.attrs.spatial && attrInt(n, 'spatial', 1) === 0) {
    throw new GraphError(`${where(n)} uses spatial=0 (per-activation statistics), which opset 9 removed`, 'reshape the statistics to per-channel form, or keep the teacher at its own opset');
  }
  // from opset 14, inference-mode BatchNormalization has exactly one output
  const extra = n.outputs.slice(1).filter((o) => o && c.used(o));
  if (extra.length) throw new GraphError(`${where(n)} exposes running statistics ('${extra[0]}'), which inference-mode opset 18 cannot`);
  return [{ ...without(n, 'spatial', 'is_test', 'consumed_inputs'), outputs: [n.outputs[0]] }];
});
reg(['Upsample', 'Resize'], resize);
reg(['Softmax', 'LogSoftmax', 'Hardmax'], softmaxLike);
reg(LEGACY_BROADCAST, (n, c) => {
  if (!n.attrs.broadcast && !n.attrs.axis) return [n];
  const axis = n.attrs.axis ? attrInt(n, 'axis', 0) : undefined;
  if (attrInt(n, 'broadcast', 0) === 1 && axis !== undefined) {
    // legacy broadcast aligns B at `axis` of A; numpy aligns it at the end
    const ra = rankOf(c, n.inputs[0]), rb = rankOf(c, n.inputs[1]);
    const numpy = ra !== undefined && rb !== undefined && (axis < 0 ? axis + ra : axis) === ra - rb;
    if (!numpy) {
      throw new GraphError(`${where(n)} uses pre-opset-7 broadcasting (broadcast=1, axis=${axis}), which numpy-style broadcasting cannot express`,
        'convert the model to opset 7 or later first (onnx.version_converter)');
    }
  }
  return [without(n, 'broadcast', 'axis', 'consumed_inputs')];
});
reg(['Gemm'], (n) => [without(n, 'broadcast')]);
reg(['Reshape'], (n, c) => [attrToInput(without(n, 'consumed_inputs'), c, 'shape', 1)]);
// Scatter (9, 10) was renamed ScatterElements at 11, same meaning
reg(['Scatter'], (n) => [{ ...n, opType: 'ScatterElements' }]);
reg(['TopK'], (n, c) => {
  if (!n.attrs.k) return [n];
  return [{ ...without(n, 'k'), inputs: [n.inputs[0], c.constant(i64([attrInt(n, 'k', 1)]), `${n.name || 'TopK'}_k`)] }];
});

/** Upsample (any version) and Resize-10 -> Resize-18 with their old coordinate rules:
 * asymmetric coordinates; nearest takes floor when enlarging, ceil when shrinking. */
function resize(n: Node, c: Ctx): Node[] {
  if (n.opType === 'Resize' && c.from >= 11) return [n];
  const mode = attrString(n, 'mode', 'nearest') === 'bilinear' ? 'linear' : attrString(n, 'mode', 'nearest');
  const scalesAttr = n.attrs.scales;
  let scalesName = n.inputs[1];
  let scales: number[] | undefined;
  if (scalesAttr && scalesAttr.kind === 'floats') {
    scales = scalesAttr.value;
    scalesName = c.constant(tensor('float32', [scales.length], scales), `${n.name || n.opType}_scales`);
  } else {
    const t = scalesName ? constOf(c.graph, scalesName) : undefined;
    scales = t ? Array.from(t.data as Float32Array) : undefined;
  }
  if (!scalesName) throw new GraphError(`${where(n)} has no scales`, 'the model is not valid ONNX');
  const attrs: Record<string, Attr> = { mode: A.string(mode), coordinate_transformation_mode: A.string('asymmetric') };
  if (mode === 'nearest') {
    const up = scales ? scales.every((s) => s >= 1) : n.opType === 'Upsample'; // Upsample never shrinks
    const down = scales ? scales.every((s) => s <= 1) : false;
    if (!up && !down) throw new GraphError(`${where(n)} mixes enlarging and shrinking (or has computed scales) in nearest mode, which opset 18 cannot express the same way`);
    attrs.nearest_mode = A.string(up ? 'floor' : 'ceil');
  }
  return [{ ...n, opType: 'Resize', inputs: [n.inputs[0], '', scalesName], attrs }];
}

/** Before opset 13 these ops flattened the input to 2-D at `axis` (default 1); from 13
 * they act on one axis (default -1). Same thing when nothing follows the axis. */
function softmaxLike(n: Node, c: Ctx): Node[] {
  if (c.from >= 13) return [n];
  const shape = c.info.get(n.inputs[0])?.shape;
  let axis = attrInt(n, 'axis', 1);
  if (shape && axis < 0) axis += shape.length;
  if (shape && shape.slice(axis + 1).every((d) => d === 1)) return [{ ...n, attrs: { ...n.attrs, axis: A.int(axis) } }];
  // general case: Flatten(x, axis) -> op(axis=1) -> Reshape(..., Shape(x))
  const base = n.name || n.opType;
  const flat = c.fresh(`${base}_flat`), y = c.fresh(`${base}_2d`), shp = c.fresh(`${base}_shape`);
  const node = (opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): Node =>
    ({ opType, domain: '', name: c.fresh(`${base}_${opType}`), inputs, outputs, attrs });
  return [
    node('Flatten', [n.inputs[0]], [flat], { axis: A.int(axis) }),
    { ...n, inputs: [flat], outputs: [y], attrs: { ...n.attrs, axis: A.int(1) } },
    node('Shape', [n.inputs[0]], [shp]),
    node('Reshape', [y, shp], [n.outputs[0]]),
  ];
}

function upgradeGraph(graph: Graph, model: Model, from: number): void {
  const info = valueTypes(model, graph);
  const fresh = namer(graph);
  const reads = new Set<string>([...graph.outputs.map((o) => o.name), ...graph.nodes.flatMap((n) => n.inputs)]);
  const ctx: Ctx = {
    graph, from, info, fresh,
    constant(t, hint) {
      const name = fresh(hint);
      graph.initializers.set(name, t);
      return name;
    },
    used: (v) => reads.has(v),
  };
  const out: Node[] = [];
  for (const node of graph.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      out.push(node);
      continue;
    }
    let n = node.attrs.consumed_inputs ? without(node, 'consumed_inputs') : node;
    n = withUpgradedSubgraphs(n, model, from);
    const rule = RULES.get(n.opType);
    out.push(...(rule ? rule(n, ctx) : [n]));
  }
  graph.nodes = out;
}

function withUpgradedSubgraphs(n: Node, model: Model, from: number): Node {
  const subs = Object.entries(n.attrs).filter(([, a]) => a.kind === 'graph' || a.kind === 'graphs');
  if (subs.length === 0) return n;
  const attrs = { ...n.attrs };
  for (const [k, a] of subs) {
    const one = (g: Graph) => {
      const copy = cloneModel({ ...model, graph: g }).graph;
      upgradeGraph(copy, model, from);
      return copy;
    };
    attrs[k] = a.kind === 'graph' ? A.graph(one(a.value)) : { kind: 'graphs', value: (a.value as Graph[]).map(one) };
  }
  return { ...n, attrs };
}

/**
 * The same model at ai.onnx opset 18 (IR version at least 8). Other domains (e.g.
 * ai.onnx.ml) keep their versions. Throws GraphError, naming the node, for the few
 * old forms opset 18 cannot express (pre-opset-7 broadcasting along an axis,
 * BatchNormalization with spatial=0, nearest resizing that both grows and shrinks).
 */
export function upgradeToOpset18(model: Model): Model {
  const from = opsetOf(model);
  if (from > TARGET_OPSET) throw new GraphError(`the model uses opset ${from}, newer than ${TARGET_OPSET}`, 'downgrading is not supported');
  const out = cloneModel(model);
  if (from < TARGET_OPSET) upgradeGraph(out.graph, out, from);
  out.opsetImports = [
    { domain: '', version: TARGET_OPSET },
    ...out.opsetImports.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx'),
  ];
  out.irVersion = Math.max(out.irVersion, 8);
  return out;
}
