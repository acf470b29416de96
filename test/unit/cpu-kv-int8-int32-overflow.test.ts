/**
 * The int8 KV cache's integer dot products stay within int32 only for bounded sizes: a score sums d
 * products of an int8 key code (up to 127) and an int16 query code (up to 32767), so d * 127 * 32767
 * passes 2^31 - 1 from d = 528 (the next multiple of 16 past 516); a chunk's weighted values sum
 * chunkPositions products of a value code and a weight code (up to 32767) per output element, past
 * 2^31 - 1 from chunkPositions = 517. Beyond these the sums wrap and attention is silently wrong, so
 * such sizes must get the float32 cache (or be refused by name), never int8.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kvCacheType } from '../../src/cpu-engine/decoder.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

/** attentionI8 of one head over `keys`/`values` (one d-vector per position) in cache chunks of `chunk`. */
function attendI8(
  d: number,
  chunk: number,
  keys: Float32Array[],
  values: Float32Array[],
  q: Float32Array,
): number[] {
  const t = keys.length;
  const head = kx.k.kvHeadChunkBytesI8(chunk, d);
  const chunkBytes = 2 * head;
  const base = kx.alloc(Math.ceil(t / chunk) * chunkBytes);
  for (let p = 0; p < t; p++) {
    const at = base + Math.floor(p / chunk) * chunkBytes;
    kx.k.kvStoreI8(at, at + head, p % chunk, kx.putF32(keys[p]!), kx.putF32(values[p]!), d, chunk);
  }
  const out = kx.alloc(d * 4);
  kx.k.attentionI8(
    out,
    kx.putF32(q),
    base,
    base + head,
    chunkBytes,
    chunk,
    t,
    1,
    1,
    d,
    1 / Math.sqrt(d),
    kx.alloc(t * 4),
    kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
  );
  return Array.from(kx.f32(out, d));
}

describe('cpu-engine int8 KV cache: int32 accumulators', () => {
  it('a head size whose score can pass int32 (d 528, 1024) keeps the float32 cache, and an int8 request is refused by name', () => {
    // At the largest head size int8 runs (512; the sum 512 * 127 * 32767 < 2^31) the integer score
    // does not wrap: a query equal to the first of two keys (score sqrt(d) against 0) gives that
    // key's value, 1, almost alone (at d 528 the sum wrapped negative and the other value, -1, won).
    const d = 512;
    const ones = new Float32Array(d).fill(1);
    const got = attendI8(d, 4, [ones, new Float32Array(d)], [ones, new Float32Array(d).fill(-1)], ones);
    expect(got[0]).toBeCloseTo(1, 5);
    for (const headDim of [528, 1024]) {
      expect(kvCacheType('q4', { headDim: headDim, attentionBias: false })).toBe('float32');
      expect(() => kvCacheType('q8', { headDim: headDim, attentionBias: false }, 'int8')).toThrow(
        /int8 KV cache/,
      );
    }
    // 512 still fits: 512 * 127 * 32767 < 2^31.
    expect(kvCacheType('q4', { headDim: 512, attentionBias: false })).toBe('int8');
  });

  it('attentionI8 over cache chunks of 1024 positions (a weighted-value sum past int32) gives the right output', () => {
    // Every key equal, so every weight is 1 and its code 32767; every value 1 (code 127): the output
    // is 1. Per chunk the int32 lane sums 1024 * 127 * 32767 > 2^31 and wraps (0.0617 at d9cb2a3).
    // Either the kernel splits the sum, or no caller may pass such chunks (then refuse them by name,
    // e.g. in KernelThreadPool.attention, and replace this test by that refusal).
    const d = 16;
    const t = 1100;
    const ones = new Float32Array(d).fill(1);
    const got = attendI8(
      d,
      1024,
      Array.from({ length: t }, () => ones),
      Array.from({ length: t }, () => ones),
      ones,
    );
    for (const x of got) expect(x).toBeCloseTo(1, 3);
  });
});
