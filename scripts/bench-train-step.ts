// Benchmark: cost of a generated training step relative to a forward pass, for the
// convnet student at batch 128 on 32x32x3 inputs, on CPU. A step is about three
// forward passes of arithmetic; the goal is step / forward <= 3.5. Runs are
// interleaved and medians reported, because shared machines are noisy: compare ratios
// from one run, and treat absolute times as context. Results: docs/benchmarks.md.
//   npm run bench:train-step [-- --json] [--reps 10] [--width 32] [--batch 128]
//                            [--threads N] [--profile DIR] [--cuda]
// --profile DIR also runs the forward and the K=1 step with onnxruntime's profiler and
// prints the kernel time per op type (the traces stay in DIR).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildStudent } from '../src/graph/zoo/index.js';
import { buildTrainStep, type TrainableModel } from '../src/train/step.js';
import { StepRunner } from '../src/train/runner.js';
import { createOptimizer } from '../src/train/optim/index.js';
import { crossEntropy } from '../src/train/objectives/ce.js';
import { createSession, type Session, type SessionOptions } from '../src/runtime/session.js';
import { newModel, type Graph, type Tensor } from '../src/graph/ir.js';
import { tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/util/rng.js';

const GOAL = 3.5;
const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const json = args.includes('--json');
const B = flag('batch', 128), reps = flag('reps', 10), width = flag('width', 32), threads = flag('threads', 0);
const profileDir = args.includes('--profile') ? args[args.indexOf('--profile') + 1] : undefined;
const ep = args.includes('--cuda') ? 'cuda' as const : 'cpu' as const;
const sessionOpts: SessionOptions = { ep, ...(threads ? { threads } : {}) };
const opts = { inputShape: [3, 32, 32], numClasses: 10, mode: 'train' as const, seed: 1, width, depth: 3, batch: B };
const rng = new Rng(1);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
const log = (msg: string) => process.stderr.write(`${msg}\n`);

function batchData(k: number): Record<string, Tensor> {
  const lead = k > 1 ? [k] : [];
  return {
    input: tensor('float32', [...lead, B, 3, 32, 32], randn(k * B * 3 * 32 * 32)),
    labels: tensor('int64', [...lead, B], Array.from({ length: k * B }, () => rng.int(10))),
    mask: tensor('float32', [...lead, B], new Float32Array(k * B).fill(1)),
  };
}

/** The forward graph with parameters and buffers as graph inputs instead of initializers,
 * as they are in a step graph: onnxruntime then cannot pre-pack the Conv weights or
 * switch the Convs to its NCHWc kernels (both need constant weights). */
function weightsAsInputs(m: TrainableModel): { graph: Graph; feeds: Record<string, Tensor> } {
  const inits = new Map(m.graph.initializers), inputs = [...m.graph.inputs], feeds: Record<string, Tensor> = {};
  for (const name of [...m.params, ...Object.keys(m.buffers ?? {})]) {
    const t = inits.get(name)!;
    inits.delete(name);
    inputs.push({ name, dtype: t.dtype, shape: [...t.dims] });
    feeds[name] = t;
  }
  return { graph: { ...m.graph, initializers: inits, inputs }, feeds };
}

async function stepRunner(K: number, extra: SessionOptions = {}): Promise<StepRunner> {
  const m = buildStudent('convnet', opts);
  const step = buildTrainStep({ model: m, loss: crossEntropy, optimizer: createOptimizer('adamw', {}), loopSteps: K });
  return new StepRunner(step, await createSession(step.model, { ...sessionOpts, ...extra }), m);
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface OpShare { op: string; ms: number; share: number }

/** Kernel time per op type per run from an onnxruntime JSON trace, leaving out the
 * first run (warm-up) and the Loop node itself (its body's kernels are listed). */
function opBreakdown(file: string, stepsPerRun: number): OpShare[] {
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
  const inRun = (ts: number) => runs.some((r) => ts >= r.ts && ts <= r.ts + r.dur);
  const perOp = new Map<string, number>();
  for (const e of events) {
    const op = e.args?.op_name;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !op || op === 'Loop' || !inRun(e.ts)) continue;
    perOp.set(op, (perOp.get(op) ?? 0) + e.dur);
  }
  const total = [...perOp.values()].reduce((a, v) => a + v, 0);
  const per = runs.length * stepsPerRun * 1000;
  return [...perOp].sort((a, b) => b[1] - a[1]).map(([op, us]) => ({ op, ms: us / per, share: us / total }));
}

async function profile(dir: string, fwdModel: TrainableModel, fwdIn: Record<string, Tensor>, d1: Record<string, Tensor>) {
  fs.mkdirSync(dir, { recursive: true });
  const traceOf = async (name: string, run: (prefix: string) => Promise<Session>) => {
    const prefix = path.join(dir, `${name}-${Date.now()}`);
    const s = await run(prefix);
    await s.release(); // onnxruntime writes the trace on release
    const file = fs.readdirSync(dir).map((f) => path.join(dir, f)).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime wrote no profile under ${prefix}`);
    return opBreakdown(file, 1);
  };
  const forward = await traceOf('forward', async (prefix) => {
    const s = await createSession(newModel(fwdModel.graph), { ...sessionOpts, profile: prefix });
    for (let i = 0; i < 6; i++) await s.run(fwdIn);
    return s;
  });
  const step = await traceOf('step-k1', async (prefix) => {
    const r = await stepRunner(1, { profile: prefix });
    for (let i = 0; i < 6; i++) await r.run(d1, [1e-3]);
    return r.session;
  });
  return { forward, step };
}

async function main() {
  const fwdModel = buildStudent('convnet', opts);
  const fwd = await createSession(newModel(fwdModel.graph), sessionOpts);
  const asInputs = weightsAsInputs(buildStudent('convnet', opts));
  const fwdInputs = await createSession(newModel(asInputs.graph), sessionOpts);
  const runners: Record<number, StepRunner> = { 1: await stepRunner(1), 8: await stepRunner(8) };
  const fwdIn = { input: batchData(1).input };
  const d1 = batchData(1), d8 = batchData(8);
  const lr8 = new Array(8).fill(1e-3);
  const cases: Record<string, [() => Promise<unknown>, number]> = {
    forward: [() => fwd.run(fwdIn), 1],
    forward_inputs: [() => fwdInputs.run({ ...fwdIn, ...asInputs.feeds }), 1],
    step1: [() => runners[1].run(d1, [1e-3]), 1],
    step8: [() => runners[8].run(d8, lr8), 8],
  };
  for (let i = 0; i < 2; i++) for (const [run] of Object.values(cases)) await run(); // warm-up
  const t: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < reps; i++) { // interleaved so drift hits all cases alike
    for (const [k, [run, steps]] of Object.entries(cases)) t[k].push((await timeIt(run)) / steps);
    log(`rep ${i + 1}/${reps}: ${Object.keys(cases).map((k) => `${k} ${t[k][i].toFixed(0)} ms`).join(', ')}`);
  }
  const med = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const params = runners[1].step.params.reduce((a, p) => a + runners[1].values.get(p)!.data.length, 0);
  const res = {
    device: ep, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, threads: threads || 'default',
    onnxruntime: pkg.dependencies['onnxruntime-node'], batch: B, width, params, reps,
    forward_ms: med.forward,
    forward_weights_as_inputs_ms: med.forward_inputs,
    step_k1_ms: med.step1,
    step_k8_ms_per_step: med.step8,
    step_over_forward: med.step1 / med.forward,
    step_over_forward_weights_as_inputs: med.step1 / med.forward_inputs,
    goal_step_over_forward: GOAL,
    meets_goal: med.step1 / med.forward <= GOAL,
    loop8_speedup: med.step1 / med.step8,
    min_ms: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.min(...v)])),
    ...(profileDir ? { profile: await profile(profileDir, fwdModel, fwdIn, d1) } : {}),
  };
  if (json) {
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  printTable(res);
}

function printTable(res: Record<string, unknown> & { profile?: { forward: OpShare[]; step: OpShare[] } }) {
  const f = (k: string, d = 1) => (res[k] as number).toFixed(d);
  const rows: [string, string][] = [
    ['device / cores / threads', `${res.device} (${res.cpu}) / ${res.cores} / ${res.threads}`],
    ['onnxruntime-node / batch / params', `${res.onnxruntime} / ${res.batch} / ${res.params}`],
    [`median of ${res.reps} interleaved reps`, ''],
    ['forward (ms)', f('forward_ms')],
    ['forward, weights as inputs (ms)', f('forward_weights_as_inputs_ms')],
    ['train step, K=1 (ms)', f('step_k1_ms')],
    ['train step, K=8 Loop (ms per step)', f('step_k8_ms_per_step')],
    ['step / forward', `${f('step_over_forward', 2)} (goal <= ${GOAL}: ${res.meets_goal ? 'met' : 'not met'})`],
    ['step / forward with weights as inputs', f('step_over_forward_weights_as_inputs', 2)],
    ['K=8 Loop speed-up per step', f('loop8_speedup', 2)],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v}`);
  if (!res.profile) return;
  for (const [name, ops] of Object.entries(res.profile)) {
    console.log(`\nkernel time per op type, ${name} (ms per run, share)`);
    for (const o of ops.filter((x) => x.share >= 0.002)) console.log(`  ${o.op.padEnd(24)} ${o.ms.toFixed(1).padStart(8)}  ${(100 * o.share).toFixed(1).padStart(5)}%`);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
