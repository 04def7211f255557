// onnx-distill inspect MODEL|PRESET: inputs, outputs, opset, ops, parameters, FLOPs,
// the kind of the classifier output and the preprocessing derived from the input.
import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { loadModel } from '../../graph/serde.js';
import { graphStats } from '../../graph/stats.js';
import { detectOutputKind } from '../../graph/surgery-kind.js';
import { opsetOf, type Model, type ValueInfo } from '../../graph/ir.js';
import { buildStudent, studentPresets } from '../../graph/zoo/index.js';
import { preprocessingFor } from '../../data/preprocess.js';
import { reporter, runCommand, numList } from '../output.js';
import { UsageError } from '../../errors.js';

interface Args { model: string; json: boolean; input?: string; classes: number; width?: number; depth?: number }

export const inspectCommand: CommandModule<object, Args> = {
  command: 'inspect <model>',
  describe: 'describe an ONNX model, or a student preset (its parameters and FLOPs)',
  builder: (y) => y
    .positional('model', { type: 'string', demandOption: true, describe: `an .onnx file, or a preset: ${studentPresets().join(', ')}` })
    .option('input', { type: 'string', describe: 'preset only: per-sample input shape C,H,W (default 1,28,28)' })
    .option('classes', { type: 'number', default: 10, describe: 'preset only: number of classes' })
    .option('width', { type: 'number', describe: 'preset only: base channel count / hidden size (as in distill --width)' })
    .option('depth', { type: 'number', describe: 'preset only: number of stages / blocks / layers (as in distill --depth)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json);
    const isPreset = studentPresets().includes(argv.model) && !fs.existsSync(argv.model);
    const info = isPreset ? describePreset(argv.model, numList(argv.input) ?? [1, 28, 28], argv.classes, argv.width, argv.depth) : describeModel(argv.model);
    rep.result(info, () => human(info));
  }),
};

function describePreset(name: string, inputShape: number[], classes: number, width?: number, depth?: number): Record<string, unknown> {
  if (inputShape.length !== 3) throw new UsageError(`--input must be C,H,W, got ${inputShape.join(',')}`);
  const m = buildStudent(name, { inputShape, numClasses: classes, batch: 1, mode: 'eval', seed: 1, width, depth });
  const s = graphStats(m.graph);
  return { preset: name, input: inputShape, classes, width: width ?? null, depth: depth ?? null, params: s.params, buffers: s.buffers, flops_per_sample: s.flops, nodes: m.graph.nodes.length };
}

function describeModel(file: string): Record<string, unknown> {
  const model = loadModel(file);
  const g = model.graph;
  const s = graphStats(g, { opset: opsetOf(model) || 18 });
  const ops: Record<string, number> = {};
  for (const n of g.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const inits = new Set(g.initializers.keys());
  const inputs = g.inputs.filter((v) => !inits.has(v.name));
  const sig = (v: ValueInfo) => ({ name: v.name, dtype: v.dtype, shape: v.shape ?? null });
  const out: Record<string, unknown> = {
    file, size_bytes: fs.statSync(file).size, ir_version: model.irVersion,
    opsets: model.opsetImports.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`), producer: model.producerName,
    inputs: inputs.map(sig), outputs: g.outputs.map(sig), nodes: g.nodes.length, ops,
    params: s.params, flops_per_sample: s.flops, metadata: model.metadata,
  };
  out.output_kinds = Object.fromEntries(g.outputs.map((o) => [o.name, safe(() => detectOutputKind(model, o.name))]));
  if (inputs.length === 1) out.preprocessing = safe(() => preprocessingFor(inputs[0]));
  return out;
}

function safe<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    return `unknown (${(e as Error).message})`;
  }
}

function human(i: Record<string, unknown>): string {
  const lines: string[] = [];
  const fmt = (v: unknown) => (typeof v === 'number' ? v.toLocaleString() : typeof v === 'string' ? v : JSON.stringify(v));
  for (const [k, v] of Object.entries(i)) {
    if (k === 'inputs' || k === 'outputs') {
      lines.push(`${k}:`);
      for (const x of v as { name: string; dtype: string; shape: unknown[] | null }[]) lines.push(`  ${x.name}  ${x.dtype} [${x.shape ? x.shape.join(', ') : '?'}]`);
    } else if (k === 'ops') {
      lines.push(`ops: ${Object.entries(v as Record<string, number>).map(([o, c]) => `${o} x${c}`).join(', ')}`);
    } else if (k === 'metadata' && Object.keys(v as object).length === 0) continue;
    else lines.push(`${k}: ${fmt(v)}`);
  }
  return lines.join('\n');
}

export type { Model };
