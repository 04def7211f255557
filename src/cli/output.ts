// Terminal output: results on stdout (one JSON object with --json), logs and progress
// on stderr, errors as one line with a hint and exit code 2 (usage) or 3 (training).
import { DistillError } from '../errors.js';

export interface Reporter {
  json: boolean;
  log(line: string): void;
  progress(label: string, done: number, total: number, extra?: string): void;
  result(obj: Record<string, unknown>, human: () => string): void;
}

export function reporter(json: boolean, quiet = false): Reporter {
  const tty = process.stderr.isTTY;
  let lastLabel = '', lastPct = -1, started = Date.now();
  const endLine = () => {
    if (tty && lastLabel) process.stderr.write('\n');
    lastLabel = '';
  };
  return {
    json,
    log(line) {
      if (quiet) return;
      endLine();
      process.stderr.write(line + '\n');
    },
    progress(label, done, total, extra = '') {
      if (quiet) return;
      if (label !== lastLabel) {
        endLine();
        lastLabel = label;
        lastPct = -1;
        started = Date.now();
      }
      const pct = Math.floor((100 * done) / total);
      const elapsed = (Date.now() - started) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : 0;
      const text = `${label} ${bar(done / total)} ${done}/${total} ${extra} ETA ${fmtTime(eta)}`;
      if (tty) process.stderr.write(`\r${text.padEnd(100)}`);
      else if (pct >= lastPct + 25 || done === total) {
        process.stderr.write(text + '\n');
        lastPct = pct;
      }
      if (done === total) endLine();
    },
    result(obj, human) {
      endLine();
      if (json) process.stdout.write(JSON.stringify(obj) + '\n');
      else process.stdout.write(human() + '\n');
    },
  };
}

function bar(f: number, width = 24): string {
  const n = Math.round(Math.max(0, Math.min(1, f)) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** Run a command body; typed errors become one line on stderr and an exit code. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof DistillError) {
      process.stderr.write(`onnx-distill: error: ${e.oneLine()}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    const err = e as Error;
    process.stderr.write(`onnx-distill: internal error: ${err.message}\n`);
    if (process.env.ONNX_DISTILL_DEBUG) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write('(set ONNX_DISTILL_DEBUG=1 for the stack trace, and please report it)\n');
    process.exitCode = 1;
  }
}

export const numList = (s: string | undefined): number[] | undefined =>
  s === undefined ? undefined : String(s).split(',').map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v)) throw new DistillError('E_USAGE', `'${s}' is not a comma-separated list of numbers`);
    return v;
  });
