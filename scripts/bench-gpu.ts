// GPU throughput (issue "GPU execution: CUDA for the teacher and for training, measured
// against PyTorch"), in one run:
//  (1) label throughput (images/s through TeacherRunner.run, data decoded up front as
//      scripts/bench-label.ts does) of the mobilenet_v2 int8 teacher on
//      imagenet-samples-256 (centre crop 224, batch 64, label's default) and of a float
//      teacher, fashion-mnist-simplecnn on Fashion t10k (batch 256), on CUDA and on the
//      CPU; then one pass per teacher with onnxruntime's profiler on the measured
//      provider: kernel time of the Memcpy/MemcpyFromHost/MemcpyToHost nodes against
//      all kernel time (the first run of the pass left out as warm-up), the kernel time
//      per provider (nodes CUDA does not implement run on the CPU, with copies around
//      them), and model_run time outside any kernel (feeding graph inputs to the device
//      and fetching outputs, which are not nodes, plus scheduling). Caveat: the trace
//      times a kernel on the host; a CUDA kernel returns once launched, and a copy to
//      the host waits for the work queued before it, so on CUDA these shares are
//      host-side figures, not GPU occupancy.
//  (2) training throughput (samples/s) of the convnet and resnet students
//      (src/graph/zoo, default widths/depths) through buildTrainStep + StepRunner on
//      3x32x32 inputs, 10 classes, cross-entropy, AdamW (defaults, lr 1e-3), batch 256,
//      with Loop K = 1, 8 and 32 (buildTrainStep({ loopSteps: K })); warm-up runs
//      excluded; a repetition is max(K, 32) steps; the median over --reps repetitions.
//  (3) the same students in PyTorch eager (scripts/bench-gpu-torch.py, run with
//      python3: same batch, optimizer and data shape), and ours / PyTorch per
//      architecture and K. Goal: the training-step graph on CUDA at >= 1.0x PyTorch
//      eager throughput. Skipped with a message when python3 or torch is missing.
//   npm run bench:gpu [-- --ep cuda|cpu] [--quick] [--json] [--record] [--reps 5]
//                     [--batch 256] [--ks 1,8,32] [--cpu-threads N] [--no-torch]
//                     [--python python3]
// --ep cpu --quick: the dry run for a machine without a GPU (CPU only, 128/1024 images,
// batch 16, 2 repetitions; PyTorch on the CPU if it is installed); never records.
// --record (with --ep cuda only): writes the section "GPU throughput" of
// docs/benchmarks.md, naming the GPU as nvidia-smi does.
// --cpu-threads N: intra-op threads of the CPU sessions (and torch.set_num_threads).
// --python: the interpreter that has torch (default python3 on the PATH).
// Assets: $ONNX_DISTILL_ASSETS, else ../shared/assets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSource } from '../src/data/sources.js';
import { preprocessingFor, type PreprocessFlags } from '../src/data/preprocess.js';
import { loadModel } from '../src/graph/serde.js';
import { dropInitializerInputs, exposeOutputs, findClassifierOutput, freeBatch, realInputs } from '../src/graph/surgery.js';
import { TeacherRunner } from '../src/runtime/teacher.js';
import { createSession, type SessionOptions } from '../src/runtime/session.js';
import { buildStudent } from '../src/graph/zoo/index.js';
import { buildTrainStep } from '../src/train/step.js';
import { StepRunner } from '../src/train/runner.js';
import { createOptimizer } from '../src/train/optim/index.js';
import { ADAMW_DEFAULTS } from '../src/train/optim/adamw.js';
import { crossEntropy } from '../src/train/objectives/ce.js';
import { tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/util/rng.js';
import type { Tensor } from '../src/graph/ir.js';
import { DistillError } from '../src/errors.js';

const GOAL = 1.0;
const LR = 1e-3;
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, dflt: number) => (opt(name) !== undefined ? Number(opt(name)) : dflt);
const ep = (opt('ep') ?? 'cuda') as 'cuda' | 'cpu';
if (ep !== 'cuda' && ep !== 'cpu') throw new Error(`--ep must be cuda or cpu, got ${ep}`);
const quick = args.includes('--quick');
const json = args.includes('--json');
const record = args.includes('--record');
const noTorch = args.includes('--no-torch');
const python = opt('python') ?? 'python3';
const cpuThreads = num('cpu-threads', 0);
const reps = num('reps', quick ? 2 : 5);
const B = num('batch', quick ? 16 : 256);
const KS = (opt('ks') ?? '1,8,32').split(',').filter(Boolean).map(Number);
const STEPS_PER_REP = quick ? 8 : 32;
const WARMUP_RUNS = quick ? 1 : 3;
const ARCHS = ['convnet', 'resnet'] as const;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const assets = process.env.ONNX_DISTILL_ASSETS ?? path.resolve(root, '..', 'shared', 'assets');
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** the providers measured: the CPU always (the baseline), CUDA unless a dry run */
const EPS: ('cpu' | 'cuda')[] = ep === 'cuda' ? ['cpu', 'cuda'] : ['cpu'];
const sessOpts = (e: 'cpu' | 'cuda'): SessionOptions => ({ ep: e, ...(e === 'cpu' && cpuThreads ? { threads: cpuThreads } : {}) });

