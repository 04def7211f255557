// Image geometry of the preprocessing (DESIGN.md): `--resize S` scales so the shorter
// side is S, `--crop C` takes the centre C x C after the resize; with neither, images
// are resized to the model's input size. Rounding follows torchvision's Resize(int) and
// CenterCrop, so a pipeline written for PyTorch gives the same pixels boxes here:
// the longer side is floor(S * long / short), the crop offset is round-half-even of
// (side - C) / 2. Steps that would not change the image are left out (no resampling of
// an image that already has the wanted size).
import type { Preprocessing } from './preprocess.js';

export interface GeometryPlan {
  /** resample to [width, height] first, when set */
  resize?: [number, number];
  /** then take this box, when set */
  crop?: { left: number; top: number; width: number; height: number };
  /** the size that results, [width, height] */
  out: [number, number];
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** The resize and crop that turn a width x height image into the model's input, or a
 * reason it cannot (an image smaller than the crop). */
export function planGeometry(width: number, height: number, prep: Pick<Preprocessing, 'size' | 'resize' | 'crop'>): GeometryPlan | { error: string } {
  const [, mh, mw] = prep.size;
  if (prep.resize === undefined && prep.crop === undefined) {
    return width === mw && height === mh ? { out: [mw, mh] } : { resize: [mw, mh], out: [mw, mh] };
  }
  let w = width, h = height;
  const plan: GeometryPlan = { out: [w, h] };
  if (prep.resize !== undefined) {
    const s = prep.resize;
    const [nw, nh] = w <= h ? [s, Math.floor((s * h) / w)] : [Math.floor((s * w) / h), s];
    if (nw !== w || nh !== h) plan.resize = [nw, nh];
    w = nw;
    h = nh;
  }
  if (prep.crop !== undefined) {
    const c = prep.crop;
    if (w < c || h < c) return { error: `image is ${w}x${h}${plan.resize ? ' after --resize' : ''}, smaller than --crop ${c}` };
    if (w !== c || h !== c) plan.crop = { left: roundHalfEven((w - c) / 2), top: roundHalfEven((h - c) / 2), width: c, height: c };
    w = c;
    h = c;
  }
  plan.out = [w, h];
  return plan;
}
