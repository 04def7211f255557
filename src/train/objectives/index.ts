// All objectives, registered by name. Importing this module registers them.
import { registerObjective } from './registry.js';
import { crossEntropy } from './ce.js';
import { hintonKd } from './kd.js';

export { getObjective, objectiveNames, resolveOptions, registerObjective } from './registry.js';
export type { Objective, ObjectiveNeeds } from './registry.js';

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