const LABEL_CASES: { name: string; teacher: string; data: string; flags: PreprocessFlags; batch: number; images: number }[] = [
  { name: 'mobilenet_v2 int8', teacher: 'mobilenet_v2_1.0_224_int8_per_tensor.onnx', data: 'data/imagenet-samples-256', flags: { crop: 224 }, batch: 64, images: quick ? 128 : 1000 },
  { name: 'fashion simplecnn (float)', teacher: 'fashion-mnist-simplecnn.onnx', data: 'data/fashion-mnist/t10k-images-idx3-ubyte.gz', flags: {}, batch: 256, images: quick ? 1024 : 10000 },
];

function gpuName(): string | undefined {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').join('; ') : undefined;
}

/** Replace the section `heading` (up to the next `## `) of docs/benchmarks.md, or append it. */
function writeSection(heading: string, body: string) {
  const file = path.join(root, 'docs', 'benchmarks.md');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  const section = [heading, '', ...body.trimEnd().split('\n'), ''];
  if (start < 0) {
    fs.writeFileSync(file, `${text.trimEnd()}\n\n${section.join('\n')}`);
  } else {
    let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
    if (end < 0) end = lines.length;
    fs.writeFileSync(file, [...lines.slice(0, start), ...section, ...lines.slice(end)].join('\n'));
  }
  log(`recorded: ${path.relative(root, file)}, section "${heading.replace(/^#+ /, '')}"`);
}

interface CopyShare {
  ep: string; runs: number; kernel_ms_per_run: number; memcpy_ms_per_run: number; memcpy_share: number;
  memcpy_nodes: number; kernel_ms_by_provider: Record<string, number>; model_run_ms_per_run: number; outside_kernels_share: number;
}

const MEMCPY = new Set(['Memcpy', 'MemcpyFromHost', 'MemcpyToHost']);

/** Copy share from an onnxruntime JSON trace, leaving out the first model_run. */
function copyShare(file: string, e: string): CopyShare {
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string; provider?: string } }[];
  const runs = events.filter((x) => x.cat === 'Session' && x.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
  const inRun = (ts: number) => runs.some((r) => ts >= r.ts && ts <= r.ts + r.dur);
  let all = 0, copy = 0;
  const nodes = new Set<string>();
  const byProvider: Record<string, number> = {};
  for (const x of events) {
    const op = x.args?.op_name;
    if (x.cat !== 'Node' || !x.name.endsWith('_kernel_time') || !op || !inRun(x.ts)) continue;
    all += x.dur;
    const prov = (x.args?.provider ?? '?').replace('ExecutionProvider', '');
    byProvider[prov] = (byProvider[prov] ?? 0) + x.dur;
    if (MEMCPY.has(op)) {
      copy += x.dur;
      nodes.add(x.name);
    }
  }
  const runUs = runs.reduce((a, r) => a + r.dur, 0), n = Math.max(1, runs.length);
  return {
    ep: e, runs: runs.length, kernel_ms_per_run: all / n / 1000, memcpy_ms_per_run: copy / n / 1000, memcpy_share: all ? copy / all : 0,
    memcpy_nodes: nodes.size, kernel_ms_by_provider: Object.fromEntries(Object.entries(byProvider).map(([k, v]) => [k, v / n / 1000])),
    model_run_ms_per_run: runUs / n / 1000, outside_kernels_share: runUs ? Math.max(0, 1 - all / runUs) : 0,
  };
}

