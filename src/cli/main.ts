// The yargs root: one file per command in ./commands.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { distillCommand } from './commands/distill.js';
import { inspectCommand } from './commands/inspect.js';
import { exportCommand } from './commands/export.js';
import { evalCommand } from './commands/eval.js';
import { doctorCommand } from './commands/doctor.js';
import { labelCommand } from './commands/label.js';
import { reportCommand } from './commands/report.js';

await yargs(hideBin(process.argv))
  .scriptName('onnx-distill')
  // a repeated flag overrides the earlier one (`--epochs 2 --epochs 3` is 3), as users expect
  .parserConfiguration({ 'duplicate-arguments-array': false })
  .usage('$0 <command> [options]\n\nDistill an ONNX teacher into a compact student ONNX model.')
  .command(distillCommand)
  .command(inspectCommand)
  .command(exportCommand)
  .command(evalCommand)
  .command(labelCommand)
  .command(reportCommand)
  .command(doctorCommand)
  .demandCommand(1, 'name a command: distill, label, inspect, export, eval or doctor (see --help)')
  .strict()
  .recommendCommands()
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`onnx-distill: error: ${msg} (see --help)\n`);
    process.exit(2);
  })
  .help()
  .wrap(Math.min(110, process.stdout.columns ?? 100))
  .parseAsync();
