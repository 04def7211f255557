// `eval` on an image folder with geometry flags, `inspect` showing the derived
// preprocessing, and preprocessing flags that cannot work (usage errors, exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cli, REPO_ROOT } from './cli-helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-folder-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(REPO_ROOT, 'models', 'mnist-teacher.onnx');

test('eval --data FOLDER [--resize S --crop C]; inspect prints the preprocessing', async (t) => {
  if (!fs.existsSync(MODEL)) return t.skip(`${MODEL} missing: run npm run make:example-teacher`);
  for (const cls of ['0', '1']) {
    for (let i = 0; i < 3; i++) {
      const px = Buffer.alloc(32 * 40, (i * 40 + Number(cls) * 100) % 256);
      fs.mkdirSync(path.join(tmp, 'digits', cls), { recursive: true });
      await sharp(px, { raw: { width: 32, height: 40, channels: 1 } }).png().toFile(path.join(tmp, 'digits', cls, `${i}.png`));
    }
  }
  const data = path.join(tmp, 'digits');
  for (const flags of [[], ['--crop', '28'], ['--resize', '30', '--crop', '28']]) {
    const r = cli(['eval', '--model', MODEL, '--data', data, '--ep', 'cpu', '--json', ...flags]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.samples, 6, flags.join(' '));
    assert.ok(out.top1 >= 0 && out.top1 <= 1);
  }
  const sliced = JSON.parse(cli(['eval', '--model', MODEL, '--data', `${data}:2-5`, '--ep', 'cpu', '--json']).stdout);
  assert.equal(sliced.samples, 3);
  const bad = cli(['eval', '--model', MODEL, '--data', data, '--ep', 'cpu', '--crop', '20']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--crop 20 gives 20x20 images but the model takes 28x28 \(use --crop 28\)/);
  const alone = cli(['eval', '--model', MODEL, '--data', data, '--ep', 'cpu', '--resize', '30']);
  assert.equal(alone.status, 2);
  assert.match(alone.stderr, /makes the image 30x37 but the model takes 28x28 \(add --crop 28/);
  const help = cli(['eval', '--help']).stdout;
  assert.match(help, /--resize/);
  assert.match(help, /--crop/);
  const inspect = cli(['inspect', MODEL]);
  assert.match(inspect.stdout, /preprocessing: .*"layout":"NCHW".*"size":\[1,28,28\]/);
});
