// The optimizer contract: an optimizer emits its update rule as graph nodes.
// Learning rate and step count are graph values, so a schedule needs no new graph.
import type { Ops } from '../../graph/ops.js';

export interface ParamUpdateIn {
  /** current parameter value */
  param: string;
  /** its gradient (same shape) */
  grad: string;
  /** current optimizer state, one value per slot in `stateSlots` (same shape as param) */
  state: Record<string, string>;
  /** apply weight decay to this parameter (false for biases and norm scales/shifts) */
  decay: boolean;
}

export interface ParamUpdateOut {
  param: string;
  state: Record<string, string>;
}

export interface Optimizer {
  readonly name: string;
  /** hyper-parameters after defaults are applied (recorded in config.json) */
  readonly hyper: Readonly<Record<string, number | boolean>>;
  /** per-parameter state tensors, zero-initialised, e.g. ['m', 'v'] for AdamW */
  readonly stateSlots: readonly string[];
  /**
   * Emit the update of one parameter.
   * @param lr   float32 scalar value: the learning rate of this step
   * @param step float32 scalar value: 1-based index of this step (for bias correction)
   */
  update(o: Ops, p: ParamUpdateIn, lr: string, step: string): ParamUpdateOut;
}

export type OptimizerFactory = (hyper: Record<string, number | boolean>) => Optimizer;
