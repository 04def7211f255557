// Preprocessing from our pixel tensors (float CHW in [0, 1]) to a model's input:
// float inputs get (pixel*255*scale - mean) / std per channel, uint8 inputs get raw
// pixels, NHWC layouts are transposed, and BGR swaps channels. Recorded in outputs.
import type { DType, Tensor } from '../graph/ir.js';
import { UsageError } from '../errors.js';

export interface Preprocessing {
  layout: 'NCHW' | 'NHWC';
  dtype: DType;
  /** [C, H, W] */
  size: number[];
  scale: number;
  mean: number[];
  std: number[];
  bgr: boolean;
}

export function defaultPreprocessing(size: number[]): Preprocessing {
  return { layout: 'NCHW', dtype: 'float32', size, scale: 1 / 255, mean: [0], std: [1], bgr: false };
}

const perChannel = (v: number[], c: number) => (v.length === 1 ? new Array(c).fill(v[0]) : v);

/** Convert n samples of CHW pixels to the model input tensor. */
export function toModelInput(pixels: Float32Array, n: number, shape: number[], p: Preprocessing): Tensor {
  const [c, h, w] = shape;
  if (c !== p.size[0] || h !== p.size[1] || w !== p.size[2]) {
    throw new UsageError(`images are ${c}x${h}x${w} but the model takes ${p.size.join('x')}`, 'resizing arrives with the label-store milestone; use data of the model input size');
  }
  const mean = perChannel(p.mean, c), std = perChannel(p.std, c);
  const hw = h * w;
  const out = p.dtype === 'uint8' ? new Uint8Array(n * c * hw) : new Float32Array(n * c * hw);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const srcCh = p.bgr ? c - 1 - ch : ch;
      const src = (i * c + srcCh) * hw;
      for (let k = 0; k < hw; k++) {
        const px = pixels[src + k] * 255;
        const v = p.dtype === 'uint8' ? Math.round(px) : (px * p.scale - mean[ch]) / std[ch];
        const dst = p.layout === 'NCHW' ? (i * c + ch) * hw + k : (i * hw + k) * c + ch;
        out[dst] = v;
      }
    }
  }
  const dims = p.layout === 'NCHW' ? [n, c, h, w] : [n, h, w, c];
  return { dtype: p.dtype === 'uint8' ? 'uint8' : 'float32', dims, data: out };
}

export interface PreprocessFlags {
  scale?: number;
  mean?: number[];
  std?: number[];
  bgr?: boolean;
}

/** Layout, dtype and size from a model's input signature; the rest from flags. */
export function preprocessingFor(input: { dtype: DType; shape?: (number | string | null)[] }, flags: PreprocessFlags = {}): Preprocessing {
  const s = input.shape ?? [];
  if (s.length !== 4) throw new UsageError(`the model input has rank ${s.length}; image models take [N, C, H, W] or [N, H, W, C]`);
  const isCh = (d: unknown) => d === 1 || d === 3;
  const nhwc = isCh(s[3]) && !isCh(s[1]);
  const [c, h, w] = (nhwc ? [s[3], s[1], s[2]] : [s[1], s[2], s[3]]).map(Number);
  if (![c, h, w].every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`the model input shape [${s}] has no fixed channels/height/width`, 'export the model with a fixed image size');
  }
  return {
    layout: nhwc ? 'NHWC' : 'NCHW',
    dtype: input.dtype === 'uint8' ? 'uint8' : input.dtype === 'float16' ? 'float16' : 'float32',
    size: [c, h, w],
    scale: flags.scale ?? 1 / 255,
    mean: flags.mean ?? [0],
    std: flags.std ?? [1],
    bgr: flags.bgr ?? false,
  };
}
