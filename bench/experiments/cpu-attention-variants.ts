/**
 * Kernel variants of the decode attention side by side in one process: each AssemblyScript source
 * given (a modified copy of src/cpu-engine/kernels/kernels.ts; none given: the project's own) is
 * built with the threaded build's flags and instantiated over one shared memory holding one KV cache
 * of the model's shape; then its `attention` (one query, the calling thread, every layer) takes turns
 * with the others (interleaved rounds), timed in CPU ms (min and median). Every variant's outputs are
 * compared with the first one's (bit-identical, or the largest difference), so a variant that must
 * not change results can be checked for that too.
 *
 *   npx tsx bench/experiments/cpu-attention-variants.ts [--context 2000] [--hot] [--relaxed]
 *     [--layers 30 --heads 9 --kv-heads 3 --head-dim 64 --chunk 64] [--reps 10] [--rounds 5]
 *     [a.ts b.ts ...]
 *
 * `--hot`: every layer reads layer 0's keys and values (a few MB, in the CPU's caches), so the
 * arithmetic alone is timed; without it each layer reads its own (92 MB at 2000 positions on the 135M
 * shape: the memory traffic is real). `--relaxed`: build with relaxed SIMD too (Node 20 needs the
 * flag, which NODE_OPTIONS refuses: `node --experimental-wasm-relaxed-simd --import tsx <this script>`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { KERNELS_SOURCE, SHARED_ASC_FLAGS } from '../../src/cpu-engine/build-kernels.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    context: { type: 'string', default: '2000' },
    hot: { type: 'boolean', default: false },
    relaxed: { type: 'boolean', default: false },
    layers: { type: 'string', default: '30' },
    heads: { type: 'string', default: '9' },
    'kv-heads': { type: 'string', default: '3' },
    'head-dim': { type: 'string', default: '64' },
    chunk: { type: 'string', default: '64' },
    reps: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
  },
});
const T = Number(values.context);
const L = Number(values.layers);
const H = Number(values.heads);
const KV = Number(values['kv-heads']);
const D = Number(values['head-dim']);
const CHUNK = Number(values.chunk);
const reps = Number(values.reps);
const rounds = Number(values.rounds);
const sources = positionals.length > 0 ? positionals : [KERNELS_SOURCE];

interface Attention {
  attention(...args: number[]): void;
  heapBase(): number;
}

const asc = join(
  dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')),
  'bin',
  'asc.js',
);
const out = await mkdtemp(join(tmpdir(), 'attention-variants-'));
const flags = [...SHARED_ASC_FLAGS, ...(values.relaxed ? ['--enable', 'relaxed-simd'] : [])];

const chunkBytes = L * 2 * KV * CHUNK * D * 4;
const cacheBytes = Math.ceil(T / CHUNK) * chunkBytes;
const scratchBytes = H * D * 4 + H * T * 4 + H * 16 * (D + 4) * 4 + L * H * D * 4 + (1 << 20);
const pages = Math.ceil((cacheBytes + scratchBytes) / 65536) + 64;
const memory = new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
const variants: Attention[] = [];
for (const [i, source] of sources.entries()) {
  const wasm = join(out, `${i}.wasm`);
  await promisify(execFile)(process.execPath, [asc, source, ...flags, '-o', wasm]);
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(await readFile(wasm)), {
    env: { memory },
  });
  variants.push(instance.exports as unknown as Attention);
}

// The cache after every module's static data, then the query, scores, partial records and outputs.
const cache = (Math.max(...variants.map((v) => v.heapBase())) + 4095) & ~4095;
const q = cache + cacheBytes;
const scores = q + H * D * 4;
const partials = scores + H * T * 4 + 64;
const outs = partials + H * 16 * (D + 4) * 4;
const f32 = new Float32Array(memory.buffer);
let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed / 2 ** 32) * 2 - 1;
};
// Values in every page: pages never written read as one zero page, which stays in the CPU's caches.
for (let i = cache / 4; i < (cache + cacheBytes) / 4; i++) f32[i] = rnd();
for (let i = 0; i < H * D; i++) f32[q / 4 + i] = rnd();

function sweep(v: Attention): void {
  for (let l = 0; l < L; l++) {
    const k = cache + (values.hot ? 0 : l) * 2 * KV * CHUNK * D * 4;
    const vals = k + KV * CHUNK * D * 4;
    v.attention(
      outs + l * H * D * 4,
      q,
      k,
      vals,
      chunkBytes,
      CHUNK,
      T,
      H,
      KV,
      D,
      1 / Math.sqrt(D),
      scores,
      partials,
    );
  }
}

const results = variants.map((v) => {
  sweep(v);
  return f32.slice(outs / 4, outs / 4 + L * H * D);
});
for (let i = 1; i < results.length; i++) {
  let most = 0;
  for (let j = 0; j < results[0]!.length; j++)
    most = Math.max(most, Math.abs(results[i]![j]! - results[0]![j]!));
  console.log(
    `${basename(sources[i]!)} against ${basename(sources[0]!)}: ${most === 0 ? 'bit-identical' : `max |diff| ${most}`}`,
  );
}
const times = variants.map(() => [] as number[]);
for (let r = 0; r < rounds; r++)
  for (const [i, v] of variants.entries())
    for (let k = 0; k < reps; k++) {
      const c = process.cpuUsage();
      sweep(v);
      const u = process.cpuUsage(c);
      times[i]!.push((u.user + u.system) / 1000);
    }
console.log(
  `attention over ${L} layers, one query at ${T} positions${values.hot ? ' (hot: layer 0 only)' : ''}, CPU ms:`,
);
for (const [i, t] of times.entries()) {
  t.sort((a, b) => a - b);
  console.log(
    `  ${basename(sources[i]!).padEnd(24)} min ${t[0]!.toFixed(2)}  median ${t[t.length >> 1]!.toFixed(2)}`,
  );
}
