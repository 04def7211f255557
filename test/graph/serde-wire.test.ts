// Decoding of ONNX forms our own encoder never writes (typed data fields instead of
// raw_data, untyped attributes, explicit zero dims, int64 extremes as Long), checked
// on models hand-encoded in protobuf wire format: a dozen lines below, so that no test
// needs the protobuf library (only serde.ts touches it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel } from '../../src/graph/serde.js';
import { ModelFormatError } from '../../src/errors.js';

// ---- minimal protobuf wire encoder: fields are byte arrays concatenated in order
type Bytes = Uint8Array;
const cat = (...parts: Bytes[]): Bytes => Uint8Array.from(Buffer.concat(parts));
function varint(v: bigint | number): Bytes {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    out.push(Number(x & 0x7fn) | (x > 0x7fn ? 0x80 : 0));
    x >>= 7n;
  } while (x > 0n);
  return Uint8Array.from(out);
}
const key = (field: number, wire: number): Bytes => varint((field << 3) | wire);
const int = (field: number, v: bigint | number): Bytes => cat(key(field, 0), varint(v));
const msg = (field: number, ...parts: Bytes[]): Bytes => { const b = cat(...parts); return cat(key(field, 2), varint(b.length), b); };
const str = (field: number, s: string): Bytes => msg(field, Buffer.from(s, 'utf8'));
const packed = (field: number, vs: (bigint | number)[]): Bytes => msg(field, ...vs.map(varint));
const f32 = (field: number, v: number): Bytes => { const b = Buffer.alloc(4); b.writeFloatLE(v); return cat(key(field, 5), b); };

// ONNX field numbers used below
const M = { irVersion: 1, graph: 7, opsetImport: 8 };
const G = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const T = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8, rawData: 9, uint64Data: 11 };
const N = { input: 1, output: 2, opType: 4, attribute: 5 };
const AT = { name: 1, f: 2, i: 3, s: 4, floats: 7, ints: 8, type: 20 };

/** ModelProto (IR 8, opset 18) around a graph made of the given GraphProto fields. */
const model = (...graph: Bytes[]): Bytes => cat(int(M.irVersion, 8), msg(M.opsetImport, int(2, 18)), msg(M.graph, str(G.name, 'g'), ...graph));
const tensor = (name: string, dtype: number, dims: number[], ...data: Bytes[]): Bytes =>
  msg(G.initializer, str(T.name, name), ...dims.map((d) => int(T.dims, d)), int(T.dataType, dtype), ...data);

test('wire: typed data fields decode per the ONNX spec, and re-encode unchanged', () => {
  const bytes = model(
    tensor('h', 10, [4], packed(T.int32Data, [0x3c00, 0x8000, 0x7e00, 0xfc00])), // float16 bit patterns
    tensor('bf', 16, [1], packed(T.int32Data, [0x3f80])),
    tensor('u64', 13, [2], packed(T.uint64Data, [2n ** 64n - 1n, 1])),
    tensor('u32', 12, [1], packed(T.uint64Data, [4294967295])),
    tensor('i64', 7, [3], packed(T.int64Data, [-1, 2n ** 63n - 1n, -(2n ** 63n)])),
    tensor('i8', 3, [2], packed(T.int32Data, [-128, 127])),
    tensor('b', 9, [2], packed(T.int32Data, [1, 0])),
    tensor('f', 1, [2], msg(T.floatData, Buffer.from(new Float32Array([1.5, -0]).buffer))),
    tensor('s', 8, [2], str(T.stringData, 'héllo'), str(T.stringData, '')),
  );
  const m = decodeModel(bytes);
  const init = m.graph.initializers;
  assert.deepEqual(init.get('h'), { dtype: 'float16', dims: [4], data: Uint16Array.from([0x3c00, 0x8000, 0x7e00, 0xfc00]) });
  assert.deepEqual(init.get('bf')?.data, Uint16Array.from([0x3f80]));
  assert.deepEqual(init.get('u64')?.data, BigUint64Array.from([2n ** 64n - 1n, 1n]));
  assert.deepEqual(init.get('u32')?.data, Uint32Array.from([4294967295]));
  assert.deepEqual(init.get('i64')?.data, BigInt64Array.from([-1n, 2n ** 63n - 1n, -(2n ** 63n)]));
  assert.deepEqual(init.get('i8')?.data, Int8Array.from([-128, 127]));
  assert.deepEqual(init.get('b'), { dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) });
  assert.ok(Object.is((init.get('f')?.data as Float32Array)[1], -0));
  assert.deepEqual(init.get('s'), { dtype: 'string', dims: [2], data: ['héllo', ''] });
  assert.deepStrictEqual(decodeModel(encodeModel(m)), m);
});

