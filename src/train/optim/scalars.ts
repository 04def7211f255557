// Per-step scalars shared by every parameter's update (bias corrections, decay
// factors) are built once per graph, not once per parameter, and dtypes are matched:
// lr and step are float32 scalars, and ONNX elementwise ops do not mix dtypes.
import type { Builder } from '../../graph/builder.js';
import type { Ops } from '../../graph/ops.js';

/** `x` in the dtype of `like` (x itself when they already agree). */
export function castLike(o: Ops, x: string, like: string): string {
  const want = o.b.dtype(like);
  return o.b.dtype(x) === want ? x : o.cast(x, want);
}

/** A per-graph cache: `make` runs once per (builder, key) for the lifetime of `cache`. */
export class ScalarCache {
  private readonly byGraph = new WeakMap<Builder, Map<string, unknown>>();

  get<T>(o: Ops, key: string, make: () => T): T {
    let m = this.byGraph.get(o.b);
    if (!m) this.byGraph.set(o.b, (m = new Map()));
    if (!m.has(key)) m.set(key, make());
    return m.get(key) as T;
  }
}
