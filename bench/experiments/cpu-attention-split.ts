/**
 * The attention alone, on the calling thread and split on the thread pool, at several context lengths:
 * where splitting starts to pay (the pool's minAttentionWork) and how many query heads a unit should
 * take (attentionHeadsPerUnit). A decode step's attention over every layer of a synthetic KV cache of
 * the model's shape (values in every page, so the memory traffic is real), one query token, as the
 * decoder runs it. Configurations take turns within each round (interleaved); per configuration and
 * context: median and best wall ms of a whole sweep over the layers, and the median CPU ms (every
 * thread of the process).
 *
 *   npx tsx bench/experiments/cpu-attention-split.ts [--threads 2] [--contexts 16,64,256,2000]
 *     [--per-unit 0,1,3] [--layers 30 --heads 9 --kv-heads 3 --head-dim 64] [--reps 20] [--rounds 5]
 *
 * `--per-unit 0` is the pool's own choice; the row "local" is the kernels' `attention` on the calling
 * thread, token by token, as the decoder without a pool runs it.
 */
import { parseArgs } from 'node:util';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { KernelThreadPool } from '../../src/cpu-engine/thread-pool.ts';
import { WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    contexts: { type: 'string', default: '16,32,64,128,256,512,2000' },
    'per-unit': { type: 'string', default: '0,1,3' },
    layers: { type: 'string', default: '30' },
    heads: { type: 'string', default: '9' },
    'kv-heads': { type: 'string', default: '3' },
    'head-dim': { type: 'string', default: '64' },
    reps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
  },
});
const threads = Number(values.threads);
const contexts = values.contexts.split(',').map(Number);
const perUnits = values['per-unit'].split(',').map(Number);
const layers = Number(values.layers);
const heads = Number(values.heads);
const kvHeads = Number(values['kv-heads']);
const d = Number(values['head-dim']);
const reps = Number(values.reps);
const rounds = Number(values.rounds);
const CHUNK = 64;

const module = await kernelModule(true);
const kx = await WasmKernels.create(module, { shared: true });
const pools = new Map<number, KernelThreadPool>();
for (const perUnit of perUnits) {
  pools.set(
    perUnit,
    await KernelThreadPool.start(kx, module, nodeKernelThreadSpawner, {
      threads,
      minAttentionWork: 0,
      attentionHeadsPerUnit: perUnit,
    }),
  );
}
const maxT = Math.max(...contexts);
const group = heads / kvHeads;
const headChunkBytes = CHUNK * d * 4;
const chunkBytes = layers * 2 * kvHeads * headChunkBytes;
const qStride = (heads + 2 * kvHeads) * d * 4;
const q = kx.alloc(qStride);
kx.f32(q, qStride / 4).set(Float32Array.from({ length: qStride / 4 }, (_, i) => Math.sin(i) / 8));
const out = kx.alloc(heads * d * 4);
const scoresStride = group * maxT * 4;
const scores = kx.alloc(threads * scoresStride);
const partials = kx.alloc(kx.k.attentionPartialBytes(1, heads, d));
const cache = kx.alloc(Math.ceil(maxT / CHUNK) * chunkBytes);
const floats = (Math.ceil(maxT / CHUNK) * chunkBytes) / 4;
const view = kx.f32(cache, floats);
for (let i = 0; i < floats; i++) view[i] = ((i * 2654435761) % 1000) / 4000 - 0.125;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sweep = (t: number, pool: KernelThreadPool | null) => {
  for (let l = 0; l < layers; l++) {
    const keys = cache + l * 2 * kvHeads * headChunkBytes;
    const values = keys + kvHeads * headChunkBytes;
    if (pool) {
      pool.attention({
        out,
        partials,
        partialsBytes: kx.k.attentionPartialBytes(1, heads, d),
        q,
        qStride,
        keys,
        values,
        chunkBytes,
        chunkPositions: CHUNK,
        t0: t,
        tokens: 1,
        heads,
        kvHeads,
        d,
        scale: 1 / Math.sqrt(d),
        scores,
        scoresStride,
      });
    } else
      kx.k.attention(
        out,
        q,
        keys,
        values,
        chunkBytes,
        CHUNK,
        t,
        heads,
        kvHeads,
        d,
        1 / Math.sqrt(d),
        scores,
        partials,
      );
  }
};

const configs: { name: string; pool: KernelThreadPool | null }[] = [
  { name: 'local', pool: null },
  ...perUnits.map((p) => ({ name: `${threads} threads, ${p || 'auto'} per unit`, pool: pools.get(p)! })),
];
const wall = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
const push = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
for (let r = 0; r < rounds; r++) {
  for (const t of contexts) {
    for (const c of configs) {
      sweep(t, c.pool);
      for (let i = 0; i < reps; i++) {
        const w = performance.now();
        const u = cpuMs();
        sweep(t, c.pool);
        push(wall, `${c.name}@${t}`, performance.now() - w);
        push(cpu, `${c.name}@${t}`, cpuMs() - u);
      }
    }
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
console.log(
  `attention alone, ${layers} layers of ${heads}/${kvHeads} heads of ${d}, one query; ${rounds} interleaved rounds of ${reps}: wall median (best) ms / CPU median ms`,
);
console.log(`| context | ${configs.map((c) => c.name).join(' | ')} |`);
console.log(`| ---: |${configs.map(() => ' ---: |').join('')}`);
for (const t of contexts) {
  const cells = configs.map((c) => {
    const k = `${c.name}@${t}`;
    return `${median(wall.get(k)!).toFixed(3)} (${Math.min(...wall.get(k)!).toFixed(3)}) / ${median(cpu.get(k)!).toFixed(2)}`;
  });
  console.log(`| ${t} | ${cells.join(' | ')} |`);
}
console.log(`work per query position: ${2 * heads * d} multiply-adds per layer`);
for (const pool of pools.values()) await pool.close();
