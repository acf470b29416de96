/**
 * The int8 decode attention over every layer through the engine's own thread pool, in Node
 * (worker_threads) and in headless Chromium (a module worker of a cross-origin isolated page whose
 * pool threads are Web Workers, as the engine worker runs them): the same code
 * (attention-pool-sweep.ts, bundled for the page by Vite), the same kernels build (the
 * threaded relaxed-SIMD one), the same cache. Says whether Chromium's pool gains what Node's does on
 * the attention at a long context. Wall ms per sweep of every layer, min and median, Node and
 * Chromium in turns round after round.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/experiments/browser-attention-threads.ts
 *     [--threads 1,2] [--context 2000] [--reps 20] [--rounds 5] [--layers 30 --heads 9 --kv-heads 3 --head-dim 64]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildKernels } from '../../src/cpu-engine/build-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { attentionPoolSweep, type SweepParams } from './attention-pool-sweep.ts';
import { bundleWorker } from './bundle-worker.ts';
import { openIsolatedPage } from './isolated-page.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' },
    context: { type: 'string', default: '2000' },
    layers: { type: 'string', default: '30' },
    heads: { type: 'string', default: '9' },
    'kv-heads': { type: 'string', default: '3' },
    'head-dim': { type: 'string', default: '64' },
    reps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
  },
});
const threadCounts = values.threads.split(',').map(Number);
const base = {
  context: Number(values.context),
  layers: Number(values.layers),
  heads: Number(values.heads),
  kvHeads: Number(values['kv-heads']),
  d: Number(values['head-dim']),
  reps: Number(values.reps),
};
const rounds = Number(values.rounds);
const wasm = readFileSync(await buildKernels(true, true));
const module = await WebAssembly.compile(wasm);

type Run = () => { times: number[]; split: number; local: number };
const nodeRuns: Run[] = [];
for (const threads of threadCounts)
  nodeRuns.push(await attentionPoolSweep(module, nodeKernelThreadSpawner, { ...base, threads }));

// The page's worker: the sweep bundled with the web spawner.
const WORKER = await bundleWorker(join(import.meta.dirname, 'browser-attention-threads-worker.ts'));
const PAGE = `<!doctype html><title>attention threads</title><script>
let worker;
window.startWorker = async (params) => {
  worker = new Worker('/worker.js', { type: 'module' });
  const wasm = new Uint8Array(await (await fetch('/kernels.wasm')).arrayBuffer());
  await new Promise((resolve, reject) => {
    worker.onmessage = resolve;
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ wasm, params });
  });
};
window.runSweeps = (run) => new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage({ run }); });
</script>`;
const { page, close } = await openIsolatedPage(PAGE, {
  '/worker.js': ['text/javascript', WORKER],
  '/kernels.wasm': ['application/wasm', wasm],
});
interface PageApi {
  startWorker(params: SweepParams[]): Promise<void>;
  runSweeps(run: number): ReturnType<Run>;
}
await page.evaluate(
  (params) => (globalThis as unknown as PageApi).startWorker(params),
  threadCounts.map((threads) => ({ ...base, threads })),
);

const rows = threadCounts.flatMap((threads, i) => [
  { name: `node, ${threads} thread(s)`, run: () => Promise.resolve(nodeRuns[i]!()) },
  {
    name: `chromium, ${threads} thread(s)`,
    run: () => page.evaluate((r) => (globalThis as unknown as PageApi).runSweeps(r), i),
  },
]);
const times = rows.map(() => [] as number[]);
const splits = rows.map(() => ({ split: 0, local: 0 }));
for (let r = 0; r < rounds; r++)
  for (const [i, row] of rows.entries()) {
    const { times: t, split, local } = await row.run();
    times[i]!.push(...t);
    splits[i]!.split += split;
    splits[i]!.local += local;
  }
await close();
console.log(
  `int8 attention over ${base.layers} layers, one query at ${base.context} positions, wall ms a sweep:`,
);
for (const [i, t] of times.entries()) {
  t.sort((a, b) => a - b);
  const { split, local } = splits[i]!;
  console.log(
    `  ${rows[i]!.name.padEnd(24)} min ${t[0]!.toFixed(2)}  median ${t[t.length >> 1]!.toFixed(2)}  (split ${split}, local ${local})`,
  );
}
process.exit(0);
