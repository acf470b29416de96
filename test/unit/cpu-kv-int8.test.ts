/**
 * The CPU engine's int8 KV cache (q4 files' default): kvStoreI8's codes and scales against a scalar
 * quantiser written here, in its two layouts (keys in pairs of elements, values in pairs of positions), and
 * attentionI8 against a float64 attention over the de-quantised cache (the query's int16 codes
 * emulated, so what is left is the weights' per-chunk int16 codes and float rounding).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cpuEngineKvCacheBytes } from '../../src/core/kv-cache.ts';
import { kvCacheType } from '../../src/cpu-engine/decoder.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { int8RoundTrip } from '../../src/reference/forward.ts';
import { random, roundHalfEven } from '../helpers/kernel-values.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

/** Codes and scale of one vector as the int8 cache stores it, in float32 arithmetic. */
function quantizeRef(x: Float32Array): { codes: number[]; scale: number } {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  if (Number.isNaN(m) || m === Number.POSITIVE_INFINITY)
    return { codes: Array.from(x, () => 0), scale: Number.NaN };
  const scale = Math.fround(m / 127);
  const codes = Array.from(x, (v) => (scale > 0 ? roundHalfEven(Math.fround(v / scale)) : 0));
  return { codes, scale };
}

/** A cache chunk's layout as the decoder lays it out, with another layer's bytes before it. */
function layout(kvHeads: number, chunk: number, d: number) {
  const head = kx.k.kvHeadChunkBytesI8(chunk, d);
  const other = 48;
  const chunkBytes = other + 2 * kvHeads * head + 16;
  const keys = (p: number, g: number) => Math.floor(p / chunk) * chunkBytes + other + g * head;
  const values = (p: number, g: number) => keys(p, g) + kvHeads * head;
  return { head, chunkBytes, keys, values, other };
}

type Layout = ReturnType<typeof layout>;

/** Position p's key and value vectors for kv head g, through kvStoreI8, into the cache at base. */
function storeI8(
  base: number,
  at: Layout,
  chunk: number,
  d: number,
  p: number,
  g: number,
  key: Float32Array,
  value: Float32Array,
) {
  kx.k.kvStoreI8(
    base + at.keys(p, g),
    base + at.values(p, g),
    p % chunk,
    kx.putF32(key),
    kx.putF32(value),
    d,
    chunk,
  );
}

/**
 * attentionI8 of the queries q [heads, d] over the first t positions of the cache at base (scores:
 * its scratch, allocated here unless given); returns the outputs' pointer ([heads, d] floats).
 */
function attendI8(
  q: Float32Array,
  base: number,
  at: Layout,
  chunk: number,
  t: number,
  [heads, kvHeads, d]: [number, number, number],
  scale: number,
  scores = kx.alloc((heads / kvHeads) * t * 4),
): number {
  const out = kx.alloc(heads * d * 4);
  kx.k.attentionI8(
    out,
    kx.putF32(q),
    base + at.keys(0, 0),
    base + at.values(0, 0),
    at.chunkBytes,
    chunk,
    t,
    heads,
    kvHeads,
    d,
    scale,
    scores,
    kx.alloc(kx.k.attentionPartialBytes(1, heads, d)),
  );
  return out;
}

