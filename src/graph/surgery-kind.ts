// What a classifier output holds (logits, probabilities or log-probabilities), read
// from the graph and confirmed from the numbers, and the conversion to logits.
//
// Distillation losses apply softmax/log-softmax to teacher logits, and both ignore a
// constant added to a row. So log(p) of probabilities and the log-probabilities
// themselves are valid "logits": they differ from the teacher's pre-softmax values only
// by a per-row constant (logsumexp of the row), which no loss can see.
import type { Model, Node } from './ir.js';
import { attrInt, indexGraph } from './ir.js';
import { GraphError } from '../errors.js';

export type OutputKind = 'logits' | 'probabilities' | 'log-probabilities';

/** Ops that move or re-encode values without changing what they mean. Quantized
 * graphs put QuantizeLinear -> DequantizeLinear right after the Softmax. */
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'DequantizeLinear', 'QuantizeLinear', 'Cast']);

/** Follow pass-through ops back from `value` to the op that computed it. */
function source(value: string, producer: Map<string, Node>): Node | undefined {
  let node = producer.get(value);
  for (let hops = 0; node && hops < 64 && node.domain === '' && PASS_THROUGH.has(node.opType); hops++) {
    node = producer.get(node.inputs[0]);
  }
  return node;
}

/** Decide from the graph: Softmax -> probabilities; LogSoftmax or Log(Softmax) ->
 * log-probabilities; anything else -> logits. */
export function detectOutputKind(model: Model, output: string): OutputKind {
  const g = model.graph;
  const { producer } = indexGraph(g);
  if (!producer.has(output) && !g.initializers.has(output) && !g.inputs.some((v) => v.name === output)) {
    throw new GraphError(`no value named '${output}' in the graph`, `outputs are: ${g.outputs.map((o) => o.name).join(', ')}`);
  }
  const node = source(output, producer);
  if (!node || node.domain !== '') return 'logits';
  if (node.opType === 'Softmax') return 'probabilities';
  if (node.opType === 'LogSoftmax') return 'log-probabilities';
  if (node.opType === 'Log') {
    const inner = source(node.inputs[0], producer);
    if (inner && inner.domain === '' && inner.opType === 'Softmax') return 'log-probabilities';
  }
  return 'logits';
}

/** The Softmax-like node behind an output, with its axis (for messages and checks). */
export function softmaxAxis(model: Model, output: string): number | undefined {
  const node = source(output, indexGraph(model.graph).producer);
  if (!node || (node.opType !== 'Softmax' && node.opType !== 'LogSoftmax')) return undefined;
  return attrInt(node, 'axis', -1);
}

export interface ClassifyOptions {
  /** allowed |row sum - 1| for probabilities (quantized outputs need ~0.05) */
  sumTol?: number;
  /** allowed |logsumexp(row)| for log-probabilities */
  lseTol?: number;
  /** only ask whether the values are consistent with the kind, allowing lost mass:
   * a quantized softmax (steps of 1/256) rounds most of 1000 small probabilities to 0,
   * and its rows may sum to 0.7. Rows need only lie in [0, 1] and sum to at most 1
   * (log-probabilities: logsumexp at most 0), each within the tolerance. */
  lenient?: boolean;
}

/** Decide from the numbers (rows of `classes` values): every row non-negative and
 * summing to 1 -> probabilities; every row with logsumexp ~ 0 (and no positive
 * value) -> log-probabilities; else logits. With a single class there is nothing to
 * tell, and the answer is logits. */
export function classifyOutputValues(values: Float32Array, classes: number, opts: ClassifyOptions = {}): OutputKind {
  const sumTol = opts.sumTol ?? 0.05;
  const lseTol = opts.lseTol ?? 0.05;
  if (classes < 2 || values.length === 0 || values.length % classes !== 0) return 'logits';
  let probs = true;
  let logProbs = true;
  for (let r = 0; r < values.length / classes && (probs || logProbs); r++) {
    const row = values.subarray(r * classes, (r + 1) * classes);
    let sum = 0, max = -Infinity, min = Infinity;
    for (const v of row) {
      sum += v;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    const lse = logSumExp(row, max);
    if (opts.lenient) {
      if (!(min >= 0 && max <= 1 + sumTol && sum > 0 && sum <= 1 + sumTol)) probs = false;
      if (!(max <= lseTol && lse <= lseTol)) logProbs = false;
    } else {
      if (!(min >= 0 && Math.abs(sum - 1) <= sumTol)) probs = false;
      if (!(max <= lseTol) || Math.abs(lse) > lseTol) logProbs = false;
    }
  }
  return probs ? 'probabilities' : logProbs ? 'log-probabilities' : 'logits';
}

function logSumExp(row: Float32Array, max: number): number {
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  return max + Math.log(s);
}

/** Floor for probabilities before the log: quantized softmax outputs hold exact zeros. */
export const PROB_FLOOR = 1e-12;

/** Logits (up to a per-row constant) from any output kind, into a new array. */
export function toLogits(values: ArrayLike<number>, kind: OutputKind): Float32Array {
  const out = Float32Array.from(values);
  if (kind === 'probabilities') for (let i = 0; i < out.length; i++) out[i] = Math.log(Math.max(out[i], PROB_FLOOR));
  return out;
}
