// Execution-provider choice: on a machine without the CUDA provider libraries, `--ep
// cuda` is a typed error that names what is missing, and `--ep auto` falls back to CPU
// without onnxruntime's own multi-line load failure on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Builder } from '../../src/graph/builder.js';
import { newModel } from '../../src/graph/ir.js';
import { createSession } from '../../src/runtime/session.js';
import { DistillError } from '../../src/errors.js';

const ortDir = path.join(path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', 'linux', 'x64');
const cudaInstalled = fs.existsSync(path.join(ortDir, 'libonnxruntime_providers_cuda.so'));
const skip = cudaInstalled ? 'the CUDA provider is installed here' : false;

function relu() {
  const b = new Builder('relu');
  b.output(b.op('Relu', [b.input('x', 'float32', [2])]), 'y');
  return newModel(b.graph);
}

test('--ep cuda without the provider: E_CUDA naming the missing library and the fix', { skip }, async () => {
  await assert.rejects(createSession(relu(), { ep: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof DistillError && e.code === 'E_CUDA', String(e));
    assert.match(e.message, /libonnxruntime_providers_\w+\.so is not installed/);
    assert.match(e.hint, /--ep cpu/);
    return true;
  });
});

test('--ep auto without the provider: CPU, one fallback line, nothing from onnxruntime on stderr', { skip }, () => {
  const code = `
    const { createSession } = await import(${JSON.stringify(path.resolve('src/runtime/session.ts'))});
    const { Builder } = await import(${JSON.stringify(path.resolve('src/graph/builder.ts'))});
    const { newModel } = await import(${JSON.stringify(path.resolve('src/graph/ir.ts'))});
    const b = new Builder('relu'); b.output(b.op('Relu', [b.input('x', 'float32', [2])]), 'y');
    const lines = [];
    const s1 = await createSession(newModel(b.graph), { ep: 'auto', onFallback: (l) => lines.push(l) });
    const s2 = await createSession(newModel(b.graph), { ep: 'auto', onFallback: (l) => lines.push(l) });
    console.log(JSON.stringify({ eps: [s1.ep, s2.ep], lines }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(out.eps, ['cpu', 'cpu']);
  assert.equal(out.lines.length, 1, out.lines.join('\n'));
  assert.match(out.lines[0], /CUDA execution provider unavailable \(.*not installed\); running on CPU/);
  assert.equal(r.stderr.trim(), '', `stderr: ${r.stderr}`);
});
