// proteus: the feature-regression baseline in the style of Proteus (Zhang et al.,
// "Accessing Vision Foundation Models at ImageNet-level Costs", 2024). Label-free.
// A student-side head, LayerNorm then Linear up to the teacher's feature width, is
// trained jointly with the student; the loss is the mean squared error between the
// head's output and the raw teacher feature tensor, per sample:
//   L_i = mean_d (head(s_i)_d - t_id)^2
// The head is dropped on export: the student's pooled features are the representation.
import type { LossBuilder } from '../step.js';
import type { AuxParam, ObjectiveShapes } from './registry.js';
import { layerNormLinear, layerNormLinearParams } from './tintem.js';

export const PROTEUS_HEAD = 'proteus.head';

export function proteusLoss(shapes: ObjectiveShapes): LossBuilder {
  return (c) => {
    const { o, data, outputs, batch } = c;
    const tf = data('teacher_features', 'float32', [batch, shapes.teacherFeatures!]);
    const diff = o.sub(layerNormLinear(c, PROTEUS_HEAD, outputs.features), tf);
    return { perSample: o.reduceMean(o.square(diff), [1], false) };
  };
}

export function proteusParams(shapes: ObjectiveShapes, seed: number): AuxParam[] {
  return layerNormLinearParams(PROTEUS_HEAD, shapes.studentFeatures, shapes.teacherFeatures!, seed);
}
