// convnet: stages of two 3x3 Conv-BN-ReLU blocks, each stage but the last followed
// by 2x2 max pooling and a doubling of width; global average pool; linear classifier.
import { NetBuilder } from './layers.js';
import type { StudentBuilder } from './types.js';

export const convnet: StudentBuilder = (opts) => {
  const width = opts.width ?? 16;
  const stages = opts.depth ?? 3;
  const net = new NetBuilder('convnet', opts.mode, opts.seed, opts.signedFeatures);
  const x = net.b.input('input', 'float32', [opts.batch, ...opts.inputShape]);
  let h = x;
  for (let s = 0; s < stages; s++) {
    const c = width * 2 ** s;
    for (let j = 0; j < 2; j++) h = net.relu(net.bn(net.conv(h, `s${s}.conv${j}`, c, 3), `s${s}.bn${j}`));
    if (s < stages - 1) h = net.maxPool(h, 2);
  }
  const features = net.pool(h);
  const logits = net.linear(features, 'fc', opts.numClasses);
  return net.finish(x, { logits, features });
};
