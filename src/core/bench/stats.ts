/**
 * Summary statistics of benchmark repetitions, as llama-bench reports them: the mean and the sample
 * standard deviation (n - 1 in the denominator; 0 for a single value).
 */

export interface Summary {
  mean: number;
  /** Sample standard deviation; 0 when there is one value. */
  sd: number;
  n: number;
  /** Every counted repetition, in the order they ran (warm-up runs are not here). */
  values: number[];
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function sampleSd(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  const squares = values.reduce((a, v) => a + (v - m) ** 2, 0);
  return Math.sqrt(squares / (values.length - 1));
}

export function summarize(values: readonly number[]): Summary {
  return { mean: mean(values), sd: sampleSd(values), n: values.length, values: [...values] };
}

/**
 * Whether two summaries agree within the spread they report: their means differ by no more than
 * the sum of their standard deviations (at least `floor` of the larger mean, for noise-free runs).
 */
export function agreeWithinSpread(a: Summary, b: Summary, floor = 0.02): boolean {
  const allowed = Math.max(a.sd + b.sd, floor * Math.max(Math.abs(a.mean), Math.abs(b.mean)));
  return Math.abs(a.mean - b.mean) <= allowed;
}
