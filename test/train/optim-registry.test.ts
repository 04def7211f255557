// The optimizer registry: names, defaults, and the errors users see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createOptimizer, optimizerNames, registerOptimizer, createSgd,
} from '../../src/train/optim/index.js';
import { UsageError, DistillError } from '../../src/errors.js';

test('sgd and adamw are registered with their defaults and state slots', () => {
  assert.ok(optimizerNames().includes('sgd') && optimizerNames().includes('adamw'));
  const sgd = createOptimizer('sgd');
  assert.deepEqual({ ...sgd.hyper }, { momentum: 0.9, nesterov: false, weightDecay: 5e-4, dampening: 0 });
  assert.deepEqual(sgd.stateSlots, ['momentum']);
  assert.deepEqual(createOptimizer('sgd', { momentum: 0 }).stateSlots, []);
  const adamw = createOptimizer('adamw', { beta2: 0.99 });
  assert.deepEqual({ ...adamw.hyper }, { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 });
  assert.deepEqual(adamw.stateSlots, ['m', 'v']);
});

test('an unknown optimizer name is a UsageError listing the known ones', () => {
  assert.throws(() => createOptimizer('adam'), (e: unknown) =>
    e instanceof UsageError && /'adam'/.test(e.message) && /adamw/.test(e.hint) && /sgd/.test(e.hint));
});

test('an unknown or mistyped hyper-parameter is a UsageError naming the key', () => {
  assert.throws(() => createOptimizer('adamw', { beta3: 0.5 }), (e: unknown) =>
    e instanceof UsageError && /beta3/.test(e.message) && /beta1/.test(e.hint));
  assert.throws(() => createOptimizer('sgd', { nesterov: 1 }), UsageError);
  assert.throws(() => createOptimizer('sgd', { momentum: Number.NaN }), UsageError);
  assert.throws(() => createOptimizer('adamw', { beta1: 1 }), UsageError);
  assert.throws(() => createOptimizer('sgd', { momentum: 0, nesterov: true }), UsageError);
});

test('registering a name twice throws', () => {
  assert.throws(() => registerOptimizer('sgd', createSgd), DistillError);
  registerOptimizer('sgd-test-only', createSgd);
  assert.ok(optimizerNames().includes('sgd-test-only'));
});
