/**
 * Why edgetier's CPU engine decodes slower with a long context: a decode step's time at two depths
 * (interleaved, CPU time and wall time), and the attention kernel alone over the same cache (every
 * layer, one query, at each depth), on one thread. The difference between the steps is what the
 * context costs; the attention timing says how much of it is the attention kernel (the KV cache
 * read), the rest being the per-step bookkeeping that grows with the context.
 *
 *   npx tsx bench/experiments/cpu-depth-profile.ts [--dtype q4] [--threads 1,2] [--depths 22,2000]
 *     [--steps 16] [--rounds 3] [--local-attention] [--min-attention N] [--heads-per-unit N]
 *     [--kv-cache float32,int8] [--fake-fill] <model-dir>
 *
 * Every thread count and depth is a decoder of its own, and each round steps them all in turn
 * (interleaved). On more than one thread the attention runs on the pool as the decoder runs it
 * (`--min-attention`, `--heads-per-unit`: the pool's minAttentionWork and attentionHeadsPerUnit);
 * `--local-attention` adds, for each thread count above 1, a decoder whose attention stays on the
 * calling thread (the pool before it split attention), so both are measured in the same rounds.
 *
 * --fake-fill marks the cache as holding `depth` positions without a prefill (their keys and values
 * are arbitrary small numbers, written to every page): a step costs the same, and a 2000-token
 * prefill takes minutes on a busy machine.
 */
import { parseArgs } from 'node:util';
import type { Dtype } from '../../src/core/dtypes.ts';
import { type CpuDecoder, type KvCacheType, PREFILL_CHUNK } from '../../src/cpu-engine/decoder.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import type { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';
import { fakeFillInt8 } from './depth-step-sweep.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: 'string', default: 'q4' },
    threads: { type: 'string', default: '1' },
    'local-attention': { type: 'boolean', default: false },
    'min-attention': { type: 'string' },
    'heads-per-unit': { type: 'string' },
    /** KV cache element types to compare (CpuDecoderOptions.kvCache); default the file's. */
    'kv-cache': { type: 'string' },
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
interface Config {
  threads: number;
  /** The attention on the calling thread alone (the pool's split threshold out of reach). */
  local: boolean;
  kvCache?: KvCacheType;
}
const caches = values['kv-cache'] ? (values['kv-cache'].split(',') as KvCacheType[]) : [undefined];
const configs: Config[] = [];
for (const threads of values.threads.split(',').map(Number))
  for (const kvCache of caches) {
    configs.push({ threads, local: false, ...(kvCache ? { kvCache } : {}) });
    if (threads > 1 && values['local-attention'])
      configs.push({ threads, local: true, ...(kvCache ? { kvCache } : {}) });
  }
const label = (c: Config) =>
  `${c.threads} thread${c.threads > 1 ? 's' : ''}${c.local ? ', attention local' : ''}${c.kvCache ? `, ${c.kvCache} cache` : ''}`;
const key = (c: Config, depth: number) => `${label(c)} @ ${depth}`;

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const decoders = new Map<string, CpuDecoder>();
for (const config of configs)
  for (const depth of depths) {
    const pool = {
      ...(values['min-attention'] ? { minAttentionWork: Number(values['min-attention']) } : {}),
      ...(values['heads-per-unit'] ? { attentionHeadsPerUnit: Number(values['heads-per-unit']) } : {}),
      ...(config.local ? { minAttentionWork: Number.POSITIVE_INFINITY } : {}),
    };
    const d = await loadCpuDecoder(dir, values.dtype as Dtype, {
      threads: config.threads,
      ...(config.kvCache ? { kvCache: config.kvCache } : {}),
      ...(config.threads > 1 ? { spawn: nodeKernelThreadSpawner, pool } : {}),
    });
    if (values['fake-fill']) {
      const positions = depth + steps * rounds + 1;
      if (d.kvCache === 'int8') fakeFillInt8(d, depth, positions);
      else {
        const inside = d as unknown as {
          reserve(n: number): void;
          cached: number;
          cacheBase: number;
          chunkBytes: number;
          chunkPositions: number;
          kx: WasmKernels;
        };
        inside.reserve(positions);
        inside.cached = depth;
        const floats = (Math.ceil(positions / inside.chunkPositions) * inside.chunkBytes) / 4;
        const cache = inside.kx.f32(inside.cacheBase, floats);
        for (let i = 0; i < floats; i++) cache[i] = ((i * 2654435761) % 1000) / 4000 - 0.125;
      }
    } else {
      const ids = Array.from({ length: depth }, (_, i) => 300 + ((i * 7919) % 40000));
      const t0 = performance.now();
      d.forward(ids);
      console.log(
        `prefill ${depth} tokens: ${(performance.now() - t0).toFixed(0)} ms (chunks of ${PREFILL_CHUNK})`,
      );
    }
    decoders.set(key(config, depth), d);
  }

