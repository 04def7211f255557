// onnx-distill label: run a teacher once over a data set and store its soft labels
// (and features) as a sharded, resumable, splittable label store (data/label-store.ts).
import type { CommandModule } from 'yargs';
import { labelDataset } from '../../data/label-run.js';
import { withPreprocessOptions, preprocessFlags } from '../preprocess-flags.js';
import { reporter, runCommand, numList } from '../output.js';
import { UsageError } from '../../errors.js';

interface Args {
  teacher: string; data: string; out: string; ep: 'auto' | 'cuda' | 'cpu'; batch: number; 'shard-size': number;
  features: string; 'top-k'?: number; dtype: 'float32' | 'float16'; shard: string; resume: boolean; strict: boolean;
  output?: string; scale?: number; mean?: string; std?: string; bgr: boolean; resize?: number; crop?: number; json: boolean; quiet: boolean;
}

export const labelCommand: CommandModule<object, Args> = {
  command: 'label',
  describe: 'run a teacher over data once and store its soft labels (sharded safetensors + manifest.json) for `distill --labels`',
  builder: (y) => withPreprocessOptions(y)
    .usage('$0 label --teacher T.onnx --data SPEC --out DIR [options]')
    .epilogue('Writes DIR/shard-NNNNN.safetensors (index; logits, or topk_values + topk_indices; features) and ' +
      'DIR/manifest.json. Each shard is written atomically: after a crash or kill, the same command with --resume ' +
      'continues at the first missing shard and gives byte-identical shards. --shard I/N splits the shards over N ' +
      'workers (worker I takes shards I, I+N, ... and writes DIR/manifest-I-of-N.json); `distill --labels DIR` reads ' +
      'all the parts together.')
    .option('teacher', { type: 'string', demandOption: true, describe: 'teacher model (.onnx)' })
    .option('data', { type: 'string', demandOption: true, describe: "data SPEC (image folder, IDX image file, 'mnist', .npy; :START-END slices)" })
    .option('out', { type: 'string', demandOption: true, describe: 'label store folder (new or empty, or the same store with --resume / another --shard part)' })
    .option('ep', { choices: ['auto', 'cuda', 'cpu'] as const, default: 'auto' as const, describe: 'execution provider' })
    .option('batch', { type: 'number', default: 64, describe: 'teacher batch size' })
    .option('shard-size', { type: 'number', default: 4096, describe: 'samples per shard file' })
    .option('features', { type: 'string', default: 'none', describe: "also store features: 'auto' (input of the final classifier Gemm/MatMul, spatially mean-pooled), 'none', or a tensor name" })
    .option('top-k', { type: 'number', describe: 'store only the K largest logits per sample (topk_values/topk_indices). For KD the other classes get a logit 1e4 below the K-th, i.e. the teacher renormalised over its top K' })
    .option('dtype', { choices: ['float32', 'float16'] as const, default: 'float32' as const, describe: 'storage type of stored floats' })
    .option('shard', { type: 'string', default: '0/1', describe: 'I/N: write only the shards of worker I of N (a Slurm array, Kubernetes jobs, ...)' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue an interrupted run in --out (same teacher, data and options)' })
    .option('strict', { type: 'boolean', default: false, describe: 'fail on an unreadable sample instead of skipping it (skipped samples are listed in the manifest)' })
    .option('output', { type: 'string', describe: 'the teacher\'s classifier output (default: the first float output shaped [N, C])' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress or logs on stderr' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json, argv.quiet);
    const m = /^(\d+)\/(\d+)$/.exec(String(argv.shard));
    if (!m) throw new UsageError(`--shard '${argv.shard}' is not I/N`, 'e.g. --shard 0/4 on the first of four machines, --shard 3/4 on the last');
    const r = await labelDataset({
      teacher: argv.teacher, data: argv.data, out: argv.out, ep: argv.ep, batch: argv.batch, shardSize: argv['shard-size'],
      features: argv.features, topK: argv['top-k'], dtype: argv.dtype, worker: Number(m[1]), workers: Number(m[2]),
      resume: argv.resume, strict: argv.strict, output: argv.output,
      preprocessing: preprocessFlags(argv),
      log: rep.log, progress: rep.progress,
    });
    rep.result(r as unknown as Record<string, unknown>, () =>
      `labels: ${r.out} (${r.manifest})\n  samples stored: ${r.samples_stored} of ${r.samples}` +
      (r.samples_skipped ? `, skipped ${r.samples_skipped} unreadable` : '') +
      `\n  shards: ${r.shards_written} written, ${r.shards_kept} kept${r.part !== '0/1' ? ` (part ${r.part} of ${r.shards_total} in all)` : ` of ${r.shards_total}`}` +
      `\n  ${r.samples_per_s.toFixed(0)} samples/s, ${r.seconds.toFixed(1)} s`);
  }),
};
