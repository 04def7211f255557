// Ctrl-C during `distill`: the run stops after the current step, saves a checkpoint,
// exits with 130, and `--resume` then finishes it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { BIN, REPO_ROOT, childEnv, cli } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sigint-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('SIGINT after the first training progress line: exit 130, checkpoint saved, --resume completes', async (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const out = path.join(tmp, 'run');
  const args = ['distill', '--teacher', teacher, '--data', 'mnist:0-600', '--val', 'mnist:600-800', '--student', 'convnet', '--width', '4',
    '--depth', '2', '--epochs', '6', '--batch', '32', '--ep', 'cpu', '--out', out];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', stdout = '', signalled = false;
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    // the first progress line of training (teacher labelling lines come before it)
    if (!signalled && /^epoch \[/m.test(stderr)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.ok(signalled, `a training progress line appeared:\n${stderr}`);
  assert.equal(signal, null, `exited by itself, not killed by the signal:\n${stderr}`);
  assert.equal(code, 130, `exit code 130:\n${stderr}`);
  assert.match(stderr, /stopping after this step/);
  assert.match(stdout, /resume with --out .* --resume/);
  assert.ok(!/onnx-distill: (internal )?error/.test(stderr), stderr);

  const ckpt = path.join(out, 'checkpoint.safetensors');
  assert.ok(fs.existsSync(ckpt), 'checkpoint.safetensors exists');
  const { progress } = loadCheckpoint(ckpt);
  assert.ok(progress.epoch < 6, `stopped early (epoch ${progress.epoch}, step ${progress.step})`);
  assert.ok(!fs.existsSync(path.join(out, 'student.onnx')), 'no student yet');

  const r = cli([...args, '--resume']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resuming at epoch ${progress.epoch + 1}, step ${progress.step}`));
  assert.ok(fs.existsSync(path.join(out, 'student.onnx')), 'student.onnx after --resume');
  const epochs = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((x) => x.type === 'epoch');
  assert.deepEqual(epochs.map((x) => x.epoch), [0, 1, 2, 3, 4, 5], 'one record per epoch');
  assert.equal(loadCheckpoint(ckpt).progress.step, 6 * 19);
});
