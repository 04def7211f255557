// The only place that touches protobuf: ModelProto <-> IR, and atomic save.
// onnx-proto decodes int64 as Long and knows ONNX 1.10 fields; both facts stay here.
// External data (paths, safety, the data file) lives in external-data.ts.
import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { Attr, Graph, Model, Node, Tensor, ValueInfo } from './ir.js';
import { allocData, dataFromBytes, dataToBytes, DTYPE_BYTES, dtypeCode, dtypeOfCode } from './tensor.js';
import { DistillError, GraphError, ModelFormatError } from '../errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { ExternalDataWriter, readExternalData, type ExternalEntry } from './external-data.js';

export { resolveExternalPath } from './external-data.js';

const { onnx } = onnxProto;
type P = typeof onnx;
type TensorP = InstanceType<P['TensorProto']>;
type ValueInfoP = InstanceType<P['ValueInfoProto']>;
type AttrP = InstanceType<P['AttributeProto']>;
type GraphP = InstanceType<P['GraphProto']>;
type LongLike = number | { low: number; high: number; unsigned?: boolean; toNumber?: () => number };

/** int64 -> number. Beyond 2^53 precision is lost; INT64_MAX (a common Slice `end`)
 * becomes 2^63, which Long.fromNumber clamps back to INT64_MAX on encode. */
function num(x: LongLike | null | undefined): number {
  if (x === null || x === undefined) return 0;
  if (typeof x === 'number') return x;
  if (typeof x.toNumber === 'function') return x.toNumber();
  return x.unsigned ? (x.high >>> 0) * 4294967296 + (x.low >>> 0) : x.high * 4294967296 + (x.low >>> 0);
}
function big(x: LongLike, unsigned: boolean): bigint {
  if (typeof x === 'number') return BigInt(x);
  const v = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0);
  return unsigned ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v);
}

/** Control characters (newlines above all) escaped, so an error stays one line. */
const firstLine = (e: unknown): string => oneLine((e instanceof Error ? e.message : String(e)).split('\n')[0]);
function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface DecodeOptions {
  /** folder external data is resolved against; without it external tensors are refused */
  baseDir?: string;
  /** name used in error messages */
  source?: string;
}

// ---------------------------------------------------------------- decoding

