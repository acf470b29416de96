/**
 * One kernel of a decode step timed in Node and in headless Chromium (a dedicated worker of a
 * cross-origin isolated page, as the engine runs it), with the same kernels build (the threaded
 * relaxed-SIMD one), shapes and calling code, so that what the browser's code generation costs can be
 * told apart from the thread pool and the generation loop around it. Wall ms per sweep of every
 * layer (performance.now), min and median, the rows in turns round after round.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/experiments/browser-kernel-time.ts
 *     [--kernel attention|gemv|gemv-q4|gemv-q8] [--context 2000] [--hot] [--reps 20] [--rounds 5]
 *     [--layers 30 --heads 9 --kv-heads 3 --head-dim 64 --chunk 64 --hidden 576 --intermediate 1536]
 *     [variant.ts ...]
 *
 * --kernel attention (the default): attentionI8, one query over an int8 cache of --context positions.
 * --kernel gemv: a decode step's 4-bit GEMVs over int8 activations (quantizeActivationsI8Tiled, then
 * gemmQ4I8Rows) for q, k, v, o, the merged gate|up and down of every layer (random codes): the default
 * q4 path where relaxed SIMD runs. --kernel gemv-q4, gemv-q8: the SIMD128 4-bit and 8-bit GEMVs over
 * int16 activations (quantizeActivationsTiled, then gemmQ4Rows or gemmQ8Rows), the same Linears.
 *
 * Each AssemblyScript source given (a modified copy of src/cpu-engine/kernels/kernels.ts or
 * relaxed.ts, kept in that folder so its imports resolve) is built with the engine's threaded
 * relaxed-SIMD flags and timed as one more row, in both runtimes, over its own copy of the same data;
 * its outputs are compared with the engine's.
 *
 * `--hot`: every layer reads layer 0's cache or weights (the arithmetic alone); without it each layer
 * reads its own (24 MB of int8 cache at 2000 positions, 60 MB of weights, on the 135M shape).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { buildKernels, SHARED_ASC_FLAGS } from '../../src/cpu-engine/build-kernels.ts';
import { openIsolatedPage } from './isolated-page.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    kernel: { type: 'string', default: 'attention' },
    context: { type: 'string', default: '2000' },
    hidden: { type: 'string', default: '576' },
    intermediate: { type: 'string', default: '1536' },
    hot: { type: 'boolean', default: false },
    layers: { type: 'string', default: '30' },
    heads: { type: 'string', default: '9' },
    'kv-heads': { type: 'string', default: '3' },
    'head-dim': { type: 'string', default: '64' },
    chunk: { type: 'string', default: '64' },
    reps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
  },
});
const KERNELS = ['attention', 'gemv', 'gemv-q4', 'gemv-q8'];
if (!KERNELS.includes(values.kernel)) throw new Error(`--kernel: one of ${KERNELS.join(', ')}`);
const params = {
  kernel: values.kernel,
  hidden: Number(values.hidden),
  intermediate: Number(values.intermediate),
  T: Number(values.context),
  L: Number(values.layers),
  H: Number(values.heads),
  KV: Number(values['kv-heads']),
  D: Number(values['head-dim']),
  CHUNK: Number(values.chunk),
  hot: values.hot,
  reps: Number(values.reps),
};
const rounds = Number(values.rounds);

/** Sets up the data in a fresh shared memory and returns a function timing `reps` sweeps (ms each). */
const SETUP = `async function setup(wasm, p) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const k = (await WebAssembly.instantiate(await WebAssembly.compile(wasm), { env: { memory } })).exports;
  let seed = 12345;
  const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed / 2 ** 32) * 2 - 1; };
  const timer = (sweep, out, count) => {
    for (let i = 0; i < 20; i++) sweep();
    const result = () => Array.from(new Float32Array(memory.buffer, out, count));
    return () => {
      const times = [];
      for (let i = 0; i < p.reps; i++) { const t = performance.now(); sweep(); times.push(performance.now() - t); }
      return { times, out: result() };
    };
  };
  if (p.kernel.startsWith('gemv')) {
    const q8 = p.kernel === 'gemv-q8', int16 = p.kernel !== 'gemv';
    // [rows, cols] of a layer's Linears: q, k, v, o, gate|up, down.
    const kvw = p.KV * p.D;
    const mats = [[p.H * p.D, p.hidden], [kvw, p.hidden], [kvw, p.hidden], [p.hidden, p.H * p.D], [2 * p.intermediate, p.hidden], [p.hidden, p.intermediate]];
    let at = (k.heapBase() + 4095) & ~4095;
    const widest = Math.max(...mats.map(([, c]) => c)), tallest = Math.max(...mats.map(([r]) => r));
    const x = at; at += widest * 4;
    const xq = at; at += widest * 4 + 256;
    const xs = at; at += widest / 8 + 64;
    const y = at; at += tallest * 4;
    const layers = [];
    for (let l = 0; l < p.L; l++) layers.push(mats.map(([rows, cols]) => {
      const blocks = cols / 32, w = at; at += rows * blocks * (q8 ? 32 : 16);
      const ws = at; at += q8 ? rows * 4 : rows * blocks * 4;
      return { rows, cols, blocks, w, ws };
    }));
    memory.grow(Math.ceil(at / 65536) - memory.buffer.byteLength / 65536 + 1);
    const u8 = new Uint8Array(memory.buffer), f32 = new Float32Array(memory.buffer);
    for (let i = 0; i < widest; i++) f32[x / 4 + i] = rnd();
    for (const layer of layers) for (const m of layer) {
      for (let i = 0; i < m.rows * m.blocks * (q8 ? 32 : 16); i++) u8[m.w + i] = (rnd() * 128 + 128) & 255;
      for (let i = 0; i < (q8 ? m.rows : m.rows * m.blocks); i++) f32[m.ws / 4 + i] = rnd() * 0.01;
    }
    const sweep = () => {
      for (let l = 0; l < p.L; l++) for (const m of layers[p.hot ? 0 : l]) {
        if (!int16) {
          k.quantizeActivationsI8Tiled(xq, xs, x, m.cols, 1);
          k.gemmQ4I8Rows(y, m.w, m.ws, xq, xs, m.rows, m.blocks, 1, 0, m.rows);
        } else {
          k.quantizeActivationsTiled(xq, xs, x, m.cols, 1, 32767);
          (q8 ? k.gemmQ8Rows : k.gemmQ4Rows)(y, m.w, m.ws, xq, xs, m.rows, m.blocks, 1, 0, m.rows);
        }
      }
    };
    return timer(sweep, y, p.hidden);
  }
  const chunks = Math.ceil(p.T / p.CHUNK);
  const headI8 = k.kvHeadChunkBytesI8(p.CHUNK, p.D);
  const chunkI8 = p.L * 2 * p.KV * headI8;
  const base = (k.heapBase() + 4095) & ~4095;
  const cache = base, src = cache + chunks * chunkI8, q = src + 2 * p.D * 4;
  const scores = q + p.H * p.D * 4, partials = scores + p.H * p.T * 4 + 64, out = partials + p.H * 16 * (p.D + 4) * 4;
  const end = out + p.H * p.D * 4;
  memory.grow(Math.ceil(end / 65536) - memory.buffer.byteLength / 65536 + 1);
  const f32 = new Float32Array(memory.buffer);
  for (let i = 0; i < p.H * p.D; i++) f32[q / 4 + i] = rnd() * 3;
  for (let c = 0; c < chunks; c++) for (let l = 0; l < p.L; l++) for (let g = 0; g < p.KV; g++) for (let t = 0; t < p.CHUNK; t++) {
    for (let i = 0; i < 2 * p.D; i++) f32[src / 4 + i] = rnd();
    const dst = cache + c * chunkI8 + l * 2 * p.KV * headI8 + g * headI8;
    k.kvStoreI8(dst, dst + p.KV * headI8, t, src, src + p.D * 4, p.D, p.CHUNK);
  }
  const sweep = () => {
    for (let l = 0; l < p.L; l++) {
      const keys = cache + (p.hot ? 0 : l) * 2 * p.KV * headI8;
      k.attentionI8(out, q, keys, keys + p.KV * headI8, chunkI8, p.CHUNK, p.T, p.H, p.KV, p.D, 1 / Math.sqrt(p.D), scores, partials);
    }
  };
  return timer(sweep, out, p.H * p.D);
}`;

