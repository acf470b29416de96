/**
 * The CPU engine's kernels in the engine worker: the .wasm the Vite build emits from their
 * AssemblyScript source (vite.config.ts, `virtual:edgetier-cpu-kernels`), fetched from edgetier's
 * own origin and compiled once per worker. A browser whose WebAssembly has no SIMD128 is refused
 * by name (`no_wasm_simd`) before anything is fetched.
 */
import kernelsUrl, {
  relaxed as relaxedKernelsUrl,
  relaxedThreaded as relaxedThreadedKernelsUrl,
  threaded as threadedKernelsUrl,
} from 'virtual:edgetier-cpu-kernels';
import { EdgetierError } from '../src/core/errors.ts';
import { hasRelaxedSimd, hasWasmSimd } from '../src/cpu-engine/wasm-features.ts';

export { hasWasmSimd };

/** Refuses a browser whose WebAssembly has no SIMD128, by name (`no_wasm_simd`). */
export function requireWasmSimd(): void {
  if (hasWasmSimd()) return;
  throw new EdgetierError(
    'no_wasm_simd',
    "This browser's WebAssembly has no SIMD, which edgetier's CPU engine needs: run the model on ONNX Runtime (or use a current Chrome, Edge, Firefox or Safari).",
  );
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** Fetches and compiles one kernels asset, once per worker (a failure is retried on the next call). */
function compileAsset(url: string): Promise<WebAssembly.Module> {
  let module = compiled.get(url);
  if (!module) {
    module = (async () => {
      const response = await fetch(url);
      if (!response.ok) {
        throw new EdgetierError(
          'load_failed',
          `The CPU engine's kernels (${url}) could not be fetched: HTTP ${response.status}. Rebuild the app (\`edgetier build\` or \`npm start\`).`,
        );
      }
      return WebAssembly.compile(await response.arrayBuffer());
    })();
    compiled.set(url, module);
    module.catch(() => compiled.delete(url));
  }
  return module;
}

/**
 * The compiled kernels; `threaded`: the build over a shared memory that the thread pool runs
 * (fetched only when used); `relaxed`: the relaxed-SIMD build (kernels/relaxed.ts), by default where
 * this browser computes relaxed SIMD right. The relaxed builds only make a q4 file faster (the SIMD128
 * ones give the same logits), so where a relaxed asset cannot be fetched or compiled (a deployment or
 * cache without it, a proxy's 404) the SIMD128 build runs instead, with a warning in the console.
 */
export async function kernelModule(
  threaded = false,
  relaxed = hasRelaxedSimd(),
): Promise<WebAssembly.Module> {
  requireWasmSimd();
  const simd128 = threaded ? threadedKernelsUrl : kernelsUrl;
  if (!relaxed) return compileAsset(simd128);
  try {
    return await compileAsset(threaded ? relaxedThreadedKernelsUrl : relaxedKernelsUrl);
  } catch (error) {
    console.warn(
      `edgetier: the relaxed-SIMD kernels could not be loaded (${error instanceof Error ? error.message : String(error)}); running the SIMD128 build, which gives the same results.`,
    );
    return compileAsset(simd128);
  }
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
