// Offline KD (`distill --labels DIR`): teacher logits come from a label store made by
// `onnx-distill label` instead of running the teacher. The store must come from the
// same teacher file (sha256), the same teacher preprocessing and the same data (the
// training SPEC may be a slice of the labelled one: samples are matched by index), and
// augmentation must be off: a stored label belongs to the unaugmented image.
import type { Dataset } from '../data/dataset.js';
import { loadModel } from '../graph/serde.js';
import { realInputs } from '../graph/surgery.js';
import { openSource } from '../data/sources.js';
import { preprocessingFor, type Preprocessing, type PreprocessFlags } from '../data/preprocess.js';
import { dataIdentity, sha256File } from '../data/label-run.js';
import { gatherStoreLogits, missingError, openLabelStore } from '../data/label-store-read.js';
import { sha256Bytes } from '../data/label-store.js';
import { UsageError } from '../errors.js';

export interface OfflineTeacher {
  classes: number;
  teacherPrep: Preprocessing;
  teacherSha256: string;
  /** identifies the store's content (its shards' sha256), so --resume refuses a changed store */
  storeFingerprint: string;
  trainTeacher: Float32Array;
  /** when the validation samples are in the store too */
  valTeacher?: Float32Array;
}

export interface OfflineRequest {
  labels: string;
  teacher: string;
  data: string;
  val: string | null;
  preprocessing: PreprocessFlags;
  augment: boolean;
}

export async function offlineTeacher(r: OfflineRequest, train: Dataset, val: Dataset, log: (line: string) => void): Promise<OfflineTeacher> {
  if (r.augment) {
    throw new UsageError('--labels: stored labels are the teacher on unaugmented images, and random augmentation is on (--augment auto turns it on for colour images)',
      'add --augment off to train from the store, or leave out --labels to run the teacher on every augmented batch');
  }
  const store = openLabelStore(r.labels);
  const m = store.manifest;
  const sha = sha256File(r.teacher);
  if (sha !== m.teacher.sha256) {
    throw new UsageError(`label store '${r.labels}' was made by another teacher (${m.teacher_file}, sha256 ${m.teacher.sha256.slice(0, 12)}…), not by ${r.teacher} (sha256 ${sha.slice(0, 12)}…)`,
      'pass the teacher that made the store as --teacher, or label the data with this teacher first (`onnx-distill label`)');
  }
  const input = realInputs(loadModel(r.teacher).graph)[0];
  const prep = preprocessingFor(input, r.preprocessing);
  const diff = ([...new Set([...Object.keys(prep), ...Object.keys(m.preprocessing)])] as (keyof Preprocessing)[]).filter((k) => JSON.stringify(prep[k]) !== JSON.stringify(m.preprocessing[k]));
  if (diff.length) {
    throw new UsageError(`label store '${r.labels}' was made with other teacher preprocessing (${diff.map((k) => `${k}: ${JSON.stringify(m.preprocessing[k])} there, ${JSON.stringify(prep[k])} here`).join('; ')})`,
      'give the same --scale/--mean/--std/--bgr/--jpeg-decoder as the `label` run, or re-label');
  }
  const sameData = async (spec: string) => (await dataIdentity(spec, await openSource(spec))).fingerprint === m.data.fingerprint;
  if (!(await sameData(r.data))) {
    throw new UsageError(`--data '${r.data}' is not the data label store '${r.labels}' was made from ('${m.data_spec}')`,
      'use the same data SPEC as `onnx-distill label --data` (or a slice of it)');
  }
  const valInStore = r.val === null || (await sameData(r.val));
  const indices = valInStore ? Int32Array.from([...train.index, ...val.index]) : train.index;
  const { logits, filled } = gatherStoreLogits(store, indices);
  const c = store.classes;
  const missingTrain: number[] = [];
  for (let i = 0; i < train.n; i++) if (!filled[i]) missingTrain.push(train.index[i]);
  if (missingTrain.length) throw missingError(store, missingTrain, train.n);
  let valTeacher: Float32Array | undefined = logits.slice(train.n * c);
  if (!valInStore || filled.subarray(train.n).some((f) => !f)) {
    valTeacher = undefined;
    log(`--labels: the validation samples are not all in the store; no teacher agreement is reported`);
  }
  log(`teacher logits from label store ${r.labels} (${store.samples} samples, ${store.shards.length} shards${store.topK ? `, top-${store.topK}: other classes filled 1e4 below the K-th logit` : ''}); the teacher is not run`);
  return {
    classes: c, teacherPrep: prep, teacherSha256: sha, trainTeacher: logits.slice(0, train.n * c), valTeacher,
    storeFingerprint: sha256Bytes(Buffer.from(store.shards.map((s) => s.sha256).join('\n'))),
  };
}
