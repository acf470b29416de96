/**
 * The attention's touches (touchUnit: one load a 64-byte line of a kv head's whole chunk region)
 * stay inside the region whatever its size: with a float32 cache of 3-position chunks and d 6 a region
 * is 72 bytes, and where the cache's last chunk ends WebAssembly memory a 16-byte load at its last
 * line would read past the end (a trap; a review found it). The engine's own chunks (64 positions)
 * keep every region a multiple of 256 bytes; this is the exported kernels' contract (any chunkPositions).
 * Real parts: the engine's kernels built from source, one WebAssembly memory.
 */
import { describe, expect, it } from 'vitest';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';

interface Kernels {
  attention(...args: number[]): void;
  attentionPartialBytes(tokens: number, heads: number, d: number): number;
  heapBase(): number;
}

describe('the attention touch stays inside the cache', () => {
  it('float32 cache of 3-position chunks, d 6, ending memory: attention over 7 positions does not trap', async () => {
    const pages = 4;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const k = new WebAssembly.Instance(await kernelModule(false, false), { env: { memory } })
      .exports as unknown as Kernels;
    const cp = 3;
    const d = 6;
    const t = 7;
    const heads = 1;
    const kvHeads = 1;
    const headChunkBytes = cp * d * 4;
    const chunkBytes = 2 * kvHeads * headChunkBytes;
    const chunks = Math.ceil(t / cp);
    // The cache last in memory, as the decoder lays it out (it grows at the end).
    const cache = pages * 65536 - chunks * chunkBytes;
    const f = new Float32Array(memory.buffer);
    for (let i = cache / 4; i < f.length; i++) f[i] = ((i * 37) % 11) / 11 - 0.5;
    let p = (k.heapBase() + 15) & ~15;
    const take = (bytes: number) => {
      const at = p;
      p += (bytes + 15) & ~15;
      return at;
    };
    const q = take(heads * d * 4);
    const out = take(heads * d * 4);
    const scores = take(heads * t * 4);
    const partials = take(k.attentionPartialBytes(1, heads, d));
    for (let i = 0; i < heads * d; i++) f[q / 4 + i] = 0.1 * (i + 1);
    expect(p).toBeLessThan(cache);
    expect(() =>
      k.attention(
        out,
        q,
        cache,
        cache + kvHeads * headChunkBytes,
        chunkBytes,
        cp,
        t,
        heads,
        kvHeads,
        d,
        0.4,
        scores,
        partials,
      ),
    ).not.toThrow();
  });
});
