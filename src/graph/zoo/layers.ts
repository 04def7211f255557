// Layer helpers for generated student architectures. A NetBuilder records which
// initializers are trainable, which skip weight decay, and which are buffers
// (BatchNorm running statistics) so step.ts can wire them up.
// Train mode: BatchNormalization with training_mode=1 (batch statistics; the running
// stats come out as extra outputs). Eval mode: the inference form on running stats.
import { Builder } from '../builder.js';
import { Ops } from '../ops.js';
import { A, type Graph } from '../ir.js';
import { tensor } from '../tensor.js';
import { Rng } from '../../util/rng.js';
import { ShapeError } from '../../errors.js';
import type { TrainableModel } from '../../train/step.js';

export type Mode = 'train' | 'eval';
export type Init = 'he' | 'zeros' | 'ones' | { uniform: number } | { normal: number };

export interface ConvOpts {
  stride?: number;
  pad?: number;
  groups?: number;
  bias?: boolean;
}

export class NetBuilder {
  readonly b: Builder;
  readonly o: Ops;
  readonly params: string[] = [];
  readonly noDecay: string[] = [];
  readonly buffers: Record<string, string> = {};
  private readonly rng: Rng;

  /** `signedFeatures`: the features skip the activation that ends the network (see features()) */
  constructor(name: string, readonly mode: Mode, seed: number, readonly signedFeatures = false) {
    this.b = new Builder(name);
    this.o = new Ops(this.b);
    this.rng = new Rng(seed);
  }

  param(name: string, dims: number[], init: Init, decay = true): string {
    const n = dims.reduce((a, d) => a * d, 1);
    const fanIn = dims.length > 1 ? n / dims[0] : n;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (init === 'ones') values[i] = 1;
      else if (init === 'he') values[i] = this.rng.normal() * Math.sqrt(2 / fanIn);
      else if (typeof init === 'object' && 'uniform' in init) values[i] = (2 * this.rng.next() - 1) * init.uniform;
      else if (typeof init === 'object' && 'normal' in init) values[i] = this.rng.normal() * init.normal;
    }
    this.b.initializer(name, tensor('float32', dims, values));
    this.params.push(name);
    if (!decay) this.noDecay.push(name);
    return name;
  }

  /** A dimension that must be a number (channels, features). Only the axes a layer
   * reads must be static, so a graph with a symbolic batch ('N', for export) builds. */
  dim(x: string, axis: number): number {
    const d = this.b.info(x).shape?.[axis];
    if (typeof d !== 'number') throw new ShapeError(`value '${x}' has dimension ${axis} = ${d ?? '?'}, a number is needed`,
      'give the student a fully known per-sample input shape');
    return d;
  }

  conv(x: string, name: string, cout: number, k: number, opts: ConvOpts = {}): string {
    const cin = this.dim(x, 1);
    const groups = opts.groups ?? 1;
    const w = this.param(`${name}.weight`, [cout, cin / groups, k, k], 'he');
    const ins = [x, w];
    if (opts.bias) ins.push(this.param(`${name}.bias`, [cout], 'zeros', false));
    const pad = opts.pad ?? Math.floor(k / 2);
    return this.b.op('Conv', ins, {
      kernel_shape: [k, k], strides: [opts.stride ?? 1, opts.stride ?? 1], pads: [pad, pad, pad, pad], group: groups,
    }, { outputs: [this.b.fresh(name)] });
  }

  bn(x: string, name: string): string {
    const c = this.dim(x, 1);
    const scale = this.param(`${name}.weight`, [c], 'ones', false);
    const bias = this.param(`${name}.bias`, [c], 'zeros', false);
    const mean = this.b.initializer(`${name}.running_mean`, tensor('float32', [c], new Float32Array(c)));
    const vr = this.b.initializer(`${name}.running_var`, tensor('float32', [c], new Float32Array(c).fill(1)));
    const attrs = { epsilon: A.float(1e-5), momentum: A.float(0.9) };
    if (this.mode === 'eval') return this.b.op('BatchNormalization', [x, scale, bias, mean, vr], attrs, { outputs: [this.b.fresh(name)] });
    const [y, rm, rv] = this.b.opN('BatchNormalization', [x, scale, bias, mean, vr], { ...attrs, training_mode: 1 },
      { outputs: [this.b.fresh(name), this.b.fresh(`${name}.running_mean_next`), this.b.fresh(`${name}.running_var_next`)] });
    this.buffers[mean] = rm;
    this.buffers[vr] = rv;
    return y;
  }

  /** Conv (no bias: the BatchNorm shift replaces it) followed by BatchNorm, named
   * `${name}.conv` / `${name}.bn` so the two can be folded on export. */
  convBn(x: string, name: string, cout: number, k: number, opts: ConvOpts = {}): string {
    return this.bn(this.conv(x, `${name}.conv`, cout, k, opts), `${name}.bn`);
  }

  /** y = x W^T + b with W [out, in] (PyTorch layout), PyTorch's default uniform init */
  linear(x: string, name: string, out: number, bias = true): string {
    const inDim = this.dim(x, 1);
    const bound = 1 / Math.sqrt(inDim);
    const w = this.param(`${name}.weight`, [out, inDim], { uniform: bound });
    const ins = [x, w];
    if (bias) ins.push(this.param(`${name}.bias`, [out], { uniform: bound }, false));
    return this.b.op('Gemm', ins, { transB: 1 }, { outputs: [this.b.fresh(name)] });
  }

  relu(x: string): string {
    return this.o.relu(x);
  }

  maxPool(x: string, k: number, stride = k): string {
    return this.b.op('MaxPool', [x], { kernel_shape: [k, k], strides: [stride, stride] });
  }

  /** global average pool flattened to [N, C] of the network's last map; that map becomes
   * the `feature_map` output of train-mode graphs (feature objectives read it) */
  pool(x: string): string {
    const map = this.features(x);
    this.featureMap = map;
    return this.o.flatten(this.b.op('GlobalAveragePool', [map]), 1);
  }

  /** The network's representation: x itself, or with signedFeatures the input of the
   * ReLU that produced x (which is removed). Feature objectives match signed targets by
   * cosine (tintem's h(teacher)); features after a ReLU cannot point where such a target
   * has negative entries, so their students end on the pre-activation, as a transformer's
   * representation ends on a LayerNorm. */
  features(x: string): string {
    if (!this.signedFeatures) return x;
    const nodes = this.b.graph.nodes;
    const relu = nodes.findIndex((n) => n.opType === 'Relu' && n.outputs[0] === x);
    if (relu < 0 || nodes.some((n) => n.inputs.includes(x))) return x;
    const pre = nodes[relu].inputs[0];
    nodes.splice(relu, 1);
    return pre;
  }

  private featureMap?: string;

  finish(input: string, given: Record<string, string>): TrainableModel & { graph: Graph } {
    const outputs = this.mode === 'train' && this.featureMap ? { ...given, feature_map: this.featureMap } : given;
    for (const [k, v] of Object.entries(outputs)) this.b.output(v, k);
    const named = Object.fromEntries(Object.keys(outputs).map((k) => [k, k]));
    return { graph: this.b.graph, input, outputs: named, params: this.params, buffers: this.buffers, noDecay: this.noDecay };
  }
}
