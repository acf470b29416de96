/** The page worker of browser-depth-steps.ts: depth-step-sweep.ts over Web Workers. */
import type { HfConfig } from '../../src/builder/hf-config.ts';
import { webKernelThreadSpawner } from '../../src/cpu-engine/web-threads.ts';
import { type DepthStepParams, depthSteps } from './depth-step-sweep.ts';

let run: (() => Record<string, number[]>) | null = null;
const scope = globalThis as unknown as {
  onmessage: (event: { data: { start?: boolean; params?: DepthStepParams } }) => void;
  postMessage(message: unknown): void;
};
scope.onmessage = async ({ data }) => {
  if (data.start && data.params) {
    const [config, onnx, wasm] = await Promise.all([
      fetch('/config.json').then((r) => r.json() as Promise<HfConfig>),
      fetch('/model.onnx').then((r) => r.arrayBuffer()),
      fetch('/kernels.wasm').then((r) => r.arrayBuffer()),
    ]);
    const module = await WebAssembly.compile(wasm);
    run = await depthSteps(config, new Uint8Array(onnx), module, webKernelThreadSpawner().spawn, data.params);
    scope.postMessage('ready');
  } else if (run) scope.postMessage(run());
};
