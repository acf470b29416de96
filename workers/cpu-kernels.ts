/**
 * The CPU engine's kernels in the engine worker: the .wasm the Vite build emits from their
 * AssemblyScript source (vite.config.ts, `virtual:edgetier-cpu-kernels`), fetched from edgetier's
 * own origin and compiled once per worker. A browser whose WebAssembly has no SIMD128 is refused
 * by name (`no_wasm_simd`) before anything is fetched.
 */
import kernelsUrl, { threaded as threadedKernelsUrl } from 'virtual:edgetier-cpu-kernels';
import { EdgetierError } from '../src/core/errors.ts';

/** (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt): valid only where SIMD128 is. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
  11,
]);

/** Whether this WebAssembly has SIMD128 (the capability check reports it before any download). */
export function hasWasmSimd(): boolean {
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

const compiled: { plain: Promise<WebAssembly.Module> | null; threaded: Promise<WebAssembly.Module> | null } =
  { plain: null, threaded: null };

/**
 * The compiled kernels (fetched and compiled on first use; a failure is retried on the next call);
 * `threaded`: the build over a shared memory that the thread pool runs (fetched only when used).
 */
export function kernelModule(threaded = false): Promise<WebAssembly.Module> {
  const key = threaded ? 'threaded' : 'plain';
  const url = threaded ? threadedKernelsUrl : kernelsUrl;
  compiled[key] ??= (async () => {
    requireWasmSimd();
    const response = await fetch(url);
    if (!response.ok) {
      throw new EdgetierError(
        'load_failed',
        `The CPU engine's kernels (${url}) could not be fetched: HTTP ${response.status}. Rebuild the app (\`edgetier build\` or \`npm start\`).`,
      );
    }
    return WebAssembly.compile(await response.arrayBuffer());
  })();
  const module = compiled[key];
  module.catch(() => {
    compiled[key] = null;
  });
  return module;
}

/**
 * The browser's own constructor, taken when the worker starts: ort-build.ts later wraps
 * WebAssembly.Memory to count ORT's heap, which must not count this memory.
 */
const NativeMemory = WebAssembly.Memory;
const memories: { plain: WebAssembly.Memory | null; shared: WebAssembly.Memory | null } = {
  plain: null,
  shared: null,
};

/**
 * The CPU engine's memory, kept for the worker's life and reused by every load (each starts after the
 * previous session was disposed): 20 loads hold the memory of the largest, as ORT's heap does,
 * instead of leaving 20 memories to the garbage collector. `shared`: the thread pool's, for the
 * threaded build (a shared memory must declare its maximum: wasm32's 4 GiB, as the build does). A
 * worker runs one thread count for its life (WorkerEngine), so it holds one of the two.
 */
export function engineMemory(shared = false): WebAssembly.Memory {
  if (shared) {
    memories.shared ??= new NativeMemory({ initial: 1, maximum: 65536, shared: true });
    return memories.shared;
  }
  memories.plain ??= new NativeMemory({ initial: 1, maximum: 65536 });
  return memories.plain;
}

/** Bytes of the CPU engine's memory; null before its first load. */
export function cpuEngineBytes(): number | null {
  const { plain, shared } = memories;
  if (!plain && !shared) return null;
  return (plain?.buffer.byteLength ?? 0) + (shared?.buffer.byteLength ?? 0);
}
