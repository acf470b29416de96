/**
 * Exact-token comparison against the reference forward pass (src/reference), shared by the Node
 * golden tests and the per-backend browser test.
 */
import { expect } from 'vitest';
import type { GreedyStep } from '../../src/reference/forward.ts';

/** Reference top-2 logits closer than this are a near-tie: float rounding may break them either way. */
export const NEAR_TIE = 1e-4;

/**
 * Compares generated tokens with the reference's greedy steps. Returns a description of a tolerated
 * near-tie divergence, or null when the sequences are equal; fails the test otherwise.
 */
export function compareGreedy(
  label: string,
  got: readonly number[],
  reference: readonly GreedyStep[],
): string | null {
  const want = reference.map((s) => s.token);
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    if (got[i] === want[i]) continue;
    const step = reference[i];
    if (step && step.margin < NEAR_TIE && got[i] === step.runnerUp) {
      const note = `${label}: near-tie at step ${i} (reference top-2 ${step.token}/${step.runnerUp}, margin ${step.margin.toExponential(2)}); tokens after it are not compared`;
      console.warn(note);
      return note;
    }
    expect.fail(`${label}: token ${i} is ${got[i]}, reference says ${want[i]}\n got ${got}\nwant ${want}`);
  }
  return null;
}
