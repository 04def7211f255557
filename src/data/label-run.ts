// `onnx-distill label` as a library call: run the teacher once over a data SPEC and
// write its soft labels (and features) to a label store, shard by shard, resumable and
// splittable across workers. Decoding runs ahead of inference (readAhead); batches
// never cross a shard boundary, so a shard's bytes do not depend on where a run began.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { loadModel } from '../graph/serde.js';
import { findClassifierOutput, findFeatureTap, realInputs } from '../graph/surgery.js';
import { TeacherRunner } from '../runtime/teacher.js';
import type { EpChoice } from '../runtime/session.js';
import type { Tensor } from '../graph/ir.js';
import { openSource, parseSlice } from './sources.js';
import { readAhead, type FailedSample, type SampleSource } from './source.js';
import { preprocessingFor, type Preprocessing, type PreprocessFlags } from './preprocess.js';
import { LABEL_FORMAT, LabelStoreWriter, checkLabelDir, shardsOf, type Manifest, type StoreKey, type StoredOutput } from './label-store.js';
import { UsageError } from '../errors.js';

export interface LabelOptions {
  teacher: string;
  data: string;
  out: string;
  ep?: EpChoice;
  batch?: number;
  shardSize?: number;
  /** 'auto' (input of the final classifier Gemm/MatMul, spatially mean-pooled), 'none', or a tensor name */
  features?: string;
  topK?: number;
  dtype?: 'float32' | 'float16';
  /** this worker of N (default 0 of 1) */
  worker?: number;
  workers?: number;
  resume?: boolean;
  strict?: boolean;
  /** the classifier output (default: found by shape) */
  output?: string;
  preprocessing?: PreprocessFlags;
  log?: (line: string) => void;
  progress?: (label: string, done: number, total: number, extra?: string) => void;
}

export interface LabelResult {
  out: string;
  manifest: string;
  part: string;
  teacher_sha256: string;
  samples: number;
  samples_stored: number;
  samples_skipped: number;
  shards_total: number;
  shards_written: number;
  shards_kept: number;
  complete: boolean;
  seconds: number;
  samples_per_s: number;
}

