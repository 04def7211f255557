// Benchmark: throughput and peak memory of the `label` job (labelDataset) for the
// mobilenet_v2 int8 teacher on imagenet-samples-256 (1,000 JPEGs, uint8 NHWC input,
// centre crop 224, no resize), on the CPU.
//  - baseline: the 1,000 images decoded once, up front, into model-input batches
//    (through the project's own image-folder source and preprocessing), then bare
//    TeacherRunner.run over them at label's default batch size (64);
//  - label: labelDataset with its default options over the same images, writing a
//    store into a temporary folder.
// The two alternate (baseline, label, baseline, label, ...) and the ratio
// label / baseline is reported per pair and as the median. Goal: ratio >= 0.9.
// Then peak resident memory of `node bin/onnx-distill.js label` in a child process on
// the folder and on folders of --repeat copies of it (symbolic links with distinct
// names, labels.txt rewritten): memory must not grow with the number of images.
// Results: docs/benchmarks.md.
//   npm run bench:label [-- --json] [--pairs 3] [--repeat 5,10] [--quick]
// --repeat K,...: copies of the folder to measure peak RSS on (default 5 and 10 copies,
// 5,000 and 10,000 images; '' for none).
// --quick: 200 images, 1 pair, no repeated-folder run (a smoke check).
// Assets: $ONNX_DISTILL_ASSETS, else ../shared/assets.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labelDataset, type LabelResult } from '../src/data/label-run.js';
import { imageFolderSource } from '../src/data/image-folder.js';
import { preprocessingFor } from '../src/data/preprocess.js';
import { loadModel } from '../src/graph/serde.js';
import { realInputs } from '../src/graph/surgery.js';
import { TeacherRunner } from '../src/runtime/teacher.js';
import { LabelStoreWriter } from '../src/data/label-store.js';
import type { Tensor } from '../src/graph/ir.js';

const GOAL = 0.9;
const BATCH = 64; // labelDataset's default batch (o.batch ?? 64)
const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const json = args.includes('--json');
const quick = args.includes('--quick');
const pairs = flag('pairs', quick ? 1 : 3);
const repeatArg = args.includes('--repeat') ? (args[args.indexOf('--repeat') + 1] ?? '') : quick ? '' : '5,10';
const repeats = repeatArg.split(',').filter(Boolean).map(Number).filter((k) => k > 1);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const assets = process.env.ONNX_DISTILL_ASSETS ?? path.resolve(root, '..', 'shared', 'assets');
const teacher = path.join(assets, 'teachers', 'mobilenet_v2_1.0_224_int8_per_tensor.onnx');
const folder = path.join(assets, 'data', 'imagenet-samples-256');
const CROP = 224;
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = () => os.loadavg().map((v) => Number(v.toFixed(2)));

interface ChildRun { images: number; max_rss_mb: number; seconds: number; samples_per_s: number; how: string }

/** `onnx-distill label` in a child process; peak RSS from /usr/bin/time -v when there is
 * one, else from process.resourceUsage().maxRSS read at exit by a preloaded module. */
async function childLabel(data: string, images: number, tmp: string): Promise<ChildRun> {
  const out = fs.mkdtempSync(path.join(tmp, 'store-'));
  const cli = [path.join(root, 'bin', 'onnx-distill.js'), 'label', '--teacher', teacher, '--data', data, '--out', out, '--crop', String(CROP), '--json', '--quiet'];
  const haveTime = fs.existsSync('/usr/bin/time');
  let cmd: string, argv: string[];
  if (haveTime) {
    cmd = '/usr/bin/time';
    argv = ['-v', process.execPath, ...cli];
  } else {
    const hook = path.join(tmp, 'maxrss.mjs');
    fs.writeFileSync(hook, "process.on('exit', () => process.stderr.write(`\\nMaximum resident set size (kbytes): ${process.resourceUsage().maxRSS}\\n`));\n");
    cmd = process.execPath;
    argv = ['--import', hook, ...cli];
  }
  const t0 = now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let so = '', se = '';
    p.stdout.on('data', (d) => (so += d));
    p.stderr.on('data', (d) => (se += d));
    p.on('error', reject);
    p.on('close', (c) => resolve({ code: c, stdout: so, stderr: se }));
  });
  const seconds = now() - t0;
  fs.rmSync(out, { recursive: true, force: true });
  if (code !== 0) throw new Error(`label child exited with ${code}:\n${stderr.slice(-2000)}`);
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!kb) throw new Error(`no peak RSS in the child's stderr:\n${stderr.slice(-2000)}`);
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as LabelResult;
  if (r.samples_stored !== images) throw new Error(`label child stored ${r.samples_stored} samples, expected ${images}`);
  return { images, max_rss_mb: Number(kb[1]) / 1024, seconds, samples_per_s: r.samples_per_s, how: haveTime ? '/usr/bin/time -v' : 'process.resourceUsage().maxRSS' };
}

