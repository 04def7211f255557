// Gradient check: gradients of our generated graph, run by onnxruntime in float32,
// against central differences of the float64 reference interpreter.
// The checked function is L = sum_k sum(out_k * R_k) with fixed random R_k, so every
// element of every output contributes with a distinct weight.
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { Ops } from '../../src/graph/ops.js';
import { differentiate } from '../../src/graph/autodiff.js';
import { newModel, type DType, type Graph } from '../../src/graph/ir.js';
import { tensor } from '../../src/graph/tensor.js';
import { createSession } from '../../src/runtime/session.js';
import { evaluate, type RefTensor } from '../ref/interp.js';
import { rng } from './rand.js';

export { rng };

export interface GradInput {
  name: string;
  shape: number[];
  /** explicit values; default: seeded uniform in [-1, 1] (or [0.5, 2] when positive) */
  data?: number[];
  dtype?: DType;
  /** differentiate with respect to this input (default: true for float inputs) */
  wrt?: boolean;
  positive?: boolean;
}

export interface GradCheckSpec {
  inputs: GradInput[];
  /** build the function under test from the input value names; return its output(s) */
  build(b: Builder, o: Ops, x: string[]): string | string[];
  seed?: number;
  eps?: number;
  rtol?: number;
  atol?: number;
  /** probe at most this many elements per input (chosen at random) */
  maxProbes?: number;
  /** opset of the generated graph (default 18; e.g. 20 for Gelu) */
  opset?: number;
  /** last edit of the differentiated graph before onnxruntime loads it (the reference
   * still evaluates the forward nodes as built), e.g. rewriting old-opset node forms */
  beforeRun?: (b: Builder) => void;
  /** values no gradient flows through (stop-gradient), asked for after build. The float64
   * reference holds them at their unperturbed values, so both sides differentiate the same
   * function (the one whose stopped values are constants). */
  stop?: () => Iterable<string>;
}

export interface GradCheckResult {
  maxAbsErr: number;
  maxRelErr: number;
  probes: number;
  /** analytic gradients (float32, from onnxruntime) per wrt input */
  analytic: Record<string, Float32Array>;
}

export async function gradCheck(spec: GradCheckSpec): Promise<GradCheckResult> {
  const rand = rng(spec.seed ?? 1234);
  const b = new Builder('gradcheck', spec.opset ?? 18);
  const o = new Ops(b);
  const values = spec.inputs.map((inp) => {
    const n = inp.shape.reduce((a, d) => a * d, 1);
    const data = inp.data ?? Array.from({ length: n }, () => (inp.positive ? 0.5 + 1.5 * rand() : 2 * rand() - 1));
    b.input(inp.name, inp.dtype ?? 'float32', inp.shape);
    return data;
  });
  const outs = [spec.build(b, o, spec.inputs.map((i) => i.name))].flat();
  const terms = outs.map((out) => {
    const shape = b.shape(out);
    const n = shape.reduce((a, d) => a * d, 1);
    const r = b.constant(tensor(b.dtype(out), shape, Array.from({ length: n }, () => 2 * rand() - 1)), 'R');
    return o.reduceSum(o.mul(out, r), undefined, false);
  });
  const loss = terms.length === 1 ? terms[0] : b.op('Sum', terms);
  const forward: Graph = { ...b.graph, nodes: [...b.graph.nodes], initializers: new Map(b.graph.initializers), outputs: [] };
  const wrt = spec.inputs.filter((i) => i.wrt ?? ((i.dtype ?? 'float32') === 'float32')).map((i) => i.name);
  const stop = [...(spec.stop?.() ?? [])];
  const grads = differentiate(b, { loss, wrt, stop });
  b.output(loss, 'loss');
  for (const w of wrt) b.output(grads.get(w)!, `grad:${w}`);
  spec.beforeRun?.(b);

  const session = await createSession(newModel(b.graph, b.opset));
  const feeds = Object.fromEntries(spec.inputs.map((inp, k) => [inp.name, tensor(inp.dtype ?? 'float32', inp.shape, values[k])]));
  const res = await session.run(feeds);
  await session.release();

  const refFeeds: Record<string, RefTensor> = Object.fromEntries(
    spec.inputs.map((inp, k) => [inp.name, { dims: inp.shape, data: Float64Array.from(values[k]) }]));
  // stopped values, evaluated once at the unperturbed inputs, enter as fixed feeds
  const frozen = stop.length ? evaluate(forward, refFeeds, stop) : {};
  const evalLoss = () => evaluate(forward, { ...refFeeds, ...frozen }, [loss])[loss].data[0];
  const lossRef = evalLoss();
  const lossOrt = Number((res.loss.data as Float32Array)[0]);
  assert.ok(Math.abs(lossRef - lossOrt) <= 1e-4 * (1 + Math.abs(lossRef)),
    `forward value differs: onnxruntime ${lossOrt}, float64 reference ${lossRef}`);

  const eps = spec.eps ?? 1e-4, rtol = spec.rtol ?? 2e-3, atol = spec.atol ?? 2e-4;
  let maxAbsErr = 0, maxRelErr = 0, probes = 0;
  const analytic: Record<string, Float32Array> = {};
  for (const w of wrt) {
    const g = res[`grad:${w}`].data as Float32Array;
    analytic[w] = g;
    const x = refFeeds[w].data;
    assert.equal(g.length, x.length, `gradient of ${w} has ${g.length} elements, input has ${x.length}`);
    for (const idx of probeIndices(x.length, spec.maxProbes ?? 64, rand)) {
      const keep = x[idx];
      x[idx] = keep + eps;
      const up = evalLoss();
      x[idx] = keep - eps;
      const down = evalLoss();
      x[idx] = keep;
      const num = (up - down) / (2 * eps);
      const err = Math.abs(num - g[idx]);
      maxAbsErr = Math.max(maxAbsErr, err);
      maxRelErr = Math.max(maxRelErr, err / Math.max(Math.abs(num), 1e-8));
      probes++;
      assert.ok(err <= atol + rtol * Math.max(Math.abs(num), Math.abs(g[idx])),
        `d loss / d ${w}[${idx}]: graph gives ${g[idx]}, central difference gives ${num}`);
    }
  }
  return { maxAbsErr, maxRelErr, probes, analytic };
}

function probeIndices(n: number, max: number, rand: () => number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const set = new Set<number>();
  while (set.size < max) set.add(Math.floor(rand() * n));
  return [...set];
}
