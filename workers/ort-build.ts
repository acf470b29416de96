/**
 * Which onnxruntime-web build this worker runs, and loading it. ORT can be initialised once per
 * worker, with one build and one thread count, so the page starts a fresh worker when the plan
 * needs another (see src/client/worker-engine.ts). The .mjs/.wasm files are served by edgetier
 * itself through Vite `?url` imports: never a CDN, so a cached model works offline.
 *
 * Only the picked build is fetched: each is a separate dynamic import, and its .wasm (14-27 MB) is
 * requested by ORT only when the first session is created.
 */

import asyncifyMjs from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';
import asyncifyWasm from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import jspiMjs from 'onnxruntime-web/ort-wasm-simd-threaded.jspi.mjs?url';
import jspiWasm from 'onnxruntime-web/ort-wasm-simd-threaded.jspi.wasm?url';
import plainMjs from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url';
import plainWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import type { OrtBuild } from '../src/core/backend-plan.ts';
import { EdgetierError } from '../src/core/errors.ts';

type Ort = typeof import('onnxruntime-web');

export const ORT_FILES: Record<OrtBuild, { mjs: string; wasm: string }> = {
  webgpu: { mjs: asyncifyMjs, wasm: asyncifyWasm },
  jspi: { mjs: jspiMjs, wasm: jspiWasm },
  wasm: { mjs: plainMjs, wasm: plainWasm },
};

let selected: { build: OrtBuild; threads: number } | null = null;
let loaded: Promise<Ort> | null = null;
const memories: WebAssembly.Memory[] = [];

/** Fixes the build and thread count for this worker's life; a different one is a page-side bug. */
export function selectOrtBuild(build: OrtBuild, threads: number): void {
  if (selected && (selected.build !== build || selected.threads !== threads)) {
    throw new EdgetierError(
      'load_failed',
      `This engine worker runs ORT's ${selected.build} build with ${selected.threads} thread(s); ` +
        `${build} with ${threads} needs a fresh worker. Unload and load again.`,
    );
  }
  selected = { build, threads };
}

export function selectedOrtBuild(): OrtBuild | null {
  return selected?.build ?? null;
}

/** Bytes of every WebAssembly memory ORT created (the wasm heap); null before ORT started. */
export function wasmHeapBytes(): number | null {
  if (memories.length === 0) return null;
  return memories.reduce((sum, m) => sum + m.buffer.byteLength, 0);
}

/** Records the memories ORT's Emscripten module creates, so the heap can be measured. */
function trackWasmMemories(): void {
  const Native = WebAssembly.Memory;
  const Tracked = function (this: unknown, descriptor: WebAssembly.MemoryDescriptor) {
    const memory = new Native(descriptor);
    memories.push(memory);
    return memory;
  } as unknown as typeof WebAssembly.Memory;
  Tracked.prototype = Native.prototype;
  WebAssembly.Memory = Tracked;
}

/** The module of the selected build, configured to fetch its files from edgetier's own server. */
export function loadOrt(): Promise<Ort> {
  if (!selected) throw new Error('selectOrtBuild must run before ORT is loaded');
  const { build, threads } = selected;
  loaded ??= (async () => {
    trackWasmMemories();
    const ort: Ort =
      build === 'webgpu'
        ? await import('onnxruntime-web/webgpu')
        : build === 'jspi'
          ? await import('onnxruntime-web/jspi')
          : await import('onnxruntime-web/wasm');
    ort.env.wasm.wasmPaths = { ...ORT_FILES[build] };
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    return ort;
  })();
  return loaded;
}
