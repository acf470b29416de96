/**
 * attentionI8's score is ((integer dot * query scale) * key scale) * 1/sqrt(d): for a huge query
 * (largest |x| 1e36, scale 3e31) against tiny keys (largest |x| 1e-30) the first product (a dot up
 * to d * 127 * 32767) overflows to Infinity before the tiny key scale can bring it back, although
 * the true score (about 1e6) is an ordinary float. Every score is then +Infinity, the softmax takes
 * Infinity - Infinity = NaN, and the head's output is NaN where the float32 cache's attention gives
 * finite values. (Hostile review of 8dbce68's "one scale at a time": it fixed 0 * Infinity for a
 * huge query and key, not a huge query and a tiny key.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { random } from '../helpers/kernel-values.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

describe('cpu-engine int8 KV cache: a huge query against tiny keys', () => {
  it('scores stay finite where the float32 cache scores them finite (outputs close to the float32 attention)', () => {
    const [d, chunk, t] = [64, 4, 3];
    const keys = Array.from({ length: t }, (_, p) => random(d, 5 + p, 1e-30));
    const values = Array.from({ length: t }, (_, p) => random(d, 9 + p, 1));
    const q = random(d, 3, 1e36);
    const scale = 1 / Math.sqrt(d);
    // float32 cache: [key | value][position in chunk][d] per chunk (one kv head).
    const f32Chunk = 2 * chunk * d * 4;
    const fBase = kx.alloc(Math.ceil(t / chunk) * f32Chunk);
    for (let p = 0; p < t; p++) {
      const at = fBase + Math.floor(p / chunk) * f32Chunk + (p % chunk) * d * 4;
      kx.f32(at, d).set(keys[p]!);
      kx.f32(at + chunk * d * 4, d).set(values[p]!);
    }
    const fOut = kx.alloc(d * 4);
    const qPtr = kx.putF32(q);
    const scores = kx.alloc(t * 4 + 64);
    kx.k.attention(
      fOut,
      qPtr,
      fBase,
      fBase + chunk * d * 4,
      f32Chunk,
      chunk,
      t,
      1,
      1,
      d,
      scale,
      scores,
      kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
    );
    const want = Array.from(kx.f32(fOut, d));
    expect(want.every(Number.isFinite)).toBe(true);
    // int8 cache.
    const head = kx.k.kvHeadChunkBytesI8(chunk, d);
    const iBase = kx.alloc(Math.ceil(t / chunk) * 2 * head);
    for (let p = 0; p < t; p++) {
      const at = iBase + Math.floor(p / chunk) * 2 * head;
      kx.k.kvStoreI8(at, at + head, p % chunk, kx.putF32(keys[p]!), kx.putF32(values[p]!), d, chunk);
    }
    const iOut = kx.alloc(d * 4);
    kx.k.attentionI8(
      iOut,
      qPtr,
      iBase,
      iBase + head,
      2 * head,
      chunk,
      t,
      1,
      1,
      d,
      scale,
      scores,
      kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
    );
    const got = Array.from(kx.f32(iOut, d));
    expect(got.every(Number.isFinite), `int8: ${got.slice(0, 4)}`).toBe(true);
    for (let e = 0; e < d; e++) expect(Math.abs(got[e]! - want[e]!)).toBeLessThan(0.05);
  });
});
