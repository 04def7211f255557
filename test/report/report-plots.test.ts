// The run report's plots (SVG line charts and the confusion matrix, rasterised by sharp),
// its number formatting, and the reproduce command built from a config.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { confusionMatrix, confusionPng, confusionSvg, lineChartPng, lineChartSvg, niceTicks } from '../../src/report/report-plots.js';
import { reproduceCommand, shellQuote } from '../../src/report/reproduce.js';
import { formatMetric } from '../../src/report/report-html.js';

const chart = {
  title: 'Training loss', xLabel: 'epoch', yLabel: 'loss',
  series: [
    { name: 'train loss', points: [[1, 2.5], [2, 1.25], [3, 0.75]] as [number, number][] },
    { name: 'val <top-1>', points: [[1, 0.5], [2, NaN], [3, 0.9]] as [number, number][] },
  ],
};

test('lineChartSvg: one group per series, one circle per finite point, escaped names, title and labels', () => {
  const svg = lineChartSvg(chart);
  assert.match(svg, /^<svg [^>]*width="600" height="340"/);
  const groups = [...svg.matchAll(/<g data-series="([^"]*)">([\s\S]*?)<\/g>/g)];
  assert.deepEqual(groups.map((g) => g[1]), ['train loss', 'val &lt;top-1&gt;']);
  const pts = (body: string) => [...body.matchAll(/data-x="([^"]+)" data-y="([^"]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(pts(groups[0][2]), [[1, 2.5], [2, 1.25], [3, 0.75]]);
  assert.deepEqual(pts(groups[1][2]), [[1, 0.5], [3, 0.9]], 'the NaN point is left out');
  assert.equal((groups[0][2].match(/<polyline/g) ?? []).length, 1);
  // higher loss is drawn higher: smaller cy
  const cy = [...groups[0][2].matchAll(/cy="([^"]+)"/g)].map((m) => Number(m[1]));
  assert.ok(cy[0] < cy[1] && cy[1] < cy[2], `cy ${cy}`);
  for (const s of ['Training loss', '>epoch<', '>loss<']) assert.ok(svg.includes(s), s);
  const bare = lineChartSvg(chart, { text: false });
  assert.doesNotMatch(bare, /<text/);
  assert.match(bare, /data-series="train loss"/);
});

test('lineChartSvg: a log axis, a fixed range, and no data at all', () => {
  const log = lineChartSvg({ ...chart, series: [{ name: 'lr', points: [[1, 1e-3], [2, 1e-5], [3, 0]] }], logY: true });
  assert.equal((log.match(/<circle/g) ?? []).length, 2, 'y <= 0 cannot be drawn on a log axis');
  const fixed = lineChartSvg({ ...chart, series: [{ name: 'acc', points: [[1, 0], [2, 1]] }], yMin: 0, yMax: 1 });
  assert.deepEqual([...fixed.matchAll(/cy="([^"]+)"/g)].map((m) => Number(m[1])), [340 - 54, 44], 'y 0 on the x axis, y 1 at the top of the plot');
  const empty = lineChartSvg({ ...chart, series: [] });
  assert.match(empty, />no data</);
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 3, 2), [1, 2, 3]);
});

test('lineChartPng and confusionPng decode with sharp to the drawn size', async () => {
  const png = await lineChartPng({ ...chart, width: 400, height: 300 });
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 400);
  assert.equal(meta.height, 300);
  const m = [[5, 1, 0], [0, 4, 2], [1, 0, 7]];
  const svg = confusionSvg(m);
  const w = Number(svg.match(/width="(\d+)"/)![1]), h = Number(svg.match(/height="(\d+)"/)![1]);
  const cm = await sharp(await confusionPng(m)).metadata();
  assert.equal(cm.width, w);
  assert.equal(cm.height, h);
  // pixels: a filled cell is darker than an empty one
  const { data, info } = await sharp(await confusionPng(m)).raw().toBuffer({ resolveWithObject: true });
  const cell = (r: number, c: number) => {
    const rect = svg.match(new RegExp(`<rect x="(\\d+)" y="(\\d+)" width="(\\d+)"[^>]*data-row="${r}" data-col="${c}"`))!;
    const [x, y, s] = [Number(rect[1]), Number(rect[2]), Number(rect[3])];
    const i = ((y + 3) * info.width + (x + 3)) * info.channels;
    return data[i] + data[i + 1] + data[i + 2];
  };
  assert.ok(cell(0, 0) < cell(0, 2), 'the diagonal is shaded, the empty cell is white');
});

