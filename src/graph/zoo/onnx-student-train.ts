// The trainable side of a student read from a file (onnx-student.ts): which initializers
// are parameters and which of them skip weight decay, BatchNormalization and Dropout in
// the form each mode needs (as NetBuilder does for the presets), and an up-front check
// that autodiff can walk every node between the parameters and the logits, so a student
// it cannot train fails at once with one clear error rather than deep inside step.ts.
import type { Graph, Node } from '../ir.js';
import { A, indexGraph, isStaticShape, numel } from '../ir.js';
import { gradRuleOf, missingGradError } from '../grad/index.js';
import { ShapeError } from '../../errors.js';
import type { Mode } from './layers.js';

/** Input slots that hold weights: a float32 initializer there is trained. */
const WEIGHT_SLOTS: Record<string, number[]> = {
  Conv: [1, 2], ConvTranspose: [1, 2], Gemm: [0, 1, 2], MatMul: [0, 1], Gather: [0],
  BatchNormalization: [1, 2], LayerNormalization: [1, 2], InstanceNormalization: [1, 2], PRelu: [1],
};
/** Ops whose constant operands are weights when they are real tensors (not scalars) and
 * act on a layer's output: a learned shift or scale, a position embedding, a class token.
 * The same op on the raw input is baked-in preprocessing ((x - mean) / std): kept fixed. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Sum', 'Concat']);
const LAYERS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
/** Ops exporters put between a stored weight and its layer (CNTK reshapes its MatMul weight). */
const MOVES = new Set(['Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

/** Slots holding a layer's weight matrix or kernel: the only parameters weight decay applies to. */
const KERNEL_SLOTS: Record<string, number[]> = { Conv: [1], ConvTranspose: [1], Gemm: [0, 1], MatMul: [0, 1], Gather: [0] };

/** Trainable initializers in file order. As in the presets, only layer kernels decay: biases
 * (also CNTK's [C, 1, 1] ones), norm scales and shifts, and elementwise tensors do not. */
export function selectParams(g: Graph): { params: string[]; noDecay: string[] } {
  // the float32 initializer a value is (or is moved from), if any
  const root = new Map<string, string>();
  for (const [k, t] of g.initializers) if (t.dtype === 'float32') root.set(k, k);
  const trainable = new Set<string>();
  const kernels = new Set<string>();
  const afterLayer = new Set<string>();
  for (const n of g.nodes) {
    if (n.domain !== '') continue;
    for (const s of WEIGHT_SLOTS[n.opType] ?? []) if (root.has(n.inputs[s])) trainable.add(root.get(n.inputs[s])!);
    for (const s of KERNEL_SLOTS[n.opType] ?? []) if (root.has(n.inputs[s])) kernels.add(root.get(n.inputs[s])!);
    const onLayer = n.inputs.some((x) => afterLayer.has(x));
    if (ELEMENTWISE.has(n.opType) && onLayer) {
      for (const x of n.inputs) if (root.has(x) && numel(g.initializers.get(root.get(x)!)!.dims) > 1) trainable.add(root.get(x)!);
    }
    if (MOVES.has(n.opType) && root.has(n.inputs[0])) root.set(n.outputs[0], root.get(n.inputs[0])!);
    if (LAYERS.has(n.opType) || onLayer) for (const o of n.outputs) if (o) afterLayer.add(o);
  }
  const params = [...g.initializers.keys()].filter((k) => trainable.has(k));
  return { params, noDecay: params.filter((p) => !kernels.has(p) || g.initializers.get(p)!.dims.length <= 1) };
}

/**
 * Dropout becomes the identity (the presets have none, so a file's Dropout does not
 * train either); BatchNormalization is put in inference form and, in train mode,
 * switched to batch statistics (training_mode=1) with its running statistics as
 * buffers, exactly as NetBuilder.bn does: running-stat initializer -> its updated value.
 * A BatchNorm whose statistics are not its own float32 initializers keeps them fixed.
 */
export function prepareMode(g: Graph, mode: Mode, fresh: (hint: string) => string): Record<string, string> {
  const { uses } = indexGraph(g);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const read = (v: string | undefined) => !!v && ((uses.get(v)?.length ?? 0) > 0 || outputs.has(v));
  const ownStat = (v: string) => g.initializers.get(v)?.dtype === 'float32' && uses.get(v)?.length === 1;
  const buffers: Record<string, string> = {};
  g.nodes = g.nodes.map((n): Node => {
    if (n.domain !== '') return n;
    if (n.opType === 'Dropout') return read(n.outputs[1]) ? n : { ...n, opType: 'Identity', inputs: [n.inputs[0]], outputs: [n.outputs[0]], attrs: {} };
    if (n.opType !== 'BatchNormalization' || n.outputs.slice(1).some(read)) return n;
    const { training_mode: _, ...attrs } = n.attrs;
    const [mean, vr] = [n.inputs[3], n.inputs[4]];
    if (mode !== 'train' || !ownStat(mean) || !ownStat(vr)) return { ...n, attrs, outputs: [n.outputs[0]] };
    const rm = fresh(`${n.outputs[0]}.running_mean_next`), rv = fresh(`${n.outputs[0]}.running_var_next`);
    buffers[mean] = rm;
    buffers[vr] = rv;
    return { ...n, attrs: { ...attrs, training_mode: A.int(1) }, outputs: [n.outputs[0], rm, rv] };
  });
  return buffers;
}

/**
 * Throw the error autodiff would throw later, naming the op and node, when a node
 * between the parameters and `loss` (the nodes autodiff visits) has no gradient rule,
 * or has a value whose shape is not static (gradient rules need static shapes).
 */
export function checkTrainable(g: Graph, params: string[], loss: string, where: string): void {
  const dep = new Set(params);
  for (const n of g.nodes) if (n.inputs.some((i) => i && dep.has(i))) for (const o of n.outputs) if (o) dep.add(o);
  const reaches = new Set([loss]);
  const active: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => o && reaches.has(o) && dep.has(o))) continue;
    active.unshift(n);
    for (const x of n.inputs) if (x && dep.has(x)) reaches.add(x);
  }
  const shapeOf = (v: string) => g.valueInfo.get(v)?.shape ?? g.inputs.find((i) => i.name === v)?.shape ?? g.initializers.get(v)?.dims;
  for (const n of active) {
    const rule = gradRuleOf(n.opType);
    if (rule === 'none') continue;
    if (!rule || (n.domain !== '' && n.domain !== 'ai.onnx')) throw missingGradError(n, where, `replace ${n.opType} in the student, or use a preset`);
    for (const v of [...n.inputs, ...n.outputs]) {
      if (!v || isStaticShape(shapeOf(v))) continue;
      throw new ShapeError(`${where}: the shape of '${v}' (at ${n.opType} node '${n.name}') cannot be worked out before training (got [${shapeOf(v)?.map((d) => d ?? '?') ?? '?'}])`,
        'training needs static shapes: give the student constant Reshape targets and a fixed per-sample input size');
    }
  }
}
