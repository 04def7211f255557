// `distill --objective alm` end to end on Fashion-MNIST with 40% label noise: the report
// and metrics of the meta-learned weight table, the table in the checkpoint, Ctrl-C +
// --resume giving the uninterrupted run's table and weights bit for bit, two teachers,
// and the refusals. Needs the shared assets (skipped with the reason otherwise).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { distill, type DistillConfig, type DistillLog } from '../../src/train/distill.js';
import { dataToBytes } from '../../src/graph/tensor.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { BIN, REPO_ROOT, childEnv, cli } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-alm-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const TEACHER = 'teachers/fashion-mnist-simplecnn.onnx';
const IMAGES = 'data/fashion-mnist/train-images-idx3-ubyte.gz';

function assets(t: test.TestContext): { teacher: string; images: string } | undefined {
  const teacher = assetsOrSkip(t, TEACHER);
  const images = teacher && assetsOrSkip(t, IMAGES);
  return teacher && images ? { teacher, images } : undefined;
}

const runArgs = (a: { teacher: string; images: string }, out: string) => ['distill', '--teacher', a.teacher, '--data', `${a.images}:0-3000`,
  '--val', `${a.images}:59000-59500`, '--objective', 'alm', '--label-noise', '0.4', '--student', 'convnet', '--width', '8', '--epochs', '3',
  '--meta-start', '1', '--batch', '128', '--json', '--ep', 'cpu', '--out', out];

const records = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

function assertSameCheckpoint(a: string, b: string, what: string) {
  const ta = loadCheckpoint(a).values, tb = loadCheckpoint(b).values;
  assert.deepEqual([...tb.keys()].sort(), [...ta.keys()].sort(), `${what}: same tensor names`);
  for (const [k, v] of ta) {
    const w = tb.get(k)!;
    assert.deepEqual(w.dims, v.dims, k);
    assert.ok(Buffer.from(dataToBytes(v.data)).equals(Buffer.from(dataToBytes(w.data))), `${what}: tensor '${k}' differs`);
  }
}

// run A (uninterrupted), shared by the tests below
let runA: string | undefined;

test('alm with 40% label noise: report keys, alm_meta records before epochs 2 and 3, the [N, 2] table in the checkpoint', (t) => {
  const a = assets(t);
  if (!a) return;
  const out = path.join(tmp, 'a');
  const r = cli(runArgs(a, out));
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.stopped, false);
  assert.equal(res.label_noise_count, 1200);
  for (const term of ['ce', 'kd']) for (const g of ['clean', 'corrupted']) for (const s of ['mean', 'median']) {
    const v = res[`alm_w_${term}_${g}_${s}`];
    assert.ok(typeof v === 'number' && v >= 0 && v <= 2, `alm_w_${term}_${g}_${s} = ${v}`);
  }
  assert.ok(!('alm_w_kd2_clean_mean' in res), 'one teacher: no kd2 column');

  const recs = records(out);
  const order = recs.map((x) => `${x.type}:${x.epoch}`);
  const meta = recs.filter((x) => x.type === 'alm_meta');
  assert.deepEqual(meta.map((x) => x.epoch), [1, 2], `meta-updates before the 2nd and 3rd epochs: ${order}`);
  assert.ok(order.indexOf('epoch:0') < order.indexOf('alm_meta:1') && order.indexOf('alm_meta:1') < order.indexOf('epoch:1')
    && order.indexOf('epoch:1') < order.indexOf('alm_meta:2') && order.indexOf('alm_meta:2') < order.indexOf('epoch:2'), `record order: ${order}`);
  for (const m of meta) {
    assert.ok(Number.isFinite(m.lookahead_val_loss) && m.lookahead_val_loss > 0, `lookahead_val_loss ${m.lookahead_val_loss}`);
    assert.equal(typeof m.alm_w_ce_corrupted_mean, 'number');
  }
  // the final report is the table after the last meta-update
  assert.equal(res.alm_w_ce_clean_mean, meta[1].alm_w_ce_clean_mean);

  const { values, progress } = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
  assert.equal(progress.epoch, 3);
  const lam = values.get('extra::alm.lambda');
  assert.ok(lam, 'extra::alm.lambda in the checkpoint');
  assert.deepEqual(lam.dims, [3000, 2]);
  const d = lam.data as Float32Array;
  assert.ok(d.every((v) => v >= 0 && v <= 2), 'lambda in [0, 2]');
  let changed = 0;
  for (let i = 0; i < 3000; i++) if (d[2 * i] !== Math.fround(0.1) || d[2 * i + 1] !== Math.fround(0.9)) changed++;
  assert.ok(changed > 1500, `the meta-updates moved most rows off (0.1, 0.9): ${changed} of 3000`);
  // the report's mean over all rows agrees with the table
  const meanCe = Array.from({ length: 3000 }, (_, i) => d[2 * i]).reduce((x, v) => x + v, 0) / 3000;
  assert.ok(Math.abs(meanCe - (res.alm_w_ce_clean_mean * 1800 + res.alm_w_ce_corrupted_mean * 1200) / 3000) < 1e-5, 'report means match the table');
  runA = out;
});

