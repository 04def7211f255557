// Training augmentation for images: random crop with zero padding and horizontal
// flip (the standard CIFAR recipe). Off for digits, where flips change the class.
import type { Rng } from '../util/rng.js';

export interface AugmentOptions {
  /** pixels of zero padding before a random crop back to the original size (0: off) */
  cropPad: number;
  flip: boolean;
}

/** Augment one CHW sample from `src` into `dst` (same shape). */
export function augmentSample(src: Float32Array, dst: Float32Array, shape: number[], opt: AugmentOptions, rng: Rng): void {
  const [c, h, w] = shape;
  const dy = opt.cropPad ? rng.int(2 * opt.cropPad + 1) - opt.cropPad : 0;
  const dx = opt.cropPad ? rng.int(2 * opt.cropPad + 1) - opt.cropPad : 0;
  const flip = opt.flip && rng.next() < 0.5;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx0 = x + dx;
        const sx = flip ? w - 1 - sx0 : sx0;
        const inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
        dst[(ch * h + y) * w + x] = inside ? src[(ch * h + sy) * w + sx] : 0;
      }
    }
  }
}
