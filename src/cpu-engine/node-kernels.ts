/**
 * The kernels module in Node: built from source by build-kernels.ts (cached under .cache/cpu-engine/)
 * and compiled once per process. The browser's engine worker has its own loader
 * (workers/cpu-kernels.ts) for the asset the Vite build emits from the same source.
 */
/// <reference path="./webassembly.d.ts" />
import { readFile } from 'node:fs/promises';
import { buildKernels } from './build-kernels.ts';
import { hasRelaxedSimd } from './wasm-features.ts';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/**
 * Compiles the kernels once per process (building them first if the cache has none); `shared`: the
 * threaded build, whose memory is a shared one (thread-pool.ts); `relaxed`: the relaxed-SIMD build,
 * by default where this Node has relaxed SIMD (Node 20: `--experimental-wasm-relaxed-simd`).
 */
export function kernelModule(shared = false, relaxed = hasRelaxedSimd()): Promise<WebAssembly.Module> {
  const key = `${shared ? 'shared' : 'plain'} ${relaxed ? 'relaxed' : 'simd128'}`;
  let module = compiled.get(key);
  if (!module) {
    module = buildKernels(shared, relaxed).then(async (path) => WebAssembly.compile(await readFile(path)));
    compiled.set(key, module);
    module.catch(() => compiled.delete(key));
  }
  return module;
}
