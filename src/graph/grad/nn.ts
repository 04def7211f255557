// Gradient rules: nn family. Conv lives in conv.ts, the pooling ops in pool.ts;
// importing this module registers both (grad/index.ts imports it).
// Dropout belongs to the activation family.
import './conv.js';
import './pool.js';
