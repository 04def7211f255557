// onnx-distill export RUNDIR|CHECKPOINT --out S.onnx: rebuild the student from a run's
// config and a checkpoint, fold BatchNorm, and write an inference-only ONNX file.
import fs from 'node:fs';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { applyWeights } from '../../train/weights.js';
import { buildStudent } from '../../graph/zoo/index.js';
import { exportInference } from '../../graph/export.js';
import { saveModel } from '../../graph/serde.js';
import { reporter, runCommand } from '../output.js';
import { UsageError } from '../../errors.js';

interface Args { run: string; out: string; fp16: boolean; last: boolean; json: boolean }

export const exportCommand: CommandModule<object, Args> = {
  command: 'export <run>',
  describe: 'export the student of a run directory (or a checkpoint inside one) as inference-only ONNX',
  builder: (y) => y
    .positional('run', { type: 'string', demandOption: true, describe: 'run directory, or a .safetensors checkpoint inside one' })
    .option('out', { type: 'string', demandOption: true, describe: 'output .onnx file' })
    .option('last', { type: 'boolean', default: false, describe: 'use the last checkpoint instead of the best one' })
    .option('fp16', { type: 'boolean', default: false, describe: 'store weights in float16 (not available yet)' })
    .option('json', { type: 'boolean', default: false }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json);
    if (argv.fp16) throw new UsageError('--fp16 export is not available yet', 'export in float32');
    const isFile = argv.run.endsWith('.safetensors');
    const dir = isFile ? path.dirname(argv.run) : argv.run;
    const cfgFile = path.join(dir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new UsageError(`'${dir}' is not a run directory (no config.json)`, 'pass the --out folder of a distill run');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    const ckpt = isFile ? argv.run : path.join(dir, argv.last || !fs.existsSync(path.join(dir, 'best.safetensors')) ? 'checkpoint.safetensors' : 'best.safetensors');
    if (!isFile && !fs.existsSync(ckpt)) throw new UsageError(`run '${dir}' has no checkpoint yet (no epoch has completed)`, 'continue it with `distill --resume`, or export a finished run');
    const { values, progress } = loadCheckpoint(ckpt);
    const model = buildStudent(cfg.student, {
      inputShape: cfg.studentPreprocessing.size, numClasses: cfg.classes, batch: 'N', mode: 'eval', seed: cfg.seed, width: cfg.width, depth: cfg.depth,
      signedFeatures: cfg.signedFeatures,
    });
    // a feature objective's classifier head is fitted in a second phase, checkpointed beside the first
    const head = cfg.headEpochs === undefined || isFile ? undefined
      : ['best.head.safetensors', 'checkpoint.head.safetensors'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    if (cfg.headEpochs !== undefined && !isFile && !head) rep.log('the classifier head has not been fitted yet: its logits are untrained (finish the run with `distill --resume`)');
    if (head) for (const [k, v] of loadCheckpoint(head).values) values.set(k, v);
    const weights = new Map([...values].filter(([k]) => model.graph.initializers.has(k)));
    applyWeights(model.graph, weights);
    const out = exportInference(model.graph, {
      metadata: {
        'onnx_distill.teacher_sha256': String(cfg.teacherSha256 ?? ''), 'onnx_distill.objective': cfg.objective,
        'onnx_distill.preprocessing': JSON.stringify(cfg.studentPreprocessing), 'onnx_distill.student': cfg.student,
        'onnx_distill.classes': String(cfg.classes), 'onnx_distill.checkpoint_step': String(progress.step),
      },
    });
    saveModel(out, argv.out);
    rep.result({ out: argv.out, checkpoint: ckpt, step: progress.step, bytes: fs.statSync(argv.out).size }, () => `wrote ${argv.out} (from ${ckpt}, step ${progress.step})`);
  }),
};