/** One pass over the batches in a profiled session of the teacher as TeacherRunner
 * prepares it (classifier output exposed, batch freed where that is safe). */
async function profilePass(file: string, batches: Tensor[], e: 'cpu' | 'cuda', tmp: string): Promise<CopyShare> {
  const original = loadModel(file);
  const input = realInputs(original.graph)[0];
  const out = findClassifierOutput(original);
  let model = dropInitializerInputs(exposeOutputs(original, [out.name]));
  const fb = freeBatch(model);
  if (fb.safe) model = fb.model;
  const fixed = fb.fixedBatch !== undefined && !fb.safe ? fb.fixedBatch : undefined;
  const prefix = path.join(tmp, `${path.basename(file, '.onnx')}-${e}`);
  const s = await createSession(model, { ...sessOpts(e), profile: prefix });
  for (const b of batches) {
    if (fixed === undefined) {
      await s.run({ [input.name]: b }, [out.name]);
      continue;
    }
    const per = b.data.length / b.dims[0];
    for (let r = 0; r + fixed <= b.dims[0]; r += fixed) {
      await s.run({ [input.name]: { dtype: b.dtype, dims: [fixed, ...b.dims.slice(1)], data: (b.data as Float32Array).slice(r * per, (r + fixed) * per) } }, [out.name]);
    }
  }
  await s.release(); // onnxruntime writes the trace on release
  const trace = fs.readdirSync(tmp).map((f) => path.join(tmp, f)).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
  if (!trace) throw new Error(`onnxruntime wrote no profile under ${prefix}`);
  return copyShare(trace, e);
}

async function labelBench(tmp: string) {
  const rows = [];
  for (const c of LABEL_CASES) {
    const file = path.join(assets, 'teachers', c.teacher), data = path.join(assets, c.data);
    if (!fs.existsSync(file) || !fs.existsSync(data)) {
      log(`label: ${c.name}: skipped (${fs.existsSync(file) ? c.data : c.teacher} is not there)`);
      rows.push({ name: c.name, teacher: c.teacher, skipped: 'assets missing' });
      continue;
    }
    const src = await openSource(`${data}:0-${c.images}`);
    const prep = preprocessingFor(realInputs(loadModel(file).graph)[0], c.flags);
    log(`label: ${c.name}: decoding ${src.n} images (${prep.layout} ${prep.dtype} ${prep.size.join('x')}) ...`);
    const batches: Tensor[] = [];
    for (let s = 0; s < src.n; s += c.batch) batches.push((await src.read(s, Math.min(src.n, s + c.batch), prep)).input);
    const perEp: Record<string, { images_per_s: number; passes: number[]; ep_used: string }> = {};
    for (const e of EPS) {
      const runner = await TeacherRunner.open(file, { ep: e, ...(e === 'cpu' && cpuThreads ? { threads: cpuThreads } : {}) });
      for (let i = 0; i < 3; i++) await runner.run(batches[0]); // warm-up (cuDNN algorithm search included)
      const passes: number[] = [];
      for (let r = 0; r < (quick ? 1 : 3); r++) {
        const t = now();
        for (const b of batches) await runner.run(b);
        passes.push(src.n / (now() - t));
      }
      perEp[e] = { images_per_s: median(passes), passes, ep_used: runner.ep };
      await runner.release();
      log(`  ${e}: ${perEp[e].images_per_s.toFixed(1)} images/s (passes ${passes.map((p) => p.toFixed(1)).join(', ')})`);
    }
    const profile = await profilePass(file, batches, ep, tmp);
    log(`  profile (${ep}): Memcpy nodes ${(100 * profile.memcpy_share).toFixed(1)}% of kernel time (${profile.memcpy_ms_per_run.toFixed(2)} of ${profile.kernel_ms_per_run.toFixed(2)} ms per run, ${profile.memcpy_nodes} nodes); outside kernels ${(100 * profile.outside_kernels_share).toFixed(1)}% of model_run`);
    rows.push({
      name: c.name, teacher: c.teacher, data: c.data, images: src.n, batch: c.batch, per_ep: perEp,
      ...(perEp.cuda ? { cuda_over_cpu: perEp.cuda.images_per_s / perEp.cpu.images_per_s } : {}), profile,
    });
  }
  return rows;
}

