// `eval --features` end to end: the Fashion-MNIST teacher as model and as teacher, both
// taking the flattened conv features (tensor '19', 3,200-d), on small slices; MNIST
// digits are the out-of-distribution set. Same features on both sides: CKA 1 and
// identical model and teacher metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './cli-helpers.js';
import { assetsOrSkip } from '../helpers/assets.js';

test('eval --features: kNN, linear probe, OOD and CKA through the CLI', (t) => {
  const teacher = assetsOrSkip(t, 'teachers/fashion-mnist-simplecnn.onnx');
  const train = assetsOrSkip(t, 'data/fashion-mnist/train-images-idx3-ubyte.gz');
  const t10k = assetsOrSkip(t, 'data/fashion-mnist/t10k-images-idx3-ubyte.gz');
  const mnist = assetsOrSkip(t, 'data/mnist/t10k-images-idx3-ubyte.gz');
  if (!teacher || !train || !t10k || !mnist) return;
  const r = cli(['eval', '--model', teacher, '--model-features', '19', '--teacher', teacher, '--teacher-features', '19', '--features',
    '--train', `${train}:0-2000`, '--data', `${t10k}:0-500`, '--ood', `${mnist}:0-500`, '--ep', 'cpu', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  // the existing keys are still there
  for (const k of ['top1', 'agreement', 'teacher_top1', 'latency_ms_per_sample_b64', 'speedup_b64']) assert.ok(k in out, k);
  assert.equal(out.samples, 500);
  assert.ok(Math.abs(out.cka - 1) < 1e-6, `cka ${out.cka}`);
  for (const k of ['knn_top1', 'linear_probe_top1', 'ood_auroc', 'ood_fpr95']) {
    assert.equal(typeof out[k], 'number', k);
    assert.equal(out[k], out[`teacher_${k}`], k);
  }
  assert.ok(out.knn_top1 > 0.7 && out.knn_top1 <= 1, `knn_top1 ${out.knn_top1}`);
  assert.ok(out.linear_probe_top1 > 0.7 && out.linear_probe_top1 <= 1, `linear_probe_top1 ${out.linear_probe_top1}`);
  assert.ok(out.ood_auroc > 0.5 && out.ood_auroc <= 1, `ood_auroc ${out.ood_auroc}`);
  assert.ok(out.ood_fpr95 >= 0 && out.ood_fpr95 < 0.5, `ood_fpr95 ${out.ood_fpr95}`);
  assert.match(r.stderr, /features: 20-NN, model 3200-d/);

  // the teacher's own classifier input ('auto', fc1's 256 outputs) differs from '19': CKA < 1;
  // without --ood the OOD keys are null, and said so
  const auto = cli(['eval', '--model', teacher, '--model-features', '19', '--teacher', teacher, '--features',
    '--train', `${train}:0-500`, '--data', `${t10k}:0-200`, '--ep', 'cpu', '--json']);
  assert.equal(auto.status, 0, auto.stderr);
  const a = JSON.parse(auto.stdout);
  assert.ok(a.cka > 0.3 && a.cka < 0.999, `cka ${a.cka}`);
  assert.equal(a.ood_auroc, null);
  assert.equal(a.teacher_ood_fpr95, null);
  assert.match(auto.stderr, /teacher 256-d/);
  assert.match(auto.stderr, /no --ood data/);

  // usage errors: a feature flag without --features, a tensor the model lacks
  const bare = cli(['eval', '--model', teacher, '--data', `${t10k}:0-10`, '--ood', `${mnist}:0-10`, '--ep', 'cpu']);
  assert.equal(bare.status, 2);
  assert.match(bare.stderr, /--ood is a feature-metrics flag \(add --features\)/);
  const missing = cli(['eval', '--model', teacher, '--data', `${t10k}:0-10`, '--features', '--ep', 'cpu']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /has no tensor named 'features'/);
  const help = cli(['eval', '--help']).stdout;
  for (const f of ['--features', '--model-features', '--teacher-features', '--train', '--ood']) assert.match(help, new RegExp(`${f}\\b`));
});
