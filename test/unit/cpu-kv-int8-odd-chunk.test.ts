/**
 * The int8 KV cache's values lie in pairs of positions ([position / 2][d][position % 2]), so a chunk
 * of an odd number P of positions needs (P + 1) / 2 * 2d bytes of value codes, d more than the P * d
 * that kvHeadChunkBytesI8 gives it before its scales: kvStoreI8 then writes the last position's
 * codes over the first positions' scales. An odd cache chunk must either work (same outputs as an
 * even chunk holding the same positions) or be refused by name (kvHeadChunkBytesI8, kvStoreI8's
 * callers, KernelThreadPool.attention), never read back scrambled scales. (Hostile review of
 * 07180db/8dbce68: direct kernel calls with chunkPositions not a multiple of 4 or 8.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { random } from '../helpers/kernel-values.ts';

let kx: WasmKernels;

beforeAll(async () => {
  kx = await WasmKernels.create(await kernelModule(false, false));
});

/** attentionI8 of one head over t positions stored with kvStoreI8 in cache chunks of `chunk` positions. */
function attendI8(d: number, chunk: number, keys: Float32Array[], values: Float32Array[], q: Float32Array) {
  const t = keys.length;
  const head = kx.k.kvHeadChunkBytesI8(chunk, d);
  const chunkBytes = 2 * head;
  const base = kx.alloc(Math.ceil(t / chunk) * chunkBytes + 64);
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

describe('cpu-engine int8 KV cache: cache chunks of an odd number of positions', () => {
  it.each([3, 5, 7])(
    '%i positions in one chunk of %i give what a chunk of 8 gives (or the size is refused)',
    (chunk) => {
      const d = 16;
      const keys = Array.from({ length: chunk }, (_, p) => random(d, 10 + p, 2));
      // Values of very different sizes per position: a scrambled scale shows.
      const values = Array.from({ length: chunk }, (_, p) => random(d, 40 + p, 0.01 * 10 ** p));
      const q = random(d, 99, 2);
      const want = attendI8(d, 8, keys, values, q);
      let got: number[];
      try {
        got = attendI8(d, chunk, keys, values, q);
      } catch (error) {
        // Refused by name is fine.
        expect(String(error)).toMatch(/even|chunk/);
        return;
      }
      expect(got).toEqual(want);
    },
  );
});
