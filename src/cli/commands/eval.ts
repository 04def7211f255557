// onnx-distill eval --model M.onnx --data SPEC [--teacher T.onnx]: accuracy, agreement
// with the teacher, parameter and file-size ratios, latency per sample. Data streams
// through a SampleSource, so image folders of any size work.
import type { CommandModule } from 'yargs';
import { openSource } from '../../data/sources.js';
import { evaluateModel } from '../../eval/evaluate.js';
import { reporter, runCommand, numList } from '../output.js';

interface Args { model: string; data: string; teacher?: string; scale?: number; mean?: string; std?: string; bgr: boolean; resize?: number; crop?: number;
  'teacher-mean'?: string; 'teacher-std'?: string; ep: 'auto' | 'cuda' | 'cpu'; json: boolean }

export const evalCommand: CommandModule<object, Args> = {
  command: 'eval',
  describe: 'evaluate a model on data: top-1/top-5, agreement with a teacher, size and latency',
  builder: (y) => y
    .option('model', { type: 'string', demandOption: true, describe: 'model to evaluate (.onnx)' })
    .option('data', { type: 'string', demandOption: true, describe: "data SPEC: image folder, IDX image file, .npy, 'mnist'; :START-END takes a slice" })
    .option('teacher', { type: 'string', describe: 'teacher to compare with (.onnx)' })
    .option('scale', { type: 'number', describe: 'input pixel multiplier (default 1/255); onnx-distill students record their own' })
    .option('mean', { type: 'string', describe: 'per-channel mean, comma list' })
    .option('std', { type: 'string', describe: 'per-channel std, comma list' })
    .option('teacher-mean', { type: 'string', describe: 'teacher input mean (default: --mean)' })
    .option('teacher-std', { type: 'string', describe: 'teacher input std (default: --std)' })
    .option('bgr', { type: 'boolean', default: false, describe: 'swap RGB to BGR' })
    .option('resize', { type: 'number', describe: 'image folders: scale so the shorter side is S pixels (default: resize to the model input)' })
    .option('crop', { type: 'number', describe: 'image folders: centre crop C x C after any --resize' })
    .option('ep', { choices: ['auto', 'cuda', 'cpu'] as const, default: 'auto' as const })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json);
    const flags = { scale: argv.scale, mean: numList(argv.mean), std: numList(argv.std), bgr: argv.bgr, resize: argv.resize, crop: argv.crop };
    const teacherFlags = { ...flags, mean: numList(argv['teacher-mean']) ?? flags.mean, std: numList(argv['teacher-std']) ?? flags.std };
    const data = await openSource(argv.data);
    const r = await evaluateModel(argv.model, data, { teacher: argv.teacher, flags, teacherFlags, ep: argv.ep, progress: rep.progress, log: rep.log });
    rep.result(r, () => Object.entries(r).map(([k, v]) => `${k.padEnd(34)} ${typeof v === 'number' && /top|agreement/.test(k) ? (100 * v).toFixed(2) + '%' : typeof v === 'number' ? +v.toPrecision(4) : v}`).join('\n'));
  }),
};
