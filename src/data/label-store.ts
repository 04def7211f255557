// The label store written by `onnx-distill label`: DIR/manifest.json plus
// DIR/shard-NNNNN.safetensors (format in ../shared/DESIGN.md, "Files it writes").
//
// - Shard g holds the samples at source positions [g*S, min(n, (g+1)*S)) minus the
//   unreadable ones: `index` int32 [m] (source index of each row), then `logits` [m, C]
//   or `topk_values` [m, K] + `topk_indices` int32 [m, K] (descending), then optionally
//   `features` [m, F]; floats in --dtype. No timestamps or paths inside a shard, so the
//   same inputs give byte-identical shards, whichever run, resume or worker wrote them.
// - `--shard I/N`: worker I owns the shards g with g % N == I and keeps its own manifest
//   `manifest-I-of-N.json`; an unsplit run keeps `manifest.json`. label-store-read.ts
//   joins the parts. Every shard is written under a temporary name and renamed; the
//   manifest is rewritten atomically after each shard, so a kill leaves no torn file.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Tensor } from '../graph/ir.js';
import type { Preprocessing } from './preprocess.js';
import type { FailedSample } from './source.js';
import { encodeSafetensors } from '../util/safetensors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { float32ToHalfArray } from '../util/float16.js';
import { UsageError } from '../errors.js';

export const LABEL_FORMAT = 'onnx-distill-labels/1';

/** What defines a store: two runs (or workers) may share a DIR only when these agree. */
export interface StoreKey {
  format: string;
  teacher: { sha256: string; output: string };
  preprocessing: Preprocessing;
  /** the samples: base data fingerprint (n, ids, labels), and the slice taken of it */
  data: { fingerprint: string; base_n: number; n: number; first: number; last: number };
  options: { top_k: number | null; dtype: 'float32' | 'float16'; features: string | null; shard_size: number };
  shards_total: number;
}

export interface StoredOutput {
  /** tensor name in the shards */
  name: string;
  /** the teacher tensor it came from */
  source: string;
  /** logits / probabilities / log-probabilities (as the teacher produced it, converted to logits) */
  kind?: string;
  dtype: string;
  /** per-sample shape */
  shape: number[];
}

export interface ShardEntry {
  shard: number;
  file: string;
  /** source positions [start, end) */
  start: number;
  end: number;
  samples: number;
  sha256: string;
  skipped: FailedSample[];
}

export interface Manifest extends StoreKey {
  /** informational: where and how it was made (not compared) */
  teacher_file: string;
  data_spec: string;
  classes: number;
  outputs: StoredOutput[];
  part: { worker: number; workers: number };
  run: { ep?: string; batch?: number };
  shards: ShardEntry[];
  samples_stored: number;
  samples_skipped: number;
  complete: boolean;
}

export const shardFile = (g: number) => `shard-${String(g).padStart(5, '0')}.safetensors`;
export const manifestFile = (worker: number, workers: number) => (workers === 1 ? 'manifest.json' : `manifest-${worker}-of-${workers}.json`);
export const MANIFEST_PART = /^manifest-(\d+)-of-(\d+)\.json$/;

/** Shards of worker I of N, ascending. */
export function shardsOf(key: StoreKey, worker: number, workers: number): number[] {
  const out: number[] = [];
  for (let g = worker; g < key.shards_total; g += workers) out.push(g);
  return out;
}

