// Classification metrics over row-major logits [n, classes].

export function argmaxRows(logits: Float32Array, classes: number): Int32Array {
  const n = logits.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    const off = i * classes;
    for (let c = 1; c < classes; c++) if (logits[off + c] > logits[off + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Fraction of rows whose true label is among the k largest logits. Ties rank by class
 * index, lowest first, as argmaxRows (and numpy's argmax) break them: quantized models
 * (uint8 probabilities) tie often, and counting every tie as a hit would overstate
 * their accuracy. */
export function topK(logits: Float32Array, labels: ArrayLike<number>, classes: number, k: number): number {
  const n = labels.length;
  let hit = 0;
  for (let i = 0; i < n; i++) {
    const off = i * classes;
    const y = logits[off + labels[i]];
    let above = 0;
    for (let c = 0; c < classes; c++) if (logits[off + c] > y || (logits[off + c] === y && c < labels[i])) above++;
    if (above < k) hit++;
  }
  return n ? hit / n : 0;
}

/** Fraction of rows where two models predict the same class. */
export function agreement(a: Float32Array, b: Float32Array, classes: number): number {
  const pa = argmaxRows(a, classes), pb = argmaxRows(b, classes);
  let same = 0;
  for (let i = 0; i < pa.length; i++) if (pa[i] === pb[i]) same++;
  return pa.length ? same / pa.length : 0;
}
