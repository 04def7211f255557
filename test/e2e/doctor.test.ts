// `doctor` reports what this machine can run: the CPU provider always, and every missing
// piece of the CUDA set-up with a fix. On a CPU-only machine (CI) CUDA is reported missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './cli-helpers.js';
import { cudaProviderFiles } from '../../src/runtime/session.js';

test('doctor --json: the CPU provider runs; each failed check says how to fix it', () => {
  const r = cli(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; detail: string; fix?: string }[]; providers: string[] };
  assert.ok(res.providers.includes('cpu'));
  const byName = new Map(res.checks.map((c) => [c.name, c]));
  assert.equal(byName.get('CPU execution provider')!.ok, true);
  for (const c of res.checks) if (!c.ok && c.name !== 'GPU' && c.name !== 'CUDA provider') assert.ok(c.fix, `${c.name} has no fix`);
  for (const lib of ['libcudart.so.13', 'libcublas.so.13', 'libcudnn.so.9']) assert.ok(byName.has(lib), lib);
  const files = cudaProviderFiles();
  if (files.dir && !files.files.every((f) => f.present)) {
    assert.equal(byName.get('CUDA provider files')!.ok, false);
    assert.match(byName.get('CUDA provider files')!.fix!, /setup:cuda/);
    assert.ok(!res.providers.includes('cuda'));
  }
});
