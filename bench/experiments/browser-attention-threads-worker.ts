/** The page worker of browser-attention-threads.ts: attention-pool-sweep.ts over Web Workers. */
import { webKernelThreadSpawner } from '../../src/cpu-engine/web-threads.ts';
import { attentionPoolSweep, type SweepParams } from './attention-pool-sweep.ts';

const runs: ReturnType<typeof attentionPoolSweep> extends Promise<infer R> ? R[] : never = [];
const scope = globalThis as unknown as {
  onmessage: (event: { data: { wasm?: ArrayBuffer; params?: SweepParams[]; run?: number } }) => void;
  postMessage(message: unknown): void;
};
scope.onmessage = async ({ data }) => {
  if (data.wasm && data.params) {
    const module = await WebAssembly.compile(data.wasm);
    for (const p of data.params)
      runs.push(await attentionPoolSweep(module, webKernelThreadSpawner().spawn, p));
    scope.postMessage('ready');
  } else if (data.run !== undefined) scope.postMessage(runs[data.run]!());
};
