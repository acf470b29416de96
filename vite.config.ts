/**
 * Vite for the page, the engine worker and the engine test page (engine.html).
 * - COOP/COEP on dev and preview: `crossOriginIsolated` is true, so WASM threads work.
 * - transformers.js imports `onnxruntime-web/webgpu` (the asyncify build, slow on CPU); that one
 *   import is redirected to workers/ort-for-transformers.ts, which hands it the build the backend
 *   plan picked (JSPI, plain CPU or WebGPU). Only that build's files are fetched.
 * - ORT's .mjs/.wasm come from edgetier's own origin via `?url` imports (workers/ort-build.ts).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const ortShim = fileURLToPath(new URL('./workers/ort-for-transformers.ts', import.meta.url));

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Gives transformers.js the ORT build the plan picked instead of its hard-wired one. */
function pickedOrtBuild(): Plugin {
  return {
    name: 'edgetier-picked-ort-build',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === 'onnxruntime-web/webgpu' && importer?.includes('@huggingface/transformers'))
        return ortShim;
      return null;
    },
  };
}

/** Mode `engine` builds the engine test page alone (browser tests, `edgetier generate --device wasm`). */
function pages(mode: string): Record<string, string> {
  const input: Record<string, string> = { engine: `${root}engine.html` };
  if (mode !== 'engine' && existsSync(`${root}index.html`)) input.index = `${root}index.html`;
  return input;
}

export default defineConfig(({ mode }) => ({
  plugins: [pickedOrtBuild()],
  server: { headers: ISOLATION_HEADERS, host: '127.0.0.1' },
  preview: { headers: ISOLATION_HEADERS, host: '127.0.0.1' },
  // transformers.js is served unbundled in dev so that the plugin above sees its ORT import.
  optimizeDeps: {
    exclude: ['@huggingface/transformers', 'onnxruntime-web'],
    include: [
      'comlink',
      '@huggingface/transformers > @huggingface/jinja',
      '@huggingface/transformers > @huggingface/tokenizers',
    ],
  },
  worker: { format: 'es', plugins: () => [pickedOrtBuild()] },
  build: {
    target: 'es2022',
    rolldownOptions: { input: pages(mode) },
    // ORT's .wasm files are 14-27 MB; each is fetched only when its build is picked.
    chunkSizeWarningLimit: 4096,
  },
}));
