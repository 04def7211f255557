// Benchmark: cost of a generated training step relative to a forward pass, for the
// convnet student at batch 128 on 32x32x3 inputs, on CPU. Ratios are measured in one
// run, interleaved, because shared machines are noisy; absolute times are context.
//   npm run bench:train-step [-- --json] [-- --reps 10] [-- --width 32]
import { buildStudent } from '../src/graph/zoo/index.js';
import { buildTrainStep } from '../src/train/step.js';
import { StepRunner } from '../src/train/runner.js';
import { createOptimizer } from '../src/train/optim/index.js';
import { crossEntropy } from '../src/train/objectives/ce.js';
import { createSession, type Session } from '../src/runtime/session.js';
import { newModel, type Tensor } from '../src/graph/ir.js';
import { tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/util/rng.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const json = args.includes('--json');
const B = flag('batch', 128), reps = flag('reps', 8), width = flag('width', 32), ep = args.includes('--cuda') ? 'cuda' : 'cpu';
const opts = { inputShape: [3, 32, 32], numClasses: 10, mode: 'train' as const, seed: 1, width, depth: 3 };
const rng = new Rng(1);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

function batchData(k: number): Record<string, Tensor> {
  const lead = k > 1 ? [k] : [];
  return {
    input: tensor('float32', [...lead, B, 3, 32, 32], randn(k * B * 3 * 32 * 32)),
    labels: tensor('int64', [...lead, B], Array.from({ length: k * B }, () => rng.int(10))),
    mask: tensor('float32', [...lead, B], new Float32Array(k * B).fill(1)),
  };
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const fwdModel = buildStudent('convnet', { ...opts, batch: B });
  const fwd: Session = await createSession(newModel(fwdModel.graph), { ep });
  const runners: Record<string, StepRunner> = {};
  for (const K of [1, 8]) {
    const m = buildStudent('convnet', { ...opts, batch: B });
    const step = buildTrainStep({ model: m, loss: crossEntropy, optimizer: createOptimizer('adamw', {}), loopSteps: K });
    runners[K] = new StepRunner(step, await createSession(step.model, { ep }), m);
  }
  const fwdIn = { input: batchData(1).input };
  const d1 = batchData(1), d8 = batchData(8);
  const lr8 = new Array(8).fill(1e-3);
  for (let i = 0; i < 2; i++) { // warm-up
    await fwd.run(fwdIn);
    await runners[1].run(d1, [1e-3]);
    await runners[8].run(d8, lr8);
  }
  const t = { forward: [] as number[], step1: [] as number[], step8: [] as number[] };
  for (let i = 0; i < reps; i++) { // interleaved so drift hits all three alike
    t.forward.push(await timeIt(() => fwd.run(fwdIn)));
    t.step1.push(await timeIt(() => runners[1].run(d1, [1e-3])));
    t.step8.push((await timeIt(() => runners[8].run(d8, lr8))) / 8);
  }
  const params = runners[1].step.params.reduce((a, p) => a + runners[1].values.get(p)!.data.length, 0);
  const res = {
    device: ep, batch: B, width, params, reps,
    forward_ms: median(t.forward),
    step_k1_ms: median(t.step1),
    step_k8_ms_per_step: median(t.step8),
    step_over_forward: median(t.step1) / median(t.forward),
    loop8_speedup: median(t.step1) / median(t.step8),
  };
  if (json) {
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  const rows: [string, string][] = [
    ['device / batch / params', `${res.device} / ${B} / ${params}`],
    ['forward (ms)', res.forward_ms.toFixed(1)],
    ['train step, K=1 (ms)', res.step_k1_ms.toFixed(1)],
    ['train step, K=8 Loop (ms per step)', res.step_k8_ms_per_step.toFixed(1)],
    ['step / forward', res.step_over_forward.toFixed(2)],
    ['K=8 speed-up per step', res.loop8_speedup.toFixed(2)],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(36)} ${v}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