const posInt = (v: number, flag: string) => {
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${flag} must be a positive integer, got ${v}`, `e.g. --${flag} ${flag === 'shard-size' ? 4096 : 64}`);
  return v;
};

export async function labelDataset(o: LabelOptions): Promise<LabelResult> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const batch = posInt(o.batch ?? 64, 'batch'), shardSize = posInt(o.shardSize ?? 4096, 'shard-size');
  const worker = o.worker ?? 0, workers = o.workers ?? 1;
  if (!(Number.isInteger(workers) && workers >= 1 && Number.isInteger(worker) && worker >= 0 && worker < workers)) {
    throw new UsageError(`--shard ${worker}/${workers}: expected I/N with 0 <= I < N`, 'e.g. --shard 0/4 ... --shard 3/4 on four machines');
  }
  const dtype = o.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new UsageError(`--dtype ${dtype} is not supported`, 'use float32 or float16');
  if (o.topK !== undefined) posInt(o.topK, 'top-k');

  const model = loadModel(o.teacher); // ModelFormatError naming the file
  const out = findClassifierOutput(model, o.output);
  const featureMode = o.features ?? 'none';
  const tap = featureMode === 'none' ? null : featureMode === 'auto' ? findFeatureTap(model, out.name) : featureMode;
  const input = realInputs(model.graph)[0];
  if (!input) throw new UsageError(`${o.teacher}: the teacher has no input`);
  const prep = preprocessingFor(input, o.preprocessing);
  const src = await openSource(o.data);
  if (src.n === 0) throw new UsageError(`data '${o.data}' has no samples`);
  const key: StoreKey = {
    format: LABEL_FORMAT,
    teacher: { sha256: sha256File(o.teacher), output: out.name },
    preprocessing: prep,
    data: { ...(await dataIdentity(o.data, src)), n: src.n, first: src.indexOf(0), last: src.indexOf(src.n - 1) },
    options: { top_k: o.topK ?? null, dtype, features: tap, shard_size: shardSize },
    shards_total: Math.ceil(src.n / shardSize),
  };
  // refuse the folder before loading the teacher into onnxruntime
  const existing = checkLabelDir(o.out, key, worker, workers, !!o.resume);
  const runner = await TeacherRunner.open(o.teacher, { ep: o.ep ?? 'auto', output: o.output, features: tap ? [tap] : [], onLog: log });
  try {
    if (o.topK !== undefined && o.topK > runner.numClasses) throw new UsageError(`--top-k ${o.topK} is more than the teacher's ${runner.numClasses} classes`, `use --top-k ${Math.min(5, runner.numClasses)}, or leave it out to store all logits`);
    // The output kind is confirmed on the values of the first batch (see TeacherRunner);
    // always the same first batch, so every run, resume and worker converts alike.
    const probe = await src.read(0, Math.min(batch, src.n), prep);
    const probeOut = probe.input.dims[0] > 0 ? await runner.run(probe.input) : undefined;
    const fresh: Manifest = {
      ...key, teacher_file: o.teacher, data_spec: o.data, classes: runner.numClasses, outputs: [],
      part: { worker, workers }, run: { ep: runner.ep, batch }, shards: [], samples_stored: 0, samples_skipped: 0, complete: false,
    };
    const writer = LabelStoreWriter.open(o.out, fresh, existing);
    const featShape = probeOut && tap ? pool(probeOut.features![tap], featureMode === 'auto').shape : undefined;
    writer.setOutputs(outputsOf(key, runner, featShape), runner.numClasses);
    const pending = writer.pending();
    const mine = shardsOf(key, worker, workers).length;
    if (pending.length < mine) log(`resuming: ${mine - pending.length} of ${mine} shards already written, ${pending.length} to go`);
    else if (existing) log(`resuming: none of the ${mine} shards was complete, starting from the first`);
    const total = pending.reduce((a, g) => a + Math.min(src.n, (g + 1) * shardSize) - g * shardSize, 0);
    let done = 0, written = 0;
    const started = Date.now();
    const ranges = pending.map((g) => ({ start: g * shardSize, end: Math.min(src.n, (g + 1) * shardSize) }));
    const batches = acrossShards(src, prep, batch, ranges);
    for (const [k, g] of pending.entries()) {
      const { start, end } = ranges[k];
      const idx: Int32Array[] = [], logits: Float32Array[] = [], feats: Float32Array[] = [], skipped: FailedSample[] = [];
      let shape: number[] | undefined = featShape;
      for await (const r of batches.shard(k)) {
        if (r.failed.length && o.strict) {
          const f = r.failed[0];
          throw new UsageError(`sample ${f.id} (index ${f.index}) cannot be read: ${f.reason}`, 'fix or remove it, or run without --strict to skip unreadable samples (they are listed in the manifest)');
        }
        skipped.push(...r.failed);
        if (r.input.dims[0] > 0) {
          // the probe batch is the data's first batch: its outputs are reused, not recomputed
          const isProbe = probeOut && r.start === 0 && r.end === Math.min(batch, src.n);
          const res = isProbe ? probeOut : await runner.run(r.input);
          idx.push(r.index);
          logits.push(res.logits);
          if (tap) {
            const p = pool(res.features![tap], featureMode === 'auto');
            shape = p.shape;
            feats.push(p.data);
          }
        }
        done += r.end - r.start;
        const sps = done / Math.max(1e-3, (Date.now() - started) / 1000);
        o.progress?.('label', done, total, `${sps.toFixed(0)} samples/s`);
      }
      writer.writeShard(g, start, end, {
        index: concat(idx, Int32Array), logits: concat(logits, Float32Array), classes: runner.numClasses,
        ...(tap ? { features: concat(feats, Float32Array), featureShape: shape ?? [0] } : {}),
      }, skipped);
      written++;
    }
    const m = writer.manifest;
    if (m.samples_skipped) log(`skipped ${m.samples_skipped} unreadable samples (listed in ${writer.file})`);
    const seconds = (Date.now() - t0) / 1000;
    return {
      out: o.out, manifest: writer.file, part: `${worker}/${workers}`, teacher_sha256: key.teacher.sha256, samples: src.n,
      samples_stored: m.samples_stored, samples_skipped: m.samples_skipped, shards_total: key.shards_total,
      shards_written: written, shards_kept: mine - pending.length, complete: m.complete, seconds, samples_per_s: done / Math.max(1e-3, (Date.now() - started) / 1000),
    };
  } finally {
    await runner.release();
  }
}

