// The complete gradient-rule set: importing this module registers every family.
// Each family file owns the rules of related ops; registry.ts owns the table.
export { registerGrad, registerNoGrad, gradRuleOf, registeredOps, missingGradError } from './registry.js';
export type { GradCtx, GradRule } from './registry.js';
import './nograd.js';
import './elementwise.js';
import './activation.js';
import './reduce.js';
import './shape.js';
import './linalg.js';
import './nn.js';
import './norm.js';
