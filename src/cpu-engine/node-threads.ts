/**
 * The CPU engine's threads in Node: worker_threads Workers running the kernel thread source
 * (kernel-thread-source.ts). Unreferenced, so an idle pool never keeps the process alive.
 */
import { Worker } from 'node:worker_threads';
import { NODE_KERNEL_THREAD_SOURCE } from './kernel-thread-source.ts';
import type { KernelThread, KernelThreadSpawner } from './thread-pool.ts';

export const nodeKernelThreadSpawner: KernelThreadSpawner = (index): KernelThread => {
  const worker = new Worker(NODE_KERNEL_THREAD_SOURCE, { eval: true, name: `edgetier-cpu-${index}` });
  worker.unref();
  return {
    post: (message) => worker.postMessage(message),
    listen(handlers) {
      worker.on('message', handlers.message);
      worker.on('error', handlers.error);
      worker.on('exit', handlers.exit);
    },
    terminate: async () => {
      await worker.terminate();
    },
  };
};
