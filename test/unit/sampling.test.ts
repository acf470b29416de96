/** The CPU engine's next-token choice: exact picks on hand-made logits. */
import { describe, expect, it } from 'vitest';
import {
  applyRepetitionPenalty,
  argmax,
  sampleToken,
  suppressTokens,
  topKIndices,
} from '../../src/runtime/sampling.ts';

const f32 = (...v: number[]) => Float32Array.from(v);

describe('logits rules', () => {
  it('argmax takes the first of equal maxima', () => {
    expect(argmax(f32(1, 3, 2, 3))).toBe(1);
    expect(argmax(f32(-5, -4, Number.NEGATIVE_INFINITY))).toBe(1);
  });

  it('the repetition penalty divides positive and multiplies negative logits, once per distinct id', () => {
    const logits = f32(2, -2, 4, 1);
    applyRepetitionPenalty(logits, [0, 1, 1, 0, 9], 2);
    expect(Array.from(logits)).toEqual([1, -4, 4, 1]);
  });

  it('suppressed tokens can never be the argmax', () => {
    const logits = f32(0, 9, 1);
    suppressTokens(logits, [1]);
    expect(argmax(logits)).toBe(2);
  });

  it('top-k keeps the k largest, largest first, lower index first among equals', () => {
    const logits = f32(0.5, 3, 1, 3, 2, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    expect(topKIndices(logits, 3)).toEqual([1, 3, 4]);
    expect(topKIndices(logits, 1)).toEqual([1]);
    expect(topKIndices(f32(1, 2, 3), 10)).toEqual([2, 1, 0]);
  });
});

describe('sampleToken', () => {
  // Probabilities after softmax of ln(weights): exactly the weights 0.5, 0.3, 0.2.
  const logits = () => f32(Math.log(0.2), Math.log(0.5), Math.log(0.3));

  it('draws by cumulative probability over the sorted tokens', () => {
    const params = { temperature: 1, topK: 0, topP: 1 };
    expect(sampleToken(logits(), params, () => 0)).toBe(1);
    expect(sampleToken(logits(), params, () => 0.49)).toBe(1);
    expect(sampleToken(logits(), params, () => 0.51)).toBe(2);
    expect(sampleToken(logits(), params, () => 0.81)).toBe(0);
    expect(sampleToken(logits(), params, () => 0.9999)).toBe(0);
  });

  it('top-k 2 never draws the third token', () => {
    const params = { temperature: 1, topK: 2, topP: 1 };
    expect(sampleToken(logits(), params, () => 0.9999)).toBe(2);
  });

  it('top-p 0.7 keeps the two tokens that reach it, top-p 0.1 the most likely alone', () => {
    expect(sampleToken(logits(), { temperature: 1, topK: 0, topP: 0.7 }, () => 0.9999)).toBe(2);
    expect(sampleToken(logits(), { temperature: 1, topK: 0, topP: 0.1 }, () => 0.9999)).toBe(1);
  });

  it('a low temperature sharpens the draw toward the most likely token', () => {
    // At temperature 0.01 token 1 holds all but ~1e-22 of the mass.
    expect(sampleToken(logits(), { temperature: 0.01, topK: 0, topP: 1 }, () => 0.9999)).toBe(1);
  });
});
