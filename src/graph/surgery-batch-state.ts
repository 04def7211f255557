// Batch-axis tracking for freeBatch, shared parts: what a value's state is, the
// context a rule sees, and small helpers. Rules: surgery-batch-rules.ts (registry,
// elementwise, nn, reductions) and surgery-batch-layout.ts (data movement).
import type { Node, Shape, Tensor } from './ir.js';
import { attrInts } from './ir.js';
import { toNumbers } from './tensor.js';

export interface Bad { bad: string }
/** an axis index, 'const' (does not depend on the batch), or why we lost track */
export type BatchState = number | 'const' | Bad;

export const isBad = (s: BatchState | undefined): s is Bad => typeof s === 'object';

export interface RuleCtx {
  node: Node;
  opset: number;
  /** state of input i ('const' for omitted inputs) */
  st(i: number): BatchState;
  shape(i: number): Shape | undefined;
  const(i: number): Tensor | undefined;
  /** the old fixed batch size, or undefined when the input batch is symbolic */
  batch: number | undefined;
  /** Reshape targets to rewrite: node -> new target */
  rewrites: Map<Node, number[]>;
}

export type Rule = (c: RuleCtx) => BatchState | BatchState[];

export const bad = (c: RuleCtx, why: string): Bad => ({ bad: `${c.node.opType} node '${c.node.name}' ${why}` });
export const norm = (a: number, r: number) => (a < 0 ? a + r : a);
export const ints = (c: RuleCtx, i: number) => {
  const t = c.const(i);
  return t ? toNumbers(t) : undefined;
};
export const axesArg = (c: RuleCtx, i: number) => attrInts(c.node, 'axes') ?? (c.node.inputs[i] ? ints(c, i) ?? 'unknown' : undefined);
