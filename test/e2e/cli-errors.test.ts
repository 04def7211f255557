// The command line on bad input: exit code 2, exactly one `onnx-distill: error:` line
// on stderr that says what to do, no stack trace, and the output folder untouched.
// Also: --help for every command, and `inspect --json` printing one JSON object.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Builder } from '../../src/graph/builder.js';
import { newModel } from '../../src/graph/ir.js';
import { saveModel } from '../../src/graph/serde.js';
import { tensor } from '../../src/graph/tensor.js';
import { assetsOrSkip } from '../helpers/assets.js';
import { cli, snapshot } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-errors-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--data', 'mnist:0-600', '--val', 'mnist:600-800', '--student', 'convnet', '--width', '4', '--depth', '2',
  '--epochs', '2', '--batch', '32', '--ep', 'cpu'];

/** Runs a command that must fail with a usage error and leave `out` as it was. */
function expectUsageError(args: string[], out: string, mentions: RegExp, hint: RegExp) {
  const before = snapshot(out);
  const r = cli(args);
  const where = `onnx-distill ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.status, 2, `exit code 2 expected\n${where}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  const errors = lines.filter((l) => l.startsWith('onnx-distill: error:'));
  assert.equal(errors.length, 1, `one error line\n${where}`);
  assert.equal(lines[lines.length - 1], errors[0], `the error line comes last\n${where}`);
  assert.ok(!/\n\s+at /.test(r.stderr) && !/internal error/.test(r.stderr), `no stack trace\n${where}`);
  assert.match(errors[0], mentions, where);
  assert.match(errors[0], hint, `the error says what to do\n${where}`);
  assert.equal(r.stdout, '', `nothing on stdout\n${where}`);
  assert.deepEqual(snapshot(out), before, `output folder untouched\n${where}`);
}

/** An empty output folder that exists, so "untouched" means it stays empty. */
const emptyOut = (name: string) => fs.mkdtempSync(path.join(tmp, `${name}-`));

/** x [N, 1, 28, 28] -> Flatten -> MatMul [784, 3]: a 3-class teacher for MNIST-shaped input. */
function threeClassTeacher(): string {
  const g = new Builder('three');
  const x = g.input('image', 'float32', ['N', 1, 28, 28]);
  const flat = g.op('Flatten', [x], { axis: 1 });
  const w = g.constant(tensor('float32', [784, 3], Array.from({ length: 784 * 3 }, (_, i) => Math.sin(i) * 0.01)));
  g.output(g.op('MatMul', [flat, w]), 'logits');
  const file = path.join(tmp, 'three-class.onnx');
  saveModel(newModel(g.graph), file);
  return file;
}

test('a teacher that is not ONNX', (t) => {
  const file = path.join(tmp, 'notes.onnx');
  fs.writeFileSync(file, 'these are my notes, not a model\n');
  const out = emptyOut('notonnx');
  expectUsageError(['distill', '--teacher', file, ...TINY, '--out', out], out, /notes\.onnx/, /\(.*(check|model).*\)/);
  const missing = path.join(tmp, 'missing-dir', 'out');
  expectUsageError(['distill', '--teacher', file, ...TINY, '--out', missing], missing, /notes\.onnx/, /\(.+\)/);
});

test('a data folder with no images', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const empty = fs.mkdtempSync(path.join(tmp, 'no-images-'));
  const out = emptyOut('nodata');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--data', empty, '--out', out], out, new RegExp(path.basename(empty)), /\(.+\)/);
});

test('a student preset that does not exist', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const out = emptyOut('preset');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--student', 'transformer9000', '--out', out], out,
    /unknown student preset 'transformer9000'/, /choose one of: .*convnet/);
  const fresh = path.join(tmp, 'preset-fresh');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--student', 'transformer9000', '--out', fresh], fresh, /transformer9000/, /convnet/);
});

