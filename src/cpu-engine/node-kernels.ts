/**
 * The kernels module in Node: built from source by build-kernels.ts (cached under .cache/cpu-engine/)
 * and compiled once per process. The browser's engine worker has its own loader
 * (workers/cpu-kernels.ts) for the asset the Vite build emits from the same source.
 */
/// <reference path="./webassembly.d.ts" />
import { readFile } from 'node:fs/promises';
import { buildKernels } from './build-kernels.ts';

let compiled: Promise<WebAssembly.Module> | null = null;

/** Compiles the kernels once per process (building them first if the cache has none). */
export function kernelModule(): Promise<WebAssembly.Module> {
  compiled ??= buildKernels().then(async (path) => WebAssembly.compile(await readFile(path)));
  compiled.catch(() => {
    compiled = null;
  });
  return compiled;
}
