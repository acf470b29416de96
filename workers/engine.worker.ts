/**
 * The on-device engine worker.
 *
 * Protocol: the worker exposes one object, typed `EngineWorkerApi` (src/core/engine-protocol.ts),
 * with Comlink. The page wraps it in `WorkerEngine` (src/client/worker-engine.ts).
 * - `protocolVersion()` first: the page refuses a worker of another version.
 * - `load(request, onProgress)`: `request.build` and `request.threads` fix the ORT build and thread
 *   count for the worker's life (ORT initialises once); the page starts a fresh worker for another.
 *   The page settles `request.runtime` ('auto' by default: src/core/cpu-runtime-plan.ts) before it
 *   comes here. `request.runtime: 'edgetier'` (device wasm) runs the model on edgetier's CPU engine instead of
 *   ORT (./cpu-model.ts), reading the same files, on `request.threads` threads of its own pool where
 *   the page is cross-origin isolated (else one; LoadedInfo.threads says how many run and
 *   LoadedInfo.threadsFallback why fewer); what it cannot run it refuses by name
 *   (`no_wasm_simd`, `unsupported_dtype`, `unsupported_architecture`), and LoadedInfo.engine says
 *   which runtime runs the model.
 *   `onProgress` (a Comlink proxy) gets LoadProgress at most every 100 ms, never raw library objects.
 *   The load ends with a silent warm-up generation (`request.warmupBudgetMs`, default
 *   DEFAULT_WARMUP_BUDGET_MS; 0 skips it) and a reset, so the first reply runs on tiered-up WASM code.
 * - `generate(request, onChunk)`: `onChunk` gets a first chunk with the prompt's length (`promptTokens`,
 *   no text, 0 tokens), then batched StreamChunks; resolves to the GenerateResult.
 * - `interrupt()` is never queued: it stops the running generation after its current token, and
 *   ends the generations submitted before it that have not started.
 * - Everything else runs one at a time, in order of arrival.
 * - Errors cross as EdgetierError with their code (Comlink 'throw' handler replaced on both sides).
 *   A failed load leaves the worker without a model and ready for the next load.
 */
import * as Comlink from 'comlink';
import { planBackends } from '../src/core/backend-plan.ts';
import {
  DEFAULT_WARMUP_BUDGET_MS,
  type GenerateRequest,
  type LoadProgress,
  type StreamChunk,
  type ThreadsFallback,
} from '../src/core/engine.ts';
import {
  ENGINE_PROTOCOL_VERSION,
  type EngineWorkerApi,
  type LoadedInfo,
  type WorkerEnvironment,
  type WorkerLoadRequest,
} from '../src/core/engine-protocol.ts';
import { type ErrorContext, toEdgetierError } from '../src/core/error-mapping.ts';
import { registerErrorTransfer } from '../src/core/error-transfer.ts';
import { EdgetierError } from '../src/core/errors.ts';
import { LoadProgressTracker } from '../src/core/load-progress.ts';
import type { ModelSession } from '../src/runtime/model-session.ts';
import { detectCapabilities } from './capabilities-probe.ts';
import { cpuEngineBytes, requireWasmSimd } from './cpu-kernels.ts';
import {
  applySource,
  cachedFile,
  clearCached,
  DEFAULT_REMOTE_HOST,
  deleteCached,
  type LoadScope,
  listCached,
  ModelFiles,
  modelBase,
  type TransformersEnv,
} from './model-files.ts';
import { probeModel } from './model-probe.ts';
import { selectedOrtBuild, selectOrtBuild, wasmHeapBytes } from './ort-build.ts';
import { browserTemplateRenderer } from './template-thread.ts';

