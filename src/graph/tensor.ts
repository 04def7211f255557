// Tensor construction and dtype facts shared by serde, the builder and the runtime.
import type { DType, Tensor, TensorData } from './ir.js';

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8,
  int8: 1, int16: 2, int32: 4, int64: 8,
  uint8: 1, uint16: 2, uint32: 4, uint64: 8,
  bool: 1, string: 0,
};

type ArrayCtor = { new (n: number): TensorData; new (buf: ArrayBuffer, off: number, len: number): TensorData };

const CTORS: Record<Exclude<DType, 'string'>, ArrayCtor> = {
  float32: Float32Array as unknown as ArrayCtor,
  float16: Uint16Array as unknown as ArrayCtor,
  bfloat16: Uint16Array as unknown as ArrayCtor,
  float64: Float64Array as unknown as ArrayCtor,
  int8: Int8Array as unknown as ArrayCtor,
  int16: Int16Array as unknown as ArrayCtor,
  int32: Int32Array as unknown as ArrayCtor,
  int64: BigInt64Array as unknown as ArrayCtor,
  uint8: Uint8Array as unknown as ArrayCtor,
  uint16: Uint16Array as unknown as ArrayCtor,
  uint32: Uint32Array as unknown as ArrayCtor,
  uint64: BigUint64Array as unknown as ArrayCtor,
  bool: Uint8Array as unknown as ArrayCtor,
};

export function allocData(dtype: DType, n: number): TensorData {
  if (dtype === 'string') return new Array<string>(n).fill('');
  return new CTORS[dtype](n);
}

/** Copy little-endian bytes into a fresh, aligned typed array of the dtype. */
export function dataFromBytes(dtype: DType, bytes: Uint8Array, n: number): TensorData {
  if (dtype === 'string') throw new Error('string tensors have no raw byte form');
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength !== n * size) {
    throw new RangeError(`expected ${n * size} bytes for ${n} ${dtype} values, found ${bytes.byteLength}`);
  }
  const copy = new Uint8Array(n * size);
  copy.set(bytes);
  return new CTORS[dtype](copy.buffer, 0, n);
}

export function dataToBytes(data: TensorData): Uint8Array {
  if (Array.isArray(data)) throw new Error('string tensors have no raw byte form');
  const v = data as Exclude<TensorData, string[]>;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function tensor(dtype: DType, dims: number[], values: ArrayLike<number> | ArrayLike<bigint> | TensorData): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = allocData(dtype, n);
  if (values.length !== n) throw new RangeError(`tensor of shape [${dims}] needs ${n} values, got ${values.length}`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) data[i] = BigInt((values as ArrayLike<number | bigint>)[i]);
  } else if (!Array.isArray(data)) {
    for (let i = 0; i < n; i++) (data as Float32Array)[i] = Number((values as ArrayLike<number | bigint>)[i]);
  }
  return { dtype, dims: [...dims], data };
}

export const f32 = (dims: number[], values: ArrayLike<number>): Tensor => tensor('float32', dims, values);
export const i64 = (dims: number[], values: ArrayLike<number>): Tensor => tensor('int64', dims, values);
export const scalarF32 = (v: number): Tensor => tensor('float32', [], [v]);
export const scalarI64 = (v: number): Tensor => tensor('int64', [], [v]);

/** Numeric view of any non-string tensor as JS numbers (int64 converted). */
export function toNumbers(t: Tensor): number[] {
  if (Array.isArray(t.data)) throw new Error('string tensor has no numeric value');
  return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
}

const DTYPE_CODES: [DType, number][] = [
  ['float32', 1], ['uint8', 2], ['int8', 3], ['uint16', 4], ['int16', 5], ['int32', 6], ['int64', 7],
  ['string', 8], ['bool', 9], ['float16', 10], ['float64', 11], ['uint32', 12], ['uint64', 13], ['bfloat16', 16],
];
const CODE_TO_DTYPE = new Map(DTYPE_CODES.map(([d, c]) => [c, d]));
const DTYPE_TO_CODE = new Map(DTYPE_CODES);

/** ONNX TensorProto.DataType code of a dtype (the `to` of Cast). */
export function dtypeCode(d: DType): number {
  return DTYPE_TO_CODE.get(d)!;
}
/** The dtype of an ONNX data type code, or undefined for types we do not support. */
export function dtypeOfCode(code: number): DType | undefined {
  return CODE_TO_DTYPE.get(code);
}