async function trainBench() {
  const rng = new Rng(1);
  const rows: { arch: string; K: number; ep: string; params: number; samples_per_s: number; reps: number[]; build_s: number }[] = [];
  for (const arch of ARCHS) {
    for (const K of KS) {
      const t0 = now();
      const model = buildStudent(arch, { inputShape: [3, 32, 32], numClasses: 10, mode: 'train', seed: 1, batch: B });
      const step = buildTrainStep({ model, loss: crossEntropy, optimizer: createOptimizer('adamw', {}), loopSteps: K });
      const session = await createSession(step.model, sessOpts(ep));
      const runner = new StepRunner(step, session, model);
      const build = now() - t0;
      const lead = K > 1 ? [K] : [];
      const data = {
        input: tensor('float32', [...lead, B, 3, 32, 32], Float32Array.from({ length: K * B * 3 * 32 * 32 }, () => rng.normal())),
        labels: tensor('int64', [...lead, B], Array.from({ length: K * B }, () => rng.int(10))),
        mask: tensor('float32', [...lead, B], new Float32Array(K * B).fill(1)),
      };
      const lr = new Array(K).fill(LR);
      for (let i = 0; i < WARMUP_RUNS; i++) await runner.run(data, lr);
      const runsPerRep = Math.max(1, Math.ceil(STEPS_PER_REP / K));
      const sps: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t = now();
        for (let i = 0; i < runsPerRep; i++) await runner.run(data, lr);
        sps.push((runsPerRep * K * B) / (now() - t));
      }
      const params = step.params.reduce((a, p) => a + runner.values.get(p)!.data.length, 0);
      await session.release();
      rows.push({ arch, K, ep: session.ep, params, samples_per_s: median(sps), reps: sps, build_s: build });
      log(`train: ${arch} K=${K} on ${session.ep}, batch ${B}: ${median(sps).toFixed(1)} samples/s (reps ${sps.map((v) => v.toFixed(1)).join(', ')}; graph + session ${build.toFixed(1)} s)`);
    }
  }
  return rows;
}

interface TorchResult {
  skipped?: string; torch?: string; cuda?: string; device?: string; tf32_conv?: boolean; tf32_matmul?: boolean;
  results?: Record<string, { params: number; samples_per_s: number; reps: number[]; fused_samples_per_s?: number | null; fused_error?: string }>;
}

function torchBench(): TorchResult {
  if (noTorch) return { skipped: '--no-torch' };
  const script = path.join(root, 'scripts', 'bench-gpu-torch.py');
  const argv = [script, '--device', ep, '--batch', String(B), '--steps', String(STEPS_PER_REP), '--reps', String(reps), '--warmup', String(quick ? 2 : 10),
    ...(ep === 'cpu' && cpuThreads ? ['--threads', String(cpuThreads)] : [])];
  log(`pytorch: ${python} ${path.relative(root, script)} ${argv.slice(1).join(' ')} ...`);
  const r = spawnSync(python, argv, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error) return { skipped: `${python} could not be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` };
  if (r.status !== 0) return { skipped: `bench-gpu-torch.py exited with ${r.status}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}` };
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
  } catch {
    return { skipped: `bench-gpu-torch.py printed no JSON: ${r.stdout.slice(-200)}` };
  }
}

