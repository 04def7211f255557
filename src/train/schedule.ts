// Learning-rate schedule: linear warm-up to the peak, then cosine decay to `minRatio`
// of the peak at the last step. Computed per step in JS and fed to the step graph.

export interface ScheduleOptions {
  peak: number;
  totalSteps: number;
  warmupSteps: number;
  /** final learning rate as a fraction of the peak */
  minRatio?: number;
}

export function cosineWithWarmup(o: ScheduleOptions): (step: number) => number {
  const min = (o.minRatio ?? 0) * o.peak;
  return (step) => {
    if (step < o.warmupSteps) return (o.peak * (step + 1)) / o.warmupSteps;
    const span = Math.max(1, o.totalSteps - o.warmupSteps);
    const t = Math.min(1, (step - o.warmupSteps) / span);
    return min + (o.peak - min) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}
