// All objectives, registered by name. Importing this module registers them.
import { registerObjective } from './registry.js';
import { crossEntropy } from './ce.js';
import { hintonKd } from './kd.js';
import { tintemLoss, tintemParams } from './tintem.js';
import { proteusLoss, proteusParams } from './proteus.js';
import { almLoss } from './alm.js';
import { bdkdObjective, dmlObjective } from './bdkd-online.js';

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
  defaults: { sim_weight: 1, local_weight: 1, ortho_weight: 0, tokens: 1 },
  build: (opts, _hasLabels, shapes) => tintemLoss(opts, shapes),
  auxParams: (opts, shapes, seed) => tintemParams(opts, shapes, seed),
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

registerObjective({
  name: 'alm',
  summary: 'ALM-KD/AMAL (noisy labels): per-sample mix of CE and KD from each teacher, weights meta-learned on a clean validation split',
  needs: { labels: 'required', teacherLogits: true, teacherFeatures: false },
  defaults: { temperature: 4, meta_every: 1, meta_start: 1, meta_steps: 5, meta_lr: 0.1, convex: 0 },
  build: (opts, _hasLabels, shapes) => almLoss(opts.temperature, shapes.teachers ?? 1),
  multiTeacher: true,
  metaLearnsWeights: true,
});

registerObjective({
  name: 'bdkd',
  summary: 'BD-KD: CE + T^2 (w_f KL(t||s) + w_r KL(s||t)), weights from the entropy gap; --online trains the teacher too',
  needs: { labels: 'required', teacherLogits: true, teacherFeatures: false },
  defaults: { temperature: 4, bd_wf: 2, bd_wr: 2, bd_base: 1, bd_smooth: 0, bd_beta: 1 },
  build: (opts, _hasLabels, shapes) => bdkdObjective(opts, !!shapes.online),
  online: true,
});

registerObjective({
  name: 'dml',
  summary: 'deep mutual learning (online only): each model CE + T^2 KL(other || self)',
  needs: { labels: 'required', teacherLogits: true, teacherFeatures: false },
  defaults: { temperature: 1 },
  build: (opts) => dmlObjective(opts.temperature),
  online: 'only',
});
