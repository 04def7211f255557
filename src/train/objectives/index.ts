// All objectives, registered by name. Importing this module registers them.
import { registerObjective } from './registry.js';
import { crossEntropy } from './ce.js';
import { hintonKd } from './kd.js';
import { tintemLoss, tintemParams } from './tintem.js';
import { proteusLoss, proteusParams } from './proteus.js';

export { getObjective, objectiveNames, resolveOptions, registerObjective } from './registry.js';
export type { Objective, ObjectiveNeeds, ObjectiveShapes, AuxParam } from './registry.js';

registerObjective({
  name: 'ce',
  summary: 'cross-entropy on hard labels (the no-teacher baseline)',
  needs: { labels: 'required', teacherLogits: false, teacherFeatures: false },
  defaults: {},
  build: () => crossEntropy,
});

registerObjective({
  name: 'kd',
  summary: 'Hinton KD: alpha*CE + (1-alpha)*T^2*KL(teacher||student); pure KD without labels',
  needs: { labels: 'optional', teacherLogits: true, teacherFeatures: false },
  defaults: { alpha: 0.5, temperature: 4 },
  build: (opts, hasLabels) => hintonKd(opts.alpha, opts.temperature, hasLabels),
});

registerObjective({
  name: 'tintem',
  summary: 'TinTeM/CosPress (label-free): cosine-structure-preserving teacher mapping, student matches it by cosine; then a KD-fitted head',
  needs: { labels: 'none', teacherLogits: false, teacherFeatures: true },
  defaults: { sim_weight: 1, local_weight: 1, ortho_weight: 0 },
  build: (opts, _hasLabels, shapes) => tintemLoss(opts, shapes),
  auxParams: (_opts, shapes, seed) => tintemParams(shapes, seed),
  fitsHeadAfter: true,
});

registerObjective({
  name: 'proteus',
  summary: 'Proteus-style feature regression (label-free): student LayerNorm+Linear head, MSE to raw teacher features; then a KD-fitted head',
  needs: { labels: 'none', teacherLogits: false, teacherFeatures: true },
  defaults: {},
  build: (_opts, _hasLabels, shapes) => proteusLoss(shapes),
  auxParams: (_opts, shapes, seed) => proteusParams(shapes, seed),
  fitsHeadAfter: true,
});
