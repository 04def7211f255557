// float16 <-> float32 conversion used for fp16 teachers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floatToHalf, halfToFloat, halfArrayToFloat32, float32ToHalfArray } from '../../src/util/float16.js';

test('every half bit pattern survives half -> float -> half', () => {
  for (let h = 0; h < 0x10000; h++) {
    const f = halfToFloat(h);
    if (Number.isNaN(f)) {
      assert.ok(Number.isNaN(halfToFloat(floatToHalf(f))), `NaN ${h.toString(16)}`);
      continue;
    }
    const back = floatToHalf(f);
    if (back !== h) assert.fail(`0x${h.toString(16)} -> ${f} -> 0x${back.toString(16)}`);
  }
});

test('known values, rounding to nearest even, overflow and underflow', () => {
  const cases: [number, number][] = [
    [0, 0], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -10, 0x3c01],
    [0.1, 0x2e66], [2 ** -14 - 2 ** -25, 0x0400],
  ];
  for (const [x, h] of cases) assert.equal(floatToHalf(x), h, `${x} -> 0x${floatToHalf(x).toString(16)}, want 0x${h.toString(16)}`);
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))), 'NaN stays NaN');
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
});

test('array helpers', () => {
  const x = Float32Array.from([0.25, -3, 1000, 1e-8]);
  const back = halfArrayToFloat32(float32ToHalfArray(x));
  assert.deepEqual(Array.from(back), [0.25, -3, 1000, 0]);
});