describe('cpu-engine int8 KV cache', () => {
  it('kvStoreI8: codes and scales equal the scalar quantiser, keys in pairs of elements and values in pairs of positions, touching no other byte', () => {
    const [chunk, d, kvHeads, t] = [4, 32, 2, 11];
    const at = layout(kvHeads, chunk, d);
    const { head, chunkBytes, keys, values } = at;
    // Positions padded to 8: keys are read 8 positions at a time.
    const padded = 8;
    expect(head).toBe(padded * (d + 4));
    const chunks = Math.ceil(t / chunk);
    const base = kx.alloc(chunks * chunkBytes);
    const bytes = () => new Uint8Array(kx.memory.buffer, base, chunks * chunkBytes);
    bytes().fill(0xa5);
    const vecs: Float32Array[] = [];
    for (let p = 0; p < t; p++)
      for (let g = 0; g < kvHeads; g++) {
        const key = random(d, 100 + p * 7 + g, 3);
        const value = random(d, 200 + p * 7 + g, 0.5);
        // Edge cases: exact halves of a step, an all-zero key, a vector with an infinity or a NaN,
        // and one so small its scale is subnormal.
        if (p === 1) key.set([127, 0.5, -0.5, 1.5, -2.5, 63.5], 0);
        if (p === 2 && g === 1) key.fill(0);
        if (p === 3) value[5] = Number.POSITIVE_INFINITY;
        if (p === 4 && g === 0) key[9] = Number.NaN;
        if (p === 5) for (let i = 0; i < d; i++) value[i] = (i - 16) * 1e-42;
        vecs.push(key, value);
        storeI8(base, at, chunk, d, p, g, key, value);
      }
    const expected = new Uint8Array(chunks * chunkBytes).fill(0xa5);
    const view = new DataView(expected.buffer);
    for (let p = 0; p < t; p++)
      for (let g = 0; g < kvHeads; g++) {
        const key = quantizeRef(vecs[2 * (p * kvHeads + g)]!);
        const value = quantizeRef(vecs[2 * (p * kvHeads + g) + 1]!);
        const i = p % chunk;
        // Key element e of position i at [e / 2][i][e % 2], rows of 2 * padded bytes.
        for (const [e, c] of key.codes.entries())
          view.setInt8(keys(p, g) + (e >> 1) * 2 * padded + 2 * i + (e & 1), c);
        view.setFloat32(keys(p, g) + padded * d + 4 * i, key.scale, true);
        const pair = values(p, g) + (i >> 1) * 2 * d + (i & 1);
        for (const [e, c] of value.codes.entries()) view.setInt8(pair + 2 * e, c);
        view.setFloat32(values(p, g) + padded * d + 4 * i, value.scale, true);
      }
    // Spot checks of the reference itself: 127 * (127 / 127) is 127; halves go to even codes.
    const k1 = quantizeRef(vecs[2 * kvHeads]!);
    expect(k1.scale).toBe(1);
    expect(k1.codes.slice(0, 6)).toEqual([127, 0, -0, 2, -2, 64]);
    expect(quantizeRef(vecs[2 * (3 * kvHeads) + 1]!).scale).toBeNaN();
    expect(Array.from(bytes())).toEqual(Array.from(expected));
  });

  it.each([
    // Under one segment; odd lengths leave a chunk's last pair half empty.
    [4, 2, 16, 13],
    // The 135M twin's shape (9 heads over 3, d 64), 7 segments of 4 chunks of 4.
    [9, 3, 64, 101],
    // d 48: a block of 32 elements and one of 16; 75 chunks, past 16 segments.
    [4, 1, 48, 300],
    // Qwen3's head size.
    [2, 1, 128, 37],
  ])(
    'attentionI8: %i heads over %i kv heads, d %i, %i positions = float64 attention over the de-quantised cache',
    (heads, kvHeads, d, t) => {
      const chunk = 4;
      const at = layout(kvHeads, chunk, d);
      const base = kx.alloc(Math.ceil(t / chunk) * at.chunkBytes);
      const k = random(t * kvHeads * d, 31, 2);
      const v = random(t * kvHeads * d, 32);
      for (let p = 0; p < t; p++)
        for (let g = 0; g < kvHeads; g++) {
          const o = (p * kvHeads + g) * d;
          storeI8(base, at, chunk, d, p, g, k.subarray(o, o + d), v.subarray(o, o + d));
        }
      // What the cache holds, de-quantised (the reference forward pass's int8 round trip).
      int8RoundTrip(k, d);
      int8RoundTrip(v, d);
      // Scores large enough that exp(score - max) spans orders of magnitude.
      const q = random(heads * d, 33, 3);
      const scores = kx.alloc((heads / kvHeads) * t * 4);
      // Right after the scores' scratch: the kernel must not write past it.
      const guard = kx.putF32(new Float32Array(4).fill(42));
      const scale = 1 / Math.sqrt(d);
      const out = attendI8(q, base, at, chunk, t, [heads, kvHeads, d], scale, scores);
      const got = kx.f32(out, heads * d);
      let worst = 0;
      let largest = 0;
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        // The query as its int16 codes: scale m / 32767, codes round(q * (32767 / m)).
        const qh = q.subarray(h * d, (h + 1) * d);
        const m = Math.max(...Array.from(qh, Math.abs));
        const qs = Math.fround(m / 32767);
        const inv = Math.fround(32767 / m);
        const qq = Array.from(qh, (x) => roundHalfEven(Math.fround(x * inv)) * qs);
        const s = Array.from({ length: t }, (_, p) => {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += qq[i]! * k[(p * kvHeads + g) * d + i]!;
          return dot * scale;
        });
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < d; i++) {
          const want = e.reduce((acc, w, p) => acc + w * v[(p * kvHeads + g) * d + i]!, 0) / sum;
          largest = Math.max(largest, Math.abs(want));
          worst = Math.max(worst, Math.abs(got[h * d + i]! - want));
          expect(Number.isFinite(got[h * d + i]!)).toBe(true);
        }
      }
      // The weights' int16 codes: each within half a step of 1/32767 of its chunk's largest.
      expect(worst).toBeLessThan(2e-4 * largest);
      expect(Array.from(kx.f32(guard, 4))).toEqual([42, 42, 42, 42]);
    },
  );

  it('attentionI8: a key or value with a NaN or an infinity makes the outputs that see it NaN, as float32 does; others stay finite', () => {
    const [chunk, d, t] = [4, 16, 9];
    const at = layout(2, chunk, d);
    const base = kx.alloc(Math.ceil(t / chunk) * at.chunkBytes);
    for (let p = 0; p < t; p++)
      for (let g = 0; g < 2; g++) {
        const key = random(d, 40 + p, 1);
        const value = random(d, 60 + p, 1);
        // kv head 0: an infinite value at position 6; kv head 1: fine.
        if (p === 6 && g === 0) value[3] = Number.NEGATIVE_INFINITY;
        storeI8(base, at, chunk, d, p, g, key, value);
      }
    const out = attendI8(random(2 * d, 41), base, at, chunk, t, [2, 2, d], 0.25);
    const got = Array.from(kx.f32(out, 2 * d));
    expect(got.slice(0, d).every(Number.isNaN)).toBe(true);
    expect(got.slice(d).every(Number.isFinite)).toBe(true);
  });

  it.each([
    // Scores 0, -0.37, .., -5.55: weights from 1 to 0.004, every fraction of a power of 2.
    [0.37, 16],
    // Scores 0 to -90 (past exp's clamp at -87): all but the first few weights round to code 0.
    [6, 16],
    // Two chunks: each quantises its weights against its own largest.
    [0.23, 8],
  ])(
    "attentionI8's weights (scores %f apart, chunks of %i): the softmax of the scores within 2e-5 of the largest, exp's error included",
    (gap, chunk) => {
      // One head of d 16 over 16 positions: key p is -4 gap p on element 0 (score -gap p: q is 1 on
      // element 0, scale 1/4, all codes exact), value p is 1 on element p, so output element i is
      // position i's softmax weight.
      const [d, t] = [16, 16];
      const at = layout(1, chunk, d);
      const base = kx.alloc(Math.ceil(t / chunk) * at.chunkBytes);
      for (let p = 0; p < t; p++) {
        const key = new Float32Array(d);
        key[0] = -4 * gap * p;
        const value = new Float32Array(d);
        value[p] = 1;
        storeI8(base, at, chunk, d, p, 0, key, value);
      }
      const q = new Float32Array(d);
      q[0] = 1;
      const out = attendI8(q, base, at, chunk, t, [1, 1, d], 0.25);
      const got = kx.f32(out, d);
      // The keys' scales are 4 gap p / 127 in float32: the scores as the kernel sees them.
      const scores = Array.from({ length: t }, (_, p) => -127 * Math.fround((4 * gap * p) / 127) * 0.25);
      const e = scores.map((x) => Math.exp(x));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) {
        // Each weight's int16 code is within half a step (1/65534) of its chunk's largest weight.
        expect(Math.abs(got[i]! - e[i]! / sum), `weight ${i}`).toBeLessThan(2e-5);
      }
    },
  );

  it("cpuEngineKvCacheBytes (the catalog's memory estimate) equals the decoder's chunks as the kernels size them", () => {
    for (const d of [16, 64, 80, 128, 512])
      for (const positions of [1, 63, 64, 65, 511, 512, 513, 2000, 4096]) {
        const shape = { layers: 3, kvHeads: 5, headDim: d };
        // The decoder's chunk: layers x (keys, values) x kv heads x a head's chunk, of 512 positions
        // (int8) or 64 (float32).
        const int8 = Math.ceil(positions / 512) * 3 * 2 * 5 * kx.k.kvHeadChunkBytesI8(512, d);
        expect(cpuEngineKvCacheBytes(shape, positions, 'int8')).toBe(int8);
        const float32 = Math.ceil(positions / 64) * 3 * 2 * 5 * 64 * d * 4;
        expect(cpuEngineKvCacheBytes(shape, positions, 'float32')).toBe(float32);
      }
  });

  it('kvCacheType: int8 for q4 files without attention biases where headDim is a multiple of 16, float32 otherwise (q8, fp32, Qwen2); a request it cannot honour refused by name', () => {
    expect(kvCacheType('q4', { headDim: 64, attentionBias: false })).toBe('int8');
    expect(kvCacheType('q4', { headDim: 128, attentionBias: false })).toBe('int8');
    expect(kvCacheType('q8', { headDim: 64, attentionBias: false })).toBe('float32');
    // Qwen2's attention biases: float32 unless asked.
    expect(kvCacheType('q4', { headDim: 64, attentionBias: true })).toBe('float32');
    expect(kvCacheType('q4', { headDim: 64, attentionBias: true }, 'int8')).toBe('int8');
    expect(kvCacheType('fp32', { headDim: 64, attentionBias: false })).toBe('float32');
    expect(kvCacheType('q4', { headDim: 24, attentionBias: false })).toBe('float32');
    expect(kvCacheType('fp32', { headDim: 64, attentionBias: false }, 'int8')).toBe('int8');
    expect(kvCacheType('q4', { headDim: 64, attentionBias: false }, 'float32')).toBe('float32');
    expect(() => kvCacheType('q4', { headDim: 24, attentionBias: false }, 'int8')).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message:
          "An int8 KV cache needs a head size that is a multiple of 16, at most 512; this model's is 24.",
      }),
    );
    expect(() => kvCacheType('q4', { headDim: 64, attentionBias: false }, 'fp16' as 'int8')).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: 'The KV cache holds float32 or int8 elements, not fp16.',
      }),
    );
  });
});
