// preprocessingFor: layout, dtype and size from the model input; geometry and
// normalisation flags recorded, impossible combinations refused with a fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preprocessingFor } from '../../src/data/preprocess.js';
import { UsageError } from '../../src/errors.js';

test('derived from the input signature, completed by flags', () => {
  const nhwc = preprocessingFor({ dtype: 'uint8', shape: ['N', 224, 224, 3] }, { crop: 224 });
  assert.deepEqual(nhwc, { layout: 'NHWC', dtype: 'uint8', size: [3, 224, 224], scale: 1 / 255, mean: [0], std: [1], bgr: false, crop: 224 });
  const f = preprocessingFor({ dtype: 'float32', shape: [1, 3, 32, 32] }, { mean: [0.5], std: [0.5], resize: 36, crop: 32, bgr: true });
  assert.deepEqual([f.layout, f.size, f.mean, f.std, f.resize, f.crop, f.bgr], ['NCHW', [3, 32, 32], [0.5], [0.5], 36, 32, true]);
  assert.equal('resize' in preprocessingFor({ dtype: 'float32', shape: [1, 1, 28, 28] }), false, 'no geometry keys unless given');
});

test('flags that cannot work: usage errors that say what to give', () => {
  const m = { dtype: 'float32' as const, shape: [1, 3, 224, 224] };
  const cases: [Record<string, unknown>, RegExp, RegExp][] = [
    [{ crop: 200 }, /--crop 200 gives 200x200 images but the model takes 224x224/, /--crop 224/],
    [{ resize: 200, crop: 224 }, /--resize 200 is smaller than --crop 224/, /--resize >= --crop/],
    [{ resize: 2.5 }, /--resize must be a positive whole number/, /--resize 256/],
    [{ mean: [0.1, 0.2] }, /--mean has 2 values but the model takes 3 channels/, /one value or 3/],
    [{ std: [0] }, /--std must not contain 0/, /--std/],
  ];
  for (const [flags, msg, hint] of cases) {
    assert.throws(() => preprocessingFor(m, flags), (e: unknown) => e instanceof UsageError && msg.test(e.message) && hint.test(e.hint), JSON.stringify(flags));
  }
  assert.throws(() => preprocessingFor({ dtype: 'float32', shape: [1, 3, 32, 64] }, { crop: 32 }), (e: unknown) => e instanceof UsageError && /not square: leave out --crop/.test(e.hint));
});
