// Run a fixed-batch forward session over n samples, padding the last batch.
import type { Tensor } from '../graph/ir.js';
import type { Session } from '../runtime/session.js';

export interface BatchedForward {
  session: Session;
  batch: number;
  inputName: string;
  /** per-sample input element count */
  sampleSize: number;
  /** per-sample input dims (without batch) */
  sampleDims: number[];
}

/** Returns the requested outputs concatenated over all n samples (padding removed). */
export async function runBatched(f: BatchedForward, input: Float32Array, n: number, outputs: string[], extra: Record<string, Tensor> = {}): Promise<Record<string, Float32Array>> {
  const result: Record<string, Float32Array> = {};
  const buf = new Float32Array(f.batch * f.sampleSize);
  for (let start = 0; start < n; start += f.batch) {
    const count = Math.min(f.batch, n - start);
    buf.fill(0);
    buf.set(input.subarray(start * f.sampleSize, (start + count) * f.sampleSize));
    const out = await f.session.run({ ...extra, [f.inputName]: { dtype: 'float32', dims: [f.batch, ...f.sampleDims], data: buf } }, outputs);
    for (const name of outputs) {
      const t = out[name];
      const per = t.data.length / f.batch;
      if (!result[name]) result[name] = new Float32Array(n * per);
      result[name].set((t.data as Float32Array).subarray(0, count * per), start * per);
    }
  }
  return result;
}
