/**
 * Which engine runs `edgetier generate` for a device. `cpu` is the in-process Node engine on
 * onnxruntime-node; `wasm` and `webgpu` run the browser engine in headless Chromium and are added
 * here by the browser engine (src/cli/browser-engine.ts). `runtime: 'edgetier'` runs edgetier's own
 * CPU engine instead of ONNX Runtime: in Node on cpu, in the engine worker on wasm; 'auto' (the
 * default) lets src/core/cpu-runtime-plan.ts choose.
 */
import type { CpuRuntimeChoice, Device, Engine } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';
import { NODE_RUNTIMES, NodeEngine, type NodeRuntime } from '../native/node-engine.ts';

export const DEVICES: readonly Device[] = ['cpu', 'wasm', 'webgpu'];

export function isDevice(value: string): value is Device {
  return (DEVICES as readonly string[]).includes(value);
}

export interface EngineForDeviceOptions {
  /** ONNX Runtime threads; 0 or absent lets the engine choose. */
  threads?: number;
  /**
   * What runs the forward passes on device cpu or wasm (default auto: src/core/cpu-runtime-plan.ts);
   * see NodeEngineOptions and LoadRequest.runtime.
   */
  runtime?: CpuRuntimeChoice;
}

export function isNodeRuntime(value: string): value is NodeRuntime {
  return (NODE_RUNTIMES as readonly string[]).includes(value);
}

/** An engine that can load a local model folder on `device`; the caller must unload it when done. */
export async function engineForDevice(device: Device, options: EngineForDeviceOptions = {}): Promise<Engine> {
  if (device === 'cpu') {
    return new NodeEngine({
      threads: options.threads ?? 0,
      ...(options.runtime ? { runtime: options.runtime } : {}),
    });
  }
  if (options.runtime === 'edgetier' && device !== 'wasm') {
    throw new EdgetierError(
      'usage',
      `--engine edgetier runs on --device cpu (Node) or wasm (the browser), not on ${device} (WebGPU runs onnxruntime-web).`,
    );
  }
  // The browser engine: the engine worker in headless Chromium; unload() closes the browser.
  const { BrowserEngine } = await import('./browser-engine.ts');
  return BrowserEngine.start({
    webgpu: device === 'webgpu',
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.runtime ? { runtime: options.runtime } : {}),
  });
}
