// Reading a label store (format in label-store.ts): one manifest.json, or all N parts
// manifest-I-of-N.json of a split run, joined into one view. A missing or unfinished
// part is named with the command that completes it; a shard whose sha256 does not match
// its manifest is refused, never read.
import fs from 'node:fs';
import path from 'node:path';
import type { Tensor } from '../graph/ir.js';
import type { FailedSample } from './source.js';
import { decodeSafetensors } from '../util/safetensors.js';
import { halfArrayToFloat32 } from '../util/float16.js';
import { UsageError } from '../errors.js';
import { MANIFEST_PART, describeDiff, keyDiff, readManifest, sha256Bytes, type Manifest, type ShardEntry } from './label-store.js';

/** Logit given to the classes a top-k store did not keep, relative to the row's
 * smallest kept logit: far enough below that softmax gives them no mass at any
 * temperature used for KD, i.e. the teacher renormalised over its top K classes. */
export const TOPK_FILL_GAP = 1e4;

export interface LabelStore {
  dir: string;
  /** the first manifest (all parts agree on everything but `part`, `shards`, `run`) */
  manifest: Manifest;
  /** every shard of every part, ascending */
  shards: ShardEntry[];
  classes: number;
  topK: number | null;
  samples: number;
  skipped: FailedSample[];
}

export function isLabelStore(dir: string): boolean {
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory() &&
    fs.readdirSync(dir).some((f) => f === 'manifest.json' || MANIFEST_PART.test(f));
}

export function openLabelStore(dir: string): LabelStore {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`label store '${dir}' not found`, 'give the --out folder of `onnx-distill label`');
  const files = fs.readdirSync(dir);
  let parts: Manifest[];
  if (files.includes('manifest.json')) parts = [readManifest(path.join(dir, 'manifest.json'))];
  else {
    const found = files.map((f) => MANIFEST_PART.exec(f)).filter((m): m is RegExpExecArray => !!m);
    if (found.length === 0) throw new UsageError(`'${dir}' holds no label store (no manifest.json or manifest-I-of-N.json)`, 'give the --out folder of `onnx-distill label`');
    const n = Number(found[0][2]);
    if (found.some((m) => Number(m[2]) !== n)) throw new UsageError(`'${dir}' mixes label store parts of different splits (${found.map((m) => m[0]).join(', ')})`, 'keep the parts of one split only');
    const have = new Set(found.map((m) => Number(m[1])));
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !have.has(i));
    if (missing.length) {
      throw new UsageError(`label store '${dir}' is missing ${missing.length} of ${n} parts: ${missing.map((i) => `manifest-${i}-of-${n}.json`).join(', ')}`,
        `run \`onnx-distill label ... --out ${dir} --shard I/${n}\` for I = ${missing.join(', ')} (or copy their files here)`);
    }
    parts = Array.from({ length: n }, (_, i) => readManifest(path.join(dir, `manifest-${i}-of-${n}.json`)));
  }
  const first = parts[0];
  for (const p of parts) {
    if (keyDiff(first, p).length) throw new UsageError(`${describeDiff(dir, first, p)} in part ${p.part.worker}/${p.part.workers}`, 'the parts come from different label runs; re-create the odd one');
    if (!p.complete) {
      const split = p.part.workers > 1 ? ` --shard ${p.part.worker}/${p.part.workers}` : '';
      throw new UsageError(`label store '${dir}'${split ? ` part ${p.part.worker}/${p.part.workers}` : ''} is incomplete (${p.shards.length} shards written)`,
        `finish it with \`onnx-distill label ... --out ${dir}${split} --resume\``);
    }
  }
  const shards = parts.flatMap((p) => p.shards).sort((a, b) => a.shard - b.shard);
  return {
    dir, manifest: first, shards, classes: first.classes, topK: first.options.top_k,
    samples: shards.reduce((a, s) => a + s.samples, 0), skipped: shards.flatMap((s) => s.skipped),
  };
}

export interface ShardData {
  index: Int32Array;
  /** m x C logits (top-k stores: reconstructed, see TOPK_FILL_GAP) */
  logits: Float32Array;
  features?: Tensor;
}

/** One shard, checked against its sha256, floats as float32. */
export function readShard(store: LabelStore, entry: ShardEntry): ShardData {
  const file = path.join(store.dir, entry.file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new UsageError(`label store shard ${file} is missing`, 'copy it back, or re-create it with `onnx-distill label ... --resume`');
  }
  if (sha256Bytes(bytes) !== entry.sha256) throw new UsageError(`label store shard ${file} does not match its manifest (sha256)`, 'delete it and re-create it with `onnx-distill label ... --resume`');
  const t = decodeSafetensors(bytes, file).tensors;
  const f32 = (x: Tensor): Float32Array => (x.dtype === 'float16' ? halfArrayToFloat32(x.data as Uint16Array) : (x.data as Float32Array));
  const index = t.get('index')!.data as Int32Array;
  const m = index.length, c = store.classes;
  let logits: Float32Array;
  if (store.topK) {
    const k = store.topK, v = f32(t.get('topk_values')!), ix = t.get('topk_indices')!.data as Int32Array;
    logits = new Float32Array(m * c);
    for (let r = 0; r < m; r++) {
      logits.fill(v[r * k + k - 1] - TOPK_FILL_GAP, r * c, (r + 1) * c);
      for (let j = 0; j < k; j++) logits[r * c + ix[r * k + j]] = v[r * k + j];
    }
  } else logits = f32(t.get('logits')!);
  const feat = t.get('features');
  return { index, logits, ...(feat ? { features: { dtype: 'float32', dims: feat.dims, data: f32(feat) } } : {}) };
}

/** Logits [indices.length, C] for the given source indices, in that order, and which
 * of them the store has (`filled[i]` is 0 for a sample it does not hold). */
export function gatherStoreLogits(store: LabelStore, indices: ArrayLike<number>): { logits: Float32Array; filled: Uint8Array } {
  const c = store.classes;
  const pos = new Map<number, number>();
  for (let i = 0; i < indices.length; i++) pos.set(indices[i], i);
  const logits = new Float32Array(indices.length * c);
  const filled = new Uint8Array(indices.length);
  for (const entry of store.shards) {
    const s = readShard(store, entry);
    for (let r = 0; r < s.index.length; r++) {
      const p = pos.get(s.index[r]);
      if (p === undefined) continue;
      logits.set(s.logits.subarray(r * c, (r + 1) * c), p * c);
      filled[p] = 1;
    }
  }
  return { logits, filled };
}

/** gatherStoreLogits that throws, naming a few, when some samples have no stored labels
 * (skipped as unreadable, or outside the samples the store covers). */
export function readStoreLogits(store: LabelStore, indices: ArrayLike<number>): Float32Array {
  const { logits, filled } = gatherStoreLogits(store, indices);
  const missing: number[] = [];
  for (let i = 0; i < indices.length; i++) if (!filled[i]) missing.push(indices[i]);
  if (missing.length) throw missingError(store, missing, indices.length);
  return logits;
}

export function missingError(store: LabelStore, missing: number[], of: number): UsageError {
  const skipped = new Map(store.skipped.map((f) => [f.index, f]));
  const why = (i: number) => (skipped.has(i) ? `${i} (skipped: ${skipped.get(i)!.reason})` : `${i}`);
  return new UsageError(`${missing.length} of ${of} samples have no labels in store '${store.dir}' (indices ${missing.slice(0, 5).map(why).join(', ')}${missing.length > 5 ? ', …' : ''})`,
    `use data whose samples the store covers (it was made from '${store.manifest.data_spec}'), or label these samples too`);
}