function decodeTensor(t: TensorP, opts: DecodeOptions): Tensor {
  const where = `${opts.source ?? 'model'}: tensor '${t.name}'`;
  const dtype = dtypeOfCode(t.dataType);
  if (!dtype) throw new ModelFormatError(`${where}: unsupported tensor element type ${t.dataType}`);
  const dims = t.dims.map((d) => num(d as LongLike));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new ModelFormatError(`${where}: invalid dims [${dims}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entries = t.externalData.map((e) => ({ key: e.key ?? '', value: e.value ?? '' }) as ExternalEntry);
    return { dtype, dims, data: readExternalData(entries, dtype, n, where, opts.baseDir) };
  }
  if (dtype === 'string') {
    if (t.stringData.length !== n) throw new ModelFormatError(`${where}: holds ${t.stringData.length} strings, its shape [${dims}] needs ${n}`);
    return { dtype, dims, data: t.stringData.map((s) => Buffer.from(s).toString('utf8')) };
  }
  if (t.rawData && t.rawData.length > 0) {
    const want = n * DTYPE_BYTES[dtype];
    if (t.rawData.length !== want) throw new ModelFormatError(`${where}: holds ${t.rawData.length} bytes, its shape [${dims}] needs ${want}`);
    return { dtype, dims, data: dataFromBytes(dtype, t.rawData, n) };
  }
  // Typed fields per the ONNX spec: 16-bit floats and all small ints travel in int32_data
  // (float16/bfloat16 as their bit patterns), uint32 and uint64 in uint64_data.
  const src: ArrayLike<LongLike> =
    dtype === 'float32' ? t.floatData :
    dtype === 'float64' ? t.doubleData :
    dtype === 'int64' ? t.int64Data :
    dtype === 'uint32' || dtype === 'uint64' ? t.uint64Data : t.int32Data;
  // Checked before allocating, so corrupt dims cannot make us allocate gigabytes.
  if (src.length !== n) throw new ModelFormatError(`${where}: holds ${src.length} values, its shape [${dims}] needs ${n}`);
  const data = allocData(dtype, n);
  for (let i = 0; i < n; i++) {
    if (data instanceof BigInt64Array) data[i] = big(src[i], false);
    else if (data instanceof BigUint64Array) data[i] = big(src[i], true);
    else (data as Float32Array)[i] = num(src[i]);
  }
  return { dtype, dims, data };
}

function decodeValueInfo(vi: ValueInfoP): ValueInfo {
  const tt = vi.type?.tensorType;
  const dtype = tt ? dtypeOfCode(tt.elemType ?? 0) : undefined;
  // Non-tensor types, tensor types of element types we do not model (complex, float8,
  // unset) and a missing type are kept verbatim, so re-encoding never changes them.
  if (!tt || !dtype) {
    return { name: vi.name, dtype: 'float32', opaqueType: vi.type ? onnx.TypeProto.toObject(vi.type as InstanceType<P['TypeProto']>) : null };
  }
  const out: ValueInfo = { name: vi.name, dtype };
  // dim_value and dim_param are a oneof; neither set means unknown (null), while an
  // explicit dim_value 0 is a real zero-sized dimension. Unset members decode as null.
  if (tt.shape) out.shape = (tt.shape.dim ?? []).map((d) => d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue as LongLike) : null);
  if (vi.type?.denotation) out.denotation = vi.type.denotation;
  return out;
}

/** Old exporters leave AttributeProto.type unset (0); infer it from the field present
 * (decoded fields are own properties, defaults live on the prototype). */
function attrType(a: AttrP): number {
  if (a.type) return a.type;
  const T = onnx.AttributeProto.AttributeType;
  const fields = { f: T.FLOAT, i: T.INT, s: T.STRING, t: T.TENSOR, g: T.GRAPH, floats: T.FLOATS, ints: T.INTS, strings: T.STRINGS, graphs: T.GRAPHS };
  const set = Object.entries(fields).find(([k]) => {
    const v = Object.prototype.hasOwnProperty.call(a, k) ? (a as unknown as Record<string, unknown>)[k] : undefined;
    return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
  });
  return set ? set[1] : 0;
}

function decodeAttr(a: AttrP, opts: DecodeOptions): Attr {
  const T = onnx.AttributeProto.AttributeType;
  switch (attrType(a)) {
    case T.FLOAT: return { kind: 'float', value: a.f };
    case T.INT: return { kind: 'int', value: num(a.i as LongLike) };
    case T.STRING: return { kind: 'string', value: Buffer.from(a.s).toString('utf8') };
    case T.TENSOR: return { kind: 'tensor', value: decodeTensor(a.t as TensorP, opts) };
    case T.GRAPH: return { kind: 'graph', value: decodeGraph(a.g as GraphP, opts) };
    case T.FLOATS: return { kind: 'floats', value: [...a.floats] };
    case T.INTS: return { kind: 'ints', value: a.ints.map((i) => num(i as LongLike)) };
    case T.STRINGS: return { kind: 'strings', value: a.strings.map((s) => Buffer.from(s).toString('utf8')) };
    case T.GRAPHS: return { kind: 'graphs', value: a.graphs.map((g) => decodeGraph(g as GraphP, opts)) };
    default: return { kind: 'opaque', value: onnx.AttributeProto.toObject(a) };
  }
}

function decodeGraph(g: GraphP, opts: DecodeOptions): Graph {
  const nodes: Node[] = (g.node as InstanceType<P['NodeProto']>[]).map((n) => {
    const attrs: Record<string, Attr> = {};
    for (const a of n.attribute) attrs[a.name as string] = decodeAttr(a as AttrP, opts);
    return { opType: n.opType, domain: n.domain === 'ai.onnx' ? '' : n.domain, name: n.name, inputs: [...n.input], outputs: [...n.output], attrs };
  });
  const graph: Graph = {
    name: g.name,
    nodes,
    inputs: (g.input as ValueInfoP[]).map(decodeValueInfo),
    outputs: (g.output as ValueInfoP[]).map(decodeValueInfo),
    initializers: new Map((g.initializer as TensorP[]).map((t) => [t.name, decodeTensor(t, opts)])),
    valueInfo: new Map((g.valueInfo as ValueInfoP[]).map((v) => [v.name, decodeValueInfo(v)])),
  };
  if (g.docString) graph.docString = g.docString;
  if (g.sparseInitializer.length || g.quantizationAnnotation.length) {
    graph.opaque = {
      sparseInitializers: g.sparseInitializer.map((s) => onnx.SparseTensorProto.toObject(s as InstanceType<P['SparseTensorProto']>)),
      quantizationAnnotation: g.quantizationAnnotation.map((q) => onnx.TensorAnnotation.toObject(q as InstanceType<P['TensorAnnotation']>)),
    };
  }
  return graph;
}

function decodeProto(bytes: Uint8Array, opts: DecodeOptions & { source: string }): Model {
  const m = onnx.ModelProto.decode(bytes);
  const irVersion = num(m.irVersion as LongLike);
  if (!m.graph || irVersion <= 0 || irVersion > 100 || m.opsetImport.length === 0) {
    throw new ModelFormatError(`${oneLine(opts.source)}: not a valid ONNX model (no graph, IR version or opset import)`);
  }
  const model: Model = {
    irVersion,
    opsetImports: m.opsetImport.map((o) => ({ domain: o.domain === 'ai.onnx' ? '' : (o.domain ?? ''), version: num(o.version as LongLike) })),
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    modelVersion: num(m.modelVersion as LongLike),
    docString: m.docString,
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value])),
    graph: decodeGraph(m.graph as GraphP, opts),
  };
  if (m.functions.length || m.trainingInfo.length) {
    model.opaque = {
      functions: m.functions.map((f) => onnx.FunctionProto.toObject(f as InstanceType<P['FunctionProto']>)),
      trainingInfo: m.trainingInfo.map((t) => onnx.TrainingInfoProto.toObject(t as InstanceType<P['TrainingInfoProto']>)),
    };
  }
  return model;
}

/** Decode ONNX bytes. Truncated or garbage input raises ModelFormatError naming the source. */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): Model {
  const source = opts.source ?? 'model';
  try {
    return decodeProto(bytes, { ...opts, source });
  } catch (e) {
    // Names inside a corrupt file may hold newlines: keep every message on one line.
    if (e instanceof DistillError) throw Object.assign(e, { message: oneLine(e.message) });
    throw new ModelFormatError(`${oneLine(source)}: not a valid ONNX model (${firstLine(e)})`);
  }
}

/** Read an ONNX file from disk (external data resolved next to it). */
export function loadModel(file: string): Model {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? firstLine(e);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : code;
    throw new ModelFormatError(`${oneLine(file)}: cannot read (${why})`, 'check the path');
  }
  return decodeModel(bytes, { baseDir: path.dirname(path.resolve(file)), source: file });
}

// ---------------------------------------------------------------- encoding

export interface EncodeOptions {
  /** Tensors of at least `minBytes` (default 1024) go into `file`, inside `dir` (default:
   * the model's folder; it must lie inside that folder, loaders refuse anything else). */
  externalData?: { file: string; dir?: string; minBytes?: number };
}

/** protobufjs' fromObject silently drops empty byte arrays from repeated bytes fields,
 * but takes strings as base64: '' is the one form of an empty entry it keeps. */
function utf8List(list: string[]): (Uint8Array | string)[] {
  return list.map((s) => (s === '' ? '' : Buffer.from(s, 'utf8')));
}

function encodeTensor(t: Tensor, name: string, sink?: ExternalDataWriter): object {
  const base = { name, dims: t.dims, dataType: dtypeCode(t.dtype) };
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new GraphError(`tensor '${name}': shape [${t.dims}] needs ${n} values, its data has ${t.data.length}`);
  if (t.dtype === 'string') return { ...base, stringData: utf8List(t.data as string[]) };
  const bytes = dataToBytes(t.data);
  if (sink && bytes.byteLength >= sink.minBytes) return { ...base, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: sink.write(bytes) };
  return { ...base, rawData: bytes };
}

function encodeShape(v: ValueInfo): object {
  if (v.opaqueType !== undefined) return { name: v.name, type: v.opaqueType };
  const tensorType: Record<string, unknown> = { elemType: dtypeCode(v.dtype) };
  if (v.shape) tensorType.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d })) };
  return { name: v.name, type: { tensorType, ...(v.denotation ? { denotation: v.denotation } : {}) } };
}

function encodeAttr(name: string, a: Attr, sink?: ExternalDataWriter): object {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'int': return { name, type: T.INT, i: a.value };
    case 'string': return { name, type: T.STRING, s: Buffer.from(a.value, 'utf8') };
    case 'tensor': return { name, type: T.TENSOR, t: encodeTensor(a.value, '', undefined) };
    case 'graph': return { name, type: T.GRAPH, g: encodeGraph(a.value, sink) };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'strings': return { name, type: T.STRINGS, strings: utf8List(a.value) };
    case 'graphs': return { name, type: T.GRAPHS, graphs: a.value.map((g) => encodeGraph(g, sink)) };
    case 'opaque': return { ...(a.value as object), name };
  }
}

function encodeGraph(g: Graph, sink?: ExternalDataWriter): object {
  return {
    name: g.name,
    node: g.nodes.map((n) => ({
      name: n.name, opType: n.opType, domain: n.domain, input: n.inputs, output: n.outputs,
      attribute: Object.entries(n.attrs).map(([k, a]) => encodeAttr(k, a, sink)),
    })),
    initializer: [...g.initializers].map(([name, t]) => encodeTensor(t, name, sink)),
    input: g.inputs.map(encodeShape),
    output: g.outputs.map(encodeShape),
    valueInfo: [...g.valueInfo.values()].map(encodeShape),
    docString: g.docString ?? '',
    sparseInitializer: g.opaque?.sparseInitializers ?? [],
    quantizationAnnotation: g.opaque?.quantizationAnnotation ?? [],
  };
}

function encodeWith(model: Model, sink?: ExternalDataWriter): Uint8Array {
  const obj = {
    irVersion: model.irVersion,
    opsetImport: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: model.modelVersion,
    docString: model.docString,
    metadataProps: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
    graph: encodeGraph(model.graph, sink),
    functions: model.opaque?.functions ?? [],
    trainingInfo: model.opaque?.trainingInfo ?? [],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(obj)).finish();
}

/** Encode to bytes; all tensor data inline. */
export function encodeModel(model: Model): Uint8Array {
  return encodeWith(model);
}

/** Write atomically; large tensors go to an external data file beside it when asked. */
export function saveModel(model: Model, file: string, opts: EncodeOptions = {}): void {
  if (!opts.externalData) return writeFileAtomic(file, encodeModel(model));
  // The data file is complete and in place before the model that points at it.
  const sink = new ExternalDataWriter(file, opts.externalData);
  try {
    const bytes = encodeWith(model, sink);
    sink.commit();
    writeFileAtomic(file, bytes);
  } catch (e) {
    sink.abort(); // removes the temporary data file; a committed one is left as is
    throw e;
  }
}