test('wire: dims: explicit 0, unset, symbolic and large values', () => {
  const dim = (...f: Bytes[]): Bytes => msg(1, ...f);
  const shape = msg(2, msg(1, int(1, 1), msg(2, dim(int(1, 0)), dim(), dim(str(2, 'N')), dim(int(1, 2n ** 40n)))));
  const m = decodeModel(model(msg(G.input, str(1, 'x'), shape), msg(G.output, str(1, 'scalar'), msg(2, msg(1, int(1, 1), msg(2)))),
    msg(G.output, str(1, 'unranked'), msg(2, msg(1, int(1, 1))))));
  assert.deepEqual(m.graph.inputs[0], { name: 'x', dtype: 'float32', shape: [0, null, 'N', 2 ** 40] });
  assert.deepEqual(m.graph.outputs[0], { name: 'scalar', dtype: 'float32', shape: [] });
  assert.deepEqual(m.graph.outputs[1], { name: 'unranked', dtype: 'float32' });
  assert.deepStrictEqual(decodeModel(encodeModel(m)), m);
});

test('wire: value types we do not model (complex64, sequences) survive re-encoding verbatim', () => {
  const complex = msg(G.input, str(1, 'c'), msg(2, msg(1, int(1, 14), msg(2, msg(1, int(1, 3))))));
  const seq = msg(G.output, str(1, 'seq'), msg(2, msg(4, msg(1, msg(1, int(1, 1))))));
  const m = decodeModel(model(complex, seq));
  assert.ok(m.graph.inputs[0].opaqueType !== undefined && m.graph.outputs[0].opaqueType !== undefined);
  const again = decodeModel(encodeModel(m));
  assert.deepStrictEqual(again, m);
});

test('wire: int64 attributes at the extremes, and attributes without a type', () => {
  const attr = (...f: Bytes[]): Bytes => msg(N.attribute, ...f);
  const node = msg(G.node, str(N.input, 'x'), str(N.output, 'y'), str(N.opType, 'Slice'),
    attr(str(AT.name, 'ends'), packed(AT.ints, [2n ** 63n - 1n, -(2n ** 63n), -1, 2n ** 53n]), int(AT.type, 7)),
    attr(str(AT.name, 'big'), int(AT.i, 2n ** 63n - 1n), int(AT.type, 2)),
    attr(str(AT.name, 'untyped_i'), int(AT.i, -5)),
    attr(str(AT.name, 'untyped_f'), f32(AT.f, 0.25)),
    attr(str(AT.name, 'untyped_s'), str(AT.s, 'abc')),
    attr(str(AT.name, 'untyped_ints'), packed(AT.ints, [1, 2])),
    attr(str(AT.name, 'zero_i'), int(AT.i, 0)));
  const m = decodeModel(model(node));
  const a = m.graph.nodes[0].attrs;
  assert.deepEqual(a.ends, { kind: 'ints', value: [2 ** 63, -(2 ** 63), -1, 2 ** 53] });
  assert.deepEqual(a.big, { kind: 'int', value: 2 ** 63 });
  assert.deepEqual(a.untyped_i, { kind: 'int', value: -5 });
  assert.deepEqual(a.untyped_f, { kind: 'float', value: 0.25 });
  assert.deepEqual(a.untyped_s, { kind: 'string', value: 'abc' });
  assert.deepEqual(a.untyped_ints, { kind: 'ints', value: [1, 2] });
  assert.deepEqual(a.zero_i, { kind: 'int', value: 0 });
  const again = decodeModel(encodeModel(m));
  assert.deepStrictEqual(again, m);
  // INT64_MAX comes back as INT64_MAX on the wire, not wrapped to a negative number
  const reencoded = Buffer.from(encodeModel(again));
  assert.ok(reencoded.includes(Buffer.from(varint(2n ** 63n - 1n))));
});

test('wire: inconsistent tensors are refused naming the tensor, without huge allocations', () => {
  const cases: [Bytes, RegExp][] = [
    [tensor('short', 1, [3], msg(T.rawData, new Uint8Array(8))), /tensor 'short': holds 8 bytes, its shape \[3\] needs 12/],
    [tensor('huge', 1, [1e12]), /tensor 'huge': holds 0 values, its shape \[1000000000000\] needs 1000000000000/],
    [tensor('neg', 1, [-1], msg(T.rawData, new Uint8Array(4))), /tensor 'neg': invalid dims \[-1\]/],
    [tensor('strs', 8, [2], str(T.stringData, 'a')), /tensor 'strs': holds 1 strings/],
    [tensor('c64', 14, [1]), /tensor 'c64': unsupported tensor element type 14/],
    [tensor('bad\nname', 1, [2]), /tensor 'bad\\x0aname'/],
  ];
  for (const [g, re] of cases) {
    assert.throws(() => decodeModel(model(g), { source: 'crafted.onnx' }), (e: unknown) =>
      e instanceof ModelFormatError && re.test(e.message) && e.message.startsWith('crafted.onnx: ') && !e.message.includes('\n'));
  }
});
