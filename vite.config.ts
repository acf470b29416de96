/**
 * Vite for the page, the engine worker and the engine test page (engine.html).
 * - COOP/COEP on dev and preview: `crossOriginIsolated` is true, so WASM threads work.
 * - transformers.js imports `onnxruntime-web/webgpu` (the asyncify build, slow on CPU); that one
 *   import is redirected to workers/ort-for-transformers.ts, which hands it the build the backend
 *   plan picked (JSPI, plain CPU or WebGPU). Only that build's files are fetched.
 * - ORT's .mjs/.wasm come from edgetier's own origin via `?url` imports (workers/ort-build.ts).
 * - The app's Content-Security-Policy on dev and preview (src/server/content-security-policy.ts).
 * - The CPU engine's kernels are built from their AssemblyScript source (src/cpu-engine/build-kernels.ts)
 *   and reach the engine worker as an asset (`virtual:edgetier-cpu-kernels`, the .wasm's URL).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, normalizePath, type Plugin } from 'vite';
import { buildKernels, KERNELS_SOURCES } from './src/cpu-engine/build-kernels.ts';
import { APP_CSP, APP_DEV_CSP, APP_META_CSP } from './src/server/content-security-policy.ts';
import {
  modelFileHeaders,
  modelFileType,
  realPathInside,
  resolveInside,
  serveFile,
} from './src/server/static-files.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
const ortShim = fileURLToPath(new URL('./workers/ort-for-transformers.ts', import.meta.url));

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * The dev server serves every file under the project root, the model folders in models/ included:
 * there, as in `edgetier serve`, a model folder is data (model file types only, sandboxed). Only
 * this middleware may serve them: `server.fs.deny` refuses models/ to Vite's own file serving.
 */
function inertModelFolders(): Plugin {
  return {
    name: 'edgetier-inert-model-folders',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0] ?? '';
        if (!path.startsWith('/models/')) return next();
        const notFound = () => {
          res.statusCode = 404;
          res.end();
        };
        let file: string | null = null;
        try {
          file = resolveInside(root, path.slice(1));
        } catch {
          // undecodable: a 404 like any other path that names no model file
        }
        const type = file ? modelFileType(file) : null;
        if (!file || !type) return notFound();
        for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
        realPathInside(`${root}models`, file)
          .then((real) =>
            real ? serveFile(req, res, real, { contentType: type, headers: modelFileHeaders(type) }) : false,
          )
          .then((sent) => sent || notFound(), next);
      });
    },
  };
}

/** The built pages carry the app's CSP themselves, for hosts that send no headers (dev keeps its own). */
function metaContentSecurityPolicy(): Plugin {
  return {
    name: 'edgetier-meta-csp',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: { 'http-equiv': 'Content-Security-Policy', content: APP_META_CSP },
        injectTo: 'head-prepend',
      },
    ],
  };
}

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

/**
 * `virtual:edgetier-cpu-kernels` is the URL of the CPU engine's kernels (and, as `threaded`, of
 * their threaded build, over a shared memory, for the thread pool; as `relaxed` and `relaxedThreaded`,
 * the same two with relaxed SIMD, kernels/relaxed.ts): built from source on first
 * use (cached in .cache/cpu-engine/ by a hash of the source, the compiler and its flags), then a
 * `?url` asset like ORT's .wasm files: emitted with a content hash by a build, served by the dev
 * server. No .wasm is kept in git.
 */
function cpuKernels(): Plugin {
  const id = 'virtual:edgetier-cpu-kernels';
  const resolved = `\0${id}`;
  return {
    name: 'edgetier-cpu-kernels',
    resolveId: (source) => (source === id ? resolved : null),
    async load(moduleId) {
      if (moduleId !== resolved) return null;
      for (const file of KERNELS_SOURCES) this.addWatchFile(file);
      // Plain and threaded (a shared memory, for the engine worker's thread pool), each with SIMD128
      // alone and with relaxed SIMD: the worker fetches the one its browser and page can run.
      const builds = {
        default: await buildKernels(false, false),
        threaded: await buildKernels(true, false),
        relaxed: await buildKernels(false, true),
        relaxedThreaded: await buildKernels(true, true),
      };
      return Object.entries(builds)
        .map(
          ([name, path]) =>
            `export { default as ${name} } from ${JSON.stringify(`${normalizePath(path)}?url`)};`,
        )
        .join('\n');
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
  plugins: [pickedOrtBuild(), cpuKernels(), inertModelFolders(), metaContentSecurityPolicy()],
  server: {
    headers: { ...ISOLATION_HEADERS, 'Content-Security-Policy': APP_DEV_CSP },
    host: '127.0.0.1',
    // Vite reaches models/ by other spellings than the middleware's `/models/` (`//models/`,
    // `/%6dodels/`, `/@fs/...`, `/@id/...`): refuse them all, the middleware serves the model files.
    // Vite's own default list, then models/ (matched without case, as Vite does).
    fs: {
      deny: [
        '.env',
        '.env.*',
        '*.{crt,pem,key,p12,pfx,cer,der}',
        '.npmrc',
        '.yarnrc.yml',
        '**/.git/**',
        `${normalizePath(root)}models/**`,
      ],
    },
  },
  preview: { headers: { ...ISOLATION_HEADERS, 'Content-Security-Policy': APP_CSP }, host: '127.0.0.1' },
  // transformers.js is served unbundled in dev so that the plugin above sees its ORT import.
  optimizeDeps: {
    exclude: ['@huggingface/transformers', 'onnxruntime-web'],
    include: [
      'comlink',
      '@huggingface/transformers > @huggingface/jinja',
      '@huggingface/transformers > @huggingface/tokenizers',
    ],
  },
  worker: { format: 'es', plugins: () => [pickedOrtBuild(), cpuKernels()] },
  build: {
    target: 'es2022',
    rolldownOptions: { input: pages(mode) },
    // ORT's .wasm files are 14-27 MB; each is fetched only when its build is picked.
    chunkSizeWarningLimit: 4096,
  },
}));