const AHEAD = 2;
type Range = Awaited<ReturnType<ReturnType<typeof readAhead>['next']>>;

/**
 * readAhead within each shard (batches never cross a shard boundary), with the next
 * shard's first reads started while the current shard's last batches are in flight, so
 * decoding keeps overlapping inference at shard boundaries too. Shards are consumed in
 * order: shard(0), shard(1), ...
 */
function acrossShards(src: SampleSource, prep: Preprocessing, batch: number, ranges: { start: number; end: number }[]) {
  const open = (k: number) => {
    const gen = readAhead(src, prep, batch, { ...ranges[k], ahead: AHEAD });
    const first: Promise<Range> = gen.next();
    first.catch(() => {}); // awaited later; a rejection is rethrown there
    return { gen, first };
  };
  let next = ranges.length ? open(0) : undefined;
  return {
    async *shard(k: number) {
      const cur = next!;
      next = undefined;
      for (let r = await cur.first; !r.done; r = await cur.gen.next()) {
        // the last reads of this shard are launched: start the next shard's
        if (!next && k + 1 < ranges.length && r.value.end + AHEAD * batch >= ranges[k].end) next = open(k + 1);
        yield r.value;
      }
      if (!next && k + 1 < ranges.length) next = open(k + 1);
    },
  };
}

function outputsOf(key: StoreKey, r: TeacherRunner, featShape?: number[]): StoredOutput[] {
  const dtype = key.options.dtype, k = key.options.top_k, c = r.numClasses;
  const outs: StoredOutput[] = [{ name: 'index', source: 'sample index', dtype: 'int32', shape: [] }];
  if (k) {
    outs.push({ name: 'topk_values', source: r.outputName, kind: r.outputKind, dtype, shape: [k] });
    outs.push({ name: 'topk_indices', source: r.outputName, dtype: 'int32', shape: [k] });
  } else outs.push({ name: 'logits', source: r.outputName, kind: r.outputKind, dtype, shape: [c] });
  if (key.options.features) outs.push({ name: 'features', source: key.options.features, dtype, shape: featShape ?? [] });
  return outs;
}

/** Features as float32 rows; `auto` taps that are spatial ([N, C, H, W]) are averaged over H and W. */
function pool(t: Tensor, auto: boolean): { data: Float32Array; shape: number[] } {
  const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
  if (!auto || t.dims.length !== 4) return { data, shape: t.dims.slice(1) };
  const [n, c, h, w] = t.dims, hw = h * w;
  const out = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    for (let k = 0; k < hw; k++) s += data[i * hw + k];
    out[i] = s / hw;
  }
  return { data: out, shape: [c] };
}

function concat<T extends Int32Array | Float32Array>(parts: T[], Ctor: { new (n: number): T }): T {
  const out = new Ctor(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p as never, off);
    off += p.length;
  }
  return out;
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * What identifies the data independently of its path (machines mount it differently):
 * the unsliced source's sample count, ids in order and labels. Two SPECs with the same
 * fingerprint index the same samples, so a store's `index` means the same to both.
 */
export async function dataIdentity(spec: string, src: SampleSource): Promise<{ fingerprint: string; base_n: number }> {
  const { base, range } = parseSlice(spec);
  const b = range ? await openSource(base) : src;
  const h = crypto.createHash('sha256').update(`n=${b.n}\n`);
  for (let i = 0; i < b.n; i++) h.update(b.id(i) + '\n');
  if (b.labels) h.update(Buffer.from(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
  return { fingerprint: h.digest('hex'), base_n: b.n };
}