const environment: Required<WorkerEnvironment> = { remoteHost: DEFAULT_REMOTE_HOST, useBrowserCache: true };
const files = new ModelFiles(environment.useBrowserCache);
const fetcher = files;
// The store before files carried validators: nothing in it can be checked.
void files.store.dropLegacy();
let session: ModelSession | null = null;
/** The URL root picked files are served under (from memory) while a picked folder loads. */
let pickedRoot: string | null = null;
/** Counts interrupts: a generate submitted before one is ended by it (see `generate`). */
let interrupts = 0;
let context: ErrorContext = { phase: 'load' };

registerErrorTransfer(Comlink.transferHandlers as never, (error) =>
  toEdgetierError(error, {
    ...context,
    ...(fetcher.lastFailure ? { lastHttpFailure: fetcher.lastFailure } : {}),
  }),
);

/** One request at a time: load, generate, unload and cache operations wait their turn. */
let queue: Promise<unknown> = Promise.resolve();
function queued<T>(task: () => Promise<T>): Promise<T> {
  const run = queue.then(task);
  queue = run.catch(() => undefined);
  return run;
}

/** Imported after the ORT build is fixed: transformers.js takes the build from ort-for-transformers. */
async function runtime() {
  const [transformers, modelSession, cpuModel] = await Promise.all([
    import('@huggingface/transformers'),
    import('../src/runtime/model-session.ts'),
    import('./cpu-model.ts'),
  ]);
  const env = transformers.env as unknown as TransformersEnv;
  env.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    // A file missing from a picked folder is a 404 (transformers.js skips optional files on 404,
    // e.g. generation_config.json), not a failed fetch of the picked files' made-up host.
    if (pickedRoot !== null && url.startsWith(pickedRoot)) {
      return Promise.resolve(new Response(null, { status: 404, statusText: 'Not Found' }));
    }
    return files.fetch(input, init);
  };
  env.useBrowserCache = false;
  env.useCustomCache = true;
  // ORT's own .wasm stays out of the model cache (it would show up as a cached model).
  (env as unknown as { useWasmCache: boolean }).useWasmCache = false;
  env.customCache = files.cache;
  return {
    env,
    loadModelSession: modelSession.loadModelSession,
    loadCpuModelSession: cpuModel.loadCpuModelSession,
  };
}

/** Callbacks from the page are Comlink proxies: a page that went away must not fail the worker. */
function callSafely<T>(callback: ((value: T) => unknown) | undefined, value: T): void {
  if (!callback) return;
  Promise.resolve(callback(value)).catch(() => undefined);
}

async function release(): Promise<void> {
  const current = session;
  session = null;
  if (current) await current.dispose();
}

