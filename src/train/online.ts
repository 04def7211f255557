// Online distillation (bdkd --online, dml): teacher and student trained together in one
// step graph. The teacher's graph joins the student's with every name prefixed
// `teacher/` (its parameters, buffers and values; both read the same `input`), and its
// logits become the output `teacher_logits`. Each model's loss treats the other's
// predictions as fixed (stop-gradient copies), so the one joint gradient of the summed
// loss updates each parameter set by its own objective.
import type { Graph, Tensor } from '../graph/ir.js';
import type { TrainableModel } from './step.js';
import type { EpChoice } from '../runtime/session.js';
import { buildStudent } from '../graph/zoo/index.js';
import { exportInference } from '../graph/export.js';
import { saveModel } from '../graph/serde.js';
import { graphStats } from '../graph/stats.js';
import { applyWeights } from './weights.js';
import { StudentEvaluator } from './evaluator.js';

export const TEACHER_PREFIX = 'teacher/';

/** The student with an online teacher beside it: outputs the student's plus `teacher_logits`. */
export function withOnlineTeacher(student: TrainableModel, teacher: TrainableModel, teacherLrScale = 1): TrainableModel {
  const r = (n: string) => (n === '' ? n : n === teacher.input ? student.input : TEACHER_PREFIX + n);
  const t = teacher.graph;
  const g: Graph = {
    ...student.graph,
    nodes: [...student.graph.nodes, ...t.nodes.map((n) => ({ ...n, name: n.name ? TEACHER_PREFIX + n.name : n.name, inputs: n.inputs.map(r), outputs: n.outputs.map(r) }))],
    initializers: new Map([...student.graph.initializers, ...[...t.initializers].map(([k, v]) => [r(k), v] as [string, Tensor])]),
    valueInfo: new Map([...student.graph.valueInfo, ...[...t.valueInfo].filter(([k]) => k !== teacher.input).map(([k, v]) => [r(k), { ...v, name: r(k) }] as const)]),
    outputs: [...student.graph.outputs, ...t.outputs.filter((o) => o.name === teacher.outputs.logits).map((o) => ({ ...o, name: r(o.name) }))],
  };
  for (const k of g.initializers.keys()) if (student.graph.initializers.has(k) && k.startsWith(TEACHER_PREFIX)) throw new Error(`name clash: ${k}`);
  return {
    graph: g, input: student.input,
    outputs: { ...student.outputs, teacher_logits: r(teacher.outputs.logits) },
    params: [...student.params, ...teacher.params.map(r)],
    buffers: { ...student.buffers, ...Object.fromEntries(Object.entries(teacher.buffers ?? {}).map(([k, v]) => [r(k), r(v)])) },
    noDecay: [...(student.noDecay ?? []), ...(teacher.noDecay ?? []).map(r)],
    lrScale: { ...student.lrScale, ...Object.fromEntries(teacher.params.map((p) => [r(p), teacherLrScale])) },
  };
}

/** The teacher's own weights (prefix removed) from the joint model's values. */
export function teacherWeights(values: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...values].filter(([k]) => k.startsWith(TEACHER_PREFIX)).map(([k, v]) => [k.slice(TEACHER_PREFIX.length), v]));
}

export interface OnlineTeacherSpec {
  /** a float .onnx file (fine-tuned from its weights) or a zoo preset (trained from scratch) */
  teacher: string;
  inputShape: number[];
  numClasses: number;
  seed: number;
  width?: number;
  depth?: number;
}

/** The online teacher's train-mode model, its validation evaluator and its export. */
export async function openOnlineTeacher(spec: OnlineTeacherSpec, batch: number, ep: EpChoice) {
  const build = (b: number | string, mode: 'train' | 'eval') => buildStudent(spec.teacher, {
    inputShape: spec.inputShape, numClasses: spec.numClasses, seed: spec.seed + 1, width: spec.width, depth: spec.depth, batch: b, mode,
  });
  const train = build(batch, 'train');
  const evalModel = build(256, 'eval');
  const names = [...train.params, ...Object.keys(train.buffers ?? {})];
  const evaluator = await StudentEvaluator.create(evalModel, names, ep);
  return {
    train,
    /** validation logits of the teacher with the joint model's current values */
    logits: async (values: Map<string, Tensor>, x: Float32Array, n: number) => (await evaluator.run(teacherWeights(values), x, n)).logits,
    /** teacher.onnx from the joint model's values */
    save: (values: Map<string, Tensor>, file: string, metadata: Record<string, string>) => {
      const m = build('N', 'eval');
      applyWeights(m.graph, teacherWeights(values));
      saveModel(exportInference(m.graph, { metadata }), file);
    },
    params: graphStats(build(1, 'eval').graph).params,
    release: () => evaluator.release(),
  };
}
