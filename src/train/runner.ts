// Holds parameters, buffers and optimizer state between steps and feeds the
// train-step session: outputs named `X::next` become the next step's `X`.
import type { Tensor } from '../graph/ir.js';
import { tensor } from '../graph/tensor.js';
import type { Session } from '../runtime/session.js';
import { NEXT, type TrainStep, type TrainableModel } from './step.js';

/** Values and step count; runners of a K-step and a 1-step graph share one store. */
interface Store {
  values: Map<string, Tensor>;
  steps: number;
}

export class StepRunner {
  private readonly store: Store;

  constructor(readonly step: TrainStep, readonly session: Session, model: TrainableModel, shareWith?: StepRunner) {
    if (shareWith) {
      this.store = shareWith.store;
      return;
    }
    this.store = { values: new Map(), steps: 0 };
    for (const name of [...step.params, ...step.buffers]) {
      const t = model.graph.initializers.get(name);
      if (!t) throw new Error(`model has no initializer '${name}'`);
      this.values.set(name, { dtype: t.dtype, dims: [...t.dims], data: (t.data as Float32Array).slice() });
    }
    for (const s of step.state) {
      const param = s.slice(s.indexOf('::') + 2);
      const p = this.values.get(param)!;
      this.values.set(s, tensor('float32', p.dims, new Float32Array(p.data.length)));
    }
  }

  /** current parameters, buffers and optimizer state by input name */
  get values(): Map<string, Tensor> {
    return this.store.values;
  }

  /** number of optimizer steps taken so far */
  get stepCount(): number {
    return this.store.steps;
  }
  set stepCount(n: number) {
    this.store.steps = n;
  }

  /**
   * Run one step (or K fused steps for a Loop graph). `data` holds the batch inputs
   * (with a leading K dimension for a Loop graph); `lr` is one value per step.
   */
  async run(data: Record<string, Tensor>, lr: number[]): Promise<Record<string, Tensor>> {
    const K = this.step.loopSteps;
    if (lr.length !== K) throw new Error(`expected ${K} learning rates, got ${lr.length}`);
    const feeds: Record<string, Tensor> = { ...data };
    for (const [k, v] of this.values) feeds[k] = v;
    feeds.lr = K === 1 ? tensor('float32', [], lr) : tensor('float32', [K], lr);
    feeds.step = tensor('float32', [], [this.stepCount + 1]);
    const out = await this.session.run(feeds);
    for (const k of this.values.keys()) {
      const next = out[k + NEXT];
      if (!next) throw new Error(`train step did not return '${k}${NEXT}'`);
      this.values.set(k, next);
    }
    this.stepCount += K;
    const result: Record<string, Tensor> = {};
    for (const k of this.step.stepOutputs) result[k] = out[k];
    return result;
  }

  /** Parameters and buffers (not optimizer state), e.g. to load into an eval graph. */
  weights(): Map<string, Tensor> {
    const w = new Map<string, Tensor>();
    for (const k of [...this.step.params, ...this.step.buffers]) w.set(k, this.values.get(k)!);
    return w;
  }
}
