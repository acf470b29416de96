/**
 * The KV cache edgetier's CPU engine keeps (src/cpu-engine/decoder.ts), as far as anything outside
 * the engine needs to know it: which element type a file gets by default, and how many bytes it
 * takes. One rule for the decoder and for the catalog's memory estimate, so the two cannot drift.
 */
import type { Dtype } from './dtypes.ts';

/** The CPU engine's KV cache element types (CpuDecoderOptions.kvCache). */
export type KvCacheType = 'float32' | 'int8';

/** Positions per KV cache chunk: the cache grows by one chunk at a time. */
export const KV_CACHE_CHUNK = 64;

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
 * Bytes of the CPU engine's cache holding `positions` positions: whole chunks, keys and values, per
 * layer and kv head; a head vector is d float32s, or d int8 codes and one float32 scale (a chunk's
 * positions are padded to 8 there, which 64 already is).
 */
export function cpuEngineKvCacheBytes(
  shape: { layers: number; kvHeads: number; headDim: number },
  positions: number,
  type: KvCacheType,
): number {
  const chunks = Math.ceil(positions / KV_CACHE_CHUNK);
  const vectorBytes = type === 'int8' ? shape.headDim + 4 : shape.headDim * 4;
  return chunks * KV_CACHE_CHUNK * 2 * shape.layers * shape.kvHeads * vectorBytes;
}
