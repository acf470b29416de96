/**
 * The decode attention over the float32 KV cache (fp32 files) against the int8 cache (q8/q4 files),
 * side by side in one process: one shared memory holds both caches of the model's shape, filled from
 * the same random floats (the int8 one through kvStoreI8); then `attention` and `attentionI8` (one
 * query, the calling thread, every layer) take turns (interleaved rounds), timed in CPU ms (min and
 * median), and the int8 outputs are compared with the float32 ones (largest difference, relative to
 * the largest output).
 *
 *   npx tsx bench/experiments/cpu-attention-int8.ts [--context 2000] [--hot]
 *     [--layers 30 --heads 9 --kv-heads 3 --head-dim 64 --chunk 64] [--reps 10] [--rounds 5]
 *     [variant.ts ...]
 *
 * Each AssemblyScript source given (a modified copy of src/cpu-engine/kernels/kernels.ts) is built
 * with the engine's threaded flags and its `attentionI8` timed as one more row over the same int8
 * cache, its outputs compared with the engine's int8 kernel's.
 *
 * `--hot`: every layer reads layer 0's cache (the arithmetic alone); without it each layer reads its
 * own (92 MB of float32 at 2000 positions on the 135M shape, 24 MB of int8).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { SHARED_ASC_FLAGS } from '../../src/cpu-engine/build-kernels.ts';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    context: { type: 'string', default: '2000' },
    hot: { type: 'boolean', default: false },
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

interface Kernels {
  attention(...args: number[]): void;
  attentionI8(...args: number[]): void;
  kvStoreI8(...args: number[]): void;
  kvHeadChunkBytesI8(chunkPositions: number, d: number): number;
  heapBase(): number;
}

const chunks = Math.ceil(T / CHUNK);
const headF32 = CHUNK * D * 4;
const chunkF32 = L * 2 * KV * headF32;
const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
const module = await kernelModule(true, false);
const k = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as Kernels;
const asc = join(
  dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')),
  'bin',
  'asc.js',
);
const built = await mkdtemp(join(tmpdir(), 'attention-int8-'));
const variants: Kernels[] = [];
for (const [i, source] of positionals.entries()) {
  const wasm = join(built, `${i}.wasm`);
  await promisify(execFile)(process.execPath, [asc, source, ...SHARED_ASC_FLAGS, '-o', wasm]);
  const compiled = await WebAssembly.compile(await readFile(wasm));
  variants.push((await WebAssembly.instantiate(compiled, { env: { memory } })).exports as unknown as Kernels);
}
const headI8 = k.kvHeadChunkBytesI8(CHUNK, D);
const chunkI8 = L * 2 * KV * headI8;
const base = (Math.max(k.heapBase(), ...variants.map((v) => v.heapBase())) + 4095) & ~4095;
const f32Cache = base;
const i8Cache = f32Cache + chunks * chunkF32;
const q = i8Cache + chunks * chunkI8;
const scores = q + H * D * 4;
const partials = scores + H * T * 4 + 64;
const outs = partials + H * 16 * (D + 4) * 4;
const end = outs + (2 + variants.length) * L * H * D * 4;
memory.grow(Math.ceil(end / 65536) - memory.buffer.byteLength / 65536 + 1);
const f32 = new Float32Array(memory.buffer);
let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed / 2 ** 32) * 2 - 1;
};
for (let i = f32Cache / 4; i < i8Cache / 4; i++) f32[i] = rnd();
for (let i = 0; i < H * D; i++) f32[q / 4 + i] = rnd() * 3;
// The int8 cache from the float32 one, position by position.
for (let c = 0; c < chunks; c++)
  for (let l = 0; l < L; l++)
    for (let g = 0; g < KV; g++)
      for (let p = 0; p < CHUNK; p++) {
        const src = f32Cache + c * chunkF32 + l * 2 * KV * headF32 + g * headF32 + p * D * 4;
        const dst = i8Cache + c * chunkI8 + l * 2 * KV * headI8 + g * headI8;
        k.kvStoreI8(dst, dst + KV * headI8, p, src, src + KV * headF32, D, CHUNK);
      }

/** Row 0: the float32 cache; row 1: the engine's int8 kernel; then each variant's. */
const rows = ['float32 cache', 'int8 cache', ...positionals.map((p) => basename(p))];
function sweep(row: number): void {
  const int8 = row > 0;
  const kernels = row > 1 ? variants[row - 2]! : k;
  for (let l = 0; l < L; l++) {
    const layer = values.hot ? 0 : l;
    const head = int8 ? headI8 : headF32;
    const keys = (int8 ? i8Cache : f32Cache) + layer * 2 * KV * head;
    (int8 ? kernels.attentionI8 : kernels.attention)(
      outs + (row * L + l) * H * D * 4,
      q,
      keys,
      keys + KV * head,
      int8 ? chunkI8 : chunkF32,
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

for (let row = 0; row < rows.length; row++) sweep(row);
const differs = (row: number, than: number) => {
  let most = 0;
  for (let j = 0; j < L * H * D; j++)
    most = Math.max(
      most,
      Math.abs(f32[outs / 4 + row * L * H * D + j]! - f32[outs / 4 + than * L * H * D + j]!),
    );
  return most;
};
let largest = 0;
for (let j = 0; j < L * H * D; j++) largest = Math.max(largest, Math.abs(f32[outs / 4 + j]!));
console.log(
  `int8 against float32: max |diff| ${differs(1, 0).toExponential(2)} (largest output ${largest.toFixed(3)})`,
);
for (let row = 2; row < rows.length; row++) {
  const most = differs(row, 1);
  console.log(
    `${rows[row]} against the int8 kernel: ${most === 0 ? 'bit-identical' : `max |diff| ${most.toExponential(2)}`}`,
  );
}
const times = rows.map(() => [] as number[]);
for (let r = 0; r < rounds; r++)
  for (let row = 0; row < rows.length; row++)
    for (let n = 0; n < reps; n++) {
      const c = process.cpuUsage();
      sweep(row);
      const u = process.cpuUsage(c);
      times[row]!.push((u.user + u.system) / 1000);
    }
console.log(
  `attention over ${L} layers, one query at ${T} positions${values.hot ? ' (hot: layer 0 only)' : ''}, CPU ms:`,
);
for (const [i, t] of times.entries()) {
  t.sort((a, b) => a - b);
  console.log(`  ${rows[i]!.padEnd(24)} min ${t[0]!.toFixed(2)}  median ${t[t.length >> 1]!.toFixed(2)}`);
}
