// Test helper: build a small graph, run it in onnxruntime (float32, through
// src/runtime/session.ts) and in the float64 reference interpreter on the same
// inputs, and compare every output.
import assert from 'node:assert/strict';
import { Builder } from '../../src/graph/builder.js';
import { newModel, type DType, type Tensor } from '../../src/graph/ir.js';
import { encodeModel } from '../../src/graph/serde.js';
import { tensor, toNumbers } from '../../src/graph/tensor.js';
import { createSession } from '../../src/runtime/session.js';
import { evaluate, type RefTensor } from './interp.js';
import { rng } from '../helpers/rand.js';

export interface InSpec {
  shape: number[];
  dtype?: DType;
  /** explicit values; default: seeded uniform floats in [-2, 2] */
  data?: number[];
  /** uniform in [0.5, 2] instead */
  positive?: boolean;
  /** random integers in [lo, hi] (also for float inputs, to make ties and equalities) */
  ints?: [number, number];
}

export interface CompareSpec {
  inputs: InSpec[];
  /** build the graph from the input names; return the value(s) to compare */
  build(b: Builder, x: string[]): string | string[];
  opset?: number;
  rtol?: number;
  atol?: number;
  seed?: number;
}


function values(spec: InSpec, rand: () => number): number[] {
  if (spec.data) return spec.data;
  const n = spec.shape.reduce((a, d) => a * d, 1);
  return Array.from({ length: n }, () => {
    if (spec.ints) return spec.ints[0] + Math.floor(rand() * (spec.ints[1] - spec.ints[0] + 1));
    if (spec.dtype === 'bool') return rand() < 0.5 ? 1 : 0;
    return spec.positive ? 0.5 + 1.5 * rand() : 4 * rand() - 2;
  });
}

/** Run the graph both ways and assert every output agrees (float32 tolerance). */
export async function compareWithOrt(spec: CompareSpec): Promise<void> {
  const opset = spec.opset ?? 18;
  const rand = rng(spec.seed ?? 7);
  const b = new Builder('t', opset);
  const feeds: Record<string, Tensor> = {};
  const refFeeds: Record<string, RefTensor> = {};
  const names = spec.inputs.map((inp, i) => {
    const dtype = inp.dtype ?? 'float32';
    const name = b.input(`x${i}`, dtype, inp.shape);
    const t = tensor(dtype, inp.shape, values(inp, rand));
    feeds[name] = t;
    // the reference sees exactly the float32 values onnxruntime sees
    refFeeds[name] = { dims: [...inp.shape], data: Float64Array.from(toNumbers(t)), dtype };
    return name;
  });
  const outs = [spec.build(b, names)].flat();
  const outNames = outs.map((o, i) => b.output(o, `y${i}`));
  const session = await createSession(encodeModel(newModel(b.graph, opset)));
  const got = await session.run(feeds);
  await session.release();
  const ref = evaluate(b.graph, refFeeds);
  for (const name of outNames) assertClose(name, got[name], ref[name], spec.rtol ?? 1e-5, spec.atol ?? 1e-5);
}

export function assertClose(name: string, ort: Tensor, ref: RefTensor, rtol: number, atol: number): void {
  assert.ok(ort, `onnxruntime produced no '${name}'`);
  assert.ok(ref, `the reference produced no '${name}'`);
  assert.deepEqual(ref.dims, [...ort.dims], `${name}: shape`);
  const o = toNumbers(ort);
  for (let i = 0; i < o.length; i++) {
    const r = ref.data[i];
    if (Number.isNaN(r) && Number.isNaN(o[i])) continue;
    if (r === o[i]) continue;
    assert.ok(Math.abs(o[i] - r) <= atol + rtol * Math.abs(r),
      `${name}[${i}]: onnxruntime ${o[i]}, reference ${r} (ort [${o.slice(0, 12).map((v) => +v.toFixed(5))}], ref [${Array.from(ref.data.slice(0, 12), (v) => +v.toFixed(5))}])`);
  }
}

/** Shorthand: a one-input graph through one op. */
export function oneOp(op: string, shape: number[], attrs: Record<string, unknown> = {}, input: Partial<InSpec> = {}): CompareSpec {
  return { inputs: [{ shape, ...input }], build: (b, [x]) => b.op(op, [x], attrs as never) };
}
