// mlp: flatten, hidden Linear-ReLU layers, linear classifier.
import { NetBuilder } from './layers.js';
import type { StudentBuilder } from './types.js';

export const mlp: StudentBuilder = (opts) => {
  const width = opts.width ?? 256;
  const depth = opts.depth ?? 2;
  const net = new NetBuilder('mlp', opts.mode, opts.seed, opts.signedFeatures);
  const x = net.b.input('input', 'float32', [opts.batch, ...opts.inputShape]);
  let h = net.o.flatten(x, 1);
  for (let i = 0; i < depth; i++) h = net.relu(net.linear(h, `fc${i}`, width));
  const features = net.features(h);
  const logits = net.linear(features, 'head', opts.numClasses);
  return net.finish(x, { logits, features });
};
