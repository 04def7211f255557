// onnx-distill report RUNDIR: (re)build RUNDIR/report.html, the one page that shows what a
// distill run achieved (teacher vs student size, speed, accuracy, calibration; training
// curves; the configuration and the command that reproduces it). The numbers it measures
// are written to RUNDIR/metrics.jsonl as a {"type":"report"} record (replacing an older one).
import type { CommandModule } from 'yargs';
import { writeReport, REPORT_MAX_SAMPLES } from '../../report/report.js';
import { reporter, runCommand } from '../output.js';
import { UsageError } from '../../errors.js';

interface Args { rundir: string; 'max-samples': number; ep?: 'auto' | 'cuda' | 'cpu'; json: boolean; quiet: boolean }

export const reportCommand: CommandModule<object, Args> = {
  command: 'report <rundir>',
  describe: 'build RUNDIR/report.html: teacher vs student, training curves, calibration, configuration (distill writes it at the end of a run)',
  builder: (y) => y
    .positional('rundir', { type: 'string', demandOption: true, describe: 'the --out folder of a distill run' })
    .option('max-samples', { type: 'number', default: REPORT_MAX_SAMPLES, describe: 'evaluate on at most this many validation samples (the first ones)' })
    .option('ep', { choices: ['auto', 'cuda', 'cpu'] as const, describe: "execution provider (default: the run's)" })
    .option('json', { type: 'boolean', default: false, describe: 'print the report record as one JSON object on stdout' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress or logs on stderr' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json, argv.quiet);
    const max = argv['max-samples'];
    if (!Number.isInteger(max) || max < 1) throw new UsageError(`--max-samples must be a positive integer, got ${max}`, 'e.g. --max-samples 2000');
    const r = await writeReport(argv.rundir, { ep: argv.ep, maxSamples: max, log: rep.log, progress: rep.progress });
    rep.result({ report: r.file, ...r.record }, () => `report: ${r.file}`);
  }),
};
