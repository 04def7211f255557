// What every student architecture takes and gives.
import type { Mode } from './layers.js';
import type { TrainableModel } from '../../train/step.js';

export interface StudentOptions {
  /** per-sample input shape [C, H, W] (or [D] for an MLP on flat vectors) */
  inputShape: number[];
  numClasses: number;
  /** static batch for training graphs; a symbol such as 'N' for export */
  batch: number | string;
  mode: Mode;
  seed: number;
  /** base channel width (architecture-specific default) */
  width?: number;
  /** number of stages/blocks (architecture-specific default) */
  depth?: number;
  /** end the features before the last ReLU, so they can take both signs (feature
   * objectives; presets only, a student file keeps its own graph) */
  signedFeatures?: boolean;
}

/** Graph outputs are `logits` [B, classes] and `features` [B, D] (the penultimate layer). */
export type StudentBuilder = (opts: StudentOptions) => TrainableModel;
