// safetensors read/write: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, __metadata__: {string: string}}, then the raw
// little-endian data. Readable by PyTorch, NumPy and Rust users as is.
import fs from 'node:fs';
import type { DType, Tensor } from '../graph/ir.js';
import { dataFromBytes, dataToBytes } from '../graph/tensor.js';
import { writeFileAtomic } from './fs-atomic.js';
import { DistillError } from '../errors.js';

const CODES: Partial<Record<DType, string>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int8: 'I8', int16: 'I16', int32: 'I32', int64: 'I64',
  uint8: 'U8', uint16: 'U16', uint32: 'U32', uint64: 'U64', bool: 'BOOL',
};
const DTYPES = new Map(Object.entries(CODES).map(([d, c]) => [c, d as DType]));

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Serialise tensors (in the given order, 8-byte aligned) to safetensors bytes. */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of tensors) {
    const code = CODES[t.dtype];
    if (!code) throw new DistillError('E_DTYPE', `tensor '${name}': dtype ${t.dtype} cannot be stored in safetensors`);
    const bytes = dataToBytes(t.data);
    header[name] = { dtype: code, shape: t.dims, data_offsets: [offset, offset + bytes.byteLength] };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json), ...parts]);
}

export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): SafetensorsFile {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const fail = (why: string) => new DistillError('E_SAFETENSORS', `${source}: not a valid safetensors file (${why})`, 'the file may be truncated; re-create it');
  if (b.length < 8) throw fail('too short');
  const n = Number(b.readBigUInt64LE(0));
  if (n > b.length - 8 || n > 100_000_000) throw fail('header length out of range');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw fail('header is not JSON');
  }
  const base = 8 + n;
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const dtype = DTYPES.get(e.dtype);
    if (!dtype) throw fail(`tensor '${name}' has unsupported dtype ${e.dtype}`);
    const [s, end] = e.data_offsets;
    if (base + end > b.length || s > end) throw fail(`tensor '${name}' lies outside the file`);
    const count = e.shape.reduce((a, d) => a * d, 1);
    tensors.set(name, { dtype, dims: [...e.shape], data: dataFromBytes(dtype, b.subarray(base + s, base + end), count) });
  }
  return { tensors, metadata };
}

export function saveSafetensors(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string): SafetensorsFile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new DistillError('E_SAFETENSORS', `${file}: cannot read`, 'check the path');
  }
  return decodeSafetensors(buf, file);
}