const api: EngineWorkerApi = {
  protocolVersion: () => ENGINE_PROTOCOL_VERSION,
  ortBuild: () => selectedOrtBuild(),
  configure(next) {
    if (next.remoteHost) environment.remoteHost = next.remoteHost;
    if (next.useBrowserCache !== undefined) {
      environment.useBrowserCache = next.useBrowserCache;
      files.enabled = next.useBrowserCache;
    }
  },
  capabilities: () => detectCapabilities(),
  probeModel: (source) =>
    probeModel(
      source,
      environment.remoteHost,
      self.location.origin,
      (url) => cachedFile(files, source, url, environment.remoteHost, self.location.origin),
      (url) => files.currentCopy(source, url, environment.remoteHost, self.location.origin),
    ),
  async plan(facts, override) {
    return planBackends(await detectCapabilities(), facts, override);
  },

  load(request: WorkerLoadRequest, onProgress?: (progress: LoadProgress) => void) {
    return queued(async () => {
      await release();
      const modelName =
        request.source.kind === 'hub'
          ? request.source.id
          : request.source.kind === 'url'
            ? request.source.url
            : request.source.kind === 'files'
              ? request.source.name
              : request.source.path;
      context = { phase: 'load', model: modelName, device: request.device, dtype: request.dtype };
      fetcher.lastFailure = null;
      if (request.device === 'cpu') {
        throw new EdgetierError(
          'bad_request',
          'The browser engine runs on wasm or webgpu; cpu is the Node engine.',
        );
      }
      if (request.device === 'webgpu') {
        const capabilities = await detectCapabilities();
        if (!capabilities.webgpu) {
          throw new EdgetierError(
            'no_webgpu',
            `WebGPU is not available: ${capabilities.webgpuUnavailableReason}. Choose the WASM backend, or ` +
              'enable hardware acceleration in a Chromium-based browser.',
          );
        }
      }
      const cpuEngine = request.runtime === 'edgetier';
      if (cpuEngine) {
        if (request.device !== 'wasm') {
          throw new EdgetierError(
            'bad_request',
            `edgetier's CPU engine runs on device wasm, not ${request.device}; ${request.device} runs on ONNX Runtime.`,
          );
        }
        const asked = request.threads ?? 1;
        if (!(Number.isInteger(asked) && asked >= 1 && asked <= 64)) {
          throw new EdgetierError(
            'bad_request',
            `edgetier's CPU engine runs on 1 to 64 threads, not ${asked}.`,
          );
        }
        // Before any download: a browser that cannot run the kernels is refused at once.
        requireWasmSimd();
      }
      // The CPU engine's threads are its own pool's (ORT, which it never starts, is fixed at one).
      const threads = request.device === 'webgpu' ? 1 : Math.max(1, request.threads ?? 1);
      selectOrtBuild(request.build, cpuEngine ? 1 : threads);
      const { env, loadModelSession, loadCpuModelSession } = await runtime();
      const model = applySource(env, request.source, files, environment.remoteHost, self.location.origin);
      pickedRoot = request.source.kind === 'files' ? env.remoteHost : null;
      const startMs = performance.now();
      let lastDoneMs = startMs;
      const tracker = new LoadProgressTracker(
        (p) => callSafely(onProgress, p),
        undefined,
        undefined,
        (file) => files.readLocally(file),
      );
      const progressCallback = (raw: unknown) => {
        const event = raw as { status: string; file?: string; loaded?: number; total?: number };
        if (event.status === 'done') lastDoneMs = performance.now();
        tracker.onEvent(event);
      };
      let threadsFallback: ThreadsFallback | undefined;
      const loadOnce = () => {
        threadsFallback = undefined;
        return cpuEngine
          ? loadCpuModelSession({
              model,
              dtype: request.dtype,
              env,
              files,
              threads,
              onThreadsFallback: (fallback) => {
                threadsFallback = fallback;
              },
              templateRenderer: browserTemplateRenderer().start(),
              progressCallback,
            })
          : loadModelSession({
              model,
              dtype: request.dtype,
              device: request.device,
              threads,
              templateRenderer: browserTemplateRenderer().start(),
              progressCallback,
            });
      };
      let scope: LoadScope | null = null;
      session = await withModelLock(request.source, async () => {
        try {
          scope = await files.beginLoad(request.source, environment.remoteHost, self.location.origin);
          let loaded: ModelSession;
          try {
            loaded = await loadOnce();
          } catch (error) {
            // A download that did not match the server's published hash was dropped: one more try.
            if (!scope?.integrityFailure) throw error;
            scope = await files.beginLoad(request.source, environment.remoteHost, self.location.origin);
            loaded = await loadOnce();
          }
          // Listed as cached only now: every file the model needed is there, whole and checked.
          const done = scope as LoadScope | null;
          if (done && !(await files.store.markComplete(done.base, done.generation, [...done.used]))) {
            done.notes.push(`${done.base} was deleted from the cache while it loaded: it is not kept.`);
          }
          return loaded;
        } catch (error) {
          throw refineLoadError(error);
        } finally {
          files.endLoad();
        }
      });
      // The files are in: the strip says "Setting up the model" through the warm-up too.
      const setup = tracker.setup();
      if (setup) callSafely(onProgress, setup);
      const notes = (scope as LoadScope | null)?.notes ?? [];
      const endMs = performance.now();
      let warmupMs: number;
      try {
        warmupMs = (await session.warmUp(request.warmupBudgetMs ?? DEFAULT_WARMUP_BUDGET_MS)).ms;
      } catch (error) {
        await release();
        throw toEdgetierError(error, context);
      }
      const info: LoadedInfo = {
        modelId: model,
        device: request.device,
        dtype: request.dtype,
        // The CPU engine's: the threads that run after any fallback (threadsFallback says why).
        threads: cpuEngine ? session.threads : threads,
        build: request.build,
        bytes: tracker.totalBytes,
        downloadMs: lastDoneMs - startMs,
        initMs: endMs - lastDoneMs,
        warmupMs,
        synthetic: session.info.synthetic,
        engine: session.engine,
      };
      if (session.info.mirrors) info.mirrors = session.info.mirrors;
      if (notes.length > 0) info.cacheNotes = notes;
      if (cpuEngine && threadsFallback) info.threadsFallback = threadsFallback;
      if (session.cpuKernels) info.cpuKernels = session.cpuKernels;
      return info;
    });
  },

  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void) {
    // An interrupt from now on ends this request, even one that comes while it waits its turn.
    const since = interrupts;
    return queued(async () => {
      const current = session;
      if (!current) throw new EdgetierError('model_not_found', 'No model is loaded: load one first.');
      if (interrupts !== since) throw new EdgetierError('aborted', 'Stopped: the request was cancelled.');
      context = { ...context, phase: 'generate' };
      // The prompt's length first, so the page can say "reading the prompt (N tokens)" until the
      // first token; an interrupt during the fit still ends the request (the mark is taken before).
      const mark = current.interruptMark();
      if (onChunk) {
        const fit = await current.fit(request).catch(() => null); // generate reports what fit refused
        if (fit) callSafely(onChunk, { text: '', tokens: 0, promptTokens: fit.promptTokens });
      }
      return current.generate(request, (chunk) => callSafely(onChunk, chunk), mark);
    });
  },

  interrupt() {
    interrupts++;
    session?.interrupt();
  },

  resetConversation: () => queued(async () => session?.resetConversation()),
  unload: () => queued(release),
  memory: () => ({ wasmHeapBytes: wasmHeapBytes(), gpuBufferBytes: null, cpuEngineBytes: cpuEngineBytes() }),
  listCached: () => queued(() => listCached(files.store)),
  // Not queued behind a load in this worker: a delete must win over a download in flight.
  deleteCached: (id) => deleteCached(files.store, id),
  clearCache: () => clearCached(files.store),
};

/**
 * Two tabs (or workers) loading the same model take turns, so its files are downloaded and written
 * once: the second finds them in the cache.
 */
function withModelLock<T>(source: WorkerLoadRequest['source'], task: () => Promise<T>): Promise<T> {
  const base = modelBase(source, environment.remoteHost, self.location.origin);
  if (!base || !files.enabled || !navigator.locks) return task();
  return navigator.locks.request(`edgetier-load:${base}`, task) as Promise<T>;
}

/**
 * The runtime classifies load errors without knowing the worker's fetch; a generic verdict
 * (load_failed, model_not_found) is refined from the original error and the last HTTP failure.
 */
function refineLoadError(error: unknown): EdgetierError {
  const lastHttpFailure = fetcher.lastFailure;
  const withFetch = { ...context, ...(lastHttpFailure ? { lastHttpFailure } : {}) };
  if (error instanceof EdgetierError && error.code !== 'load_failed' && error.code !== 'model_not_found') {
    return error;
  }
  const original = error instanceof EdgetierError && error.cause !== undefined ? error.cause : error;
  const refined = toEdgetierError(original, withFetch);
  if (refined.code === 'load_failed' && error instanceof EdgetierError) return error;
  return refined;
}

Comlink.expose(api);
