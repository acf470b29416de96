/**
 * The CPU engine's threads in a browser: classic Web Workers running the kernel thread source
 * (kernel-thread-source.ts) from a Blob URL. A shared WebAssembly.Memory exists only where the page
 * is cross-origin isolated, so anywhere else the engine runs on one thread (`webKernelThreads`).
 * The engine worker (workers/cpu-model.ts) starts them, nested in itself.
 */
import { WEB_KERNEL_THREAD_SOURCE } from './kernel-thread-source.ts';
import type { KernelThread, KernelThreadSpawner } from './thread-pool.ts';

interface WebWorkerLike {
  postMessage(message: unknown): void;
  addEventListener(
    type: string,
    listener: (event: { data?: unknown; message?: string; preventDefault?(): void }) => void,
  ): void;
  terminate(): void;
}

interface WebScope {
  crossOriginIsolated?: boolean;
  Worker?: new (url: string, options?: { name?: string }) => WebWorkerLike;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL?: { createObjectURL(blob: unknown): string; revokeObjectURL?(url: string): void };
}

/** Why `webKernelThreads` gives one thread here; null where the pool may start. */
export function webKernelThreadsRefusal(scope: WebScope = globalThis as WebScope): string | null {
  if (scope.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined') return null;
  return 'the page is not cross-origin isolated (no SharedArrayBuffer; it needs the COOP/COEP headers that `edgetier serve` and the static site send)';
}

/** Threads the engine may use here: `requested`, or 1 where the page is not cross-origin isolated. */
export function webKernelThreads(requested: number, scope: WebScope = globalThis as WebScope): number {
  return webKernelThreadsRefusal(scope) === null ? requested : 1;
}

/** How long terminate() waits for a thread's loop to end before ending the worker regardless. */
const STOP_WAIT_MS = 1000;

/** A spawner over one Blob URL of the thread source; `revoke` frees the URL once the threads started. */
export interface WebKernelThreads {
  spawn: KernelThreadSpawner;
  revoke(): void;
}

export function webKernelThreadSpawner(scope: WebScope = globalThis as WebScope): WebKernelThreads {
  const { Worker, Blob, URL } = scope;
  if (!Worker || !Blob || !URL) throw new Error('this browser context cannot start Web Workers');
  const url = URL.createObjectURL(new Blob([WEB_KERNEL_THREAD_SOURCE], { type: 'text/javascript' }));
  let revoked = false;
  return {
    spawn: (index): KernelThread => {
      if (revoked) throw new Error('the kernel threads spawner was revoked');
      const worker = new Worker(url, { name: `edgetier-cpu-${index}` });
      // Its loop has ended (it says 'stopped'), or it never ran: terminate() need not wait longer.
      let ended: () => void = () => undefined;
      const over = new Promise<void>((resolve) => {
        ended = resolve;
      });
      worker.addEventListener('message', (event) => {
        if ((event.data as { type?: string } | undefined)?.type === 'stopped') ended();
      });
      worker.addEventListener('error', (event) => {
        // Handled here (the pool hears it): uncancelled, a thread's error would also be raised in the
        // engine worker's own scope, which the page takes for the engine worker failing.
        event.preventDefault?.();
        ended();
      });
      return {
        post: (message) => worker.postMessage(message),
        // A Web Worker has no exit event: one that dies reports through 'error'.
        listen(handlers) {
          worker.addEventListener('message', (event) => handlers.message(event.data));
          worker.addEventListener('error', (event) =>
            handlers.error(new Error(event.message || 'the worker failed to load or run its script')),
          );
        },
        // The pool has raised its stop flag: wait (briefly) for the loop to see it before the worker
        // goes, so no thread still runs over the memory when the engine's next load clears it.
        terminate: async () => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([over, new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
          clearTimeout(timer);
          worker.terminate();
        },
      };
    },
    revoke() {
      if (revoked) return;
      revoked = true;
      URL.revokeObjectURL?.(url);
    },
  };
}
