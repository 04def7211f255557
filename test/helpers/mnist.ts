// MNIST t10k from the shared assets as float tensors in [0, 1] (NCHW), for engine tests.
import path from 'node:path';
import fs from 'node:fs';
import { readIdx } from '../../src/data/idx.js';

export function assetsDir(): string | undefined {
  const dir = process.env.ONNX_DISTILL_ASSETS ?? path.resolve(import.meta.dirname, '../../../shared/assets');
  return fs.existsSync(dir) ? dir : undefined;
}

export function loadMnistT10k(dir: string): { images: Float32Array; labels: Uint8Array; n: number } {
  const img = readIdx(path.join(dir, 'data/mnist/t10k-images-idx3-ubyte.gz'));
  const lab = readIdx(path.join(dir, 'data/mnist/t10k-labels-idx1-ubyte.gz'));
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  return { images, labels: lab.data, n: img.dims[0] };
}
