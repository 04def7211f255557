// The command that reproduces a run, built from its config.json: one
// `npx onnx-distill distill ...` line with every setting that defines the run spelled out
// (the resolved objective options included), so defaults changing later do not change it.
import path from 'node:path';

/** config.objectiveOptions key -> distill flag (keys without a flag are internal and left out) */
const OBJECTIVE_FLAGS: Record<string, string> = {
  alpha: 'alpha', temperature: 'temperature', sim_weight: 'sim-weight', local_weight: 'local-weight', ortho_weight: 'ortho-weight',
  bd_wf: 'bd-wf', bd_wr: 'bd-wr', bd_base: 'bd-base', bd_smooth: 'bd-smooth', bd_beta: 'bd-beta',
  meta_every: 'meta-every', meta_start: 'meta-start', meta_steps: 'meta-steps', meta_lr: 'meta-lr',
};

/** A shell word: left bare when it is safe, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `npx onnx-distill distill ...` for the resolved config of a run (config.json). */
export function reproduceCommand(config: Record<string, unknown>): string {
  const args: string[] = [];
  const add = (flag: string, v: unknown) => {
    if (v === undefined || v === null) return;
    if (typeof v === 'boolean') { if (v) args.push(`--${flag}`); return; }
    args.push(`--${flag}`, Array.isArray(v) ? v.join(',') : String(v));
  };
  const c = config as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  // a preset online teacher is recorded by name; files by the path given
  if (c.teacher) add('teacher', c.teacher);
  for (const t of c.extraTeachers ?? []) add('teacher', t);
  add('labels', c.labels);
  add('data', c.data);
  if (c.val) add('val', c.val);
  else add('val-split', c.valSplit);
  add('student', c.student);
  add('width', c.width);
  add('depth', c.depth);
  add('objective', c.objective);
  const opts = (c.objectiveOptions ?? {}) as Record<string, number>;
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined || v === null) continue;
    if (OBJECTIVE_FLAGS[k]) add(OBJECTIVE_FLAGS[k], v);
    else if (k === 'tokens') args.push(v ? '--tintem-tokens' : '--no-tintem-tokens');
    else if (k === 'convex' && v) args.push('--alm-convex');
  }
  if (c.features !== undefined) add('features', c.features);
  add('head-epochs', c.headEpochs);
  add('label-noise', c.labelNoise);
  if (c.online) {
    args.push('--online');
    add('teacher-width', c.teacherWidth);
    add('teacher-depth', c.teacherDepth);
    add('teacher-lr-scale', c.teacherLrScale);
  }
  add('epochs', c.epochs);
  add('batch', c.batch);
  add('lr', c.lr);
  add('optimizer', c.optimizer);
  add('weight-decay', c.weightDecay);
  add('warmup', c.warmupEpochs);
  add('loop-steps', c.loopSteps);
  add('clip-norm', c.clipNorm);
  add('seed', c.seed);
  add('augment', c.augment);
  const p = (c.preprocessing ?? {}) as Record<string, unknown>;
  add('scale', p.scale);
  add('mean', p.mean);
  add('std', p.std);
  add('bgr', p.bgr);
  add('resize', p.resize);
  add('crop', p.crop);
  add('jpeg-decoder', p.jpegDecoder);
  add('ep', c.ep);
  // a new folder beside the original: the original already holds this run
  if (typeof c.out === 'string') add('out', `${c.out.replace(/[\\/]+$/, '')}-again`);
  else add('out', path.join('runs', 'reproduced'));
  return ['npx', 'onnx-distill', 'distill', ...args.map(shellQuote)].join(' ');
}
