// A user-supplied float ONNX model as the student (`--student S.onnx`). The file is
// upgraded to opset 18 and brought to the contract the presets follow (NetBuilder.finish):
// one data input named `input` (the trainer feeds that name) with the batch set to
// opts.batch, the output `logits` [B, C] (a final Softmax/LogSoftmax stripped) and, when
// the classifier is a Gemm/MatMul, `features` (its input). Intermediate values get a
// `student/` prefix so they never clash with the names a train-step graph declares
// itself; initializers keep their names, so checkpoints, applyWeights and export match
// by name, and the initial weights are the file's (the seed is not used).
// Parameters, BatchNorm/Dropout per mode and the gradient check: onnx-student-train.ts.
import type { Graph, Model, Node, ValueInfo } from '../ir.js';
import { attrInt, indexGraph } from '../ir.js';
import { loadModel } from '../serde.js';
import { TARGET_OPSET, upgradeToOpset18 } from '../opset-upgrade.js';
import { dropInitializerInputs, freeBatch, isClassifierShape, realInputs, valueTypes } from '../surgery.js';
import { namer, usedNames } from '../surgery-common.js';
import { inferShapes } from '../infer.js';
import { foldShapeConstants } from '../fold-shapes.js';
import { GraphError, ShapeError, UsageError } from '../../errors.js';
import type { TrainableModel } from '../../train/step.js';
import type { StudentOptions } from './types.js';
import { checkTrainable, prepareMode, selectParams } from './onnx-student-train.js';

const PREFIX = 'student/';
/** Names a train-step graph declares itself (inputs, outputs, Loop body values). */
const RESERVED = new Set(['input', 'logits', 'features', 'mask', 'labels', 'teacher_logits', 'teacher_features', 'lr', 'step',
  'loss', 'per_sample', 'grad_norm', 'iter', 'cond_in', 'step_in', 'cond_out', 'step_out', 'trip_count', 'cond_true']);

/** Does this --student name a model file rather than a preset? */
export const isStudentFile = (name: string) => name.toLowerCase().endsWith('.onnx');

export function onnxStudent(file: string, opts: StudentOptions): TrainableModel {
  const where = `student ${file}`;
  let model = dropInitializerInputs(upgradeToOpset18(loadModel(file)));
  const g0 = model.graph;
  const input = checkInput(g0, opts.inputShape, where);
  const types = valueTypes(model);
  const classifier = classifierOutput(g0, types, opts.numClasses, where);
  const logits = stripSoftmax(g0, classifier, types);
  const features = featuresOf(g0, logits, types);
  g0.outputs = [logits, ...(features ? [features] : [])].map((name) => ({ name, dtype: 'float32' }));
  prune(g0);
  const sub = g0.nodes.find((n) => Object.values(n.attrs).some((a) => a.kind === 'graph' || a.kind === 'graphs'));
  if (sub) throw new GraphError(`${where}: ${sub.opType} node '${sub.name}' holds a subgraph`, 'a student must be a plain feed-forward graph (no If/Loop/Scan)');
  const rename = renameValues(g0, input.name);
  const rank = (types.get(logits)?.shape ?? types.get(classifier)?.shape)?.length ?? 2;
  exposeOutputs(g0, rename.get(logits) ?? logits, features && (rename.get(features) ?? features), rank);

  model = setBatch(model, input.shape!, opts.batch, where);
  const g = model.graph;
  const buffers = prepareMode(g, opts.mode, namer(g));
  if (typeof opts.batch === 'number') foldShapeConstants(g, TARGET_OPSET);
  const infos = inferShapes(g, TARGET_OPSET);
  g.valueInfo = new Map();
  for (const n of g.nodes) for (const o of n.outputs) if (o && infos.has(o)) g.valueInfo.set(o, infos.get(o)!);
  g.outputs = g.outputs.map((o) => infos.get(o.name) ?? o);
  const c = infos.get('logits')?.shape?.[1];
  if (typeof c === 'number' && c !== opts.numClasses) {
    throw new ShapeError(`${where}: its logits work out to ${c} classes for batch ${opts.batch}, ${opts.numClasses} are needed`);
  }

  const { params, noDecay } = selectParams(g);
  if (opts.mode === 'train') checkTrainable(g, params, 'logits', where);
  const outputs: Record<string, string> = { logits: 'logits', ...(features ? { features: 'features' } : {}) };
  return { graph: g, input: 'input', outputs, params, noDecay, buffers: opts.mode === 'train' ? buffers : {} };
}

