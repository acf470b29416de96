/**
 * The CPU engine's kernels in the engine worker: the .wasm the Vite build emits from their
 * AssemblyScript source (vite.config.ts, `virtual:edgetier-cpu-kernels`), fetched from edgetier's
 * own origin and compiled once per worker. A browser whose WebAssembly has no SIMD128 is refused
 * by name (`no_wasm_simd`) before anything is fetched.
 */
import kernelsUrl from 'virtual:edgetier-cpu-kernels';
import { EdgetierError } from '../src/core/errors.ts';

/** (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt): valid only where SIMD128 is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
  11,
]);

function hasWasmSimd(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Refuses a browser whose WebAssembly has no SIMD128, by name (`no_wasm_simd`). */
export function requireWasmSimd(): void {
  if (hasWasmSimd()) return;
  throw new EdgetierError(
    'no_wasm_simd',
    "This browser's WebAssembly has no SIMD, which edgetier's CPU engine needs: run the model on ONNX Runtime (or use a current Chrome, Edge, Firefox or Safari).",
  );
}

let compiled: Promise<WebAssembly.Module> | null = null;

/** The compiled kernels (fetched and compiled on first use; a failure is retried on the next call). */
export function kernelModule(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    requireWasmSimd();
    const response = await fetch(kernelsUrl);
    if (!response.ok) {
      throw new EdgetierError(
        'load_failed',
        `The CPU engine's kernels (${kernelsUrl}) could not be fetched: HTTP ${response.status}. Rebuild the app (\`edgetier build\` or \`npm start\`).`,
      );
    }
    return WebAssembly.compile(await response.arrayBuffer());
  })();
  compiled.catch(() => {
    compiled = null;
  });
  return compiled;
}

/**
 * The browser's own constructor, taken when the worker starts: ort-build.ts later wraps
 * WebAssembly.Memory to count ORT's heap, which must not count this memory.
 */
const NativeMemory = WebAssembly.Memory;
let memory: WebAssembly.Memory | null = null;

/**
 * The CPU engine's memory, kept for the worker's life and reused by every load (each starts after the
 * previous session was disposed): 20 loads hold the memory of the largest, as ORT's heap does,
 * instead of leaving 20 memories to the garbage collector.
 */
export function engineMemory(): WebAssembly.Memory {
  memory ??= new NativeMemory({ initial: 1, maximum: 65536 });
  return memory;
}

/** Bytes of the CPU engine's memory; null before its first load. */
export function cpuEngineBytes(): number | null {
  return memory?.buffer.byteLength ?? null;
}
