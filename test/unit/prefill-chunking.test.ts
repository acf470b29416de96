/**
 * How a long prompt is cut into chunks, per weight format (pure): q8, whose tokens depend on the
 * rows run together, gets a fixed chunk size from the model's shape, never from the clock; q4 and
 * float weights, exact whatever the chunks, keep the time-sized default.
 */
import { describe, expect, it } from 'vitest';
import { findPreset, presetHfConfig } from '../../src/builder/presets.ts';
import {
  DEFAULT_PREFILL_CHUNKING,
  FIXED_CHUNK_MULTIPLY_ADDS,
  layerMultiplyAddsPerToken,
  prefillChunkingFor,
} from '../../src/runtime/transformers-generator.ts';

const config = (preset: string) => presetHfConfig(findPreset(preset)!) as unknown as Record<string, unknown>;

describe('prefillChunkingFor', () => {
  it('gives q8 a fixed chunk from the model: 64 tokens for the 135M shape, 4 for the 1.7B one, smaller as models grow', () => {
    const sizes = [
      'smollm2-135m',
      'smollm2-360m',
      'qwen2.5-0.5b',
      'qwen3-0.6b',
      'llama-3.2-1b',
      'qwen2.5-1.5b',
      'smollm2-1.7b',
    ].map((p) => {
      const chunking = prefillChunkingFor('q8', config(p));
      // Every chunk that size, and prompts up to one chunk in one pass: nothing left to the clock.
      expect(chunking.fixedChunkTokens).toBe(chunking.firstChunkTokens);
      expect(chunking.onePassTokens).toBe(chunking.fixedChunkTokens);
      return chunking.fixedChunkTokens!;
    });
    expect(sizes).toEqual([64, 16, 16, 16, 8, 4, 4]);
    // Within the budget, and the next power of two would not be.
    for (const p of ['smollm2-135m', 'smollm2-1.7b']) {
      const perToken = layerMultiplyAddsPerToken(config(p))!;
      const size = prefillChunkingFor('q8', config(p)).fixedChunkTokens!;
      expect(size * perToken).toBeLessThanOrEqual(FIXED_CHUNK_MULTIPLY_ADDS);
      expect(2 * size * perToken).toBeGreaterThan(FIXED_CHUNK_MULTIPLY_ADDS);
    }
  });

  it('counts the 135M shape at 106 M multiply-adds per token (grouped-query attention included)', () => {
    // 30 layers × (q, o: 576² each; k, v: 576 × 192 each; MLP: 3 × 576 × 1536).
    expect(layerMultiplyAddsPerToken(config('smollm2-135m'))).toBe(
      30 * (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536),
    );
  });

  it('keeps the time-sized default for the formats whose tokens do not depend on the chunks', () => {
    for (const dtype of ['q4', 'fp32', 'fp16', 'q4f16'] as const) {
      expect(prefillChunkingFor(dtype, config('smollm2-135m'))).toBe(DEFAULT_PREFILL_CHUNKING);
    }
  });

  it('bounds the fixed size: a tiny model reads 256 at most, an unknown shape the smallest chunk', () => {
    expect(
      prefillChunkingFor('q8', {
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 128,
      }).fixedChunkTokens,
    ).toBe(256);
    expect(prefillChunkingFor('q8', {}).fixedChunkTokens).toBe(DEFAULT_PREFILL_CHUNKING.minChunkTokens);
    expect(prefillChunkingFor('q8', { ...config('smollm2-135m'), hidden_size: 'big' }).fixedChunkTokens).toBe(
      DEFAULT_PREFILL_CHUNKING.minChunkTokens,
    );
  });
});
