// replaceReportRecord: the report record of metrics.jsonl is replaced, not added; other
// records keep their order; torn lines go; the file stays valid JSONL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runPaths, replaceReportRecord } from '../../src/train/run-dir.js';
import { readMetrics } from '../../src/report/report-data.js';

test('replaceReportRecord replaces the report record and keeps the others', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-record-'));
  try {
    const paths = runPaths(dir);
    replaceReportRecord(paths, { type: 'report', top1: 0.1 });
    assert.deepEqual(readMetrics(paths.metrics), [{ type: 'report', top1: 0.1 }], 'created when missing');
    fs.writeFileSync(paths.metrics, [
      JSON.stringify({ type: 'epoch', epoch: 0 }), JSON.stringify({ type: 'report', top1: 0.5 }), JSON.stringify({ type: 'final', val_top1: 0.6 }), '{"type":"epo',
    ].join('\n') + '\n');
    replaceReportRecord(paths, { type: 'report', top1: 0.7 });
    const lines = fs.readFileSync(paths.metrics, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [{ type: 'epoch', epoch: 0 }, { type: 'final', val_top1: 0.6 }, { type: 'report', top1: 0.7 }]);
    assert.deepEqual(fs.readdirSync(dir), ['metrics.jsonl'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
