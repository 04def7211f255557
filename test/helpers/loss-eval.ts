// Evaluate an objective's per-sample loss on given logits/targets in onnxruntime,
// without a model: the "model outputs" are graph inputs.
import { Builder } from '../../src/graph/builder.js';
import { Ops } from '../../src/graph/ops.js';
import { newModel, type Tensor } from '../../src/graph/ir.js';
import { createSession } from '../../src/runtime/session.js';
import type { LossBuilder } from '../../src/train/step.js';

/** `params` are an objective's own trainable tensors (projection heads), fed as inputs. */
export async function evalLoss(loss: LossBuilder, outputs: Record<string, Tensor>, data: Record<string, Tensor>,
  params: Record<string, Tensor> = {}): Promise<Record<string, Float32Array>> {
  const b = new Builder('loss_eval');
  const o = new Ops(b);
  const outNames: Record<string, string> = {};
  for (const [k, t] of Object.entries(outputs)) outNames[k] = b.input(k, t.dtype, t.dims);
  const paramNames: Record<string, string> = {};
  for (const [k, t] of Object.entries(params)) paramNames[k] = b.input(k, t.dtype, t.dims);
  const batch = Object.values(outputs)[0].dims[0];
  const declared = new Set<string>();
  const res = loss({
    b, o, outputs: outNames, params: paramNames, batch,
    data: (name, dtype, shape) => {
      if (!declared.has(name)) {
        if (!data[name]) throw new Error(`objective asked for data '${name}' the test did not provide`);
        b.input(name, dtype, shape);
        declared.add(name);
      }
      return name;
    },
  });
  b.output(res.perSample, 'per_sample');
  for (const [k, v] of Object.entries(res.extra ?? {})) b.output(v, k);
  const session = await createSession(newModel(b.graph));
  const feeds: Record<string, Tensor> = { ...outputs, ...params };
  for (const k of declared) feeds[k] = data[k];
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}