const asc = join(
  dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')),
  'bin',
  'asc.js',
);
const wasms = [readFileSync(await buildKernels(true, true))];
// The variants' builds are read into memory; their folder goes at once.
const built = mkdtempSync(join(tmpdir(), 'browser-kernel-time-'));
try {
  for (const [i, source] of positionals.entries()) {
    const path = join(built, `${i}.wasm`);
    await promisify(execFile)(process.execPath, [
      asc,
      source,
      ...SHARED_ASC_FLAGS,
      '--enable',
      'relaxed-simd',
      '-o',
      path,
    ]);
    wasms.push(readFileSync(path));
  }
} finally {
  rmSync(built, { recursive: true, force: true });
}
const names = ['engine', ...positionals.map((p) => basename(p))];
type Run = () => { times: number[]; out: number[] };

// Node: the same source text, evaluated here.
const nodeSetup = new Function(`${SETUP}; return setup;`)() as (
  wasm: Uint8Array,
  p: typeof params,
) => Promise<Run>;
const nodeRuns: Run[] = [];
for (const wasm of wasms) nodeRuns.push(await nodeSetup(wasm, params));

// Chromium: a cross-origin isolated page (shared memory) whose dedicated worker runs the same text.
const WORKER = `${SETUP}
const runs = [];
self.onmessage = async ({ data }) => {
  if (data.wasms) { for (const wasm of data.wasms) runs.push(await setup(wasm, data.p)); self.postMessage('ready'); }
  else self.postMessage(runs[data.run]());
};`;
// The page starts the worker with every build's bytes, then runs one build's sweeps per call.
const PAGE = `<!doctype html><title>kernel time</title><script>
let worker;
window.startWorker = async (p, count) => {
  worker = new Worker('/worker.js');
  const wasms = [];
  for (let i = 0; i < count; i++) wasms.push(new Uint8Array(await (await fetch('/kernels-' + i)).arrayBuffer()));
  await new Promise((resolve) => { worker.onmessage = resolve; worker.postMessage({ wasms, p }); });
};
window.runSweeps = (run) => new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage({ run }); });
</script>`;
const { page, close } = await openIsolatedPage(PAGE, {
  '/worker.js': ['text/javascript', WORKER],
  ...Object.fromEntries(
    wasms.map((wasm, i) => [`/kernels-${i}`, ['application/wasm', wasm] as [string, Uint8Array]]),
  ),
});
type Sweeps = (run: number) => Promise<{ times: number[]; out: number[] }>;
interface PageApi {
  startWorker(p: typeof params, count: number): Promise<void>;
  runSweeps: Sweeps;
}
await page.evaluate(({ p, count }) => (globalThis as unknown as PageApi).startWorker(p, count), {
  p: params,
  count: wasms.length,
});