test('confusionMatrix counts [true][predicted]; confusionSvg has one rect per cell with its count', () => {
  // 3 classes; argmax per row: 0, 1, 1, 2 (ties go to the lowest class)
  const logits = new Float32Array([3, 1, 0, 0, 2, 1, 1, 1, 0, 0, 0, 5]);
  const m = confusionMatrix(logits, [0, 1, 2, 2], 3);
  assert.deepEqual(m, [[1, 0, 0], [0, 1, 0], [1, 0, 1]]);
  const svg = confusionSvg(m, { classNames: ['cat', 'dog', 'a&b'] });
  const cells = [...svg.matchAll(/data-row="(\d+)" data-col="(\d+)" data-count="(\d+)"/g)].map((x) => x.slice(1).map(Number));
  assert.equal(cells.length, 9);
  assert.deepEqual(cells.find(([r, c]) => r === 2 && c === 0), [2, 0, 1]);
  assert.ok(svg.includes('a&amp;b') && svg.includes('Predicted class') && svg.includes('True class'));
});

test('formatMetric: the shown precision of each kind', () => {
  assert.equal(formatMetric(0.91234, 'pct'), '91.23%');
  assert.equal(formatMetric(1234567, 'int'), '1,234,567');
  assert.equal(formatMetric(76176, 'bytes'), '76,176 B');
  assert.equal(formatMetric(0.089354, 'ms'), '0.0894 ms');
  assert.equal(formatMetric(49.793, 'ratio'), '49.8×');
  assert.equal(formatMetric(4.4191, 'ratio'), '4.42×');
  assert.equal(formatMetric(1.72428, 'num'), '1.7243');
});

test('reproduceCommand: every setting of config.json as a distill flag', () => {
  const config = {
    teacher: '/a/teacher.onnx', data: '/d/train.gz:0-2000', val: null, valSplit: 0.1, student: 'convnet', width: 8,
    objective: 'kd', objectiveOptions: { alpha: 0.5, temperature: 4 }, epochs: 2, batch: 128, lr: 0.003, optimizer: 'adamw',
    weightDecay: 0.0005, warmupEpochs: 0.5, loopSteps: 1, seed: 1, augment: 'auto', preprocessing: { mean: [0.5, 0.5, 0.5], bgr: false },
    ep: 'cpu', out: "runs/it's", teacherSha256: 'abc', optimizerHyper: { beta1: 0.9 }, classes: 10,
  };
  const cmd = reproduceCommand(config);
  assert.equal(cmd, "npx onnx-distill distill --teacher /a/teacher.onnx --data /d/train.gz:0-2000 --val-split 0.1 --student convnet --width 8 --objective kd"
    + " --alpha 0.5 --temperature 4 --epochs 2 --batch 128 --lr 0.003 --optimizer adamw --weight-decay 0.0005 --warmup 0.5 --loop-steps 1 --seed 1"
    + " --augment auto --mean 0.5,0.5,0.5 --ep cpu --out 'runs/it'\\''s-again'");
  // no teacher (ce), --val, several teachers, label-free and alm options, online
  const other = reproduceCommand({ ...config, teacher: null, val: '/d/val.gz', objective: 'ce', objectiveOptions: {} });
  assert.doesNotMatch(other, /--teacher|--val-split/);
  assert.match(other, /--val \/d\/val\.gz/);
  const alm = reproduceCommand({ ...config, objective: 'alm', extraTeachers: ['/b.onnx'], labelNoise: 0.4, objectiveOptions: { meta_every: 1, meta_lr: 0.1, convex: 1 } });
  assert.match(alm, /--teacher \/a\/teacher\.onnx --teacher \/b\.onnx .*--meta-every 1 --meta-lr 0\.1 --alm-convex --label-noise 0\.4/);
  const tintem = reproduceCommand({ ...config, objective: 'tintem', features: '/features/x', headEpochs: 3, objectiveOptions: { sim_weight: 1, tokens: 0 } });
  assert.match(tintem, /--sim-weight 1 --no-tintem-tokens --features \/features\/x --head-epochs 3/);
  const online = reproduceCommand({ ...config, teacher: 'resnet', online: true, teacherWidth: 32 });
  assert.match(online, /--teacher resnet .*--online --teacher-width 32/);
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote('x.onnx'), 'x.onnx');
});
