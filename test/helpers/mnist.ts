// MNIST t10k from the shared assets as float tensors in [0, 1] (NCHW), for engine tests.
import path from 'node:path';
import { readIdx } from '../../src/data/idx.js';
import { ASSETS } from './assets.js';

export function assetsDir(): string | undefined {
  return ASSETS;
}

export function loadMnistT10k(dir: string): { images: Float32Array; labels: Uint8Array; n: number } {
  const img = readIdx(path.join(dir, 'data/mnist/t10k-images-idx3-ubyte.gz'));
  const lab = readIdx(path.join(dir, 'data/mnist/t10k-labels-idx1-ubyte.gz'));
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  return { images, labels: lab.data, n: img.dims[0] };
}
