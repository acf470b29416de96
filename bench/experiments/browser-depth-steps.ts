/**
 * The CPU engine's decode step at several depths (the KV cache filled without a prefill, see
 * depth-step-sweep.ts), in Node (worker_threads) and in headless Chromium (a module worker of a
 * cross-origin isolated page, Web Workers for the pool), with the same decoder code (bundled for the
 * page by Vite), kernels build and model files: whether a browser step pays more for a long
 * context than a Node step, and so whether `edgetier bench --depth`'s difference between the two
 * comes from the forward pass or from around it. Median and min wall ms a step, rows in turns.
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/experiments/browser-depth-steps.ts
 *     [--dtype q4] [--threads 2] [--depths 22,2000] [--kv-chunks 64,256] [--steps 16] [--rounds 6] <model-dir>
 *
 * The cache is int8 whatever the dtype (a q8 file's default is float32: --dtype q8 times its GEMVs
 * with the q4 default's cache).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { HfConfig } from '../../src/builder/hf-config.ts';
import { DTYPE_FILE } from '../../src/core/dtypes.ts';
import { buildKernels } from '../../src/cpu-engine/build-kernels.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';
import { bundleWorker } from './bundle-worker.ts';
import { type DepthStepParams, depthSteps } from './depth-step-sweep.ts';
import { openIsolatedPage } from './isolated-page.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: 'string', default: 'q4' },
    threads: { type: 'string', default: '2' },
    depths: { type: 'string', default: '22,2000' },
    /** KV cache chunk sizes to compare, each a decoder of its own (default: the engine's). */
    'kv-chunks': { type: 'string' },
    steps: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '6' },
  },
});
const dir = positionals[0];
if (!dir) throw new Error('give a model folder');
const params: DepthStepParams = {
  dtype: values.dtype as 'q4' | 'q8',
  threads: Number(values.threads),
  depths: values.depths.split(',').map(Number),
  ...(values['kv-chunks'] ? { kvChunks: values['kv-chunks'].split(',').map(Number) } : {}),
  steps: Number(values.steps),
  rounds: Number(values.rounds),
};
const configText = readFileSync(join(dir, 'config.json'), 'utf8');
const onnx = readFileSync(join(dir, 'onnx', DTYPE_FILE[params.dtype]));
const wasm = readFileSync(await buildKernels(params.threads > 1, true));
const nodeRun = await depthSteps(
  JSON.parse(configText) as HfConfig,
  onnx,
  await WebAssembly.compile(wasm),
  nodeKernelThreadSpawner,
  params,
);

const WORKER = await bundleWorker(join(import.meta.dirname, 'browser-depth-steps-worker.ts'));
const PAGE = `<!doctype html><title>depth steps</title><script>
let worker;
window.startWorker = (params) => new Promise((resolve, reject) => {
  worker = new Worker('/worker.js', { type: 'module' });
  worker.onmessage = resolve;
  worker.onerror = (e) => reject(new Error(e.message));
  worker.postMessage({ start: true, params });
});
window.runSteps = () => new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage({}); });
</script>`;
const { page, close } = await openIsolatedPage(PAGE, {
  '/worker.js': ['text/javascript', WORKER],
  '/config.json': ['application/json', configText],
  '/model.onnx': ['application/octet-stream', onnx],
  '/kernels.wasm': ['application/wasm', wasm],
});
interface PageApi {
  startWorker(p: DepthStepParams): Promise<void>;
  runSteps(): Promise<Record<string, number[]>>;
}
await page.evaluate((p) => (globalThis as unknown as PageApi).startWorker(p), params);

const times: Record<string, number[]> = {};
const add = (runtime: string, result: Record<string, number[]>) => {
  for (const [depth, t] of Object.entries(result)) {
    const key = `${runtime} @ ${depth}`;
    times[key] = [...(times[key] ?? []), ...t];
  }
};
for (let r = 0; r < params.rounds; r++) {
  add('node', nodeRun());
  add('chromium', await page.evaluate(() => (globalThis as unknown as PageApi).runSteps()));
}
await close();
console.log(`decode step, ${params.dtype}, ${params.threads} thread(s), wall ms:`);
for (const [name, t] of Object.entries(times)) {
  t.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(30)} min ${t[0]!.toFixed(2)}  median ${t[t.length >> 1]!.toFixed(2)}`);
}
process.exit(0);
