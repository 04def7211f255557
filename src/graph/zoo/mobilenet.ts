// mobilenet: a MobileNetV1-style student (Howard et al. 2017, "MobileNets", Table 1)
// of depthwise-separable blocks: depthwise 3x3 (group = channels)-BN-ReLU, then
// pointwise 1x1-BN-ReLU. Width and stride follow Table 1 scaled to the stem width w
// (the paper's w is 32): block outputs 2w, 4w/s2, 4w, 8w/s2, 8w, 16w/s2, 16w x5,
// 32w/s2, 32w; blocks past the 13th repeat the last width at stride 1.
// Small inputs: the stem keeps stride 1 up to 32 px (CIFAR/MNIST-sized images would
// otherwise be 2x2 before the last blocks), and a block only strides while the map is
// larger than 4 px, so deep configurations on 28x28 inputs never reach 1x1.
import { NetBuilder } from './layers.js';
import type { StudentBuilder } from './types.js';

/** Table 1 of the paper as (output width in units of w, stride) per block. */
const TABLE: Array<[number, number]> = [
  [2, 1], [4, 2], [4, 1], [8, 2], [8, 1], [16, 2],
  [16, 1], [16, 1], [16, 1], [16, 1], [16, 1], [32, 2], [32, 1],
];

/** The (width multiple, stride) of block i; past the table, the last width at stride 1. */
export function mobilenetBlock(i: number): [number, number] {
  return i < TABLE.length ? TABLE[i] : [TABLE[TABLE.length - 1][0], 1];
}

/** The smallest spatial size a block may still halve (see the header). */
const MIN_STRIDED = 5;

function separable(net: NetBuilder, x: string, name: string, cout: number, stride: number): string {
  const cin = net.dim(x, 1);
  const dw = net.relu(net.convBn(x, `${name}.dw`, cin, 3, { stride, groups: cin }));
  return net.relu(net.convBn(dw, `${name}.pw`, cout, 1, { pad: 0 }));
}

export const mobilenet: StudentBuilder = (opts) => {
  const width = opts.width ?? 16;
  const blocks = opts.depth ?? 6;
  const net = new NetBuilder('mobilenet', opts.mode, opts.seed, opts.signedFeatures);
  const x = net.b.input('input', 'float32', [opts.batch, ...opts.inputShape]);
  let h = x;
  const side = () => Math.min(net.dim(h, 2), net.dim(h, 3));
  h = net.relu(net.convBn(x, 'stem', width, 3, { stride: side() > 32 ? 2 : 1 }));
  for (let i = 0; i < blocks; i++) {
    const [mult, stride] = mobilenetBlock(i);
    h = separable(net, h, `b${i}`, width * mult, stride === 2 && side() >= MIN_STRIDED ? 2 : 1);
  }
  const features = net.pool(h);
  const logits = net.linear(features, 'fc', opts.numClasses);
  return net.finish(x, { logits, features });
};
