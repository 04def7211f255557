// IDX files (MNIST, Fashion-MNIST): big-endian header, gzip or raw.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { UsageError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function readIdx(file: string): IdxArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    throw new UsageError(`${file}: cannot read IDX file`, 'check the path');
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw new UsageError(`${file}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new UsageError(`${file}: not an IDX file (bad magic number)`);
  const type = buf[2];
  if (type !== 0x08) throw new UsageError(`${file}: IDX element type 0x${type.toString(16)} is not supported (only unsigned bytes)`);
  const rank = buf[3];
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const n = dims.reduce((a, d) => a * d, 1);
  if (buf.length - offset < n) throw new UsageError(`${file}: truncated IDX file (${buf.length - offset} of ${n} bytes)`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, n) };
}
