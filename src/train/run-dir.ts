// The run directory: config.json (resolved), metrics.jsonl, checkpoints, graphs,
// student.onnx. A folder holding a different run is never overwritten.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { UsageError } from '../errors.js';

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  last: string;
  best: string;
  trainStep: string;
  student: string;
}

export function runPaths(dir: string): RunPaths {
  const p = (f: string) => path.join(dir, f);
  return {
    dir, config: p('config.json'), metrics: p('metrics.jsonl'), last: p('checkpoint.safetensors'),
    best: p('best.safetensors'), trainStep: p('train_step.onnx'), student: p('student.onnx'),
  };
}

/** Stable hash of the parts of a config that define the run (not where or how it runs). */
export function configHash(config: Record<string, unknown>): string {
  const { out: _o, resume: _r, ep: _e, ...rest } = config;
  return crypto.createHash('sha256').update(JSON.stringify(sortKeys(rest))).digest('hex');
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

/** Create or reopen a run directory; refuses to mix runs. Returns whether a checkpoint exists. */
export function prepareRunDir(dir: string, config: Record<string, unknown>, resume: boolean): { paths: RunPaths; resumable: boolean } {
  const checked = checkRunDir(dir, config, resume);
  if (!checked.exists) {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(checked.paths.config, JSON.stringify(config, null, 2) + '\n');
  }
  return { paths: checked.paths, resumable: checked.resumable };
}

/**
 * The checks of prepareRunDir without touching the disk, so a command can refuse a
 * folder before its expensive work and create it only once nothing else can fail.
 */
export function checkRunDir(dir: string, config: Record<string, unknown>, resume: boolean): { paths: RunPaths; resumable: boolean; exists: boolean } {
  const paths = runPaths(dir);
  const hash = configHash(config);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out '${dir}' is a file, not a folder`, 'choose another --out');
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    if (!fs.existsSync(paths.config)) {
      throw new UsageError(`output folder '${dir}' is not empty and holds no onnx-distill run`, 'choose another --out');
    }
    let old: Record<string, unknown>;
    try {
      old = JSON.parse(fs.readFileSync(paths.config, 'utf8'));
    } catch {
      throw new UsageError(`'${paths.config}' is unreadable`, 'choose another --out');
    }
    if (configHash(old) !== hash) {
      const diff = Object.keys({ ...old, ...config }).filter((k) => !['out', 'resume', 'ep'].includes(k) && JSON.stringify(old[k]) !== JSON.stringify(config[k]));
      throw new UsageError(`output folder '${dir}' already holds a different run (differs in: ${diff.join(', ')})`, 'choose another --out, or repeat the same settings with --resume');
    }
    if (!resume) throw new UsageError(`output folder '${dir}' already holds this run`, 'add --resume to continue it, or choose another --out');
    return { paths, resumable: fs.existsSync(paths.last), exists: true };
  }
  if (resume) throw new UsageError(`nothing to resume in '${dir}'`, 'run without --resume first');
  return { paths, resumable: false, exists: false };
}

export function appendMetrics(paths: RunPaths, record: Record<string, unknown>): void {
  fs.appendFileSync(paths.metrics, JSON.stringify(record) + '\n');
}

/** On resume, drop epoch records the checkpoint does not cover (they will be redone)
 * and any final record (the resumed run writes its own). */
export function truncateMetrics(paths: RunPaths, keepEpochsBelow: number): void {
  if (!fs.existsSync(paths.metrics)) return;
  const lines = fs.readFileSync(paths.metrics, 'utf8').split('\n').filter(Boolean)
    .filter((l) => {
      let r: { type?: string; epoch?: number };
      try {
        r = JSON.parse(l);
      } catch {
        return false; // a line torn by a killed process
      }
      return r.type === 'epoch' ? r.epoch! < keepEpochsBelow : r.type !== 'final';
    });
  writeFileAtomic(paths.metrics, lines.map((l) => l + '\n').join(''));
}

/** Put `record` (a {"type":"report"} record of the run report) into metrics.jsonl in place of
 * any older report record, atomically; other records, and their order, stay (torn lines are dropped). */
export function replaceReportRecord(paths: RunPaths, record: Record<string, unknown>): void {
  const lines = fs.existsSync(paths.metrics) ? fs.readFileSync(paths.metrics, 'utf8').split('\n').filter(Boolean) : [];
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { type?: string }).type !== record.type;
    } catch {
      return false; // a line torn by a killed process
    }
  });
  writeFileAtomic(paths.metrics, [...kept, JSON.stringify(record)].map((l) => l + '\n').join(''));
}
