// Objectives are registered by name (--objective NAME). Each declares what it
// needs from a batch so the trainer can feed it and refuse what cannot work.
import type { LossBuilder } from '../step.js';
import { UsageError } from '../../errors.js';

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
  build(options: Record<string, number>, hasLabels: boolean): LossBuilder;
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
