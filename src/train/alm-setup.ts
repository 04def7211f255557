// What `distill --objective alm` adds to a run: the weight table fed to the train step,
// the meta-update before each chosen epoch, the table in the checkpoints, and the report
// of what the table learned for clean vs corrupted training samples.
import type { Tensor } from '../graph/ir.js';
import type { Dataset } from '../data/dataset.js';
import type { EpChoice } from '../runtime/session.js';
import type { PerSampleTable, TrainHooks } from './trainer.js';
import type { TrainableModel } from './step.js';
import { AlmWeights, metaUpdate } from './alm-run.js';
import { teacherLogitsInput } from './objectives/alm.js';
import { UsageError } from '../errors.js';

export interface AlmRun {
  tables: Record<string, PerSampleTable>;
  hooks: Pick<TrainHooks, 'beforeEpoch' | 'extraState'>;
  /** report keys: weight means (and medians) per loss term for clean and corrupted samples */
  report(): Record<string, number>;
}

export interface AlmSetupInput {
  options: Record<string, number>;
  trainSet: Dataset;
  trainX: Float32Array;
  valSet: Dataset;
  valX: Float32Array;
  /** per teacher: logits on the training set [N, C] */
  teacherLogits: Float32Array[];
  classes: number;
  evalModel: TrainableModel;
  /** 1 where --label-noise replaced the label */
  corrupted?: Uint8Array;
  ep: EpChoice;
  log: (line: string) => void;
  record: (r: Record<string, unknown>) => void;
  progress?: (label: string, done: number, total: number) => void;
}

export function almSetup(a: AlmSetupInput): AlmRun {
  if (!a.valSet.labels) throw new UsageError("objective 'alm' meta-learns on a clean labelled validation split, and the validation data has no labels", 'give --val labelled data, or --val-split');
  const M = a.teacherLogits.length;
  const table = new AlmWeights(a.trainSet.n, M, a.options.convex > 0);
  const tables: Record<string, PerSampleTable> = { alm_weights: { rows: table.weights, width: 1 + M } };
  for (let m = 1; m < M; m++) tables[teacherLogitsInput(m)] = { rows: a.teacherLogits[m], width: a.classes };
  const names = ['ce', ...Array.from({ length: M }, (_, m) => (m === 0 ? 'kd' : `kd${m + 1}`))];
  const groups = (): [string, (i: number) => boolean][] => a.corrupted
    ? [['clean', (i) => !a.corrupted![i]], ['corrupted', (i) => !!a.corrupted![i]]]
    : [['all', () => true]];
  const summary = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [g, rows] of groups()) {
      const st = table.stats(rows);
      st.columns.forEach((c, j) => {
        out[`alm_w_${names[j]}_${g}_mean`] = c.mean;
        out[`alm_w_${names[j]}_${g}_median`] = c.median;
      });
    }
    return out;
  };
  const start = a.options.meta_start, every = Math.max(1, a.options.meta_every);
  return {
    tables,
    hooks: {
      beforeEpoch: async (epoch: number, weights: Map<string, Tensor>, lr: number) => {
        if (epoch < start || (epoch - start) % every !== 0) return;
        const t0 = Date.now();
        const valLoss = await metaUpdate(table, {
          evalModel: a.evalModel, weights, trainX: a.trainX, labels: a.trainSet.labels!, teacherLogits: a.teacherLogits,
          valX: a.valX, valLabels: a.valSet.labels!, nVal: a.valSet.n, classes: a.classes, lr, options: a.options, ep: a.ep,
          progress: (d, n) => a.progress?.('meta-update', d, n),
        });
        const s = summary();
        a.record({ type: 'alm_meta', epoch, lookahead_val_loss: valLoss, seconds: (Date.now() - t0) / 1000, ...s });
        const show = groups().map(([g]) => `${g}: ${names.map((n) => `${n} ${s[`alm_w_${n}_${g}_mean`].toFixed(3)}`).join(', ')}`).join('; ');
        a.log(`meta-update before epoch ${epoch + 1}: lookahead val loss ${valLoss.toFixed(4)}; mean weights ${show}`);
      },
      extraState: { save: () => table.save(), load: (v) => table.load(v) },
    },
    report: summary,
  };
}
