// Decoding one image file through sharp into float CHW pixels in [0, 1], with the
// preprocessing's geometry (image-geometry.ts) applied. Colour: RGB for 3-channel
// models, grey (sharp's luminance) for 1-channel ones; an alpha channel is dropped
// without compositing (as PIL's convert('RGB') does) and EXIF orientation is not
// applied (PIL does not either), so images reach the model as torchvision sees them.
// Resampling uses sharp's `linear` kernel (libvips widens it when shrinking, so it
// antialiases like PIL's bilinear, torchvision's default); there is no resampling at
// all when an image already has the size wanted. sharp's default failOn ('warning')
// stands: a truncated or damaged file is a failed sample, not a half-grey image.
// JPEG decoder (Preprocessing.jpegDecoder): 'sharp' (default) is libjpeg-turbo with its
// "fancy" chroma upsampling, byte-identical to `djpeg` and so to PIL/torchvision;
// 'jpeg-js' decodes JPEG files with the pure-JavaScript jpeg-js instead, whose chroma
// upsampling is libjpeg's -nosmooth (within a few levels of `djpeg -nosmooth`), to
// reproduce figures measured that way (CIFAR-10 in the assets README). Its RGB pixels
// then take the same sharp geometry and colour steps; PNG and WebP always use sharp.
// jpeg-js runs on the JavaScript thread (no overlap with other decodes) and ignores
// embedded ICC profiles; CMYK JPEGs are converted with its naive formula.
import fs from 'node:fs/promises';
import sharp from 'sharp';
import jpeg from 'jpeg-js';
import { UsageError } from '../errors.js';
import type { Preprocessing } from './preprocess.js';
import { planGeometry } from './image-geometry.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

type DecodePrep = Pick<Preprocessing, 'size' | 'resize' | 'crop' | 'jpegDecoder'>;

/** Thrown for a file that cannot be decoded; the caller records it as a failed sample. */
export class ImageDecodeError extends Error {}

/** Decode `file` into `out` (C*H*W floats at `offset`) with the model's size. Throws
 * ImageDecodeError for a bad image, UsageError when the flags cannot give the model's size. */
export async function decodeImageInto(file: string, prep: DecodePrep, out: Float32Array, offset: number): Promise<void> {
  const [c, mh, mw] = prep.size;
  const { data, channels } = await decodeImageRaw(file, prep);
  const hw = mh * mw;
  // HWC bytes to CHW floats; a grey image for a colour model repeats its one channel
  for (let ch = 0; ch < c; ch++) {
    const src = channels === 1 ? 0 : ch;
    const dst = offset + ch * hw;
    for (let k = 0; k < hw; k++) out[dst + k] = data[k * channels + src] / 255;
  }
}

/** Decode `file` with the model's geometry into HWC bytes exactly as a uint8 NHWC model
 * takes them (channels: the decoded count, 1 or the model's), so no per-pixel JavaScript
 * runs for such models: onnxruntime-node runs on the JavaScript thread, and per-pixel
 * work there cannot overlap inference. */
export async function decodeImageRaw(file: string, prep: DecodePrep): Promise<{ data: Buffer; channels: number }> {
  const [c, mh, mw] = prep.size;
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file); // read once: the header and the decode both use it
  } catch (e) {
    throw new ImageDecodeError(reason(e));
  }
  const [width, height] = await imageSize(bytes);
  const plan = planGeometry(width, height, prep);
  if ('error' in plan) throw new ImageDecodeError(plan.error);
  if (plan.out[0] !== mw || plan.out[1] !== mh) {
    throw new UsageError(`${file}: --resize ${prep.resize} makes the image ${plan.out[0]}x${plan.out[1]} but the model takes ${mw}x${mh}`, `add --crop ${Math.min(mw, mh)}, or leave out --resize to resize to the model size`);
  }
  let img = prep.jpegDecoder === 'jpeg-js' && isJpeg(bytes) ? decodeWithJpegJs(bytes, width, height) : sharp(bytes);
  if (plan.resize) img = img.resize(plan.resize[0], plan.resize[1], { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false });
  if (plan.crop) img = img.extract(plan.crop);
  img = c === 1 ? img.greyscale() : img.toColourspace('srgb');
  let data: Buffer, channels: number;
  try {
    const r = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    data = r.data;
    channels = r.info.channels;
    if (r.info.width !== mw || r.info.height !== mh) throw new Error(`decoded ${r.info.width}x${r.info.height}, expected ${mw}x${mh}`);
  } catch (e) {
    throw new ImageDecodeError(reason(e));
  }
  return { data, channels };
}

/** JPEG files are recognised by their SOI marker, whatever their extension. */
const isJpeg = (b: Buffer) => b.length > 2 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decode a JPEG with jpeg-js into a sharp pipeline over its RGB pixels; throws ImageDecodeError. */
function decodeWithJpegJs(bytes: Buffer, width: number, height: number): sharp.Sharp {
  let r: { width: number; height: number; data: Uint8Array };
  try {
    r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  } catch (e) {
    throw new ImageDecodeError(`jpeg-js: ${reason(e)}`);
  }
  if (r.width !== width || r.height !== height) throw new ImageDecodeError(`jpeg-js decoded ${r.width}x${r.height}, the header says ${width}x${height}`);
  return sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } });
}

/** Width and height from the file header (no decoding); throws ImageDecodeError. */
export async function imageSize(file: string | Buffer): Promise<[number, number]> {
  try {
    const m = await sharp(file).metadata();
    if (m.width && m.height) return [m.width, m.height];
  } catch (e) {
    throw new ImageDecodeError(reason(e));
  }
  throw new ImageDecodeError('no image size in the file header');
}

function reason(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** Run `f` over items with at most `limit` in flight; results in item order. */
export async function mapLimit<T, R>(items: T[], limit: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
