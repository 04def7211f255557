// `onnx-distill doctor`: which execution providers load here, the GPU, and the CUDA /
// cuDNN libraries the CUDA provider needs, each missing piece with its fix.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Builder } from '../graph/builder.js';
import { newModel } from '../graph/ir.js';
import { tensor } from '../graph/tensor.js';
import { createSession, cudaProviderFiles } from './session.js';

export interface Check { name: string; ok: boolean; detail: string; fix?: string }

/** sonames the CUDA 13 build of the provider (npm run setup:cuda) links against */
const CUDA_LIBS = ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcudnn.so.9'];
const LIB_FIX = 'install CUDA 13 (cudart, cuBLAS, cuRAND) and cuDNN 9, or point LD_LIBRARY_PATH at their lib folders (e.g. the nvidia/*/lib folders of the pip wheels)';

/** Where the dynamic linker would find a library: ldconfig's cache or LD_LIBRARY_PATH. */
export function findLibrary(soname: string): string | undefined {
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    if (fs.existsSync(path.join(dir, soname))) return path.join(dir, soname);
  }
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const line = cache.status === 0 ? cache.stdout.split('\n').find((l) => l.trim().startsWith(soname + ' ')) : undefined;
  return line?.split('=>')[1]?.trim();
}

/** tiny Add graph: proves a provider can create and run a session */
async function tryProvider(ep: 'cpu' | 'cuda'): Promise<string> {
  const b = new Builder('doctor');
  const x = b.input('x', 'float32', [2]);
  b.output(b.op('Add', [x, x]), 'y');
  const s = await createSession(newModel(b.graph), { ep });
  try {
    const y = (await s.run({ x: tensor('float32', [2], [1, 2]) })).y.data as Float32Array;
    if (y[0] !== 2 || y[1] !== 4) throw new Error(`wrong result ${Array.from(y)}`);
    return s.ep;
  } finally {
    await s.release();
  }
}

export async function doctor(): Promise<{ checks: Check[]; providers: string[] }> {
  const checks: Check[] = [];
  const ortVersion = createRequire(import.meta.url)('onnxruntime-node/package.json').version as string;
  checks.push({ name: 'onnxruntime-node', ok: true, detail: `${ortVersion} on Node ${process.versions.node}, ${process.platform}-${process.arch}` });
  const providers: string[] = [];
  try {
    await tryProvider('cpu');
    providers.push('cpu');
    checks.push({ name: 'CPU execution provider', ok: true, detail: 'loads and runs' });
  } catch (e) {
    checks.push({ name: 'CPU execution provider', ok: false, detail: (e as Error).message, fix: 'reinstall with `npm ci`' });
  }
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  const gpu = smi.status === 0 ? smi.stdout.trim() : '';
  checks.push(gpu
    ? { name: 'GPU', ok: true, detail: gpu.split('\n').join('; ') }
    : { name: 'GPU', ok: false, detail: 'nvidia-smi not found or no NVIDIA GPU', fix: 'a machine with an NVIDIA GPU and its driver is needed for --ep cuda; everything runs on CPU without one' });
  const files = cudaProviderFiles();
  if (!files.dir) checks.push({ name: 'CUDA provider', ok: false, detail: `no CUDA build of onnxruntime-node for ${process.platform}-${process.arch}` });
  else {
    const missing = files.files.filter((f) => !f.present).map((f) => f.name);
    checks.push(missing.length
      ? { name: 'CUDA provider files', ok: false, detail: `${missing.join(', ')} missing in ${files.dir}`, fix: 'run `npm run setup:cuda`' }
      : { name: 'CUDA provider files', ok: true, detail: files.dir });
  }
  for (const lib of CUDA_LIBS) {
    const at = findLibrary(lib);
    checks.push(at ? { name: lib, ok: true, detail: at } : { name: lib, ok: false, detail: 'not found (ldconfig, LD_LIBRARY_PATH)', fix: LIB_FIX });
  }
  if (files.notFound.length) checks.push({ name: 'CUDA provider links', ok: false, detail: `ldd: ${files.notFound.join(', ')} not found`, fix: LIB_FIX });
  try {
    const ep = await tryProvider('cuda');
    providers.push(ep);
    checks.push({ name: 'CUDA execution provider', ok: ep === 'cuda', detail: 'loads and runs' });
  } catch (e) {
    checks.push({ name: 'CUDA execution provider', ok: false, detail: (e as Error).message.split('\n')[0], fix: 'fix the items above; `--ep auto` runs on CPU meanwhile' });
  }
  return { checks, providers };
}
