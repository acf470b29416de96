/**
 * Why edgetier's CPU engine decodes slower with a long context: a decode step's time at two depths
 * (interleaved, CPU time and wall time), and the attention kernel alone over the same cache (every
 * layer, one query, at each depth), on one thread. The difference between the steps is what the
 * context costs; the attention timing says how much of it is the attention kernel (the KV cache
 * read), the rest being the per-step bookkeeping that grows with the context.
 *
 *   npx tsx bench/experiments/cpu-depth-profile.ts [--dtype q4] [--threads 1] [--depths 22,2000]
 *     [--steps 16] [--rounds 3] [--fake-fill] <model-dir>
 *
 * --fake-fill marks the cache as holding `depth` positions without a prefill (their keys and values
 * are arbitrary small numbers, written to every page): a step costs the same, and a 2000-token
 * prefill takes minutes on a busy machine.
 */
import { parseArgs } from 'node:util';
import type { Dtype } from '../../src/core/dtypes.ts';
import { type CpuDecoder, PREFILL_CHUNK } from '../../src/cpu-engine/decoder.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import type { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: 'string', default: 'q4' },
    threads: { type: 'string', default: '1' },
    depths: { type: 'string', default: '22,2000' },
    steps: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    /** Skip the prefill: mark the cache as holding `depth` positions (zeros): the step's cost is the same. */
    'fake-fill': { type: 'boolean', default: false },
  },
});
const dir = positionals[0];
if (!dir) throw new Error('give a model folder');
const depths = values.depths.split(',').map(Number);
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const threads = Number(values.threads);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const decoders = new Map<number, CpuDecoder>();
for (const depth of depths) {
  const d = await loadCpuDecoder(dir, values.dtype as Dtype, { threads });
  if (values['fake-fill']) {
    const inside = d as unknown as {
      reserve(n: number): void;
      cached: number;
      cacheBase: number;
      chunkBytes: number;
      kx: WasmKernels;
    };
    const positions = depth + steps * rounds + 1;
    inside.reserve(positions);
    inside.cached = depth;
    // Values in every cache page: pages never written read as the OS's one zero page, which stays in
    // the CPU's caches and would time the kernel without its memory traffic.
    const floats = (Math.ceil(positions / 64) * inside.chunkBytes) / 4;
    const cache = inside.kx.f32(inside.cacheBase, floats);
    for (let i = 0; i < floats; i++) cache[i] = ((i * 2654435761) % 1000) / 4000 - 0.125;
  } else {
    const ids = Array.from({ length: depth }, (_, i) => 300 + ((i * 7919) % 40000));
    const t0 = performance.now();
    d.forward(ids);
    console.log(
      `prefill ${depth} tokens: ${(performance.now() - t0).toFixed(0)} ms (chunks of ${PREFILL_CHUNK})`,
    );
  }
  decoders.set(depth, d);
}

const stepWall = new Map<number, number[]>();
const stepCpu = new Map<number, number[]>();
const attnWall = new Map<number, number[]>();
const attnCpu = new Map<number, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const depth of depths) {
    const d = decoders.get(depth)!;
    for (let s = 0; s < steps; s++) {
      const w = performance.now();
      const c = cpuMs();
      d.forward([500 + s]);
      (stepWall.get(depth) ?? stepWall.set(depth, []).get(depth)!).push(performance.now() - w);
      (stepCpu.get(depth) ?? stepCpu.set(depth, []).get(depth)!).push(cpuMs() - c);
    }
    // The attention kernel alone, every layer, over this decoder's own cache at its current length.
    const internals = d as unknown as {
      kx: WasmKernels;
      cached: number;
      chunkBytes: number;
      cacheBase: number;
      s: { scores: number; attn: number; qkv: number };
    };
    const { kx, s } = internals;
    const spec = d.spec;
    const D = spec.headDim;
    const KV = spec.numKvHeads;
    const headChunkBytes = 64 * D * 4;
    for (let s2 = 0; s2 < steps; s2++) {
      const w = performance.now();
      const c = cpuMs();
      for (let l = 0; l < spec.numLayers; l++) {
        const keys = internals.cacheBase + l * 2 * KV * headChunkBytes;
        kx.k.attention(
          s.attn,
          s.qkv,
          keys,
          keys + KV * headChunkBytes,
          internals.chunkBytes,
          64,
          internals.cached,
          spec.numHeads,
          KV,
          D,
          1 / Math.sqrt(D),
          s.scores,
        );
      }
      (attnWall.get(depth) ?? attnWall.set(depth, []).get(depth)!).push(performance.now() - w);
      (attnCpu.get(depth) ?? attnCpu.set(depth, []).get(depth)!).push(cpuMs() - c);
    }
  }
}
console.log(`${values.dtype}, ${threads} thread(s), medians of ${steps * rounds} steps`);
console.log(
  `| depth | step wall ms | step CPU ms (all threads) | attention alone, all layers: wall ms | CPU ms | tok/s (wall) |`,
);
console.log(`| ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const depth of depths) {
  const w = median(stepWall.get(depth)!);
  console.log(
    `| ${depth} | ${w.toFixed(2)} | ${median(stepCpu.get(depth)!).toFixed(2)} | ${median(attnWall.get(depth)!).toFixed(2)} | ${median(attnCpu.get(depth)!).toFixed(2)} | ${(1000 / w).toFixed(1)} |`,
  );
}
for (const d of decoders.values()) await d.dispose();
