// The teacher feature tensor that feature objectives (tintem, proteus) train against:
// which tensor (`--features auto|NAME`), whether it is a spatial map (the tokens of
// tintem's local terms), and its values over a data set, flattened to [n, width].
import type { Model, Tensor } from '../graph/ir.js';
import { indexGraph } from '../graph/ir.js';
import { findFeatureTap, valueNames } from '../graph/surgery.js';
import { valueTypes } from '../graph/surgery-common.js';
import { halfArrayToFloat32 } from '../util/float16.js';
import { UsageError } from '../errors.js';

export interface FeatureTap {
  /** tensor name in the teacher graph */
  name: string;
  /** [C, H, W] when the tensor is a spatial map or a flattened one (C-major) */
  map?: number[];
}

/** Resolve `--features auto|NAME` against the teacher whose classifier output is `output`. */
export function resolveFeatureTap(model: Model, output: string, wanted: string): FeatureTap {
  const name = wanted === 'auto' ? findFeatureTap(model, output) : wanted;
  if (wanted !== 'auto' && !valueNames(model).includes(name)) {
    throw new UsageError(`--features ${name}: the teacher has no tensor of that name`, 'list its tensors with `onnx-distill inspect TEACHER.onnx`, or use --features auto');
  }
  return { name, map: spatialMapOf(model, name) };
}

/** [C, H, W] of a 4-D value, or of the 4-D input of the Flatten/Reshape that gives a 2-D value. */
export function spatialMapOf(model: Model, name: string): number[] | undefined {
  const types = valueTypes(model);
  const dims = (v: string) => types.get(v)?.shape;
  const own = dims(name);
  const known = (s: (number | string | null)[] | undefined): s is number[] => !!s && s.slice(1).every((d) => typeof d === 'number');
  if (own?.length === 4 && known(own)) return own.slice(1);
  const p = indexGraph(model.graph).producer.get(name);
  if (!p || !['Flatten', 'Reshape'].includes(p.opType)) return undefined;
  const src = dims(p.inputs[0]);
  if (src?.length !== 4 || !known(src)) return undefined;
  const width = src.slice(1).reduce((a, d) => a * d, 1);
  // a Reshape to anything other than [N, C*H*W] is not a flattened map
  if (own && own.length === 2 && typeof own[1] === 'number' && own[1] !== width) return undefined;
  return src.slice(1);
}

/** A feature tensor from the teacher runner as float32 rows [n, width]. */
export function featureRows(t: Tensor): { rows: Float32Array; width: number } {
  const n = t.dims[0];
  const data = t.dtype === 'float16' ? halfArrayToFloat32(t.data as Uint16Array) : t.dtype === 'float32' ? (t.data as Float32Array) : Float32Array.from(t.data as ArrayLike<number>);
  return { rows: data, width: n ? data.length / n : 0 };
}
