// The teacher-input preprocessing flags shared by `distill` and `label` (see DESIGN.md,
// "Preprocessing"), and their conversion to PreprocessFlags. `eval` has its own wording
// (model and teacher flags) and keeps its options.
import type { Argv } from 'yargs';
import { JPEG_DECODERS, type PreprocessFlags } from '../data/preprocess.js';
import { numList } from './output.js';

export interface PreprocessArgs { scale?: number; mean?: string; std?: string; bgr: boolean; resize?: number; crop?: number; jpegDecoder?: string }

export function withPreprocessOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('scale', { type: 'number', describe: 'teacher input: pixel multiplier before mean/std (default 1/255)' })
    .option('mean', { type: 'string', describe: 'teacher input: per-channel mean, comma list (default 0)' })
    .option('std', { type: 'string', describe: 'teacher input: per-channel std, comma list (default 1)' })
    .option('bgr', { type: 'boolean', default: false, describe: 'teacher input: swap RGB to BGR' })
    .option('resize', { type: 'number', describe: 'image folders: scale so the shorter side is S pixels (default: resize to the teacher input)' })
    .option('crop', { type: 'number', describe: 'image folders: centre crop C x C after any --resize' })
    .option('jpeg-decoder', { type: 'string', choices: JPEG_DECODERS, describe: 'image folders: JPEG decoder, sharp (default; libjpeg-turbo, as PIL) or jpeg-js (no "fancy" chroma upsampling), to reproduce figures measured with such a decoder, e.g. CIFAR-10 in the assets README' })
    .group(['scale', 'mean', 'std', 'bgr', 'resize', 'crop', 'jpeg-decoder'], 'Preprocessing (see README):') as unknown as Argv<T>;
}

export function preprocessFlags(a: PreprocessArgs): PreprocessFlags {
  // the default decoder is left out, so configs (and their hashes) stay as before the flag
  return { scale: a.scale, mean: numList(a.mean), std: numList(a.std), bgr: a.bgr, resize: a.resize, crop: a.crop,
    ...(a.jpegDecoder !== undefined && a.jpegDecoder !== 'sharp' ? { jpegDecoder: a.jpegDecoder } : {}) };
}