export function sha256Bytes(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** Top-level keys of StoreKey whose values differ, for error messages. */
export function keyDiff(a: StoreKey, b: StoreKey): string[] {
  const keys: (keyof StoreKey)[] = ['format', 'teacher', 'preprocessing', 'data', 'options', 'shards_total'];
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

export function keyOf(m: StoreKey): StoreKey {
  const { format, teacher, preprocessing, data, options, shards_total } = m;
  return { format, teacher, preprocessing, data, options, shards_total };
}

/** One line saying how two stores differ, naming the teacher first (the common case). */
export function describeDiff(dir: string, old: StoreKey, now: StoreKey): string {
  const diff = keyDiff(old, now);
  if (diff.includes('teacher')) {
    return `'${dir}' holds labels made with another teacher (sha256 ${old.teacher.sha256.slice(0, 12)}…, output '${old.teacher.output}'; this run: ${now.teacher.sha256.slice(0, 12)}…, '${now.teacher.output}')`;
  }
  return `'${dir}' holds a label store made with other settings (differs in: ${diff.join(', ')})`;
}

export function readManifest(file: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read the label store manifest (${(e as Error).message})`, 'the folder is not a complete label store; re-create it with `onnx-distill label`');
  }
  if (m?.format !== LABEL_FORMAT || !Array.isArray(m.shards)) {
    throw new UsageError(`${file}: not an onnx-distill label store manifest (format ${JSON.stringify(m?.format)})`, `expected format ${LABEL_FORMAT}; re-create the store with \`onnx-distill label\``);
  }
  return m;
}

export interface ShardRows {
  index: Int32Array;
  /** m x C logits (float32) */
  logits: Float32Array;
  classes: number;
  /** m x F pooled features */
  features?: Float32Array;
  featureShape?: number[];
}

/** The shard's bytes: fixed tensor order, fixed metadata, so content is deterministic. */
export function encodeShard(key: StoreKey, g: number, start: number, end: number, rows: ShardRows): Buffer {
  const m = rows.index.length, c = rows.classes;
  const float = (dims: number[], v: Float32Array): Tensor =>
    key.options.dtype === 'float16' ? { dtype: 'float16', dims, data: float32ToHalfArray(v) } : { dtype: 'float32', dims, data: v };
  const tensors = new Map<string, Tensor>([['index', { dtype: 'int32', dims: [m], data: rows.index }]]);
  const k = key.options.top_k;
  if (k) {
    const { values, indices } = topKRows(rows.logits, m, c, k);
    tensors.set('topk_values', float([m, k], values));
    tensors.set('topk_indices', { dtype: 'int32', dims: [m, k], data: indices });
  } else tensors.set('logits', float([m, c], rows.logits));
  if (rows.features) tensors.set('features', float([m, ...rows.featureShape!], rows.features));
  return encodeSafetensors(tensors, { format: LABEL_FORMAT, shard: String(g), start: String(start), end: String(end), teacher_sha256: key.teacher.sha256 });
}

/** The k largest values of each row, descending; ties keep the lower class first. */
export function topKRows(x: Float32Array, m: number, c: number, k: number): { values: Float32Array; indices: Int32Array } {
  const values = new Float32Array(m * k), indices = new Int32Array(m * k);
  const order = new Int32Array(c);
  for (let r = 0; r < m; r++) {
    const row = x.subarray(r * c, (r + 1) * c);
    for (let j = 0; j < c; j++) order[j] = j;
    order.sort((a, b) => row[b] - row[a] || a - b);
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = order[j];
      values[r * k + j] = row[order[j]];
    }
  }
  return { values, indices };
}

/** The manifest of one worker (or of the whole store when unsplit), kept on disk. */
export class LabelStoreWriter {
  private constructor(readonly dir: string, readonly manifest: Manifest) {}

  get file(): string {
    return path.join(this.dir, manifestFile(this.manifest.part.worker, this.manifest.part.workers));
  }

  /** Shards this worker still has to write, ascending. */
  pending(): number[] {
    const done = new Set(this.manifest.shards.map((s) => s.shard));
    return shardsOf(this.manifest, this.manifest.part.worker, this.manifest.part.workers).filter((g) => !done.has(g));
  }