async function collect(tmp: string) {
  const t0 = now();
  const gpu = ep === 'cuda' ? gpuName() ?? 'unknown (nvidia-smi not found)' : 'none (CPU dry run)';
  log(`bench:gpu: ${ep === 'cuda' ? `CUDA on ${gpu}` : 'CPU dry run'}${quick ? ', quick' : ''}`);
  const probe = path.join(assets, 'teachers', LABEL_CASES[1].teacher);
  if (ep === 'cuda' && fs.existsSync(probe)) await (await TeacherRunner.open(probe, { ep: 'cuda' })).release(); // fail fast without CUDA
  const label = await labelBench(tmp);
  const train = await trainBench();
  const torch = torchBench();
  if (torch.skipped) log(`pytorch: skipped: ${torch.skipped}`);
  const ratios = train.map((t) => {
    const ref = torch.results?.[t.arch];
    const ratio = ref ? t.samples_per_s / ref.samples_per_s : undefined;
    return { arch: t.arch, K: t.K, ours: t.samples_per_s, pytorch: ref?.samples_per_s, ratio, meets_goal: ratio === undefined ? undefined : ratio >= GOAL };
  });
  const paramCheck = ARCHS.map((a) => ({ arch: a, ours: train.find((t) => t.arch === a)?.params, pytorch: torch.results?.[a]?.params }))
    .map((p) => ({ ...p, same: p.pytorch === undefined ? undefined : p.ours === p.pytorch }));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  return {
    ep, quick, gpu, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, cpu_threads: cpuThreads || 'default',
    node: process.version, onnxruntime: pkg.dependencies['onnxruntime-node'] as string,
    tf32: ep === 'cuda' ? 'onnxruntime CUDA EP default (use_tf32=1: on); createSession cannot pass provider options (TODO: pass use_tf32 to compare with TF32 off)' : 'n/a (CPU)',
    label, train: { batch: B, ks: KS, reps, steps_per_rep: STEPS_PER_REP, warmup_runs: WARMUP_RUNS, lr: LR, optimizer: { name: 'adamw', ...ADAMW_DEFAULTS }, rows: train },
    pytorch: torch, vs_pytorch: ratios, param_check: paramCheck, goal_ratio: GOAL,
    seconds: now() - t0,
  };
}
type Res = Awaited<ReturnType<typeof collect>>;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gpu-'));
  try {
    const res = await collect(tmp);
    if (json) process.stdout.write(JSON.stringify(res) + '\n');
    else printReport(res);
    if (record) {
      if (ep !== 'cuda' || quick) log('--record ignored: results are recorded only from a full CUDA run (--ep cuda, no --quick)');
      else writeSection('## GPU throughput (CUDA vs CPU, and vs PyTorch eager)', markdown(res));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const f = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));

function printReport(res: Res) {
  const rows: [string, string][] = [
    ['measured on', `${res.ep}${res.quick ? ' (quick)' : ''}; gpu ${res.gpu}`],
    ['cpu / cores / cpu threads', `${res.cpu} / ${res.cores} / ${res.cpu_threads}`],
    ['node / onnxruntime-node', `${res.node} / ${res.onnxruntime}`],
    ['TF32', res.tf32],
  ];
  for (const l of res.label) {
    if ('skipped' in l) { rows.push([`label ${l.name}`, `skipped (${l.skipped})`]); continue; }
    rows.push([`label ${l.name}, ${l.images} images, batch ${l.batch}`, Object.entries(l.per_ep).map(([e, v]) => `${e} ${f(v.images_per_s)} images/s`).join(', ') + (l.cuda_over_cpu ? ` (cuda/cpu ${f(l.cuda_over_cpu, 2)}x)` : '')]);
    const p = l.profile;
    rows.push([`  profile on ${p.ep}: Memcpy share of kernel time`, `${f(100 * p.memcpy_share)}% (${f(p.memcpy_ms_per_run, 2)} of ${f(p.kernel_ms_per_run, 2)} ms/run, ${p.memcpy_nodes} Memcpy nodes)`]);
    rows.push(['  kernel ms/run by provider; outside kernels', `${Object.entries(p.kernel_ms_by_provider).map(([k, v]) => `${k} ${f(v, 2)}`).join(', ')}; ${f(100 * p.outside_kernels_share)}% of ${f(p.model_run_ms_per_run, 2)} ms model_run`]);
  }
  rows.push([`training, batch ${res.train.batch}, median of ${res.train.reps} reps`, 'samples/s (ours), PyTorch eager, ours/PyTorch']);
  for (const r of res.vs_pytorch) {
    const t = res.train.rows.find((x) => x.arch === r.arch && x.K === r.K)!;
    rows.push([`  ${r.arch} K=${r.K} on ${t.ep}`, `${f(r.ours)}, ${f(r.pytorch)}, ${r.ratio === undefined ? '-' : `${f(r.ratio, 2)}x (goal >= ${GOAL}: ${r.meets_goal ? 'met' : 'not met'})`}`]);
  }
  if (res.pytorch.skipped) rows.push(['PyTorch', `skipped: ${res.pytorch.skipped}`]);
  else {
    rows.push(['PyTorch', `torch ${res.pytorch.torch}, CUDA ${res.pytorch.cuda ?? '-'}, ${res.pytorch.device}, TF32 conv ${res.pytorch.tf32_conv} matmul ${res.pytorch.tf32_matmul}`]);
    for (const [a, v] of Object.entries(res.pytorch.results ?? {})) if (v.fused_samples_per_s || v.fused_error) rows.push([`  ${a}, AdamW fused=True`, v.fused_samples_per_s ? `${f(v.fused_samples_per_s)} samples/s` : `not measured: ${v.fused_error}`]);
  }
  rows.push(['parameters, ours / PyTorch', res.param_check.map((p) => `${p.arch} ${p.ours ?? '-'} / ${p.pytorch ?? '-'}${p.same === false ? ' (MISMATCH)' : ''}`).join(', ')]);
  rows.push(['seconds', f(res.seconds)]);
  for (const [k, v] of rows) console.log(`${k.padEnd(46)} ${v}`);
}

