// `distill` reads labelled image folders: a folder of PNGs in two class subfolders
// (reddish vs bluish noise) trains a student that tells them apart, and a teacher's
// input size decides the image size when no --resize/--crop is given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cli } from './cli-helpers.js';
import { Rng } from '../../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-folder-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

async function makeFolder(root: string, perClass: number, size: number): Promise<void> {
  const rng = new Rng(3);
  for (const [cls, hot] of [['blue', 2], ['red', 0]] as const) {
    fs.mkdirSync(path.join(root, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(size * size * 3);
      for (let k = 0; k < size * size; k++) {
        for (let c = 0; c < 3; c++) px[k * 3 + c] = Math.floor(rng.next() * (c === hot ? 255 : 140));
      }
      await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(root, cls, `${String(i).padStart(3, '0')}.png`));
    }
  }
}

test('distill --objective ce on an image folder: trains, validates, exports', async () => {
  const data = path.join(dir, 'train'), val = path.join(dir, 'val');
  await makeFolder(data, 48, 12);
  await makeFolder(val, 16, 12);
  const out = path.join(dir, 'run');
  const r = cli(['distill', '--objective', 'ce', '--data', data, '--val', val, '--student', 'mlp', '--width', '16',
    '--epochs', '3', '--batch', '16', '--augment', 'off', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.ok(res.val_top1 >= 0.9, `val top-1 ${res.val_top1}`);
  assert.ok(fs.existsSync(path.join(out, 'student.onnx')));
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.deepEqual(cfg.studentPreprocessing.size, [3, 12, 12]);
});

test('distill on a folder whose images differ in size: one-line error asking for --crop', async () => {
  const data = path.join(dir, 'mixed');
  await makeFolder(path.join(data), 4, 10);
  await sharp({ create: { width: 14, height: 9, channels: 3, background: '#808080' } }).png().toFile(path.join(data, 'red', 'odd.png'));
  const r = cli(['distill', '--objective', 'ce', '--data', data, '--student', 'mlp', '--epochs', '1', '--out', path.join(dir, 'run-mixed')]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /differ in size.*--crop/);
  assert.ok(!fs.existsSync(path.join(dir, 'run-mixed')), 'no run folder for a refused run');
});
