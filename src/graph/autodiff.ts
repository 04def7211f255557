// Reverse-mode autodiff over our IR. Walks the forward nodes backwards, asks the
// registered rule of each op for input gradients, sums fan-out contributions, and
// emits only standard ONNX ops into the same graph through the builder.
import type { Builder } from './builder.js';
import type { Node } from './ir.js';
import { isFloatDType } from './tensor.js';
import { Ops } from './ops.js';
import { gradRuleOf, missingGradError, type GradCtx } from './grad/index.js';

export interface GradOptions {
  /** scalar (or any-shaped) value to differentiate; its seed gradient is ones */
  loss: string;
  /** values to differentiate with respect to (parameters, inputs) */
  wrt: string[];
  /** values treated as constants: no gradient flows through them (stop-gradient) */
  stop?: Iterable<string>;
  /** seed gradient for `loss` instead of ones */
  seed?: string;
}

/** Append gradient nodes to the builder's graph; returns wrt name -> gradient value name. */
export function differentiate(b: Builder, opts: GradOptions): Map<string, string> {
  const o = new Ops(b);
  const forward = [...b.graph.nodes];
  const stop = new Set(opts.stop ?? []);
  const active = activeNodes(forward, opts.wrt, opts.loss, stop);
  const depends = dependsSet(forward, opts.wrt, stop);

  const contributions = new Map<string, string[]>();
  const add = (value: string, g: string) => {
    const list = contributions.get(value);
    if (list) list.push(g);
    else contributions.set(value, [g]);
  };
  const total = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list || list.length === 0) return undefined;
    if (list.length > 1) {
      const sum = b.scope('grad', () => b.op('Sum', list));
      contributions.set(value, [sum]);
      return sum;
    }
    return list[0];
  };

  add(opts.loss, opts.seed ?? b.scope('grad', () => o.expand(o.scalarLike(1, opts.loss), b.shape(opts.loss))));

  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    if (!active.has(node)) continue;
    const dy = node.outputs.map((out) => (out ? total(out) : undefined));
    if (dy.every((g) => g === undefined)) continue;
    const rule = gradRuleOf(node.opType);
    if (rule === 'none') continue;
    if (!rule || (node.domain !== '' && node.domain !== 'ai.onnx')) throw missingGradError(node);
    const ctx = makeCtx(b, o, node, dy, depends);
    const grads = b.scope('grad', () => rule(ctx));
    node.inputs.forEach((inp, k) => {
      const g = grads[k];
      if (g && inp && ctx.needs(k)) add(inp, g);
    });
  }

  const result = new Map<string, string>();
  for (const w of opts.wrt) {
    const g = total(w);
    result.set(w, g ?? b.scope('grad', () => o.zerosLike(w)));
  }
  return result;
}

function makeCtx(b: Builder, o: Ops, node: Node, dy: (string | undefined)[], depends: Set<string>): GradCtx {
  return {
    node,
    b,
    o,
    dy,
    needs: (i) => !!node.inputs[i] && depends.has(node.inputs[i]) && isFloatDType(b.dtype(node.inputs[i])),
    x: (i) => node.inputs[i] ?? '',
    y: (i) => node.outputs[i] ?? '',
    shape: (name) => b.shape(name),
    unbroadcast: (g, shape) => unbroadcast(b, o, g, shape),
  };
}

/** Sum `g` over the axes that broadcasting expanded, so it has `target` shape. */
export function unbroadcast(b: Builder, o: Ops, g: string, target: number[]): string {
  const gs = b.shape(g);
  if (gs.length === target.length && gs.every((d, i) => d === target[i])) return g;
  const lead = gs.length - target.length;
  let out = g;
  if (lead > 0) out = o.reduceSum(out, Array.from({ length: lead }, (_, i) => i), false);
  const axes = target.flatMap((d, i) => (d === 1 && gs[i + lead] !== 1 ? [i] : []));
  if (axes.length) out = o.reduceSum(out, axes, true);
  return out;
}

/** Values that depend on any of `wrt` (through non-stopped paths). */
function dependsSet(nodes: Node[], wrt: string[], stop: Set<string>): Set<string> {
  const dep = new Set(wrt.filter((w) => !stop.has(w)));
  for (const n of nodes) {
    if (n.inputs.some((i) => i && dep.has(i))) for (const out of n.outputs) if (out && !stop.has(out)) dep.add(out);
  }
  return dep;
}

/** Nodes on some path from a wrt value to the loss. */
function activeNodes(nodes: Node[], wrt: string[], loss: string, stop: Set<string>): Set<Node> {
  const dep = dependsSet(nodes, wrt, stop);
  const reaches = new Set([loss]);
  const active = new Set<Node>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((out) => out && reaches.has(out) && dep.has(out))) continue;
    active.add(n);
    for (const inp of n.inputs) if (inp && dep.has(inp)) reaches.add(inp);
  }
  return active;
}
