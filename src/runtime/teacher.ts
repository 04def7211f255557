// The teacher side of distillation: load a pretrained ONNX classifier, free its batch
// dimension where that is provably safe, run batches in onnxruntime and return logits
// (probabilities and log-probabilities converted, see graph/surgery-kind.ts) and any
// feature taps. A teacher whose batch stays fixed is run as concurrent requests of its
// fixed size, so callers never see the difference.
import type { DType, Model, Shape, Tensor } from '../graph/ir.js';
import { loadModel } from '../graph/serde.js';
import { graphStats } from '../graph/stats.js';
import { allocData } from '../graph/tensor.js';
import {
  classifyOutputValues, detectOutputKind, dropInitializerInputs, exposeOutputs, findClassifierOutput, freeBatch,
  realInputs, toLogits, type OutputKind,
} from '../graph/surgery.js';
import { float32ToHalfArray, halfArrayToFloat32 } from '../util/float16.js';
import { GraphError, UsageError } from '../errors.js';
import { createSession, type EpChoice, type Session } from './session.js';

export interface TeacherOptions {
  ep?: EpChoice;
  /** the classifier output (default: the first float output shaped [N, C] or [N, C, 1, 1]) */
  output?: string;
  /** intermediate tensors to return as well (feature taps) */
  features?: string[];
  /** one human line per event: CPU fallback, batch handling */
  onLog?: (line: string) => void;
  /** intra-op threads for onnxruntime */
  threads?: number;
}

export interface TeacherOutput {
  /** N x C, row-major: logits, or logits up to a per-row constant (see outputKind) */
  logits: Float32Array;
  /** the requested feature taps, float16 converted to float32 */
  features?: Record<string, Tensor>;
  /** the classifier output as the teacher produced it (float16 converted to float32) */
  raw: Tensor;
}

/** How batches reach onnxruntime: as given ('free': the model takes any batch; 'freed':
 * freeBatch made it so), or split into requests of the fixed size ('split'). */
export type BatchMode = 'free' | 'freed' | 'split';

export class TeacherRunner {
  private checked = false;
  /** weights in the teacher file (float and 8-bit initializers, see graph/stats.ts) */
  paramCount = 0;

