// How close a learned projection W is to orthogonal (tintem's teacher-side mapping,
// proteus's student-side head): its singular values and ||G / c - I||_F for the Gram
// matrix G of the smaller side (W W^T or W^T W) at the best scale c = ||G||_F^2 / tr(G).
// A map that preserves cosines exactly has all singular values equal (ratio 1, distance 0).
import type { Tensor } from '../graph/ir.js';
import { TINTEM_HEAD } from './objectives/tintem.js';
import { PROTEUS_HEAD } from './objectives/proteus.js';
import { symmetricEigenvalues } from '../util/linalg.js';

const MAPPING: Record<string, string> = { tintem: `${TINTEM_HEAD}.weight`, proteus: `${PROTEUS_HEAD}.weight` };

export interface OrthogonalityStats {
  /** singular values, largest first */
  singular: number[];
  /** largest / smallest singular value */
  ratio: number;
  /** ||G / c - I||_F at the best scale c */
  distance: number;
}

/** Singular values and distance from orthogonal of W [rows, cols]. */
export function orthogonality(w: Float32Array, rows: number, cols: number): OrthogonalityStats {
  const d = Math.min(rows, cols);
  const g = new Float64Array(d * d);
  // G = W W^T when rows <= cols, else W^T W
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      if (rows <= cols) for (let k = 0; k < cols; k++) s += w[i * cols + k] * w[j * cols + k];
      else for (let k = 0; k < rows; k++) s += w[k * cols + i] * w[k * cols + j];
      g[i * d + j] = g[j * d + i] = s;
    }
  }
  const eig = [...symmetricEigenvalues(g, d)].sort((a, b) => b - a);
  const singular = eig.map((e) => Math.sqrt(Math.max(0, e)));
  let tr = 0, g2 = 0;
  for (let i = 0; i < d; i++) tr += g[i * d + i];
  for (const v of g) g2 += v * v;
  // ||u G - I||^2 = u^2 ||G||^2 - 2 u tr(G) + d, smallest at u = tr(G) / ||G||^2
  const distance = Math.sqrt(Math.max(0, d - (tr * tr) / g2));
  return { singular, ratio: singular[0] / singular[d - 1], distance };
}

/** Report keys for a feature objective's learned mapping (empty for other objectives). */
export function mappingReport(objective: string, values: Map<string, Tensor>): Record<string, number> {
  const w = values.get(MAPPING[objective] ?? '');
  if (!w) return {};
  const s = orthogonality(w.data as Float32Array, w.dims[0], w.dims[1]);
  return { mapping_sv_max: s.singular[0], mapping_sv_min: s.singular[s.singular.length - 1], mapping_sv_ratio: s.ratio, mapping_ortho_distance: s.distance };
}
