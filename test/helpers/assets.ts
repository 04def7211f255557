// Where the shared real-world assets (teachers, data sets) are, for tests that need them.
// They are not part of this repository: ONNX_DISTILL_ASSETS points at them (when set, only
// there is looked), else ../shared/assets beside the checkout is used when it exists. Tests that need them are
// skipped with a message saying so, never passed silently:
//
//   test('...', (t) => {
//     const file = assetsOrSkip(t, 'teachers/mnist-cntk-opset7.onnx');
//     if (!file) return;
//     ...
//   });
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_ASSETS = path.resolve(REPO_ROOT, '..', 'shared', 'assets');
const FROM_ENV = process.env.ONNX_DISTILL_ASSETS ? path.resolve(process.env.ONNX_DISTILL_ASSETS) : undefined;
const TRIED = FROM_ENV ?? DEFAULT_ASSETS;

/** The assets folder, or undefined when it does not exist. */
export const ASSETS: string | undefined = fs.existsSync(TRIED) ? TRIED : undefined;

/** Full path of `rel` inside the assets folder; when it is missing, skips `t` with a reason. */
export function assetsOrSkip(t: TestContext, rel: string): string | undefined {
  const why = ASSETS === undefined
    ? `ONNX_DISTILL_ASSETS not found: ${TRIED} does not exist; set ONNX_DISTILL_ASSETS to the shared assets folder`
    : fs.existsSync(path.join(ASSETS, rel)) ? undefined : `ONNX_DISTILL_ASSETS not found: ${path.join(ASSETS, rel)} is missing`;
  if (why === undefined) return path.join(ASSETS!, rel);
  t.skip(why);
  return undefined;
}
