/**
 * The int8 decode attention of every layer through the engine's thread pool (KernelThreadPool over
 * the threaded relaxed-SIMD kernels), for browser-attention-threads.ts: the same code runs in Node
 * (worker_threads) and bundled into a Chromium worker (Web Workers), so the two pools can be timed
 * side by side. Platform-free: the caller gives the kernels module and the thread spawner.
 */
import { KernelThreadPool, type KernelThreadSpawner } from '../../src/cpu-engine/thread-pool.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

export interface SweepParams {
  threads: number;
  context: number;
  layers: number;
  heads: number;
  kvHeads: number;
  d: number;
  reps: number;
}

const CHUNK = 64;

/** Sets the cache up and returns a function timing `reps` sweeps (wall ms each) and the pool's split counts. */
export async function attentionPoolSweep(
  module: WebAssembly.Module,
  spawn: KernelThreadSpawner,
  p: SweepParams,
): Promise<() => { times: number[]; split: number; local: number }> {
  const kx = await WasmKernels.create(module, { shared: true });
  const pool = p.threads > 1 ? await KernelThreadPool.start(kx, module, spawn, { threads: p.threads }) : null;
  const k = kx.k;
  const group = p.heads / p.kvHeads;
  const headI8 = k.kvHeadChunkBytesI8(CHUNK, p.d);
  const chunkBytes = p.layers * 2 * p.kvHeads * headI8;
  const chunks = Math.ceil(p.context / CHUNK);
  const qStride = p.heads * p.d * 4;
  const q = kx.alloc(qStride);
  kx.f32(q, qStride / 4).set(Float32Array.from({ length: qStride / 4 }, (_, i) => Math.sin(i) * 3));
  const out = kx.alloc(p.heads * p.d * 4);
  const scoresStride = group * p.context * 4 + 64;
  const scores = kx.alloc(Math.max(1, p.threads) * scoresStride);
  const partialsBytes = k.attentionPartialBytes(1, p.heads, p.d);
  const partials = kx.alloc(partialsBytes);
  const cache = kx.alloc(chunks * chunkBytes);
  const src = kx.alloc(2 * p.d * 4);
  const srcView = kx.f32(src, 2 * p.d);
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed / 2 ** 32) * 2 - 1;
  };
  for (let c = 0; c < chunks; c++)
    for (let l = 0; l < p.layers; l++)
      for (let g = 0; g < p.kvHeads; g++)
        for (let t = 0; t < CHUNK; t++) {
          for (let i = 0; i < 2 * p.d; i++) srcView[i] = rnd();
          const dst = cache + c * chunkBytes + l * 2 * p.kvHeads * headI8 + g * headI8;
          k.kvStoreI8(dst, dst + p.kvHeads * headI8, t, src, src + p.d * 4, p.d, CHUNK);
        }
  const scale = 1 / Math.sqrt(p.d);
  const sweep = () => {
    for (let l = 0; l < p.layers; l++) {
      const keys = cache + l * 2 * p.kvHeads * headI8;
      const values = keys + p.kvHeads * headI8;
      if (pool)
        pool.attention({
          out,
          partials,
          partialsBytes,
          q,
          qStride,
          keys,
          values,
          chunkBytes,
          chunkPositions: CHUNK,
          // The positions the one query sees (the decoder's pos0 + 1), as attentionI8's `p.context`.
          t0: p.context,
          tokens: 1,
          heads: p.heads,
          kvHeads: p.kvHeads,
          d: p.d,
          scale,
          scores,
          scoresStride,
          int8: true,
        });
      else
        k.attentionI8(
          out,
          q,
          keys,
          values,
          chunkBytes,
          CHUNK,
          p.context,
          p.heads,
          p.kvHeads,
          p.d,
          scale,
          scores,
          partials,
        );
    }
  };
  for (let i = 0; i < 20; i++) sweep();
  return () => {
    const times: number[] = [];
    const split0 = pool?.attentionSplit ?? 0;
    const local0 = pool?.attentionLocal ?? 0;
    for (let i = 0; i < p.reps; i++) {
      const t = performance.now();
      sweep();
      times.push(performance.now() - t);
    }
    return {
      times,
      split: (pool?.attentionSplit ?? 0) - split0,
      local: (pool?.attentionLocal ?? 0) - local0,
    };
  };
}
