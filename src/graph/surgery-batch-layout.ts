// Batch-axis rules for ops that move data around (see surgery-batch-state.ts): each
// proves the batch stays one separate axis, or says why it cannot.
import { attrInt, attrInts } from './ir.js';
import { axesArg, bad, ints, norm, type BatchState, type Rule, type RuleCtx } from './surgery-batch-state.js';

function flatten(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  if (!s) return bad(c, 'has an input of unknown rank');
  const a = norm(attrInt(c.node, 'axis', 1), s.length);
  const others = s.slice(0, a).filter((_, i) => i !== b);
  return b < a && others.every((d) => d === 1) ? 0 : bad(c, 'merges the batch with other axes');
}

function reshape(c: RuleCtx): BatchState {
  if (c.st(1) !== 'const') return bad(c, 'takes a computed target shape');
  const b = c.st(0);
  const target = ints(c, 1);
  const s = c.shape(0);
  if (!target) return bad(c, 'takes a computed target shape');
  if (b !== 0 || !s || !s.slice(1).every((d) => typeof d === 'number')) return bad(c, 'reshapes a tensor whose batch is not a leading axis of known size');
  const perSample = (s.slice(1) as number[]).reduce((x, y) => x * y, 1);
  const allowzero = attrInt(c.node, 'allowzero', 0) === 1;
  const rest = target.slice(1).map((d, i) => (d === 0 && !allowzero ? (s[i + 1] as number | undefined) : d));
  if (rest.some((d) => d === undefined)) return bad(c, `copies a dimension the input does not have`);
  const known = (rest as number[]).filter((d) => d !== -1);
  const prod = known.reduce((x, y) => x * y, 1);
  const holes = rest.length - known.length;
  // the per-sample part must be exactly the input's per-sample elements
  const ok = holes === 0 ? prod === perSample : holes === 1 && prod > 0 && perSample % prod === 0;
  const lead = target[0];
  if (ok && lead === 0 && !allowzero) return 0;
  if (ok && lead === -1 && holes === 0) return 0;
  if (ok && c.batch !== undefined && lead === c.batch) {
    const fixed = [...target];
    fixed[0] = allowzero ? -1 : 0; // 0 copies the input's (batch) dim; -1 when zeros are literal
    if (fixed[0] === -1 && holes > 0) return bad(c, `bakes the batch ${lead} into its target [${target}]`);
    c.rewrites.set(c.node, fixed);
    return 0;
  }
  return bad(c, `bakes the batch into its target [${target}] for an input of shape [${s}]`);
}

function squeeze(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  const axes = axesArg(c, 1);
  if (!s || axes === 'unknown') return bad(c, 'squeezes unknown axes');
  if (!axes) return bad(c, 'squeezes every size-1 axis, the batch of 1 included');
  const set = axes.map((a) => norm(a, s.length));
  return set.includes(b) ? bad(c, 'squeezes the batch axis') : b - set.filter((a) => a < b).length;
}

function unsqueeze(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const s = c.shape(0);
  const axes = axesArg(c, 1);
  if (!s || !axes || axes === 'unknown') return bad(c, 'inserts unknown axes');
  const R = s.length + axes.length;
  const set = new Set(axes.map((a) => norm(a, R)));
  let seen = -1;
  for (let i = 0; i < R; i++) if (!set.has(i) && ++seen === b) return i;
  return bad(c, 'inserts unknown axes');
}

function transpose(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const perm = attrInts(c.node, 'perm') ?? (r === undefined ? undefined : Array.from({ length: r }, (_, i) => r - 1 - i));
  return perm ? perm.indexOf(b) : bad(c, 'has an input of unknown rank');
}

function concat(c: RuleCtx): BatchState {
  const states = c.node.inputs.map((_, i) => c.st(i));
  const b = states[0];
  if (!states.every((s) => s === b) || typeof b !== 'number') return bad(c, 'joins tensors that do not all carry the batch on one axis');
  const r = c.shape(0)?.length;
  if (r === undefined) return bad(c, 'has an input of unknown rank');
  return norm(attrInt(c.node, 'axis', 0), r) === b ? bad(c, 'concatenates along the batch axis') : b;
}

function slice(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const old = attrInts(c.node, 'starts') !== undefined;
  const starts = old ? attrInts(c.node, 'starts') : ints(c, 1);
  const ends = old ? attrInts(c.node, 'ends') : ints(c, 2);
  const axes = old ? attrInts(c.node, 'axes') : c.node.inputs[3] ? ints(c, 3) : undefined;
  const steps = !old && c.node.inputs[4] ? ints(c, 4) : undefined;
  if (r === undefined || !starts || !ends || (!old && c.node.inputs[3] && !axes) || (c.node.inputs[4] && !steps)) return bad(c, 'slices with computed bounds');
  for (let k = 0; k < starts.length; k++) {
    if (norm(axes ? axes[k] : k, r) !== b) continue;
    const full = starts[k] === 0 && ends[k] >= 2 ** 31 - 1 && (!steps || steps[k] === 1);
    if (!full) return bad(c, 'slices the batch axis');
  }
  return b;
}

function gather(c: RuleCtx): BatchState {
  const r = c.shape(0)?.length, ri = c.shape(1)?.length;
  if (r === undefined || ri === undefined) return bad(c, 'has an input of unknown rank');
  const axis = norm(attrInt(c.node, 'axis', 0), r);
  const d = c.st(0), i = c.st(1);
  if (typeof d === 'number' && i === 'const') return axis === d ? bad(c, 'gathers along the batch axis') : axis < d ? d + ri - 1 : d;
  if (d === 'const' && typeof i === 'number') return axis + i; // embedding lookup by per-sample indices
  return bad(c, 'gathers batch-dependent data with batch-dependent indices');
}

function padRule(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const pads = attrInts(c.node, 'pads') ?? attrInts(c.node, 'paddings') ?? ints(c, 1);
  if (r === undefined || !pads || c.node.inputs[3]) return bad(c, 'pads unknown axes');
  return pads[b] === 0 && pads[b + r] === 0 ? b : bad(c, 'pads the batch axis');
}

function tile(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const reps = ints(c, 1);
  return reps && reps[b] === 1 ? b : bad(c, 'repeats along the batch axis');
}

function expand(c: RuleCtx): BatchState {
  const b = c.st(0) as number;
  const r = c.shape(0)?.length;
  const target = ints(c, 1);
  if (r === undefined || !target) return bad(c, 'expands to a computed shape');
  const R = Math.max(r, target.length);
  const p = b + R - r - (R - target.length);
  return p < 0 || target[p] === 1 ? b + R - r : bad(c, 'expands along the batch axis');
}

export const LAYOUT_RULES: Record<string, Rule> = {
  Flatten: flatten, Reshape: reshape, Squeeze: squeeze, Unsqueeze: unsqueeze, Transpose: transpose, Concat: concat,
  Slice: slice, Gather: gather, Pad: padRule, Tile: tile, Expand: expand,
};