test('teacher classes and data labels that do not match', () => {
  const teacher = threeClassTeacher();
  const out = emptyOut('classes');
  // mnist:0-600 holds only zeros: the validation slice brings labels 1..9
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--val', 'mnist:5000-5200', '--out', out], out,
    /teacher predicts 3 classes.*class [4-9]/, /use data labelled for this teacher/);
});

test('an unknown objective, --epochs 0 and other bad numbers', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const out = emptyOut('numbers');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--objective', 'telepathy', '--out', out], out,
    /unknown objective 'telepathy'/, /choose one of: .*kd/);
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--epochs', '0', '--out', out], out, /--epochs must be a positive integer/, /\(.*--epochs \d+\)/);
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--lr', 'fast', '--out', out], out, /--lr/, /\(.*--lr .*\)/);
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--epoch', '3', '--out', out], out, /[Uu]nknown argument: epoch/, /see --help/);
  expectUsageError([], out, /command/, /see --help/);
});

test('an output folder that already holds a different run, and one that holds other files', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const out = path.join(tmp, 'run');
  const first = cli(['distill', '--teacher', teacher, ...TINY, '--out', out, '--quiet']);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(fs.existsSync(path.join(out, 'student.onnx')));
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--lr', '0.01', '--out', out], out,
    /already holds a different run \(differs in: lr\)/, /choose another --out/);
  // the same settings again, without --resume
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--out', out], out, /already holds this run/, /add --resume/);
  // --resume of a folder that holds no run
  const fresh = path.join(tmp, 'nothing-here');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--out', fresh, '--resume'], fresh, /nothing to resume/, /run without --resume/);
  // a folder holding someone else's files
  const other = emptyOut('other');
  fs.writeFileSync(path.join(other, 'thesis.tex'), '\\documentclass{article}\n');
  expectUsageError(['distill', '--teacher', teacher, ...TINY, '--out', other], other, /not empty and holds no onnx-distill run/, /choose another --out/);
});

test('export and eval on bad input', () => {
  const out = path.join(tmp, 'export-out');
  const notRun = emptyOut('notrun');
  expectUsageError(['export', notRun, '--out', path.join(out, 's.onnx')], out, /not a run directory/, /pass the --out folder/);
  const text = path.join(tmp, 'model.txt.onnx');
  fs.writeFileSync(text, 'not a model');
  expectUsageError(['eval', '--model', text, '--data', 'mnist:0-10'], out, /model\.txt\.onnx/, /\(.+\)/);
  expectUsageError(['inspect', text, '--json'], out, /model\.txt\.onnx/, /\(.+\)/);
});

test('--help for each command exits 0 and names its main options', () => {
  const want: Record<string, string[]> = {
    '': ['distill', 'inspect', 'export', 'eval'],
    distill: ['--teacher', '--data', '--val', '--student', '--objective', '--epochs', '--batch', '--lr', '--optimizer', '--ep', '--out', '--resume', '--config', '--json'],
    inspect: ['<model>', '--json'],
    export: ['<run>', '--out', '--fp16'],
    eval: ['--model', '--data', '--teacher', '--json'],
  };
  for (const [cmd, options] of Object.entries(want)) {
    const r = cli(cmd ? [cmd, '--help'] : ['--help']);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    for (const o of options) assert.ok(r.stdout.includes(o), `'${cmd} --help' mentions ${o}:\n${r.stdout}`);
  }
});

test('inspect --json prints one JSON object on stdout and nothing else', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
  if (!teacher) return;
  const r = cli(['inspect', teacher, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stdout:\n${r.stdout}`);
  const info = JSON.parse(lines[0]);
  assert.equal(typeof info, 'object');
  assert.ok(!Array.isArray(info));
  assert.equal(info.inputs.length, 1);
  assert.deepEqual(info.inputs[0].shape, [1, 1, 28, 28]);
  assert.equal(info.output_kinds[info.outputs[0].name], 'logits');
  assert.equal(info.params, 5994);
  const preset = cli(['inspect', 'convnet', '--json']);
  assert.equal(preset.status, 0, preset.stderr);
  assert.equal(JSON.parse(preset.stdout).preset, 'convnet');
});
