// The gradient-rule registry: one rule per ONNX op, registered once.
// Family files (elementwise.ts, linalg.ts, ...) register on import; grad/index.ts
// imports them all, so importing grad/index.js gives the complete set.
import type { Builder } from '../builder.js';
import type { Node } from '../ir.js';
import type { Ops } from '../ops.js';
import { GraphError } from '../../errors.js';

export interface GradCtx {
  node: Node;
  b: Builder;
  o: Ops;
  /** gradient arriving at output i, or undefined when that output does not reach the loss */
  dy: (string | undefined)[];
  /** whether input i needs a gradient (depends on a differentiated value) */
  needs(i: number): boolean;
  /** input name i ('' when omitted) */
  x(i: number): string;
  /** output name i */
  y(i: number): string;
  /** static shape of a value */
  shape(name: string): number[];
  /** sum a gradient down to `shape` (undo multidirectional broadcasting) */
  unbroadcast(g: string, shape: number[]): string;
}

/** Returns the gradient of each input (undefined where not needed or not defined). */
export type GradRule = (c: GradCtx) => (string | undefined)[];

const RULES = new Map<string, GradRule | 'none'>();

export function registerGrad(op: string, rule: GradRule): void {
  if (RULES.has(op)) throw new Error(`gradient rule for '${op}' is registered twice`);
  RULES.set(op, rule);
}

/** Ops whose outputs carry no gradient (integer/boolean results, shapes, indices). */
export function registerNoGrad(ops: string[]): void {
  for (const op of ops) {
    if (RULES.has(op)) throw new Error(`gradient rule for '${op}' is registered twice`);
    RULES.set(op, 'none');
  }
}

export function gradRuleOf(op: string): GradRule | 'none' | undefined {
  return RULES.get(op);
}

/** The error for a node on a gradient path whose op has no rule. `where` prefixes the
 * message (e.g. the student file) and `fix` comes before the developer's way out, so a
 * check made up front says what autodiff would say later. */
export function missingGradError(node: Node, where = '', fix = ''): GraphError {
  return new GraphError(
    `${where ? where + ': ' : ''}no gradient rule for op ${node.domain ? node.domain + '.' : ''}${node.opType} (node '${node.name}')`,
    `${fix ? fix + ', or ' : ''}add one with registerGrad('${node.opType}', ...) in src/graph/grad/<family>.ts, or mark it non-differentiable with registerNoGrad`);
}

export function registeredOps(): string[] {
  return [...RULES.keys()].sort();
}
