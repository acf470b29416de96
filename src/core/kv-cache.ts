/**
 * The KV cache edgetier's CPU engine keeps (src/cpu-engine/decoder.ts), as far as anything outside
 * the engine needs to know it: which element type a file gets by default, and how many bytes it
 * takes. One rule for the decoder and for the catalog's memory estimate, so the two cannot drift.
 */
import type { Dtype } from './dtypes.ts';

/** The CPU engine's KV cache element types (CpuDecoderOptions.kvCache). */
export type KvCacheType = 'float32' | 'int8';

/** Positions per chunk of a float32 KV cache: the cache grows by one chunk at a time. */
export const KV_CACHE_CHUNK = 64;

/**
 * Positions per chunk of an int8 cache. Longer than the float32 cache's: a kv head's keys (values)
 * in a chunk are one contiguous region the attention reads whole, 35 KB here on a head of 64 against
 * 4.4 KB at 64 positions, and the decode step at 2000 positions of the 135M twin took 7.14 ms in
 * Chromium against 7.70 at 64 (256: 7.27, 1024: 7.25; at 22 positions all alike; medians, 2 threads:
 * `bench/experiments/browser-depth-steps.ts --kv-chunks 64,256,512,1024`). The cost: the cache grows
 * 512 positions at a time (6.3 MB on that model, 53 MB on SmolLM2-1.7B's 24 layers of 32 kv heads).
 * The attention's weights take int16 codes per chunk, so the chunking changes the int8 cache's
 * rounding, not its size: against the float32 cache, a tiny llama's logits after 600 positions are
 * 1.0e-2 off (relative RMS) at 512 and at 64 alike (test/unit/cpu-decoder.test.ts).
 */
export const KV_CACHE_CHUNK_INT8 = 512;

/** Positions per chunk of the CPU engine's cache of `type`. */
export function kvCacheChunkPositions(type: KvCacheType): number {
  return type === 'int8' ? KV_CACHE_CHUNK_INT8 : KV_CACHE_CHUNK;
}

/**
 * Whether a head size can have an int8 cache: the kernels read 16 elements at a time, and a score's
 * integer sum (d products of 127 by 32767) fits an int32 up to d = 512.
 */
export function int8KvCacheFits(headDim: number): boolean {
  return headDim % 16 === 0 && headDim <= 512;
}

/**
 * The cache a file gets unless asked otherwise: int8 for a q4 file whose family has no attention
 * biases (see decoder.ts kvCacheType for why Qwen2's biases keep float32), float32 otherwise.
 */
export function defaultKvCacheType(dtype: Dtype, headDim: number, attentionBias: boolean): KvCacheType {
  return dtype === 'q4' && int8KvCacheFits(headDim) && !attentionBias ? 'int8' : 'float32';
}

/**
 * Bytes of the CPU engine's cache holding `positions` positions: whole chunks (kvCacheChunkPositions),
 * keys and values, per layer and kv head; a head vector is d float32s, or d int8 codes and one
 * float32 scale (a chunk's positions are padded to 8 there, which 512 already is).
 */
export function cpuEngineKvCacheBytes(
  shape: { layers: number; kvHeads: number; headDim: number },
  positions: number,
  type: KvCacheType,
): number {
  const chunk = kvCacheChunkPositions(type);
  const vectorBytes = type === 'int8' ? shape.headDim + 4 : shape.headDim * 4;
  return Math.ceil(positions / chunk) * chunk * 2 * shape.layers * shape.kvHeads * vectorBytes;
}