function markdown(res: Res): string {
  const out = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:gpu -- --record\` on GPU ${res.gpu}; CPU ${res.cpu} (${res.cores} cores, CPU sessions with ${res.cpu_threads} threads), Node ${res.node}, onnxruntime-node ${res.onnxruntime}. TF32: ${res.tf32}.`,
    '',
    '### Label throughput (TeacherRunner.run, data decoded up front)',
    '',
    '| teacher | images | batch | CPU (images/s) | CUDA (images/s) | CUDA / CPU | Memcpy share of kernel time (CUDA) | outside kernels (share of model_run) |',
    '|---|---|---|---|---|---|---|---|',
    ...res.label.map((l) => ('skipped' in l ? `| ${l.name} | skipped: ${l.skipped} | | | | | | |`
      : `| ${l.name} | ${l.images} | ${l.batch} | ${f(l.per_ep.cpu?.images_per_s)} | ${f(l.per_ep.cuda?.images_per_s)} | ${f(l.cuda_over_cpu, 2)} | ${f(100 * l.profile.memcpy_share)}% (${l.profile.memcpy_nodes} nodes; kernel ms/run ${Object.entries(l.profile.kernel_ms_by_provider).map(([k, v]) => `${k} ${f(v, 2)}`).join(', ')}) | ${f(100 * l.profile.outside_kernels_share)}% |`)),
    '',
    'Profile shares are host-side times from onnxruntime\'s trace (a CUDA kernel returns once launched; a copy to the host waits for the queued work), not GPU occupancy.',
    '',
    `### Training throughput (batch ${res.train.batch}, 3x32x32, 10 classes, AdamW, median of ${res.train.reps} repetitions of max(K, ${res.train.steps_per_rep}) steps)`,
    '',
    `| student | K | ours (samples/s) | PyTorch eager (samples/s) | ours / PyTorch (goal >= ${GOAL}) |`,
    '|---|---|---|---|---|',
    ...res.vs_pytorch.map((r) => `| ${r.arch} | ${r.K} | ${f(r.ours)} | ${f(r.pytorch)} | ${r.ratio === undefined ? '-' : `${f(r.ratio, 2)} (${r.meets_goal ? 'met' : 'not met'})`} |`),
    '',
    res.pytorch.skipped ? `PyTorch: skipped (${res.pytorch.skipped}).`
      : `PyTorch ${res.pytorch.torch} (CUDA ${res.pytorch.cuda}), cudnn.benchmark on, TF32 conv ${res.pytorch.tf32_conv} / matmul ${res.pytorch.tf32_matmul}, data on the device, default AdamW (foreach on CUDA)${Object.values(res.pytorch.results ?? {}).some((v) => v.fused_samples_per_s) ? `; with fused=True: ${Object.entries(res.pytorch.results ?? {}).map(([a, v]) => `${a} ${f(v.fused_samples_per_s ?? undefined)}`).join(', ')} samples/s` : ''}. Parameters ours / PyTorch: ${res.param_check.map((p) => `${p.arch} ${p.ours} / ${p.pytorch}`).join(', ')}.`,
  ];
  return out.join('\n');
}

main().catch((e) => {
  // our typed errors (no CUDA provider, say) as their one line and hint; others with the stack
  if (e instanceof DistillError) console.error(`bench:gpu: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`);
  else console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
