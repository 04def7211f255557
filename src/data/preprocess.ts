// Preprocessing from our pixel tensors (float CHW in [0, 1]) to a model's input:
// float inputs get (pixel*255*scale - mean) / std per channel, uint8 inputs get raw
// pixels, NHWC layouts are transposed, and BGR swaps channels. Recorded in outputs.
// Geometry (resize, crop) is applied by the sources that decode images (see
// image-geometry.ts); toModelInput takes pixels that already have the model's size.
import type { DType, Tensor } from '../graph/ir.js';
import { UsageError } from '../errors.js';

/** JPEG decoders of image sources (see image-decode.ts); the first is the default. */
export const JPEG_DECODERS = ['sharp', 'jpeg-js'] as const;
export type JpegDecoder = (typeof JPEG_DECODERS)[number];

export interface Preprocessing {
  layout: 'NCHW' | 'NHWC';
  dtype: DType;
  /** [C, H, W] */
  size: number[];
  scale: number;
  mean: number[];
  std: number[];
  bgr: boolean;
  /** image sources: scale so the shorter side is this many pixels */
  resize?: number;
  /** image sources: centre crop of crop x crop pixels (after the resize, if any) */
  crop?: number;
  /** image sources: the JPEG decoder (see image-decode.ts); absent means 'sharp'.
   * preprocessingFor records it only when it is not the default, so configs and label
   * stores from before the option keep their hash and still match. */
  jpegDecoder?: JpegDecoder;
}

export function defaultPreprocessing(size: number[]): Preprocessing {
  return { layout: 'NCHW', dtype: 'float32', size, scale: 1 / 255, mean: [0], std: [1], bgr: false };
}

const perChannel = (v: number[], c: number) => (v.length === 1 ? new Array(c).fill(v[0]) : v);

/** Convert n samples of CHW pixels to the model input tensor. */
export function toModelInput(pixels: Float32Array, n: number, shape: number[], p: Preprocessing): Tensor {
  const [c, h, w] = shape;
  if (c !== p.size[0] || h !== p.size[1] || w !== p.size[2]) {
    throw new UsageError(`images are ${c}x${h}x${w} but the model takes ${p.size.join('x')}`, 'image folders are resized to the model input (or give --resize/--crop); IDX, npy and mnist data must already have the model input size');
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
  resize?: number;
  crop?: number;
  /** 'sharp' (the default) or 'jpeg-js'; a string, as it comes from the command line */
  jpegDecoder?: string;
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
  for (const k of ['resize', 'crop'] as const) {
    const v = flags[k];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new UsageError(`--${k} must be a positive whole number of pixels, got ${v}`, `e.g. --${k} ${k === 'resize' ? 256 : 224}`);
  }
  if (flags.crop !== undefined && (flags.crop !== h || flags.crop !== w)) {
    throw new UsageError(`--crop ${flags.crop} gives ${flags.crop}x${flags.crop} images but the model takes ${h}x${w}`, h === w ? `use --crop ${h}` : 'this model is not square: leave out --crop so images are resized to its size');
  }
  if (flags.resize !== undefined && flags.crop !== undefined && flags.resize < flags.crop) {
    throw new UsageError(`--resize ${flags.resize} is smaller than --crop ${flags.crop}`, 'the crop is taken after the resize: give --resize >= --crop');
  }
  for (const [k, v] of [['mean', flags.mean], ['std', flags.std]] as const) {
    if (v && v.length !== 1 && v.length !== c) throw new UsageError(`--${k} has ${v.length} values but the model takes ${c} channels`, `give one value or ${c} comma-separated values`);
  }
  if (flags.std?.some((v) => v === 0)) throw new UsageError('--std must not contain 0', 'e.g. --std 0.5');
  if (flags.jpegDecoder !== undefined && !(JPEG_DECODERS as readonly string[]).includes(flags.jpegDecoder)) {
    throw new UsageError(`--jpeg-decoder must be ${JPEG_DECODERS.join(' or ')}, got '${flags.jpegDecoder}'`, 'e.g. --jpeg-decoder jpeg-js (sharp is the default)');
  }
  const geometry = { ...(flags.resize !== undefined ? { resize: flags.resize } : {}), ...(flags.crop !== undefined ? { crop: flags.crop } : {}) };
  return {
    layout: nhwc ? 'NHWC' : 'NCHW',
    dtype: input.dtype === 'uint8' ? 'uint8' : input.dtype === 'float16' ? 'float16' : 'float32',
    size: [c, h, w],
    scale: flags.scale ?? 1 / 255,
    mean: flags.mean ?? [0],
    std: flags.std ?? [1],
    bgr: flags.bgr ?? false,
    ...geometry,
    ...(flags.jpegDecoder === 'jpeg-js' ? { jpegDecoder: 'jpeg-js' as const } : {}),
  };
}
