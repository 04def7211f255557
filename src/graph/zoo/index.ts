// Student presets by name.
import { UsageError } from '../../errors.js';
import type { StudentBuilder, StudentOptions } from './types.js';
import { convnet } from './convnet.js';
import { mlp } from './mlp.js';
import { resnet } from './resnet.js';
import { mobilenet } from './mobilenet.js';

const PRESETS = new Map<string, StudentBuilder>([
  ['mlp', mlp],
  ['convnet', convnet],
  ['resnet', resnet],
  ['mobilenet', mobilenet],
]);

export function studentPresets(): string[] {
  return [...PRESETS.keys()];
}

export function buildStudent(name: string, opts: StudentOptions) {
  const make = PRESETS.get(name);
  if (!make) throw new UsageError(`unknown student preset '${name}'`, `choose one of: ${studentPresets().join(', ')}, or pass a .onnx file`);
  return make(opts);
}

export type { StudentOptions, StudentBuilder };