  private constructor(
    readonly file: string,
    private readonly session: Session,
    readonly inputName: string,
    readonly inputInfo: { dtype: DType; shape: Shape },
    readonly outputName: string,
    public outputKind: OutputKind,
    readonly numClasses: number,
    readonly featureNames: readonly string[],
    readonly batchMode: BatchMode,
    /** the batch size the teacher file fixes, when it fixes one */
    readonly fixedBatch: number | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /** the execution provider actually used */
  get ep(): 'cuda' | 'cpu' {
    return this.session.ep;
  }

  static async open(file: string, opts: TeacherOptions = {}): Promise<TeacherRunner> {
    const log = opts.onLog ?? (() => {});
    const original = loadModel(file); // ModelFormatError, one line naming the file
    const inputs = realInputs(original.graph);
    if (inputs.length !== 1) {
      throw new GraphError(`${file}: the teacher has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); only single-input teachers are supported`);
    }
    const input = inputs[0];
    if (!input.shape || input.shape.length === 0) throw new GraphError(`${file}: input '${input.name}' has no known shape`, 'export the teacher with a declared input shape');
    const out = findClassifierOutput(original, opts.output);
    const kind = detectOutputKind(original, out.name);
    const features = [...new Set(opts.features ?? [])].filter((f) => f !== out.name);
    let model: Model = dropInitializerInputs(exposeOutputs(original, [out.name, ...features]));
    const fb = freeBatch(model);
    let mode: BatchMode = 'free';
    if (fb.fixedBatch !== undefined) {
      mode = fb.safe ? 'freed' : 'split';
      log(fb.safe ? `teacher: ${fb.why}` : `teacher: batch fixed at ${fb.fixedBatch} and cannot be freed (${fb.why}); running ${fb.fixedBatch}-sample requests concurrently`);
    }
    if (fb.safe) model = fb.model;
    const session = await createSession(model, { ep: opts.ep ?? 'auto', threads: opts.threads, onFallback: log });
    const shape: Shape = [mode === 'free' ? input.shape[0] : 'N', ...input.shape.slice(1)];
    const classes = typeof out.shape?.[1] === 'number' ? out.shape[1] : 0;
    const runner = new TeacherRunner(file, session, input.name, { dtype: input.dtype, shape }, out.name, kind, classes, features, mode, fb.fixedBatch, log);
    runner.paramCount = graphStats(original.graph).params;
    if (classes === 0) await runner.probeClasses();
    return runner;
  }

  /** Run one batch ([N, ...input shape]) and return logits N x C and the feature taps. */
  async run(batch: Tensor): Promise<TeacherOutput> {
    const x = this.prepare(batch);
    const n = x.dims[0];
    if (n === 0) throw new UsageError(`teacher input '${this.inputName}': the batch is empty`);
    const split = this.batchMode === 'split';
    const parts = split ? await this.runSplit(x) : [await this.session.run({ [this.inputName]: x }, this.wanted())];
    const merged = mergeRows(parts, this.wanted(), n, split ? this.fixedBatch : undefined);
    const raw = merged[this.outputName];
    const c = this.classesOf(raw, n);
    const values = raw.data as Float32Array;
    if (!this.checked) this.confirmKind(values, c);
    const result: TeacherOutput = { logits: toLogits(values, this.outputKind), raw };
    if (this.featureNames.length) result.features = Object.fromEntries(this.featureNames.map((f) => [f, merged[f]]));
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private wanted(): string[] {
    return [this.outputName, ...this.featureNames];
  }

  /** Check the batch against the input signature; float32 <-> float16 as needed. */
  private prepare(batch: Tensor): Tensor {
    const { dtype, shape } = this.inputInfo;
    const name = `teacher input '${this.inputName}'`;
    if (batch.dims.length !== shape.length || batch.dims.some((d, i) => i > 0 && typeof shape[i] === 'number' && shape[i] !== d)) {
      throw new UsageError(`${name} takes [${shape.map((d) => d ?? '?')}], got a batch shaped [${batch.dims}]`, 'check the preprocessing (size, layout NCHW/NHWC, channels)');
    }
    if (batch.dtype === dtype) return batch;
    if (dtype === 'float16' && batch.dtype === 'float32') return { dtype, dims: batch.dims, data: float32ToHalfArray(batch.data as Float32Array) };
    if (dtype === 'float32' && batch.dtype === 'float16') return { dtype, dims: batch.dims, data: halfArrayToFloat32(batch.data as Uint16Array) };
    throw new UsageError(`${name} takes ${dtype} values, got ${batch.dtype}`, dtype === 'uint8' ? 'feed raw pixels 0..255 as uint8' : 'convert the batch first');
  }

  /** Fixed-batch teachers: requests of exactly `fixedBatch` samples (the last padded by
   * repeating its final sample), all in flight at once. */
  private async runSplit(x: Tensor): Promise<Record<string, Tensor>[]> {
    const b = this.fixedBatch!;
    const n = x.dims[0];
    const per = x.data.length / n;
    const requests: Promise<Record<string, Tensor>>[] = [];
    for (let start = 0; start < n; start += b) {
      const data = allocData(x.dtype, b * per) as Float32Array;
      for (let k = 0; k < b; k++) {
        const row = Math.min(start + k, n - 1);
        data.set((x.data as Float32Array).subarray(row * per, (row + 1) * per), k * per);
      }
      requests.push(this.session.run({ [this.inputName]: { dtype: x.dtype, dims: [b, ...x.dims.slice(1)], data } }, this.wanted()));
    }
    return Promise.all(requests);
  }

  private classesOf(raw: Tensor, n: number): number {
    const d = raw.dims;
    const ok = d[0] === n && (d.length === 2 || (d.length === 4 && d[2] === 1 && d[3] === 1));
    if (!ok) throw new GraphError(`${this.file}: output '${this.outputName}' came back shaped [${d}] for a batch of ${n}; expected [${n}, C] or [${n}, C, 1, 1]`, 'choose the classifier output with --output');
    return d[1];
  }

  /** The numbers confirm (or, for a graph without Softmax, correct) the output kind.
   * Confirming is lenient (a quantized softmax loses mass, see ClassifyOptions);
   * overriding the graph's verdict needs the strict test. */
  private confirmKind(values: Float32Array, c: number): void {
    this.checked = true;
    const seen = classifyOutputValues(values, c, { lenient: this.outputKind !== 'logits' });
    if (seen === this.outputKind) return;
    if (this.outputKind === 'logits') {
      this.log(`teacher: output '${this.outputName}' has no Softmax in the graph but its values look like ${seen}; treating them as ${seen}`);
      this.outputKind = seen;
    } else {
      this.log(`teacher: output '${this.outputName}' comes from a ${this.outputKind === 'probabilities' ? 'Softmax' : 'LogSoftmax'} but its values do not look like ${this.outputKind}; keeping the graph's verdict`);
    }
  }

  /** Declared class count unknown (symbolic): run one zero sample to see it. */
  private async probeClasses(): Promise<void> {
    const b = this.fixedBatch ?? 1;
    const dims = this.inputInfo.shape.map((d, i) => (i === 0 ? b : typeof d === 'number' ? d : 1));
    const zero: Tensor = { dtype: this.inputInfo.dtype, dims, data: allocData(this.inputInfo.dtype, dims.reduce((a, d) => a * d, 1)) };
    const out = await this.session.run({ [this.inputName]: zero }, [this.outputName]);
    (this as { numClasses: number }).numClasses = this.classesOf(toFloat32(out[this.outputName]), b);
  }
}

function toFloat32(t: Tensor): Tensor {
  if (t.dtype === 'float32') return t;
  if (t.dtype === 'float16') return { dtype: 'float32', dims: t.dims, data: halfArrayToFloat32(t.data as Uint16Array) };
  if (t.dtype === 'float64') return { dtype: 'float32', dims: t.dims, data: Float32Array.from(t.data as Float64Array) };
  return t;
}

/** Results as one batch of `n` rows: a single request's as they are, fixed-size
 * requests' concatenated along axis 0 (padding rows dropped). float16/float64 outputs
 * become float32. */
function mergeRows(parts: Record<string, Tensor>[], names: string[], n: number, fixed?: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const name of names) {
    const pieces = parts.map((p) => toFloat32(p[name]));
    const first = pieces[0];
    if (fixed === undefined) {
      out[name] = first;
      continue;
    }
    if (pieces.some((t) => t.dims.length === 0 || t.dims[0] !== fixed)) {
      throw new GraphError(`teacher output '${name}' came back shaped [${first.dims}], without the batch of ${fixed} as its first axis`, 'choose taps whose first axis is the batch');
    }
    const per = first.data.length / fixed;
    const data = allocData(first.dtype, n * per) as Float32Array; // any typed array: same-type copies
    pieces.forEach((t, k) => {
      const take = Math.min(fixed, n - k * fixed);
      data.set((t.data as Float32Array).subarray(0, take * per), k * fixed * per);
    });
    out[name] = { dtype: first.dtype, dims: [n, ...first.dims.slice(1)], data };
  }
  return out;
}
