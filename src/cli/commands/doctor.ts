// onnx-distill doctor: which execution providers load, the GPU, the CUDA/cuDNN
// libraries, with a fix for each missing piece. Exit code 0 either way (CPU is fine).
import type { CommandModule } from 'yargs';
import { doctor } from '../../runtime/doctor.js';
import { reporter, runCommand } from '../output.js';

export const doctorCommand: CommandModule<object, { json: boolean }> = {
  command: 'doctor',
  describe: 'check this machine: execution providers that load, GPU, CUDA and cuDNN libraries',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print one JSON object on stdout' }) as never,
  handler: (argv) => runCommand(async () => {
    const rep = reporter(argv.json);
    const r = await doctor();
    rep.result(r, () => [
      ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'MISS'} ${c.name.padEnd(26)} ${c.detail}${c.fix ? `\n     fix: ${c.fix}` : ''}`),
      `execution providers that run here: ${r.providers.join(', ')}`,
    ].join('\n'));
  }),
};