  /**
   * Start a new store part, or reopen one to resume (`existing`, from checkLabelDir):
   * listed shards whose file is missing or whose sha256 does not match are dropped (they
   * are redone), and this worker's stale temporary files are removed.
   */
  static open(dir: string, fresh: Manifest, existing?: Manifest): LabelStoreWriter {
    fs.mkdirSync(dir, { recursive: true });
    const m: Manifest = { ...fresh, shards: [] };
    if (existing) {
      m.shards = existing.shards.filter((s) => {
        const f = path.join(dir, s.file);
        return fs.existsSync(f) && sha256Bytes(fs.readFileSync(f)) === s.sha256;
      });
      const mine = new Set(shardsOf(fresh, fresh.part.worker, fresh.part.workers).map(shardFile));
      const own = (n: string) => mine.has(n) || n === manifestFile(fresh.part.worker, fresh.part.workers);
      for (const f of fs.readdirSync(dir)) {
        const t = /^\.(.+)\.\d+\.\d+\.tmp$/.exec(f);
        if (t && own(t[1])) fs.rmSync(path.join(dir, f), { force: true });
      }
    }
    const w = new LabelStoreWriter(dir, m);
    w.save();
    return w;
  }

  setOutputs(outputs: StoredOutput[], classes: number): void {
    this.manifest.outputs = outputs;
    this.manifest.classes = classes;
    this.save();
  }

  /** Write shard g (temporary name, then rename) and record it in the manifest. */
  writeShard(g: number, start: number, end: number, rows: ShardRows, skipped: FailedSample[]): ShardEntry {
    const bytes = encodeShard(this.manifest, g, start, end, rows);
    writeFileAtomic(path.join(this.dir, shardFile(g)), bytes);
    const entry: ShardEntry = { shard: g, file: shardFile(g), start, end, samples: rows.index.length, sha256: sha256Bytes(bytes), skipped };
    this.manifest.shards = [...this.manifest.shards.filter((s) => s.shard !== g), entry].sort((a, b) => a.shard - b.shard);
    this.save();
    return entry;
  }

  private save(): void {
    const m = this.manifest;
    m.samples_stored = m.shards.reduce((a, s) => a + s.samples, 0);
    m.samples_skipped = m.shards.reduce((a, s) => a + s.skipped.length, 0);
    m.complete = this.pending().length === 0;
    writeFileAtomic(this.file, JSON.stringify(m, null, 1) + '\n');
  }
}

/**
 * Refuse a DIR that must not be written, before any expensive work: a file, a non-empty
 * folder without a label store, another store (other teacher, data or options, or
 * another split), this very part without --resume, or nothing to resume. Returns this
 * worker's manifest when resuming.
 */
export function checkLabelDir(dir: string, key: StoreKey, worker: number, workers: number, resume: boolean): Manifest | undefined {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out '${dir}' is a file, not a folder`, 'choose another --out');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const mine = manifestFile(worker, workers);
  const manifests = files.filter((f) => f === 'manifest.json' || MANIFEST_PART.test(f));
  if (files.length > 0 && manifests.length === 0) {
    throw new UsageError(`output folder '${dir}' is not empty and holds no label store`, 'choose another --out (an empty or new folder)');
  }
  for (const f of manifests) {
    const other = readManifest(path.join(dir, f));
    if (keyDiff(other, key).length) throw new UsageError(describeDiff(dir, other, key), 'choose another --out, or repeat the settings that made it');
    if (f !== mine && other.part.workers !== workers) {
      throw new UsageError(`'${dir}' holds a label store split ${other.part.workers === 1 ? 'into no parts' : `${other.part.workers} ways`} (${f}); this run is part ${worker}/${workers}`,
        `use the same --shard I/${other.part.workers} split as the other parts, or another --out`);
    }
  }
  if (manifests.includes(mine)) {
    if (!resume) throw new UsageError(`output folder '${dir}' already holds this label store${workers > 1 ? ` part ${worker}/${workers}` : ''}`, 'add --resume to continue it, or choose another --out');
    return readManifest(path.join(dir, mine));
  }
  if (resume) throw new UsageError(`nothing to resume in '${dir}' (no ${mine})`, 'run without --resume first');
  return undefined;
}
