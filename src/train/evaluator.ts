// Student forward passes during training: an eval-mode graph whose parameters and
// buffers are graph inputs, so one session serves every epoch with fresh weights.
import type { Graph, Tensor } from '../graph/ir.js';
import { newModel } from '../graph/ir.js';
import { createSession, type EpChoice } from '../runtime/session.js';
import { runBatched } from './batched.js';
import type { TrainableModel } from './step.js';

export class StudentEvaluator {
  private constructor(private readonly f: Parameters<typeof runBatched>[0], private readonly weightNames: string[]) {}

  static async create(model: TrainableModel, weightNames: string[], ep: EpChoice): Promise<StudentEvaluator> {
    const g = weightsAsInputs(model.graph, weightNames);
    const session = await createSession(newModel(g), { ep });
    const inp = g.inputs.find((v) => v.name === model.input)!;
    const dims = inp.shape!.slice(1) as number[];
    return new StudentEvaluator({
      session, batch: inp.shape![0] as number, inputName: model.input, sampleDims: dims, sampleSize: dims.reduce((a, d) => a * d, 1),
    }, weightNames);
  }

  /** Named outputs (e.g. logits, features) for n samples with the given weights. */
  async run(weights: Map<string, Tensor>, inputs: Float32Array, n: number, outputs = ['logits']): Promise<Record<string, Float32Array>> {
    const extra = Object.fromEntries(this.weightNames.map((k) => [k, weights.get(k)!]));
    return runBatched(this.f, inputs, n, outputs, extra);
  }

  release(): Promise<void> {
    return this.f.session.release();
  }
}

/** A copy of the graph whose named initializers became graph inputs. */
export function weightsAsInputs(graph: Graph, names: string[]): Graph {
  const g: Graph = { ...graph, inputs: [...graph.inputs], initializers: new Map(graph.initializers) };
  for (const n of names) {
    const t = g.initializers.get(n)!;
    g.initializers.delete(n);
    g.inputs.push({ name: n, dtype: t.dtype, shape: [...t.dims] });
  }
  return g;
}