/** The one real float32 input, rank >= 2, whose per-sample dims are numbers equal to `want`. */
function checkInput(g: Graph, want: number[], where: string): ValueInfo {
  const inputs = realInputs(g);
  if (inputs.length !== 1) {
    throw new GraphError(`${where} has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')})`, 'a student takes exactly one input: the image batch');
  }
  const v = inputs[0];
  if (v.dtype !== 'float32' || v.opaqueType !== undefined) throw new GraphError(`${where}: input '${v.name}' is ${v.dtype}, a student needs float32`, 'use a float model, not a quantized one');
  const per = v.shape?.slice(1) ?? [];
  if (!v.shape || v.shape.length < 2 || !per.every((d) => typeof d === 'number' && d > 0)) {
    throw new GraphError(`${where}: input '${v.name}' has shape [${v.shape ?? '?'}]; the batch axis and fixed per-sample dims are needed`,
      'export the student with a fixed input size (only the batch may be dynamic)');
  }
  if (per.join(',') !== want.join(',')) {
    throw new UsageError(`${where} takes samples of shape [${per}], but the data's samples are [${want}]`,
      `use data of shape [${per}], or a student made for [${want}]`);
  }
  return v;
}

/** The first float32 output shaped [N, C] (or [N, C, 1, 1]); C must be the class count. */
function classifierOutput(g: Graph, types: Map<string, ValueInfo>, classes: number, where: string): string {
  const shapeOf = (o: ValueInfo) => (o.shape?.length ? o.shape : types.get(o.name)?.shape);
  const found = g.outputs.find((o) => o.opaqueType === undefined && o.dtype === 'float32' && isClassifierShape(shapeOf(o)));
  if (!found) {
    const list = g.outputs.map((o) => `${o.name} ${o.dtype}[${shapeOf(o) ?? '?'}]`).join(', ');
    throw new GraphError(`${where} has no float32 output shaped [N, C] (outputs: ${list})`, 'a student must end in a classifier output [batch, classes]');
  }
  const c = shapeOf(found)![1];
  if (c !== classes) {
    throw new UsageError(`${where} predicts ${c ?? 'an unknown number of'} classes (output '${found.name}'), but the teacher/labels have ${classes}`,
      `use a student whose classifier has ${classes} outputs`);
  }
  return found.name;
}

/** The logits behind a probabilities or log-probabilities output: the input of a final
 * Softmax, LogSoftmax or Log(Softmax) over the class axis (through Identity nodes). */
function stripSoftmax(g: Graph, out: string, types: Map<string, ValueInfo>): string {
  const { producer } = indexGraph(g);
  const through = (v: string) => {
    let n = producer.get(v);
    while (n && n.opType === 'Identity' && n.domain === '') n = producer.get(n.inputs[0]);
    return n;
  };
  const overClasses = (n: Node) => {
    const s = types.get(n.inputs[0])?.shape;
    const axis = attrInt(n, 'axis', -1);
    return !!s && (axis < 0 ? axis + s.length : axis) === 1 && s.slice(2).every((d) => d === 1);
  };
  let n = through(out);
  if (n && n.domain === '' && n.opType === 'Log') n = through(n.inputs[0]) ?? n;
  if (n && n.domain === '' && (n.opType === 'Softmax' || n.opType === 'LogSoftmax') && overClasses(n)) return n.inputs[0];
  return out;
}

