/**
 * The CPU engine's threads in a browser: classic Web Workers running the kernel thread source
 * (kernel-thread-source.ts) from a Blob URL. A shared WebAssembly.Memory exists only where the page
 * is cross-origin isolated, so anywhere else the engine runs on one thread (`webKernelThreads`).
 * Not yet exercised in a browser: the engine worker does not start a pool yet (ARCHITECTURE.md).
 */
import { WEB_KERNEL_THREAD_SOURCE } from './kernel-thread-source.ts';
import type { KernelThread, KernelThreadSpawner } from './thread-pool.ts';

interface WebWorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (event: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

interface WebScope {
  crossOriginIsolated?: boolean;
  Worker?: new (url: string, options?: { name?: string }) => WebWorkerLike;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL?: { createObjectURL(blob: unknown): string };
}

/** Threads the engine may use here: `requested`, or 1 where the page is not cross-origin isolated. */
export function webKernelThreads(requested: number, scope: WebScope = globalThis as WebScope): number {
  return scope.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined' ? requested : 1;
}

export function webKernelThreadSpawner(scope: WebScope = globalThis as WebScope): KernelThreadSpawner {
  const { Worker, Blob, URL } = scope;
  if (!Worker || !Blob || !URL) throw new Error('this browser context cannot start Web Workers');
  const url = URL.createObjectURL(new Blob([WEB_KERNEL_THREAD_SOURCE], { type: 'text/javascript' }));
  return (index): KernelThread => {
    const worker = new Worker(url, { name: `edgetier-cpu-${index}` });
    return {
      post: (message) => worker.postMessage(message),
      // A Web Worker has no exit event: one that dies reports through 'error'.
      listen(handlers) {
        worker.addEventListener('message', (event) => handlers.message(event.data));
        worker.addEventListener('error', (event) =>
          handlers.error(new Error(event.message ?? 'worker error')),
        );
      },
      terminate: async () => {
        worker.terminate();
      },
    };
  };
}