/** A flat folder of `copies` x the images as symbolic links named cK_NAME, with a
 * labels.txt listing every link (the convention of the original folder). */
function repeatedFolder(tmp: string, copies: number): { dir: string; n: number } {
  const dir = path.join(tmp, `x${copies}`);
  fs.mkdirSync(dir);
  const lines = fs.readFileSync(path.join(folder, 'labels.txt'), 'utf8').split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#'));
  const out: string[] = [];
  for (let k = 0; k < copies; k++) {
    for (const line of lines) {
      const [, cls, name] = /^\s*(\d+)\s+(.+?)\s*$/.exec(line)!;
      const link = `c${k}_${name}`;
      fs.symlinkSync(path.join(folder, name), path.join(dir, link));
      out.push(`${cls} ${link}`);
    }
  }
  fs.writeFileSync(path.join(dir, 'labels.txt'), out.join('\n') + '\n');
  return { dir, n: out.length };
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-label-'));
  try {
    const load_before = load();
    const n = quick ? 200 : 1000;
    const spec = quick ? `${folder}:0-${n}` : folder;
    const input = realInputs(loadModel(teacher).graph)[0];
    const prep = preprocessingFor(input, { crop: CROP });
    const src = imageFolderSource(folder, quick ? { range: [0, n], spec } : {});
    if (src.n !== n) throw new Error(`${folder}: expected ${n} images, found ${src.n}`);

    // decode once, as label does (same source, same batch ranges: one shard of < 4096)
    log(`decoding ${n} images (${prep.layout} ${prep.dtype} ${prep.size.join('x')}, crop ${CROP}) ...`);
    const t0 = now();
    const batches: Tensor[] = [];
    for (let s = 0; s < n; s += BATCH) {
      const r = await src.read(s, Math.min(n, s + BATCH), prep);
      if (r.failed.length) throw new Error(`unreadable: ${r.failed[0].id}: ${r.failed[0].reason}`);
      batches.push(r.input);
    }
    const decodeOnly = n / (now() - t0);
    log(`  decode alone: ${decodeOnly.toFixed(1)} images/s`);

    // where label's time goes: time inside TeacherRunner.run and writeShard, accumulated
    // by wrapping the prototypes (labelDataset uses these same classes)
    const spent = { run: 0, write: 0 };
    const wrap = <T extends object>(proto: T, name: keyof T & string, key: keyof typeof spent) => {
      const f = (proto as Record<string, (...a: unknown[]) => unknown>)[name];
      (proto as Record<string, unknown>)[name] = async function (this: unknown, ...a: unknown[]) {
        const t = now();
        try { return await f.apply(this, a); } finally { spent[key] += now() - t; }
      };
    };
    wrap(TeacherRunner.prototype, 'run', 'run');
    wrap(LabelStoreWriter.prototype, 'writeShard', 'write');
    const runner = await TeacherRunner.open(teacher, { ep: 'cpu' });
    for (let i = 0; i < 2; i++) await runner.run(batches[0]); // warm-up
    const baseline = async () => {
      const t = now();
      for (const b of batches) await runner.run(b);
      return n / (now() - t);
    };
    const label = async (i: number) => {
      const out = path.join(tmp, `label-${i}`);
      spent.run = spent.write = 0;
      const t = now();
      const r = await labelDataset({ teacher, data: spec, out, ep: 'cpu', preprocessing: { crop: CROP } });
      const secs = now() - t, wall = n / secs;
      if (r.samples_stored !== n || !r.complete) throw new Error(`label stored ${r.samples_stored} of ${n}`);
      fs.rmSync(out, { recursive: true, force: true });
      // inference in label covers n images plus the probe batch (the first batch, run once more)
      return { wall, loop: r.samples_per_s, split: { total_s: secs, setup_s: secs - n / r.samples_per_s, inference_s: spent.run, write_s: spent.write, inference_images: n + Math.min(BATCH, n) } };
    };
    const rows: { baseline: number; label_wall: number; label_loop: number; ratio_wall: number; ratio_loop: number; split: Record<string, number> }[] = [];
    for (let i = 0; i < pairs; i++) {
      spent.run = 0;
      const b = await baseline();
      log(`pair ${i + 1}/${pairs}: baseline ${b.toFixed(1)} images/s`);
      const l = await label(i);
      log(`pair ${i + 1}/${pairs}: label ${l.wall.toFixed(1)} images/s (job wall time), ${l.loop.toFixed(1)} (label loop) -> ${(l.wall / b).toFixed(3)}, ${(l.loop / b).toFixed(3)}`);
      log(`  label: ${l.split.total_s.toFixed(1)} s = setup and probe ${l.split.setup_s.toFixed(1)} + loop; inside it TeacherRunner.run ${l.split.inference_s.toFixed(1)} s (${(l.split.inference_images / l.split.inference_s).toFixed(1)} images/s), writeShard ${l.split.write_s.toFixed(2)} s`);
      rows.push({ baseline: b, label_wall: l.wall, label_loop: l.loop, ratio_wall: l.wall / b, ratio_loop: l.loop / b, split: l.split });
    }
    await runner.release();
    batches.length = 0;

    const memory: ChildRun[] = [];
    log(`peak RSS: label in a child process on ${n} images ...`);
    memory.push(await childLabel(spec, n, tmp));
    log(`  ${memory[0].max_rss_mb.toFixed(0)} MB, ${memory[0].samples_per_s.toFixed(1)} images/s`);
    for (const copies of repeats) {
      const big = repeatedFolder(tmp, copies);
      log(`peak RSS: label in a child process on ${big.n} images (${copies} copies as symbolic links) ...`);
      const m = await childLabel(big.dir, big.n, tmp);
      memory.push(m);
      log(`  ${m.max_rss_mb.toFixed(0)} MB, ${m.samples_per_s.toFixed(1)} images/s`);
    }

    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const ratio = median(rows.map((r) => r.ratio_wall)), ratioLoop = median(rows.map((r) => r.ratio_loop));
    const res = {
      cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, node: process.version, onnxruntime: pkg.dependencies['onnxruntime-node'],
      teacher: path.basename(teacher), data: path.basename(folder), images: n, batch: BATCH, pairs,
      load_before, load_after: load(),
      decode_only_images_per_s: decodeOnly,
      pairs_detail: rows,
      baseline_images_per_s: median(rows.map((r) => r.baseline)),
      label_images_per_s: median(rows.map((r) => r.label_wall)),
      label_loop_images_per_s: median(rows.map((r) => r.label_loop)),
      ratio, ratio_loop: ratioLoop, goal_ratio: GOAL, meets_ratio_goal: ratio >= GOAL,
      memory,
      /** peak RSS of the largest run over that of the plain folder */
      ...(memory.length > 1 ? { rss_ratio: memory[memory.length - 1].max_rss_mb / memory[0].max_rss_mb } : {}),
    };
    if (json) {
      process.stdout.write(JSON.stringify(res) + '\n');
      return;
    }
    const f = (v: number, d = 1) => v.toFixed(d);
    const out: [string, string][] = [
      ['cpu / cores / node / onnxruntime-node', `${res.cpu} / ${res.cores} / ${res.node} / ${res.onnxruntime}`],
      ['load average before / after', `${res.load_before.join(' ')} / ${res.load_after.join(' ')}`],
      ['images / batch / interleaved pairs', `${n} / ${BATCH} / ${pairs}`],
      ['decode alone (images/s)', f(decodeOnly)],
      ...rows.map((r, i): [string, string] => [`pair ${i + 1}: baseline, label, ratio`, `${f(r.baseline)}, ${f(r.label_wall)}, ${f(r.ratio_wall, 3)} (loop ${f(r.label_loop)}, ${f(r.ratio_loop, 3)})`]),
      ...rows.map((r, i): [string, string] => [`pair ${i + 1}: label seconds`, `${f(r.split.total_s)} = setup+probe ${f(r.split.setup_s)} + loop (run ${f(r.split.inference_s)} at ${f(r.split.inference_images / r.split.inference_s)} images/s, write ${f(r.split.write_s, 2)})`]),
      ['baseline: TeacherRunner.run (images/s)', f(res.baseline_images_per_s)],
      ['label job, wall time (images/s)', f(res.label_images_per_s)],
      ['label loop, as label reports (images/s)', f(res.label_loop_images_per_s)],
      ['label / baseline, median', `${f(ratio, 3)} (goal >= ${GOAL}: ${res.meets_ratio_goal ? 'met' : 'not met'}); loop ${f(ratioLoop, 3)}`],
      ...memory.map((m): [string, string] => [`peak RSS, ${m.images} images (MB)`, `${f(m.max_rss_mb, 0)} (${f(m.samples_per_s)} images/s, ${f(m.seconds)} s)`]),
      ...(res.rss_ratio !== undefined ? [[`peak RSS ratio, ${memory[memory.length - 1].images} / ${n} images`, f(res.rss_ratio, 3)] as [string, string]] : []),
    ];
    for (const [k, v] of out) console.log(`${k.padEnd(42)} ${v}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