/** The input of the classifier layer (Gemm, MatMul, or MatMul + Add) when it is [N, D]. */
function featuresOf(g: Graph, logits: string, types: Map<string, ValueInfo>): string | undefined {
  const { producer } = indexGraph(g);
  let n = producer.get(logits);
  while (n && n.opType === 'Identity') n = producer.get(n.inputs[0]);
  if (n?.opType === 'Add') n = n.inputs.map((i) => producer.get(i)).find((p) => p?.opType === 'MatMul');
  if (!n || n.domain !== '' || !(n.opType === 'MatMul' || (n.opType === 'Gemm' && attrInt(n, 'transA', 0) === 0))) return undefined;
  const s = types.get(n.inputs[0])?.shape;
  return s && s.length === 2 && typeof s[1] === 'number' ? n.inputs[0] : undefined;
}

/** Keep only the nodes and initializers the graph outputs need. */
function prune(g: Graph): void {
  const needed = new Set(g.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    kept.push(n);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  g.nodes = kept.reverse();
  for (const k of [...g.initializers.keys()]) if (!needed.has(k)) g.initializers.delete(k);
}

/** The input becomes `input`, every node output gets the prefix, initializers keep their
 * names unless the step graph reserves them; unnamed nodes get names (for messages). */
function renameValues(g: Graph, inputName: string): Map<string, string> {
  const used = new Set([...usedNames(g), ...RESERVED]);
  const fresh = (hint: string) => {
    let name = hint;
    for (let i = 1; used.has(name); i++) name = `${hint}_${i}`;
    used.add(name);
    return name;
  };
  const map = new Map<string, string>([[inputName, 'input']]);
  const clean = (v: string) => v.replace(/::/g, ':'); // '::' marks optimizer state in step graphs
  for (const k of g.initializers.keys()) if (RESERVED.has(k) || k.includes('::')) map.set(k, fresh(PREFIX + clean(k)));
  for (const n of g.nodes) for (const o of n.outputs) if (o && !map.has(o)) map.set(o, fresh(PREFIX + clean(o)));
  const r = (v: string) => (v ? map.get(v) ?? v : v);
  g.inputs = g.inputs.map((v) => ({ ...v, name: r(v.name) }));
  g.initializers = new Map([...g.initializers].map(([k, t]) => [r(k), t]));
  g.nodes = g.nodes.map((n, i) => ({ ...n, name: n.name || fresh(`${n.opType}_${i}`), inputs: n.inputs.map(r), outputs: n.outputs.map(r) }));
  g.outputs = g.outputs.map((o) => ({ ...o, name: r(o.name) }));
  g.valueInfo = new Map(); // the file's value_info used the old names (and often a traced batch)
  return map;
}

/** Graph outputs `logits` (flattened from [N, C, 1, 1]) and `features`. */
function exposeOutputs(g: Graph, logits: string, features: string | undefined, logitsRank: number): void {
  const fresh = namer(g);
  const add = (opType: string, input: string, output: string, attrs: Node['attrs'] = {}) =>
    g.nodes.push({ opType, domain: '', name: fresh(`${PREFIX}${output}_${opType}`), inputs: [input], outputs: [output], attrs });
  if (logitsRank === 4) add('Flatten', logits, 'logits', { axis: { kind: 'int', value: 1 } });
  else add('Identity', logits, 'logits');
  if (features) add('Identity', features, 'features');
  g.outputs = [{ name: 'logits', dtype: 'float32' }, ...(features ? [{ name: 'features', dtype: 'float32' as const }] : [])];
}

/** The input's batch set to `batch`; a file that fixes another batch is freed first,
 * which rewrites Reshape targets that bake it in (only when provably safe). */
function setBatch(model: Model, shape: ValueInfo['shape'] & object, batch: number | string, where: string): Model {
  const b0 = shape[0];
  let m = model;
  if (typeof b0 === 'number' && b0 !== batch) {
    const r = freeBatch(model);
    if (!r.safe) {
      throw new GraphError(`${where} fixes its batch at ${b0}, which cannot be changed safely (${r.why})`,
        'export the student with a dynamic batch axis (dynamic_axes in torch.onnx.export)');
    }
    m = r.model;
  }
  const inp = m.graph.inputs.find((v) => v.name === 'input')!;
  inp.shape = [batch, ...shape.slice(1)];
  return m;
}
