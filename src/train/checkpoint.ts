// Checkpoints in safetensors: parameters, buffers, optimizer state, plus the step,
// epoch, position and RNG states needed to continue a run exactly.
import type { Tensor } from '../graph/ir.js';
import { loadSafetensors, saveSafetensors } from '../util/safetensors.js';
import { DistillError } from '../errors.js';

export interface TrainProgress {
  /** optimizer steps taken */
  step: number;
  /** epoch in progress (0-based) */
  epoch: number;
  /** batches of `epoch` already consumed */
  batchInEpoch: number;
  /** shuffle RNG state at the start of `epoch` (regenerates its order) */
  shuffleState: number[];
  /** augmentation RNG state at this point */
  augmentState: number[];
  bestMetric: number;
  bestEpoch: number;
  /** sha256 of the resolved config, so --resume refuses a different run */
  configHash: string;
}

export function saveCheckpoint(file: string, values: Map<string, Tensor>, progress: TrainProgress): void {
  saveSafetensors(file, values, { format: 'onnx-distill-checkpoint/1', progress: JSON.stringify(progress) });
}

export function loadCheckpoint(file: string): { values: Map<string, Tensor>; progress: TrainProgress } {
  const { tensors, metadata } = loadSafetensors(file);
  if (metadata.format !== 'onnx-distill-checkpoint/1' || !metadata.progress) {
    throw new DistillError('E_CHECKPOINT', `${file}: not an onnx-distill checkpoint`, 'point --resume at a run directory made by distill');
  }
  return { values: tensors, progress: JSON.parse(metadata.progress) as TrainProgress };
}
