// onnx-distill eval --model M.onnx --data SPEC [--teacher T.onnx]: accuracy, agreement
// with the teacher, parameter and file-size ratios, latency per sample. Data streams
// through a SampleSource, so image folders of any size work. --features adds the
// representation metrics of eval/feature-metrics.ts (kNN, linear probe, OOD, CKA).
// Labelled data also gets the calibration metrics of eval/calibration.ts (ECE, adaptive
// ECE, MCE, NLL, Brier); --reliability FILE.png draws the reliability diagram.
import type { CommandModule } from 'yargs';
import { openSource } from '../../data/sources.js';
import { evaluateModel } from '../../eval/evaluate.js';
import { reporter, runCommand, numList } from '../output.js';
import { UsageError } from '../../errors.js';
import { JPEG_DECODERS } from '../../data/preprocess.js';

interface Args { model: string; data: string; teacher?: string; scale?: number; mean?: string; std?: string; bgr: boolean; resize?: number; crop?: number; 'jpeg-decoder'?: string;
  'teacher-mean'?: string; 'teacher-std'?: string; ep: 'auto' | 'cuda' | 'cpu'; json: boolean;
  features: boolean; 'model-features'?: string; 'teacher-features'?: string; train?: string; ood?: string; reliability?: string }

export const evalCommand: CommandModule<object, Args> = {
  command: 'eval',
  describe: 'evaluate a model on data: top-1/top-5, calibration (ECE, MCE, NLL, Brier), agreement with a teacher, size and latency',
  builder: (y) => y
    .option('model', { type: 'string', demandOption: true, describe: 'model to evaluate (.onnx)' })
    .option('data', { type: 'string', demandOption: true, describe: "data SPEC: image folder, IDX image file, .npy, 'mnist'; :START-END takes a slice" })
    .option('teacher', { type: 'string', describe: 'teacher to compare with (.onnx)' })
    .option('reliability', { type: 'string', describe: 'labelled data: write a reliability diagram PNG to FILE.png (15 equal-width confidence bins; the model, and with --teacher the teacher beside it); the report gains reliability_png' })
    .option('scale', { type: 'number', describe: 'input pixel multiplier (default 1/255); onnx-distill students record their own' })
    .option('mean', { type: 'string', describe: 'per-channel mean, comma list' })
    .option('std', { type: 'string', describe: 'per-channel std, comma list' })
    .option('teacher-mean', { type: 'string', describe: 'teacher input mean (default: --mean)' })
    .option('teacher-std', { type: 'string', describe: 'teacher input std (default: --std)' })
    .option('bgr', { type: 'boolean', default: false, describe: 'swap RGB to BGR' })
    .option('resize', { type: 'number', describe: 'image folders: scale so the shorter side is S pixels (default: resize to the model input)' })
    .option('crop', { type: 'number', describe: 'image folders: centre crop C x C after any --resize' })
    .option('jpeg-decoder', { type: 'string', choices: JPEG_DECODERS, describe: 'image folders: JPEG decoder, sharp (default; libjpeg-turbo, as PIL) or jpeg-js (no "fancy" chroma upsampling), to reproduce figures measured with such a decoder, e.g. CIFAR-10 in the assets README' })
    .option('features', { type: 'boolean', default: false, describe: 'also measure the representation (TinTeM/CosPress metrics): kNN top-1 and linear probe (trained on --train, tested on --data), 1-NN OOD AUROC/FPR95 (--data in-distribution vs --ood, scored against --train), and with --teacher the same for the teacher plus linear CKA of the two feature sets on --data' })
    .option('model-features', { type: 'string', describe: "with --features: the model tensor holding its features (default 'features', the output onnx-distill students export)" })
    .option('teacher-features', { type: 'string', describe: "with --features and --teacher: the teacher tensor holding its features, or 'auto' (default): the input of its final classifier Gemm/MatMul" })
    .option('train', { type: 'string', describe: 'with --features: labelled reference data SPEC (as --data); kNN and the linear probe train on it and OOD scores are cosine similarities to it' })
    .option('ood', { type: 'string', describe: 'with --features: out-of-distribution data SPEC (as --data); --data is the in-distribution side' })
    .group(['features', 'model-features', 'teacher-features', 'train', 'ood'], 'Feature metrics:')
    .option('ep', { choices: ['auto', 'cuda', 'cpu'] as const, default: 'auto' as const })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json);
    const flags = { scale: argv.scale, mean: numList(argv.mean), std: numList(argv.std), bgr: argv.bgr, resize: argv.resize, crop: argv.crop,
      ...(argv['jpeg-decoder'] === 'jpeg-js' ? { jpegDecoder: 'jpeg-js' } : {}) };
    const teacherFlags = { ...flags, mean: numList(argv['teacher-mean']) ?? flags.mean, std: numList(argv['teacher-std']) ?? flags.std };
    const needsFeatures = (['model-features', 'teacher-features', 'train', 'ood'] as const).filter((k) => argv[k] !== undefined);
    if (!argv.features && needsFeatures.length) throw new UsageError(`--${needsFeatures[0]} is a feature-metrics flag`, 'add --features');
    if (argv['teacher-features'] !== undefined && !argv.teacher) throw new UsageError('--teacher-features needs --teacher');
    if (argv.reliability !== undefined && !/\.png$/i.test(argv.reliability)) throw new UsageError(`--reliability ${argv.reliability}: the diagram is a PNG`, 'give a file name ending in .png');
    const data = await openSource(argv.data);
    if (argv.reliability !== undefined && !data.labels) throw new UsageError(`--reliability needs labelled data: ${argv.data} has no labels`, 'calibration compares confidence with accuracy');
    const features = argv.features ? {
      model: argv['model-features'], teacher: argv['teacher-features'],
      train: argv.train !== undefined ? await openSource(argv.train) : undefined, ood: argv.ood !== undefined ? await openSource(argv.ood) : undefined,
    } : undefined;
    const r = await evaluateModel(argv.model, data, { teacher: argv.teacher, flags, teacherFlags, ep: argv.ep, progress: rep.progress, log: rep.log, features, reliability: argv.reliability });
    rep.result(r, () => Object.entries(r).map(([k, v]) => `${k.padEnd(34)} ${typeof v === 'number' && /top|agreement|ece|mce/.test(k) ? (100 * v).toFixed(2) + '%' : typeof v === 'number' ? +v.toPrecision(4) : v}`).join('\n'));
  }),
};