test('Ctrl-C in the 3rd epoch (after two meta-updates) and --resume: the same table and student as the uninterrupted run', async (t) => {
  const a = assets(t);
  if (!a) return;
  assert.ok(runA, 'run A (the first test) succeeded');
  const out = path.join(tmp, 'b');
  const args = runArgs(a, out);
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', signalled = false;
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    // the first training progress line after the meta-update before epoch 3
    if (!signalled && /meta-update before epoch 3[^]*epoch \[/.test(stderr)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.ok(signalled, `reached epoch 3:\n${stderr}`);
  assert.equal(signal, null, stderr);
  assert.equal(code, 130, stderr);
  const ckpt = path.join(out, 'checkpoint.safetensors');
  const { progress, values } = loadCheckpoint(ckpt);
  assert.equal(progress.epoch, 2, 'stopped in the 3rd epoch');
  assert.ok(progress.batchInEpoch > 0 && progress.batchInEpoch < 24, `mid-epoch (batch ${progress.batchInEpoch})`);
  assert.deepEqual(values.get('extra::alm.lambda')?.dims, [3000, 2], 'the table is in the Ctrl-C checkpoint');
  assert.ok(!fs.existsSync(path.join(out, 'student.onnx')));

  const r = cli([...args, '--resume']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resuming at epoch 3/);
  assert.ok(!/meta-update before/.test(r.stderr), 'no meta-update is redone mid-epoch');
  assertSameCheckpoint(path.join(runA!, 'checkpoint.safetensors'), ckpt, 'resumed vs uninterrupted');
  assert.ok(fs.readFileSync(path.join(runA!, 'student.onnx')).equals(fs.readFileSync(path.join(out, 'student.onnx'))), 'same student.onnx');
  const resA = JSON.parse(cli([...runArgs(a, runA!), '--resume']).stdout), resB = JSON.parse(r.stdout);
  for (const k of Object.keys(resA).filter((k) => k.startsWith('alm_w_') || k.startsWith('val_'))) assert.equal(resB[k], resA[k], k);
  assert.deepEqual(records(out).filter((x) => x.type === 'alm_meta').map((x) => x.epoch), [1, 2], 'one alm_meta record per meta-update');
});

// A stop right after a meta-update, before the epoch's first step, must not let --resume
// run that meta-update a second time (found by this test: the table was updated twice).
test('a stop just after a meta-update: --resume does not redo it (API, small run)', async (t) => {
  const a = assets(t);
  if (!a) return;
  const cfg = (out: string): DistillConfig => ({
    teacher: a.teacher, data: `${a.images}:0-1000`, val: `${a.images}:59000-59300`, valSplit: 0.1, student: 'convnet', width: 4, depth: 2,
    objective: 'alm', objectiveOptions: { meta_start: 1 }, labelNoise: 0.4, epochs: 2, batch: 128, lr: 3e-3, optimizer: 'adamw', weightDecay: 5e-4,
    warmupEpochs: 0.5, loopSteps: 1, seed: 1, augment: 'off', preprocessing: {}, ep: 'cpu', out,
  });
  const quiet = (): DistillLog & { metaDone: number } => {
    const l = { metaDone: 0, info: () => {}, progress: (label: string, d: number, n: number) => { if (label === 'meta-update' && d === n) l.metaDone++; } };
    return l;
  };
  const a1 = path.join(tmp, 'api-a'), b1 = path.join(tmp, 'api-b');
  await distill(cfg(a1), quiet());
  const log = quiet();
  const stopped = await distill(cfg(b1), log, { shouldStop: () => log.metaDone >= 1 });
  assert.equal(stopped.stopped, true);
  const p = loadCheckpoint(path.join(b1, 'checkpoint.safetensors')).progress;
  assert.equal(p.epoch, 1);
  const resumed = await distill(cfg(b1), quiet(), { resume: true });
  assert.equal(resumed.stopped, false);
  assertSameCheckpoint(path.join(a1, 'checkpoint.safetensors'), path.join(b1, 'checkpoint.safetensors'), 'stopped after the meta-update, resumed');
});

test('two teachers: a [N, 3] table and report keys for ce, kd and kd2', (t) => {
  const a = assets(t);
  if (!a) return;
  const out = path.join(tmp, 'two');
  const r = cli(['distill', '--teacher', a.teacher, '--teacher', a.teacher, '--data', `${a.images}:0-1000`, '--val', `${a.images}:59000-59300`,
    '--objective', 'alm', '--label-noise', '0.4', '--student', 'convnet', '--width', '4', '--epochs', '2', '--meta-start', '1', '--batch', '128',
    '--json', '--ep', 'cpu', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.label_noise_count, 400);
  for (const term of ['ce', 'kd', 'kd2']) for (const g of ['clean', 'corrupted']) {
    assert.equal(typeof res[`alm_w_${term}_${g}_mean`], 'number', `alm_w_${term}_${g}_mean`);
    assert.equal(typeof res[`alm_w_${term}_${g}_median`], 'number', `alm_w_${term}_${g}_median`);
  }
  const lam = loadCheckpoint(path.join(out, 'checkpoint.safetensors')).values.get('extra::alm.lambda');
  assert.deepEqual(lam?.dims, [1000, 3]);
  assert.deepEqual(records(out).filter((x) => x.type === 'alm_meta').map((x) => x.epoch), [1]);
});

test('refused with exit 2: kd with two teachers, alm with --augment on', (t) => {
  const a = assets(t);
  if (!a) return;
  const base = ['--data', `${a.images}:0-300`, '--val', `${a.images}:59000-59100`, '--student', 'convnet', '--width', '4', '--epochs', '1', '--ep', 'cpu'];
  const kdOut = path.join(tmp, 'kd2');
  const kd = cli(['distill', '--objective', 'kd', '--teacher', a.teacher, '--teacher', a.teacher, ...base, '--out', kdOut]);
  assert.equal(kd.status, 2, kd.stderr);
  assert.match(kd.stderr, /takes one teacher/);
  assert.ok(!fs.existsSync(path.join(kdOut, 'checkpoint.safetensors')), 'nothing trained');
  const augOut = path.join(tmp, 'aug');
  const aug = cli(['distill', '--objective', 'alm', '--teacher', a.teacher, '--augment', 'on', ...base, '--out', augOut]);
  assert.equal(aug.status, 2, aug.stderr);
  assert.match(aug.stderr, /augment/);
  assert.ok(!fs.existsSync(path.join(augOut, 'checkpoint.safetensors')), 'nothing trained');
});
