// The optimizer registry: optimizers are chosen by name (--optimizer adamw|sgd) and
// registered once. Built-ins register on import of this module.
import type { Optimizer, OptimizerFactory } from './types.js';
import { DistillError, UsageError } from '../../errors.js';
import { createSgd } from './sgd.js';
import { createAdamw } from './adamw.js';

export type { Optimizer, OptimizerFactory, ParamUpdateIn, ParamUpdateOut } from './types.js';
export { clipGlobalNorm, type ClipResult } from './clip.js';
export { createSgd, SGD_DEFAULTS } from './sgd.js';
export { createAdamw, ADAMW_DEFAULTS } from './adamw.js';

const FACTORIES = new Map<string, OptimizerFactory>();

export function registerOptimizer(name: string, factory: OptimizerFactory): void {
  if (FACTORIES.has(name)) {
    throw new DistillError('E_REGISTRY', `optimizer '${name}' is registered twice`, 'register each optimizer name once');
  }
  FACTORIES.set(name, factory);
}

/** Registered optimizer names, sorted. */
export function optimizerNames(): string[] {
  return [...FACTORIES.keys()].sort();
}

/**
 * The optimizer `name` with `hyper` over its defaults. Throws a UsageError naming the
 * known optimizers for an unknown name, or the known keys for an unknown hyper key.
 */
export function createOptimizer(name: string, hyper: Record<string, number | boolean> = {}): Optimizer {
  const factory = FACTORIES.get(name);
  if (!factory) {
    throw new UsageError(`unknown optimizer '${name}'`, `known optimizers: ${optimizerNames().join(', ')}`);
  }
  // Checked here as well as in the factories, so a registered third-party factory
  // that ignores unknown keys still cannot silently drop a misspelt one.
  const known = Object.keys(factory({}).hyper);
  for (const key of Object.keys(hyper)) {
    if (!known.includes(key)) {
      throw new UsageError(`unknown hyper-parameter '${key}' for optimizer '${name}'`,
        `known hyper-parameters: ${known.join(', ')}`);
    }
  }
  return factory(hyper);
}

registerOptimizer('sgd', createSgd);
registerOptimizer('adamw', createAdamw);
