/**
 * The kernels module in Node: built from source by build-kernels.ts (cached under .cache/cpu-engine/)
 * and compiled once per process. The browser's engine worker has its own loader
 * (workers/cpu-kernels.ts) for the asset the Vite build emits from the same source.
 */
/// <reference path="./webassembly.d.ts" />
import { readFile } from 'node:fs/promises';
import { buildKernels } from './build-kernels.ts';

const compiled: { plain: Promise<WebAssembly.Module> | null; shared: Promise<WebAssembly.Module> | null } = {
  plain: null,
  shared: null,
};

/**
 * Compiles the kernels once per process (building them first if the cache has none); `shared`: the
 * threaded build, whose memory is a shared one (thread-pool.ts).
 */
export function kernelModule(shared = false): Promise<WebAssembly.Module> {
  const key = shared ? 'shared' : 'plain';
  compiled[key] ??= buildKernels(shared).then(async (path) => WebAssembly.compile(await readFile(path)));
  const module = compiled[key];
  module.catch(() => {
    compiled[key] = null;
  });
  return module;
}