const rows = names.flatMap((name, i) => [
  { name: `${name}, node`, run: () => Promise.resolve(nodeRuns[i]!()) },
  {
    name: `${name}, chromium`,
    run: () => page.evaluate((r) => (globalThis as unknown as PageApi).runSweeps(r), i),
  },
]);
const times = rows.map(() => [] as number[]);
const outs: number[][] = [];
for (let r = 0; r < rounds; r++)
  for (const [i, row] of rows.entries()) {
    const { times: t, out } = await row.run();
    times[i]!.push(...t);
    outs[i] = out;
  }
await close();
for (const [i, row] of rows.entries()) {
  let most = 0;
  for (let j = 0; j < outs[0]!.length; j++) most = Math.max(most, Math.abs(outs[i]![j]! - outs[0]![j]!));
  if (most !== 0)
    console.log(`${row.name}: outputs differ from the engine's in Node by up to ${most.toExponential(2)}`);
}
const what =
  params.kernel === 'attention'
    ? `attentionI8 over ${params.L} layers, one query at ${params.T} positions`
    : `${params.kernel === 'gemv' ? 'quantizeActivationsI8Tiled + gemmQ4I8Rows' : `quantizeActivationsTiled + ${params.kernel === 'gemv-q8' ? 'gemmQ8Rows' : 'gemmQ4Rows'}`} for every Linear of ${params.L} layers, one token`;
console.log(`${what}${params.hot ? ' (hot: layer 0 only)' : ''}, wall ms a sweep:`);
for (const [i, t] of times.entries()) {
  t.sort((a, b) => a - b);
  console.log(
    `  ${rows[i]!.name.padEnd(32)} min ${t[0]!.toFixed(2)}  median ${t[t.length >> 1]!.toFixed(2)}`,
  );
}
