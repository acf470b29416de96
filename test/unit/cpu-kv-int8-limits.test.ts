/**
 * The int8 KV cache at its limits, each case a hostile review's finding that failed before its fix:
 * - int32 accumulators: a score sums d products of 127 by 32767 (past 2^31 from d 528), a chunk's
 *   weighted values chunkPositions products (past 2^31 from 517 positions);
 * - huge finite vectors: a huge key orthogonal to a huge query (0 times an overflowing product of
 *   scales), a huge query against tiny keys (a product overflowing before the tiny scale);
 * - chunks of an odd number of positions: values lie in pairs of positions, so their codes take
 *   (P + 1) / 2 * 2d bytes, d more than P * d, and overwrote the scales.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kvCacheType } from '../../src/cpu-engine/decoder.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { random } from '../helpers/kernel-values.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

/**
 * One head's attention (one kv head, scale 1/sqrt(d)) over keys and values (a d-vector per position)
 * in cache chunks of `chunk` positions: [keys | values] per chunk, in the float32 layout
 * ([position][d] each) or kvStoreI8's.
 */
function attend(
  cache: 'float32' | 'int8',
  d: number,
  chunk: number,
  keys: Float32Array[],
  values: Float32Array[],
  q: Float32Array,
): number[] {
  const t = keys.length;
  const int8 = cache === 'int8';
  const head = int8 ? kx.k.kvHeadChunkBytesI8(chunk, d) : chunk * d * 4;
  const chunkBytes = 2 * head;
  const base = kx.alloc(Math.ceil(t / chunk) * chunkBytes + 64);
  for (let p = 0; p < t; p++) {
    const at = base + Math.floor(p / chunk) * chunkBytes;
    if (int8) kx.k.kvStoreI8(at, at + head, p % chunk, kx.putF32(keys[p]!), kx.putF32(values[p]!), d, chunk);
    else {
      kx.f32(at + (p % chunk) * d * 4, d).set(keys[p]!);
      kx.f32(at + head + (p % chunk) * d * 4, d).set(values[p]!);
    }
  }
  const out = kx.alloc(d * 4);
  (int8 ? kx.k.attentionI8 : kx.k.attention)(
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
    kx.alloc(t * 4 + 64),
    kx.alloc(kx.k.attentionPartialBytes(1, 1, d)),
  );
  return Array.from(kx.f32(out, d));
}

const attendI8 = (d: number, chunk: number, keys: Float32Array[], values: Float32Array[], q: Float32Array) =>
  attend('int8', d, chunk, keys, values, q);

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
      expect(kvCacheType('q4', { headDim, attentionBias: false })).toBe('float32');
      expect(() => kvCacheType('q8', { headDim, attentionBias: false }, 'int8')).toThrow(/int8 KV cache/);
    }
    expect(kvCacheType('q4', { headDim: 512, attentionBias: false })).toBe('int8');
  });

  it('attentionI8 over cache chunks of 1024 positions (a weighted-value sum past int32) gives the right output', () => {
    // Every key equal, so every weight is 1 and its code 32767; every value 1 (code 127): the output
    // is 1. Per chunk the int32 lane sums 1024 * 127 * 32767 > 2^31 and wrapped (0.0617 before the
    // flush every 256 pairs).
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

describe('cpu-engine int8 KV cache: huge finite vectors', () => {
  it('a huge key orthogonal to a huge query scores 0 as in float32, not NaN', () => {
    const d = 16;
    const vec = (f: (i: number) => number) => Float32Array.from({ length: d }, (_, i) => f(i));
    // Position 0: key along element 1 (huge), value 1; position 1: key along element 2, value 2.
    const keys = [vec((i) => (i === 1 ? 4e22 : 0)), vec((i) => (i === 2 ? 1 : 0))];
    const values = [vec(() => 1), vec(() => 2)];
    // The query along element 0: both scores are exactly 0, so the output is the mean value, 1.5.
    const got = attendI8(
      d,
      4,
      keys,
      values,
      vec((i) => (i === 0 ? 4e22 : 0)),
    );
    for (const x of got) expect(x).toBeCloseTo(1.5, 3);
  });

  it('a huge query against tiny keys scores finite where the float32 cache does (outputs close to the float32 attention)', () => {
    const [d, chunk, t] = [64, 4, 3];
    const keys = Array.from({ length: t }, (_, p) => random(d, 5 + p, 1e-30));
    const values = Array.from({ length: t }, (_, p) => random(d, 9 + p, 1));
    const q = random(d, 3, 1e36);
    const want = attend('float32', d, chunk, keys, values, q);
    expect(want.every(Number.isFinite)).toBe(true);
    const got = attendI8(d, chunk, keys, values, q);
    expect(got.every(Number.isFinite), `int8: ${got.slice(0, 4)}`).toBe(true);
    for (let e = 0; e < d; e++) expect(Math.abs(got[e]! - want[e]!)).toBeLessThan(0.05);
  });
});

describe('cpu-engine int8 KV cache: cache chunks of an odd number of positions', () => {
  it.each([3, 5, 7])('%i positions in one chunk of that size give what a chunk of 8 gives', (chunk) => {
    const d = 16;
    const keys = Array.from({ length: chunk }, (_, p) => random(d, 10 + p, 2));
    // Values of very different sizes per position: a scrambled scale shows.
    const values = Array.from({ length: chunk }, (_, p) => random(d, 40 + p, 0.01 * 10 ** p));
    const q = random(d, 99, 2);
    expect(attendI8(d, chunk, keys, values, q)).toEqual(attendI8(d, 8, keys, values, q));
  });
});
