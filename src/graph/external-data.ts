// ONNX external data: tensors whose bytes live in a file beside the model, referenced by
// `location` (relative path), `offset` and `length` string entries. Split from serde.ts
// to keep both small; this file sees plain key/value entries, never protobuf types.
// Security: a model is untrusted input, so a location may never leave the model folder
// (absolute paths, `..`, and symlinks pointing outside are refused before any read).
import fs from 'node:fs';
import path from 'node:path';
import type { DType, TensorData } from './ir.js';
import { dataFromBytes, DTYPE_BYTES } from './tensor.js';
import { ExternalDataError } from '../errors.js';
import { openAtomic, type AtomicFile } from '../util/fs-atomic.js';

export interface ExternalEntry {
  key: string;
  value: string;
}

/** Refuse absolute paths and anything that leaves the model folder, symlinks included. */
export function resolveExternalPath(baseDir: string, location: string, where = 'model'): string {
  checkRelativeLocation(location, where);
  const base = fs.realpathSync(baseDir);
  const full = path.resolve(base, location);
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch {
    return full; // missing file (or dangling link): the reader reports it more clearly
  }
  if (real !== base && !real.startsWith(base + path.sep)) {
    throw new ExternalDataError(`${where}: external data path '${location}' resolves outside the model folder; refused`);
  }
  return real;
}

function checkRelativeLocation(location: string, where: string): void {
  if (path.isAbsolute(location) || path.win32.isAbsolute(location)) {
    throw new ExternalDataError(`${where}: external data path '${location}' is absolute; refused`);
  }
  // Backslashes count as separators too: a model written on Windows must not escape here.
  if (location.split(/[\\/]/).includes('..')) {
    throw new ExternalDataError(`${where}: external data path '${location}' escapes the model folder; refused`);
  }
}

/** A non-negative integer from an entry's decimal string; anything else is refused. */
function byteCount(raw: string | undefined, dflt: number, key: string, location: string, where: string): number {
  if (raw === undefined) return dflt;
  const v = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v)) {
    throw new ExternalDataError(`${where}: external data '${location}' has an invalid ${key} '${raw}'`, 'the model file is corrupt; re-export it');
  }
  return v;
}

/** Read one tensor's bytes. `where` names the model and tensor for error messages. */
export function readExternalData(entries: ExternalEntry[], dtype: DType, n: number, where: string, baseDir?: string): TensorData {
  const kv = new Map(entries.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new ExternalDataError(`${where}: external data has no 'location'`, 'the model file is corrupt; re-export it');
  if (dtype === 'string') throw new ExternalDataError(`${where}: string tensor stored as external data '${location}'; not allowed by ONNX`);
  if (!baseDir) {
    checkRelativeLocation(location, where);
    throw new ExternalDataError(`${where}: external data '${location}' but the model was not loaded from a file`, 'load the model with loadModel(path)');
  }
  const file = resolveExternalPath(baseDir, location, where);
  const want = n * DTYPE_BYTES[dtype];
  const offset = byteCount(kv.get('offset'), 0, 'offset', location, where);
  const length = byteCount(kv.get('length'), want, 'length', location, where);
  // Check sizes before allocating: a hostile length must not make us allocate gigabytes.
  if (length !== want) {
    throw new ExternalDataError(`${where}: external data '${location}' has length ${length}, its shape needs ${want} bytes`, 'the model file is corrupt; re-export it');
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ExternalDataError(`${where}: external data file '${location}' cannot be opened next to the model (${code === 'ENOENT' ? 'missing' : code})`,
      'copy the data file into the model folder');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ExternalDataError(`${where}: external data path '${location}' is not a regular file`);
    if (offset + length > st.size) {
      throw new ExternalDataError(`${where}: external data file '${location}' is truncated (needs ${length} bytes at offset ${offset}, file has ${st.size})`,
        'copy the complete data file next to the model');
    }
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const k = fs.readSync(fd, buf, got, length - got, offset + got);
      if (k === 0) throw new ExternalDataError(`${where}: external data file '${location}' ended early at byte ${offset + got}`);
      got += k;
    }
    return dataFromBytes(dtype, buf, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Collects tensor bytes into one data file while a model is being encoded. */
export class ExternalDataWriter {
  readonly location: string;
  readonly minBytes: number;
  private readonly out: AtomicFile;
  private offset = 0;

  /** `dir` defaults to the model's folder and must lie inside it (loaders refuse others). */
  constructor(modelFile: string, opts: { file: string; dir?: string; minBytes?: number }) {
    const modelDir = path.dirname(path.resolve(modelFile));
    const dataPath = path.resolve(opts.dir ?? modelDir, opts.file);
    const location = path.relative(modelDir, dataPath).split(path.sep).join('/');
    checkRelativeLocation(location, `${modelFile}: external data file`);
    if (location === '' || path.resolve(modelFile) === dataPath) {
      throw new ExternalDataError(`${modelFile}: external data file '${opts.file}' must differ from the model file`);
    }
    this.location = location;
    this.minBytes = opts.minBytes ?? 1024;
    this.out = openAtomic(dataPath);
  }

  /** Append bytes (page-aligned, as onnx does) and return the entries that point at them. */
  write(bytes: Uint8Array): ExternalEntry[] {
    this.out.write(bytes, this.offset);
    const entries = [
      { key: 'location', value: this.location },
      { key: 'offset', value: String(this.offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ];
    this.offset += Math.ceil(bytes.byteLength / 4096) * 4096;
    return entries;
  }

  commit(): void {
    this.out.commit();
  }

  abort(): void {
    this.out.abort();
  }
}