const stepWall = new Map<string, number[]>();
const stepCpu = new Map<string, number[]>();
const attnWall = new Map<string, number[]>();
const attnCpu = new Map<string, number[]>();
const push = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
for (let r = 0; r < rounds; r++) {
  for (const config of configs)
    for (const depth of depths) {
      const at = key(config, depth);
      const d = decoders.get(at)!;
      for (let s = 0; s < steps; s++) {
        const w = performance.now();
        const c = cpuMs();
        d.forward([500 + s]);
        push(stepWall, at, performance.now() - w);
        push(stepCpu, at, cpuMs() - c);
      }
      // The attention alone, every layer, over this decoder's own cache at its current length, as the
      // decoder runs it (on its pool where it has one).
      const internals = d as unknown as {
        kx: WasmKernels;
        cached: number;
        chunkBytes: number;
        chunkPositions: number;
        headChunkBytes: number;
        cacheBase: number;
        s: {
          scores: number;
          scoresStride: number;
          attn: number;
          qkv: number;
          partials: number;
          partialsBytes: number;
        };
      };
      const { kx, s } = internals;
      const spec = d.spec;
      const D = spec.headDim;
      const KV = spec.numKvHeads;
      const { headChunkBytes } = internals;
      const int8 = d.kvCache === 'int8';
      for (let s2 = 0; s2 < steps; s2++) {
        const w = performance.now();
        const c = cpuMs();
        for (let l = 0; l < spec.numLayers; l++) {
          const keys = internals.cacheBase + l * 2 * KV * headChunkBytes;
          if (d.pool) {
            d.pool.attention({
              out: s.attn,
              partials: s.partials,
              partialsBytes: s.partialsBytes,
              q: s.qkv,
              qStride: (spec.numHeads + 2 * KV) * D * 4,
              keys,
              values: keys + KV * headChunkBytes,
              chunkBytes: internals.chunkBytes,
              chunkPositions: internals.chunkPositions,
              t0: internals.cached,
              tokens: 1,
              heads: spec.numHeads,
              kvHeads: KV,
              d: D,
              scale: 1 / Math.sqrt(D),
              scores: s.scores,
              scoresStride: s.scoresStride,
              int8,
            });
            continue;
          }
          (int8 ? kx.k.attentionI8 : kx.k.attention)(
            s.attn,
            s.qkv,
            keys,
            keys + KV * headChunkBytes,
            internals.chunkBytes,
            internals.chunkPositions,
            internals.cached,
            spec.numHeads,
            KV,
            D,
            1 / Math.sqrt(D),
            s.scores,
            s.partials,
          );
        }
        push(attnWall, at, performance.now() - w);
        push(attnCpu, at, cpuMs() - c);
      }
    }
}
console.log(`${values.dtype}, medians of ${steps * rounds} steps, ${rounds} interleaved rounds`);
console.log(
  `| threads | depth | step wall ms (best) | step CPU ms (all threads) | attention alone, all layers: wall ms | CPU ms | tok/s (wall) | wall vs first depth |`,
);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const config of configs) {
  const first = median(stepWall.get(key(config, depths[0]!))!);
  for (const depth of depths) {
    const at = key(config, depth);
    const w = median(stepWall.get(at)!);
    console.log(
      `| ${label(config)} | ${depth} | ${w.toFixed(2)} (${Math.min(...stepWall.get(at)!).toFixed(2)}) | ${median(stepCpu.get(at)!).toFixed(2)} | ${median(attnWall.get(at)!).toFixed(2)} | ${median(attnCpu.get(at)!).toFixed(2)} | ${(1000 / w).toFixed(1)} | ${(first / w).toFixed(2)}x |`,
    );
  }
}
for (const d of decoders.values()) await d.dispose();
