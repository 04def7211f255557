// Hyper-parameter resolution shared by the optimizers: defaults applied, unknown keys
// and wrong types rejected with a UsageError that names the key and the fix.
import { UsageError } from '../../errors.js';

export type HyperValue = number | boolean;
export type Hyper = Record<string, HyperValue>;

/** `given` over `defaults`; each key must exist in `defaults` and keep its JS type. */
export function resolveHyper<T extends Hyper>(optimizer: string, defaults: T, given: Hyper): T {
  const known = Object.keys(defaults);
  const out: Hyper = { ...defaults };
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (!(key in defaults)) {
      throw new UsageError(`unknown hyper-parameter '${key}' for optimizer '${optimizer}'`,
        `known hyper-parameters: ${known.join(', ')}`);
    }
    const want = typeof defaults[key];
    if (typeof value !== want || (want === 'number' && !Number.isFinite(value))) {
      throw new UsageError(`hyper-parameter '${key}' of optimizer '${optimizer}' must be a finite ${want}, got ${String(value)}`,
        `pass e.g. ${key}=${String(defaults[key])}`);
    }
    out[key] = value;
  }
  return out as T;
}

/** Throw a UsageError unless lo <= value (< or <=) hi. */
export function checkRange(optimizer: string, key: string, value: number, lo: number, hi: number, hiOpen = false): void {
  const ok = value >= lo && (hiOpen ? value < hi : value <= hi);
  if (!ok) {
    throw new UsageError(`hyper-parameter '${key}' of optimizer '${optimizer}' is ${value}, outside [${lo}, ${hi}${hiOpen ? ')' : ']'}`,
      `choose ${key} in that range`);
  }
}
