// resnet: the CIFAR ResNet of He et al. 2016 ("Deep Residual Learning for Image
// Recognition", section 4.2): a 3x3 conv stem of width w, three stages of n basic
// blocks with widths w, 2w, 4w, stride 2 at the first block of stages 2 and 3,
// global average pooling and a linear head. Depth 6n+2: n=3 is ResNet-20, n=5
// ResNet-32, n=9 ResNet-56.
// Where a block changes shape the shortcut is a 1x1 stride-2 conv + BN projection
// (the paper's option B). Its CIFAR nets used a parameter-free zero-padded identity
// (option A: subsample, pad channels); B is the standard conv+BN shortcut that
// export-time BN folding and other runtimes handle like any layer, and costs 1%
// more parameters at ResNet-20 size (2,752 of 272,474).
import { NetBuilder } from './layers.js';
import type { StudentBuilder } from './types.js';

/** conv3x3-BN-ReLU-conv3x3-BN plus shortcut, ReLU after the add. */
function basicBlock(net: NetBuilder, x: string, name: string, cout: number, stride: number): string {
  const h = net.relu(net.convBn(x, `${name}.c1`, cout, 3, { stride }));
  const y = net.convBn(h, `${name}.c2`, cout, 3);
  const reshaped = stride !== 1 || net.dim(x, 1) !== cout;
  const shortcut = reshaped ? net.convBn(x, `${name}.proj`, cout, 1, { stride, pad: 0 }) : x;
  return net.relu(net.o.add(y, shortcut));
}

export const resnet: StudentBuilder = (opts) => {
  const width = opts.width ?? 16;
  const blocks = opts.depth ?? 3;
  const net = new NetBuilder('resnet', opts.mode, opts.seed, opts.signedFeatures);
  const x = net.b.input('input', 'float32', [opts.batch, ...opts.inputShape]);
  let h = net.relu(net.convBn(x, 'stem', width, 3));
  for (let s = 0; s < 3; s++) {
    for (let j = 0; j < blocks; j++) {
      const stride = s > 0 && j === 0 ? 2 : 1;
      h = basicBlock(net, h, `s${s}.b${j}`, width * 2 ** s, stride);
    }
  }
  const features = net.pool(h);
  const logits = net.linear(features, 'fc', opts.numClasses);
  return net.finish(x, { logits, features });
};
