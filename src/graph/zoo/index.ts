// Student presets by name, or a float ONNX model file (onnx-student.ts).
import fs from 'node:fs';
import { UsageError } from '../../errors.js';
import type { StudentBuilder, StudentOptions } from './types.js';
import { convnet } from './convnet.js';
import { mlp } from './mlp.js';
import { resnet } from './resnet.js';
import { mobilenet } from './mobilenet.js';
import { isStudentFile, onnxStudent } from './onnx-student.js';

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
  if (isStudentFile(name) && !PRESETS.has(name)) {
    if (!fs.existsSync(name)) throw new UsageError(`student file '${name}' does not exist`, `pass the path of a float .onnx model, or a preset: ${studentPresets().join(', ')}`);
    return onnxStudent(name, opts);
  }
  const make = PRESETS.get(name);
  if (!make) throw new UsageError(`unknown student preset '${name}'`, `choose one of: ${studentPresets().join(', ')}, or pass a .onnx file`);
  return make(opts);
}

export { isStudentFile };
export type { StudentOptions, StudentBuilder };
