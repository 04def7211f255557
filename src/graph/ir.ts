// The in-memory ONNX IR. Plain data: no protobuf types leak out of serde.ts.
// Tensors hold typed arrays; float16/bfloat16 keep their raw 16-bit patterns.

export type DType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool' | 'string';

/** A dimension: a number when known, a symbol (e.g. 'N') when named, null when unknown. */
export type Dim = number | string | null;
export type Shape = Dim[];

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array | string[];

export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** undefined when the rank is unknown */
  shape?: Shape;
  /** a non-tensor type (sequence, map, optional) kept verbatim; dtype is then meaningless */
  opaqueType?: unknown;
  denotation?: string;
}

export type Attr =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: Tensor }
  | { kind: 'graph'; value: Graph }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }
  | { kind: 'strings'; value: string[] }
  | { kind: 'graphs'; value: Graph[] }
  /** attribute kinds we never interpret (sparse tensors, type protos): kept verbatim */
  | { kind: 'opaque'; value: unknown };

export interface Node {
  opType: string;
  /** '' is the default ai.onnx domain */
  domain: string;
  name: string;
  /** '' marks an omitted optional input/output */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Tensor>;
  /** types of intermediate values, filled by shape inference or read from the file */
  valueInfo: Map<string, ValueInfo>;
  docString?: string;
  /** sparse initializers and quantization annotations, passed through untouched */
  opaque?: { sparseInitializers?: unknown[]; quantizationAnnotation?: unknown[] };
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: Record<string, string>;
  graph: Graph;
  /** model-local functions and training info, passed through untouched */
  opaque?: { functions?: unknown[]; trainingInfo?: unknown[] };
}

export const ONNX_DOMAIN = '';

export function emptyGraph(name: string): Graph {
  return { name, nodes: [], inputs: [], outputs: [], initializers: new Map(), valueInfo: new Map() };
}

export function newModel(graph: Graph, opset = 18, producerName = 'onnx-distill'): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: ONNX_DOMAIN, version: opset }],
    producerName,
    producerVersion: '0.1.0',
    domain: '',
    modelVersion: 1,
    docString: '',
    metadata: {},
    graph,
  };
}

export function opsetOf(model: Model, domain = ONNX_DOMAIN): number {
  const imp = model.opsetImports.find((o) => o.domain === domain || (domain === '' && o.domain === 'ai.onnx'));
  return imp ? imp.version : 0;
}

/** Element count of a fully known shape. */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function isStaticShape(shape: Shape | undefined): shape is number[] {
  return shape !== undefined && shape.every((d) => typeof d === 'number' && d >= 0);
}

/** Index of producers and consumers of every value in a graph (not of subgraphs). */
export interface GraphIndex {
  producer: Map<string, Node>;
  uses: Map<string, Node[]>;
}

export function indexGraph(graph: Graph): GraphIndex {
  const producer = new Map<string, Node>();
  const uses = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    for (const out of node.outputs) if (out) producer.set(out, node);
    for (const inp of node.inputs) {
      if (!inp) continue;
      const list = uses.get(inp);
      if (list) {
        if (!list.includes(node)) list.push(node);
      } else uses.set(inp, [node]);
    }
  }
  return { producer, uses };
}

/** Values a subgraph reads from its enclosing scope (used for Loop/If bodies). */
export function outerScopeReads(graph: Graph): Set<string> {
  const local = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  const reads = new Set<string>();
  for (const node of graph.nodes) {
    for (const inp of node.inputs) if (inp && !local.has(inp)) reads.add(inp);
    for (const a of Object.values(node.attrs)) {
      const subs = a.kind === 'graph' ? [a.value] : a.kind === 'graphs' ? a.value : [];
      for (const sub of subs) for (const r of outerScopeReads(sub)) if (!local.has(r)) reads.add(r);
    }
    for (const out of node.outputs) if (out) local.add(out);
  }
  return reads;
}

/** Attribute accessors with defaults, so rules read like the ONNX spec. */
export function attrInt(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  return a && a.kind === 'int' ? a.value : dflt;
}
export function attrFloat(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  return a && a.kind === 'float' ? a.value : dflt;
}
export function attrInts(node: Node, name: string): number[] | undefined {
  const a = node.attrs[name];
  return a && a.kind === 'ints' ? a.value : undefined;
}
export function attrString(node: Node, name: string, dflt: string): string {
  const a = node.attrs[name];
  return a && a.kind === 'string' ? a.value : dflt;
}
export function attrTensor(node: Node, name: string): Tensor | undefined {
  const a = node.attrs[name];
  return a && a.kind === 'tensor' ? a.value : undefined;
}

/** Convenience constructors for attributes. */
export const A = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  // ONNX stores float attributes as float32: round now so a serde round trip is exact
  float: (value: number): Attr => ({ kind: 'float', value: Math.fround(value) }),
  ints: (value: number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: number[]): Attr => ({ kind: 'floats', value: value.map(Math.fround) }),
  string: (value: string): Attr => ({ kind: 'string', value }),
  tensor: (value: Tensor): Attr => ({ kind: 'tensor', value }),
  graph: (value: Graph): Attr => ({ kind: 'graph', value }),
};

export type AttrInput = Attr | number | number[] | string | Tensor | Graph;

/** Accept plain JS values where the kind is obvious; numbers are ints when integral
 * only if `floatNames` does not name them. Builders pass explicit Attr for floats. */
export function toAttr(v: AttrInput): Attr {
  if (typeof v === 'number') return Number.isInteger(v) ? A.int(v) : A.float(v);
  if (typeof v === 'string') return A.string(v);
  if (Array.isArray(v)) return v.every((x) => Number.isInteger(x)) ? A.ints(v) : A.floats(v);
  if ('kind' in v) return v as Attr;
  if ('dims' in v && 'data' in v) return A.tensor(v as Tensor);
  return A.graph(v as Graph);
}
