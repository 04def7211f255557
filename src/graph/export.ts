// Inference export: from an eval-mode graph with trained weights to a deployable
// student.onnx. BatchNormalization is folded into the Conv/Gemm before it, unused
// initializers are dropped, the batch dimension stays symbolic, metadata is attached.
import type { Graph, Model, Node, Tensor } from './ir.js';
import { attrFloat, attrInt, indexGraph, newModel } from './ir.js';
import { tensor } from './tensor.js';

export interface ExportOptions {
  metadata?: Record<string, string>;
  opset?: number;
}

export function exportInference(graph: Graph, opts: ExportOptions = {}): Model {
  const g: Graph = { ...graph, nodes: [...graph.nodes], initializers: new Map(graph.initializers), valueInfo: new Map(graph.valueInfo) };
  foldBatchNorms(g);
  dropUnused(g);
  g.valueInfo.clear(); // intermediate shapes were inferred for one batch size; ORT re-infers
  const model = newModel(g, opts.opset ?? 18);
  model.metadata = { ...(opts.metadata ?? {}) };
  return model;
}

/** Fold inference-form BatchNormalization into a preceding Conv used by nothing else. */
export function foldBatchNorms(g: Graph): number {
  let folded = 0;
  const { producer, uses } = indexGraph(g);
  const outputs = new Set(g.outputs.map((o) => o.name));
  for (const bn of [...g.nodes]) {
    if (bn.opType !== 'BatchNormalization' || bn.outputs.filter(Boolean).length !== 1 || attrInt(bn, 'training_mode', 0)) continue;
    const conv = producer.get(bn.inputs[0]);
    if (!conv || conv.opType !== 'Conv' || (uses.get(conv.outputs[0]) ?? []).length !== 1 || outputs.has(conv.outputs[0])) continue;
    const [scale, bias, mean, vr] = bn.inputs.slice(1).map((n) => g.initializers.get(n));
    const w = g.initializers.get(conv.inputs[1]);
    if (!scale || !bias || !mean || !vr || !w) continue;
    const eps = attrFloat(bn, 'epsilon', 1e-5);
    const convBias = conv.inputs[2] ? g.initializers.get(conv.inputs[2]) : undefined;
    if (conv.inputs[2] && !convBias) continue; // a computed bias cannot be folded into
    const { weight, b } = foldInto(w, convBias, scale, bias, mean, vr, eps);
    // a weight shared by several convs gets one folded copy per conv
    const wName = unused(g, `${conv.inputs[1]}.folded`), bName = unused(g, `${conv.inputs[1].replace(/\.weight$/, '')}.bias.folded`);
    g.initializers.set(wName, weight);
    g.initializers.set(bName, b);
    const newConv: Node = { ...conv, inputs: [conv.inputs[0], wName, bName], outputs: [bn.outputs[0]] };
    g.nodes[g.nodes.indexOf(conv)] = newConv;
    g.nodes.splice(g.nodes.indexOf(bn), 1);
    folded++;
  }
  return folded;
}

/** W' = W * s / sqrt(v + eps) per output channel; b' = (b - m) * s / sqrt(v + eps) + beta. */
function foldInto(w: Tensor, convBias: Tensor | undefined, scale: Tensor, beta: Tensor, mean: Tensor, vr: Tensor, eps: number) {
  const cout = w.dims[0];
  const per = w.data.length / cout;
  const wd = w.data as Float32Array;
  const out = new Float32Array(wd.length);
  const bias = new Float32Array(cout);
  for (let c = 0; c < cout; c++) {
    // computed in float64, rounded once
    const f = (scale.data as Float32Array)[c] / Math.sqrt((vr.data as Float32Array)[c] + eps);
    for (let i = 0; i < per; i++) out[c * per + i] = wd[c * per + i] * f;
    const b0 = convBias ? (convBias.data as Float32Array)[c] : 0;
    bias[c] = (b0 - (mean.data as Float32Array)[c]) * f + (beta.data as Float32Array)[c];
  }
  return { weight: tensor('float32', w.dims, out), b: tensor('float32', [cout], bias) };
}

function unused(g: Graph, name: string): string {
  let n = name;
  for (let i = 1; g.initializers.has(n); i++) n = `${name}_${i}`;
  return n;
}

function dropUnused(g: Graph): void {
  const used = new Set<string>();
  for (const n of g.nodes) for (const i of n.inputs) used.add(i);
  for (const o of g.outputs) used.add(o.name);
  for (const k of [...g.initializers.keys()]) if (!used.has(k)) g.initializers.delete(k);
}
