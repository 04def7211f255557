// `distill --student S.onnx` end to end: a student given as a file (a relative path)
// trains from its own weights on digits (K-step Loop graphs too), writes student.onnx, records the file by
// absolute path and hash in config.json, and `export RUNDIR` rebuilds the same student.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildStudent } from '../../src/graph/zoo/index.js';
import { loadModel, saveModel } from '../../src/graph/serde.js';
import { newModel } from '../../src/graph/ir.js';
import { createSession } from '../../src/runtime/session.js';
import { tensor } from '../../src/graph/tensor.js';
import { cli, REPO_ROOT } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'student-file-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('distill --student file.onnx writes student.onnx, and export rebuilds it', async () => {
  const file = path.join(tmp, 'my-student.onnx');
  const m = buildStudent('convnet', { inputShape: [1, 28, 28], numClasses: 10, batch: 'N', mode: 'eval', seed: 3, width: 4, depth: 2 });
  saveModel(newModel(m.graph), file);
  const out = path.join(tmp, 'run');
  const r = cli(['distill', '--student', path.relative(REPO_ROOT, file), '--data', 'mnist:0-512', '--val', 'mnist:512-640', '--epochs', '1',
    '--batch', '64', '--loop-steps', '2', '--ep', 'cpu', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.equal(res.student, path.join(out, 'student.onnx'));
  assert.ok(typeof res.val_top1 === 'number' && typeof res.val_agreement === 'number', r.stdout);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.student, file);
  assert.match(cfg.studentSha256, /^[0-9a-f]{64}$/);

  const student = loadModel(res.student);
  assert.equal(student.graph.inputs[0].name, 'input');
  assert.ok(!student.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  const x = tensor('float32', [3, 1, 28, 28], new Float32Array(3 * 784).fill(0.5));
  const logits = (await (await createSession(student)).run({ input: x })).logits;
  assert.deepEqual(logits.dims, [3, 10]);

  const exported = path.join(tmp, 'exported.onnx');
  const e = cli(['export', out, '--out', exported, '--json']);
  assert.equal(e.status, 0, e.stderr);
  const again = (await (await createSession(loadModel(exported))).run({ input: x })).logits;
  assert.deepEqual(Array.from(again.data as Float32Array), Array.from(logits.data as Float32Array));
});
