// `onnx-distill label` end to end: a real teacher's accuracy from its stored logits, a
// run killed mid-way and resumed (byte-identical shards), a 2-way split into one folder,
// refusals that leave folders untouched, and `distill --labels` (offline KD).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from '../../src/graph/builder.js';
import { newModel } from '../../src/graph/ir.js';
import { saveModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { loadDataset } from '../../src/data/sources.js';
import { openLabelStore, readStoreLogits } from '../../src/data/label-store-read.js';
import { readManifest } from '../../src/data/label-store.js';
import { DistillError } from '../../src/errors.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { BIN, REPO_ROOT, childEnv, cli, snapshot } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'label-e2e-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const TEACHER = path.join(REPO_ROOT, 'models', 'mnist-teacher.onnx');
// 10,000 digits in 20 shards: long enough to kill after the first shard
const ARGS = ['--teacher', TEACHER, '--data', 'mnist', '--shard-size', '500', '--batch', '100', '--features', 'auto', '--dtype', 'float16', '--ep', 'cpu'];
const FULL = path.join(tmp, 'full');
const shardHashes = (dir: string) => Object.fromEntries(fs.readdirSync(dir).filter((f) => f.startsWith('shard-')).sort()
  .map((f) => [f, crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')]));

/** A different (random-ish) teacher with the same input, for refusals. */
function otherTeacher(): string {
  const g = new Builder('other');
  const x = g.input('input', 'float32', ['N', 1, 28, 28]);
  const w = tensor('float32', [784, 10], Array.from({ length: 7840 }, (_, i) => Math.sin(i)));
  g.output(g.op('MatMul', [g.op('Flatten', [x], { axis: 1 }), g.constant(w)]), 'logits');
  const file = path.join(tmp, 'other.onnx');
  saveModel(newModel(g.graph), file);
  return file;
}

// The cheap teachers of ../shared/assets (IDX data, no decoding): accuracy in its README,
// within 0.1 point. (CIFAR-10 and mobilenet_v2 need image folders and take minutes here.)
const ASSET_CASES = [
  { teacher: 'fashion-mnist-simplecnn.onnx', data: 'fashion-mnist/t10k-images-idx3-ubyte.gz', top1: 90.15, kind: 'log-probabilities' },
  { teacher: 'mnist-cntk-opset7.onnx', data: 'mnist/t10k-images-idx3-ubyte.gz', top1: 98.9, kind: 'logits' },
];
for (const c of ASSET_CASES) {
  test(`${c.teacher} on ${c.data}: argmax of the stored logits gives ${c.top1}% (output kind ${c.kind} recorded)`, (t) => {
    const teacher = assetsOrSkip(t, `teachers/${c.teacher}`);
    const data = assetsOrSkip(t, `data/${c.data}`);
    if (!teacher || !data) return;
    const out = path.join(tmp, c.teacher);
    const r = cli(['label', '--teacher', teacher, '--data', data, '--out', out, '--batch', '128', '--ep', 'cpu', '--json'], 300_000);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.deepEqual([res.samples_stored, res.complete], [10000, true]);
    const store = openLabelStore(out);
    assert.equal(store.manifest.outputs.find((o) => o.name === 'logits')!.kind, c.kind);
    const labels = loadDataset(data).labels!;
    const logits = readStoreLogits(store, Int32Array.from({ length: 10000 }, (_, i) => i));
    let correct = 0;
    for (let i = 0; i < 10000; i++) {
      const row = logits.subarray(i * 10, i * 10 + 10);
      if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
    }
    assert.ok(Math.abs(correct / 100 - c.top1) <= 0.1 + 1e-9, `top-1 ${correct / 100}%`);
  });
}

test('an uninterrupted run: progress on stderr, one JSON object on stdout', () => {
  const r = cli(['label', ...ARGS, '--out', FULL, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /label \[.*\] \d+\/10000 \d+ samples\/s ETA/);
  const res = JSON.parse(r.stdout);
  assert.deepEqual([res.samples_stored, res.shards_written, res.complete], [10000, 20, true]);
  assert.equal(Object.keys(shardHashes(FULL)).length, 20);
});

function manifestShards(file: string): number {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')).shards ?? []).length;
  } catch {
    return 0; // not there yet (it is replaced atomically, so never torn)
  }
}

test('SIGKILL after the first shard appears, then --resume: every shard byte-identical to the uninterrupted run', async () => {
  const out = path.join(tmp, 'killed');
  const child = spawn(process.execPath, [BIN, 'label', ...ARGS, '--out', out], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  let killed = false;
  const poll = setInterval(() => {
    // kill once the manifest lists a shard (a shard file renamed into place but not yet
    // in the manifest is simply redone, which would leave nothing to compare)
    if (!killed && manifestShards(path.join(out, 'manifest.json')) > 0) {
      killed = true;
      child.kill('SIGKILL');
    }
  }, 5);
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearInterval(poll);
  clearTimeout(timer);
  assert.ok(killed, `the first shard appeared:\n${stderr}`);
  assert.equal(signal, 'SIGKILL');
  const partial = readManifest(path.join(out, 'manifest.json'));
  assert.equal(partial.complete, false, 'killed before the end');
  assert.ok(Object.keys(shardHashes(out)).length < 20, 'some shards are missing');
  assert.throws(() => openLabelStore(out), (e: unknown) => e instanceof DistillError && /incomplete.*--resume/.test(e.oneLine()), 'a reader refuses the unfinished store');

  const again = cli(['label', ...ARGS, '--out', out]);
  assert.equal(again.status, 2, 'without --resume the folder is refused');
  assert.match(again.stderr, /already holds this label store.*--resume/);

  const r = cli(['label', ...ARGS, '--out', out, '--resume', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resuming: \d+ of 20 shards already written/);
  const res = JSON.parse(r.stdout);
  assert.ok(res.shards_written < 20 && res.shards_written + res.shards_kept === 20, r.stdout);
  assert.deepEqual(shardHashes(out), shardHashes(FULL));
  assert.ok(!fs.readdirSync(out).some((f) => f.endsWith('.tmp')), 'no temporary files left');
});

test('--shard 0/2 and 1/2 run at once into one folder: the same shards as the unsplit store, read as one', async () => {
  const out = path.join(tmp, 'split');
  const run = (part: string) => new Promise<[number | null, string]>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'label', ...ARGS, '--out', out, '--shard', part], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    c.on('close', (code) => resolve([code, err]));
  });
  const results = await Promise.all([run('0/2'), run('1/2')]);
  for (const [code, err] of results) assert.equal(code, 0, err);
  assert.deepEqual(shardHashes(out), shardHashes(FULL));
  assert.ok(fs.existsSync(path.join(out, 'manifest-0-of-2.json')) && fs.existsSync(path.join(out, 'manifest-1-of-2.json')));
  assert.equal(openLabelStore(out).samples, 10000);
});

test('refusals: another teacher on --resume, a non-empty folder, a bad --shard; folders untouched, exit 2, one line', () => {
  const before = snapshot(FULL);
  const other = ARGS.map((a) => (a === TEACHER ? otherTeacher() : a));
  for (const extra of [['--resume'], []]) {
    const r = cli(['label', ...other, '--out', FULL, ...extra]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^onnx-distill: error: .*another teacher/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(snapshot(FULL), before);
  }

  const foreign = path.join(tmp, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'data.bin'), 'keep me');
  const f = snapshot(foreign);
  const r2 = cli(['label', ...ARGS, '--out', foreign]);
  assert.equal(r2.status, 2, r2.stderr);
  assert.match(r2.stderr, /not empty and holds no label store/);
  assert.deepEqual(snapshot(foreign), f);

  const help = cli(['label', '--help']);
  assert.equal(help.status, 0, help.stderr);
  for (const flag of ['--teacher', '--data', '--out', '--shard', '--resume', '--top-k', '--dtype', '--features', '--strict', 'renormalised']) assert.ok(help.stdout.includes(flag), flag);

  const r3 = cli(['label', ...ARGS, '--out', path.join(tmp, 'bad-shard'), '--shard', '2/2']);
  assert.equal(r3.status, 2, r3.stderr);
  assert.match(r3.stderr, /--shard 2\/2/);
  assert.ok(!fs.existsSync(path.join(tmp, 'bad-shard')));
});

test('distill --labels: one kd epoch from the store (a superset of mnist:0-512) without running the teacher; refuses another teacher\'s store and augmentation', () => {
  const run = path.join(tmp, 'offline-run');
  const common = ['--data', 'mnist:0-512', '--objective', 'kd', '--epochs', '1', '--batch', '64', '--student', 'convnet', '--width', '4', '--depth', '2', '--ep', 'cpu'];
  const r = cli(['distill', '--labels', FULL, ...common, '--out', run, '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /teacher logits from label store .* the teacher is not run/);
  assert.ok(!/teacher on (training data|validation)/.test(r.stderr), 'the teacher did not label anything');
  assert.ok(fs.existsSync(path.join(run, 'student.onnx')));
  const res = JSON.parse(r.stdout);
  assert.equal(res.teacher_val_top1, 1, 'validation agreement comes from stored logits too');

  const otherStore = path.join(tmp, 'other-store');
  const o = cli(['label', '--teacher', otherTeacher(), '--data', 'mnist:0-512', '--out', otherStore, '--ep', 'cpu']);
  assert.equal(o.status, 0, o.stderr);
  const bad = cli(['distill', '--labels', otherStore, ...common, '--out', path.join(tmp, 'refused-run')]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /label store .* was made by another teacher/);
  assert.ok(!fs.existsSync(path.join(tmp, 'refused-run')));

  const aug = cli(['distill', '--labels', FULL, ...common, '--augment', 'on', '--out', path.join(tmp, 'aug-run')]);
  assert.equal(aug.status, 2, aug.stderr);
  assert.match(aug.stderr, /unaugmented images.*--augment off/);
});

test('distill --labels trains like the online teacher: the same losses and metrics from a float32 store', () => {
  const store = path.join(tmp, 'store32');
  const l = cli(['label', '--teacher', TEACHER, '--data', 'mnist:0-1500', '--out', store, '--batch', '256', '--ep', 'cpu']);
  assert.equal(l.status, 0, l.stderr);
  const common = ['--teacher', TEACHER, '--data', 'mnist:500-1500', '--objective', 'kd', '--epochs', '1', '--batch', '64', '--student', 'mlp', '--width', '16',
    '--depth', '1', '--ep', 'cpu', '--json'];
  const online = cli(['distill', ...common, '--out', path.join(tmp, 'online')]);
  const offline = cli(['distill', ...common, '--labels', store, '--out', path.join(tmp, 'offline')]);
  assert.equal(online.status, 0, online.stderr);
  assert.equal(offline.status, 0, offline.stderr);
  const epoch = (run: string) => fs.readFileSync(path.join(tmp, run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((x) => JSON.parse(x)).find((x) => x.type === 'epoch');
  const [a, b] = [epoch('online'), epoch('offline')];
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.abs(a.loss), `loss ${a.loss} online vs ${b.loss} offline`);
  const [ra, rb] = [JSON.parse(online.stdout), JSON.parse(offline.stdout)];
  for (const k of ['val_top1', 'val_agreement', 'teacher_val_top1']) assert.equal(rb[k], ra[k], k);

  const prep = cli(['distill', ...common, '--labels', store, '--mean', '0.1', '--out', path.join(tmp, 'refused-prep')]);
  assert.equal(prep.status, 2, prep.stderr);
  assert.match(prep.stderr, /other teacher preprocessing \(mean: \[0\] there, \[0\.1\] here\)/);
  const outside = cli(['distill', ...common.map((x) => (x === 'mnist:500-1500' ? 'mnist:1000-2000' : x)), '--labels', store, '--out', path.join(tmp, 'refused-range')]);
  assert.equal(outside.status, 2, outside.stderr);
  assert.match(outside.stderr, /samples have no labels in store/);
});
