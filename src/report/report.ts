// The run report: gather the numbers and plots of a run folder (report-data.ts), render
// report.html (report-html.ts) and write it atomically into the folder.
import path from 'node:path';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { gatherReport, type ReportOptions } from './report-data.js';
import { renderReportHtml } from './report-html.js';

export { REPORT_MAX_SAMPLES } from './report-data.js';
export { reproduceCommand } from './reproduce.js';

/** Build `runDir/report.html`; the numbers also go into metrics.jsonl as the {"type":"report"} record. */
export async function writeReport(runDir: string, opts: ReportOptions = {}): Promise<{ file: string; record: Record<string, unknown> }> {
  const data = await gatherReport(runDir, opts);
  const file = path.join(runDir, 'report.html');
  writeFileAtomic(file, renderReportHtml(data));
  return { file, record: data.record };
}
