// Running the real command line (bin/onnx-distill.js) from tests, and fingerprinting a
// folder so a test can tell that a failed command left it untouched.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(REPO_ROOT, 'bin', 'onnx-distill.js');

/** The environment for a child: ours (ONNX_DISTILL_ASSETS included), never colours or a debug stack. */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.ONNX_DISTILL_DEBUG;
  delete env.NODE_TEST_CONTEXT; // a child node must not think it runs under this test runner
  return env;
}

export function cli(args: string[], timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: childEnv(), encoding: 'utf8', timeout: timeoutMs });
}

/** Relative path -> sha256 of every file under dir ('<missing>' when dir does not exist). */
export function snapshot(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return { '<missing>': '' };
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) { out[path.relative(dir, p) + '/'] = 'dir'; walk(p); }
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
