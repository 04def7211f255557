// The one place that talks to onnxruntime-node: sessions, execution-provider choice
// with CPU fallback, and conversion between our IR tensors and ORT tensors.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import ort from 'onnxruntime-node';
import type { DType, Model, Tensor } from '../graph/ir.js';
import { encodeModel } from '../graph/serde.js';
import { DistillError } from '../errors.js';

export type EpChoice = 'auto' | 'cuda' | 'cpu';

export interface SessionOptions {
  ep?: EpChoice;
  /** intra-op threads; default: ORT's choice */
  threads?: number;
  /** ORT graph optimisation level; default 'all' */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** called once with a human line when `auto` falls back to CPU */
  onFallback?: (why: string) => void;
  /** write onnxruntime's profile (a JSON trace, one event per kernel run) to a file whose
   * name starts with this prefix; onnxruntime writes it when the session is released */
  profile?: string;
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** the execution provider actually used */
  readonly ep: 'cuda' | 'cpu';
  run(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

const ORT_TYPES: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: 'float32', float16: 'float16', float64: 'float64', int8: 'int8', int16: 'int16', int32: 'int32',
  int64: 'int64', uint8: 'uint8', uint16: 'uint16', uint32: 'uint32', uint64: 'uint64', bool: 'bool', string: 'string',
};

export function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new DistillError('E_DTYPE', `dtype ${t.dtype} cannot be passed to onnxruntime`);
  return new ort.Tensor(type, t.data as never, t.dims);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const dtype = (Object.entries(ORT_TYPES).find(([, v]) => v === t.type)?.[0] ?? 'float32') as DType;
  return { dtype, dims: [...t.dims], data: t.data as Tensor['data'] };
}

let cudaProbe: { ok: boolean; why: string } | undefined;

/** Why the CUDA provider cannot even be tried, or undefined when its libraries are in
 * place. Checking the files first keeps onnxruntime from logging a multi-line load
 * failure on every CPU-only machine, where `--ep auto` is the normal case. */
function cudaMissing(): string | undefined {
  const st = cudaProviderFiles();
  if (!st.dir) return `no CUDA build of onnxruntime-node for ${process.platform}-${process.arch}`;
  const lib = st.files.find((f) => !f.present);
  if (lib) return `${lib.name} is not installed`;
  return st.notFound.length ? `${st.notFound.join(', ')} not found on the library path (set LD_LIBRARY_PATH to CUDA 13 and cuDNN 9)` : undefined;
}

/** Where the CUDA provider's libraries belong, whether they are there, and which of the
 * libraries it links against `ldd` cannot find. */
export function cudaProviderFiles(): { dir?: string; files: { name: string; present: boolean }[]; notFound: string[] } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { files: [], notFound: [] };
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  const dir = path.join(path.dirname(pkg), 'bin', 'napi-v6', 'linux', 'x64');
  const files = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'].map((name) => ({ name, present: fs.existsSync(path.join(dir, name)) }));
  if (!files.every((f) => f.present)) return { dir, files, notFound: [] };
  // the provider is there: are the CUDA libraries it links against? (ldd lists them;
  // onnxruntime itself would only say "Failed to load shared library")
  const ldd = spawnSync('ldd', [path.join(dir, 'libonnxruntime_providers_cuda.so')], { encoding: 'utf8' });
  const notFound = ldd.status === 0 ? [...ldd.stdout.matchAll(/^\s*(\S+) => not found/gm)].map((m) => m[1]) : [];
  return { dir, files, notFound };
}

const CUDA_FIX = 'run `npm run setup:cuda` on a machine with an NVIDIA GPU and CUDA 13 (README, section "GPU"), or use --ep cpu';

// onnxruntime's own logger would print a multi-line error for a provider that fails to
// load; every failure reaches the user through our typed errors and fallback line instead
ort.env.logLevel = 'fatal';

async function createWith(bytes: Uint8Array, ep: 'cuda' | 'cpu', opts: SessionOptions): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    executionProviders: [ep],
    graphOptimizationLevel: opts.optimization ?? 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    ...(opts.profile ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
    logSeverityLevel: 3,
  });
}

export async function createSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const want = opts.ep ?? 'cpu';
  let ep: 'cuda' | 'cpu' = 'cpu';
  let inner: ort.InferenceSession;
  if (want !== 'cpu' && !cudaProbe) {
    const missing = cudaMissing();
    if (missing) {
      if (want === 'cuda') throw new DistillError('E_CUDA', `the CUDA execution provider could not be loaded: ${missing}`, CUDA_FIX);
      opts.onFallback?.(`CUDA execution provider unavailable (${missing}); running on CPU`);
      cudaProbe = { ok: false, why: missing };
    }
  }
  if (want === 'cuda' && cudaProbe && !cudaProbe.ok) {
    throw new DistillError('E_CUDA', `the CUDA execution provider could not be loaded: ${cudaProbe.why}`, CUDA_FIX);
  }
  if (want === 'cpu' || (want === 'auto' && cudaProbe && !cudaProbe.ok)) {
    inner = await createCpu(bytes, opts);
  } else {
    try {
      inner = await createWith(bytes, 'cuda', opts);
      ep = 'cuda';
      cudaProbe = { ok: true, why: '' };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      if (want === 'cuda') {
        throw new DistillError('E_CUDA', `the CUDA execution provider could not be loaded: ${why}`, CUDA_FIX);
      }
      if (!cudaProbe) opts.onFallback?.(`CUDA execution provider unavailable (${why}); running on CPU`);
      cudaProbe = { ok: false, why };
      inner = await createCpu(bytes, opts);
    }
  }
  return wrap(inner, ep);
}

async function createCpu(bytes: Uint8Array, opts: SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await createWith(bytes, 'cpu', opts);
  } catch (e) {
    throw new DistillError('E_ORT_LOAD', `onnxruntime could not load the model: ${(e as Error).message.split('\n')[0]}`,
      'check that every op is supported at the model opset');
  }
}

function wrap(inner: ort.InferenceSession, ep: 'cuda' | 'cpu'): Session {
  return {
    inputNames: inner.inputNames,
    outputNames: inner.outputNames,
    ep,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
      const res = outputs ? await inner.run(ortFeeds, outputs) : await inner.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
      return out;
    },
    release: () => inner.release(),
  };
}
