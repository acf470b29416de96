/**
 * attentionI8's score is dot * (query scale * key scale) * 1/sqrt(d): for a huge query and key
 * (largest |x| 4e22 each) the product of the two scales, 4e22/32767 * 4e22/127, overflows to
 * Infinity, and a key orthogonal to the query (integer dot 0) scores 0 * Infinity = NaN: the whole
 * head's output turns NaN where the float32 cache's score is exactly 0 (finite outputs). Multiplying
 * the integer dot by one scale at a time keeps 0 at 0 (src/cpu-engine/kernels/kernels.ts,
 * attendSegmentI8's `kscale`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

describe('cpu-engine int8 KV cache: huge finite vectors', () => {
  it('a huge key orthogonal to a huge query scores 0 as in float32, not NaN', () => {
    const [d, chunk] = [16, 4];
    const head = kx.k.kvHeadChunkBytesI8(chunk, d);
    const chunkBytes = 2 * head;
    const base = kx.alloc(chunkBytes);
    const vec = (f: (i: number) => number) => Float32Array.from({ length: d }, (_, i) => f(i));
    // Position 0: key along element 1 (huge), value 1; position 1: key along element 2, value 2.
    const keys = [vec((i) => (i === 1 ? 4e22 : 0)), vec((i) => (i === 2 ? 1 : 0))];
    const values = [vec(() => 1), vec(() => 2)];
    for (let p = 0; p < 2; p++)
      kx.k.kvStoreI8(base, base + head, p, kx.putF32(keys[p]!), kx.putF32(values[p]!), d, chunk);
    // The query along element 0: both scores are exactly 0, so the output is the mean value, 1.5.
    const out = kx.alloc(d * 4);
    kx.k.attentionI8(
      out,
      kx.putF32(vec((i) => (i === 0 ? 4e22 : 0))),
      base,
      base + head,
      chunkBytes,
      chunk,
      2,
      1,
      1,
      d,
      0.25,
      kx.alloc(2 * 4),
      kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
    );
    for (const x of kx.f32(out, d)) expect(x).toBeCloseTo(1.5, 3);
  });
});
