// Objectives are registered by name (--objective NAME). Each declares what it
// needs from a batch so the trainer can feed it and refuse what cannot work.
import type { LossBuilder } from '../step.js';
import type { Tensor } from '../../graph/ir.js';
import { UsageError } from '../../errors.js';

/** What an objective may need to know about the two models to build its loss. */
export interface ObjectiveShapes {
  classes: number;
  /** width of the student's pooled `features` */
  studentFeatures: number;
  /** the student's last feature map [C, H, W] (its `feature_map` output), when it has one */
  studentMap?: number[];
  /** width of the teacher feature tensor (`teacher_features` batch input) */
  teacherFeatures?: number;
  /** [C, H, W] when the teacher feature tensor is a flattened map (C-major, as Flatten gives) */
  teacherMap?: number[];
  /** number of teachers (several --teacher flags; objectives that mix teachers) */
  teachers?: number;
  /** the teacher trains alongside (--online): its logits are the model output `teacher_logits` */
  online?: boolean;
}

/** A trainable tensor the objective adds beside the student's (a projection head). */
export interface AuxParam {
  name: string;
  init: Tensor;
  /** weight decay applies (false for norm scales and biases) */
  decay: boolean;
}

export interface ObjectiveNeeds {
  /** hard labels: required, used when present, or ignored */
  labels: 'required' | 'optional' | 'none';
  /** teacher logits per sample */
  teacherLogits: boolean;
  /** teacher feature tensor per sample */
  teacherFeatures: boolean;
}

export interface Objective {
  name: string;
  /** one line for --help */
  summary: string;
  needs: ObjectiveNeeds;
  /** option defaults, e.g. { alpha: 0.5, temperature: 4 } */
  defaults: Record<string, number>;
  /** the per-sample loss; `hasLabels` tells whether the data has labels */
  build(options: Record<string, number>, hasLabels: boolean, shapes: ObjectiveShapes): LossBuilder;
  /** extra parameters trained jointly with the student and dropped on export */
  auxParams?(options: Record<string, number>, shapes: ObjectiveShapes, seed: number): AuxParam[];
  /** the objective trains the student's features only: a second phase fits its
   * classifier head to the teacher's logits (KD, same data) so the export classifies */
  fitsHeadAfter?: boolean;
  /** takes several teachers (`--teacher A --teacher B`) */
  multiTeacher?: boolean;
  /** learns a per-sample weight table between epochs (alm-run.ts) */
  metaLearnsWeights?: boolean;
  /** can train its teacher alongside the student (--online); 'only': needs --online */
  online?: true | 'only';
}

const OBJECTIVES = new Map<string, Objective>();

export function registerObjective(o: Objective): void {
  if (OBJECTIVES.has(o.name)) throw new Error(`objective '${o.name}' is registered twice`);
  OBJECTIVES.set(o.name, o);
}

export function objectiveNames(): string[] {
  return [...OBJECTIVES.keys()];
}

export function getObjective(name: string): Objective {
  const o = OBJECTIVES.get(name);
  if (!o) throw new UsageError(`unknown objective '${name}'`, `choose one of: ${objectiveNames().join(', ')}`);
  return o;
}

/** Merge user options over defaults, refusing unknown keys. */
export function resolveOptions(o: Objective, given: Record<string, number | undefined>): Record<string, number> {
  const out = { ...o.defaults };
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    if (!(k in o.defaults)) throw new UsageError(`objective '${o.name}' has no option '${k}'`, `its options: ${Object.keys(o.defaults).join(', ') || 'none'}`);
    out[k] = v;
  }
  return out;
}
