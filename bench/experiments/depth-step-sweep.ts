/**
 * Decode steps of the CPU engine's decoder at given depths, the cache filled without a prefill (as
 * cpu-depth-profile.ts's --fake-fill: arbitrary small keys and values in every page, codes and
 * scales as kvStoreI8 writes them), for browser-depth-steps.ts: the same code runs in Node and
 * bundled into a Chromium worker. Platform-free: the caller gives the files, kernels and spawner.
 */
import type { HfConfig } from '../../src/builder/hf-config.ts';
import { CpuDecoder } from '../../src/cpu-engine/decoder.ts';
import type { KernelThreadSpawner } from '../../src/cpu-engine/thread-pool.ts';
import type { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

export interface DepthStepParams {
  dtype: 'q4' | 'q8';
  threads: number;
  depths: number[];
  steps: number;
  rounds: number;
  /** KV cache chunk sizes to compare (CpuDecoderOptions.kvChunkPositions); default the engine's. */
  kvChunks?: number[];
}

interface Internals {
  reserve(n: number): void;
  cached: number;
  cacheBase: number;
  chunkBytes: number;
  headChunkBytes: number;
  chunkPositions: number;
  kx: WasmKernels;
  s: { tmp: number };
}

/**
 * Marks an int8 cache as holding `depth` positions without a prefill, with room for `positions`:
 * codes and scales as kvStoreI8 writes them, from arbitrary small floats, in every page of it (pages
 * never written read as the OS's one zero page, which stays in the CPU's caches and would time the
 * attention without its memory traffic). A step then costs what it costs after a real prefill.
 */
export function fakeFillInt8(d: CpuDecoder, depth: number, positions: number): void {
  if (d.kvCache !== 'int8') throw new Error(`fakeFillInt8 fills an int8 cache, not ${d.kvCache}`);
  const inside = d as unknown as Internals;
  inside.reserve(positions);
  inside.cached = depth;
  const { headDim: D, numKvHeads: KV, numLayers: L } = d.spec;
  // The decoder's own scratch (kx.alloc would hand out the cache's first bytes: the cache is last).
  const vec = inside.s.tmp;
  const f = inside.kx.f32(vec, D);
  const P = inside.chunkPositions;
  for (let c = 0; c < Math.ceil(positions / P); c++)
    for (let l = 0; l < L; l++)
      for (let g = 0; g < KV; g++)
        for (let q = 0; q < P; q++) {
          for (let i = 0; i < D; i++)
            f[i] = (((c * P + q + l + g) * 2654435761 + i * 40503) % 1000) / 4000 - 0.125;
          const head = inside.cacheBase + c * inside.chunkBytes + (l * 2 * KV + g) * inside.headChunkBytes;
          inside.kx.k.kvStoreI8(head, head + KV * inside.headChunkBytes, q, vec, vec, D, P);
        }
}

/**
 * One decoder per depth (and per KV cache chunk size where `p.kvChunks` names several); returns a
 * function running `steps` steps on each: wall ms per step, by "depth" or "depth, chunk N".
 */
export async function depthSteps(
  config: HfConfig,
  onnx: Uint8Array,
  kernels: WebAssembly.Module,
  spawn: KernelThreadSpawner | undefined,
  p: DepthStepParams,
): Promise<() => Record<string, number[]>> {
  const decoders: [string, CpuDecoder][] = [];
  // Arbitrary tokens inside any vocabulary (a test model's can be small).
  const vocab = Number(config.vocab_size);
  const token = (i: number) => (500 + i) % vocab;
  const chunks = p.kvChunks ?? [undefined];
  for (const depth of p.depths) {
    for (const chunk of chunks) {
      // An int8 cache for q8 files too (their default is float32): the fill below writes int8 codes.
      const d = await CpuDecoder.fromFiles(config, onnx, p.dtype, kernels, {
        threads: p.threads,
        kvCache: 'int8',
        ...(chunk !== undefined ? { kvChunkPositions: chunk } : {}),
        ...(p.threads > 1 && spawn ? { spawn } : {}),
      });
      fakeFillInt8(d, depth, depth + p.steps * p.rounds * 2 + 64);
      for (let s = 0; s < 4; s++) d.forward([token(s)]);
      decoders.push([chunk === undefined ? `${depth}` : `${depth}, chunk ${chunk}`, d]);
    }
  }
  return () => {
    const out: Record<string, number[]> = {};
    for (const [name, d] of decoders) {
      const times: number[] = [];
      for (let s = 0; s < p.steps; s++) {
        const t = performance.now();
        d.forward([token(100 + s)]);
        times.push(performance.now() - t);
      }
      out[name] = times;
    }
    return out;
  };
}
