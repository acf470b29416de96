/**
 * The engine test page's script (engine.html): puts one WorkerEngine on `window.edgetier` with
 * methods that return plain data, so Playwright (browser tests, `edgetier generate --device
 * wasm|webgpu`) can drive it. Errors come back as `{ ok: false, code, message }`, with the code
 * the worker gave them: the typed error really crossed the boundary.
 */
import type { PlanOverride } from '../core/backend-plan.ts';
import type { GenerateRequest, LoadProgress, StreamChunk } from '../core/engine.ts';
import type { BrowserModelSource } from '../core/engine-protocol.ts';
import { EdgetierError } from '../core/errors.ts';
import { type BrowserLoadRequest, defaultWorker, WorkerEngine } from './worker-engine.ts';

export type HarnessResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: string; message: string; isEdgetierError: boolean };

async function settle<T>(run: () => Promise<T>): Promise<HarnessResult<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    const isEdgetierError = error instanceof EdgetierError;
    return {
      ok: false,
      code: isEdgetierError ? error.code : 'foreign',
      message: error instanceof Error ? error.message : String(error),
      isEdgetierError,
    };
  }
}

const engine = new WorkerEngine();
const progress: LoadProgress[] = [];

const harness = {
  capabilities: () => settle(() => engine.capabilities()),
  plan: (source: BrowserModelSource, override?: PlanOverride) => settle(() => engine.plan(source, override)),
  load: (request: BrowserLoadRequest) => {
    progress.length = 0;
    return settle(() => engine.load(request, (p) => progress.push(p)));
  },
  loadAuto: (source: BrowserModelSource, override?: PlanOverride) => {
    progress.length = 0;
    return settle(() =>
      engine.loadAuto(source, { ...(override ? { override } : {}), onProgress: (p) => progress.push(p) }),
    );
  },
  progress: () => [...progress],
  /**
   * Generates, streaming into a list of chunks. With `interruptAfterTokens`, aborts once that many
   * tokens have streamed and reports how long the interrupt took to come back.
   */
  generate: (request: GenerateRequest, options: { interruptAfterTokens?: number } = {}) =>
    settle(async () => {
      const chunks: StreamChunk[] = [];
      const controller = new AbortController();
      let streamed = 0;
      let abortedAtMs: number | null = null;
      let tokensWhenAborted: number | null = null;
      // 0 aborts before the request starts: the engine must refuse it with code `aborted`.
      if (options.interruptAfterTokens === 0) controller.abort();
      const result = await engine.generate({ ...request, signal: controller.signal }, (chunk) => {
        chunks.push(chunk);
        window.edgetierOnChunk?.(chunk);
        streamed += chunk.tokens;
        if (
          options.interruptAfterTokens !== undefined &&
          abortedAtMs === null &&
          streamed >= options.interruptAfterTokens
        ) {
          abortedAtMs = performance.now();
          tokensWhenAborted = streamed;
          controller.abort();
        }
      });
      const interruptMs = abortedAtMs === null ? null : performance.now() - abortedAtMs;
      return { result, chunks, interruptMs, tokensWhenAborted };
    }),
  interrupt: () => engine.interrupt(),
  resetConversation: () => settle(() => engine.resetConversation()),
  unload: () => settle(() => engine.unload()),
  memory: () => settle(() => engine.memory()),
  listCached: () => settle(() => engine.listCached()),
  deleteCached: (id: string) => settle(() => engine.deleteCached(id)),
  clearCache: () => settle(() => engine.clearCache()),
  persistStorage: () => settle(() => engine.persistStorage()),
  terminate: () => engine.terminate(),
  /**
   * Loads a folder as if the visitor had picked it from disk: its files are fetched from `folderUrl`
   * into Blobs (all of `paths`, relative to the folder) and handed over as a picked folder.
   */
  loadPicked: (folderUrl: string, paths: string[], request: Omit<BrowserLoadRequest, 'source'>) =>
    settle(async () => {
      const name = 'picked-model';
      const files = await Promise.all(
        paths.map(async (path) => {
          const response = await fetch(new URL(path, folderUrl.replace(/\/?$/, '/')));
          if (!response.ok) throw new Error(`fetching ${path} for the test: ${response.status}`);
          return { path: `${name}/${path}`, blob: await response.blob() };
        }),
      );
      return engine.load({ ...request, source: { kind: 'files', name, files } });
    }),
  /**
   * Generates and unloads once `afterTokens` tokens have streamed: the unload must end the answer
   * (finish reason `aborted`), not wait for it. Reports the tokens streamed when unload was called.
   */
  unloadWhileGenerating: (request: GenerateRequest, afterTokens: number) =>
    settle(async () => {
      let streamed = 0;
      let unloading: Promise<void> | null = null;
      let tokensAtUnload: number | null = null;
      const result = await engine.generate(request, (chunk) => {
        streamed += chunk.tokens;
        if (unloading === null && streamed >= afterTokens) {
          tokensAtUnload = streamed;
          unloading = engine.unload();
        }
      });
      await unloading;
      return { result, tokensAtUnload };
    }),
  /**
   * Submits a generate behind a reset and unloads at once, before it starts: the unload must end it
   * (an `aborted` error), not run the whole answer first.
   */
  unloadBeforeStart: (request: GenerateRequest) =>
    settle(async () => {
      const reset = engine.resetConversation();
      const run = engine.generate(request);
      const unloading = engine.unload();
      await reset;
      try {
        return await run;
      } finally {
        await unloading;
      }
    }),
  /**
   * Submits a generate behind a reset and interrupts at once, before it starts: the interrupt must
   * end it (an `aborted` error), not be forgotten.
   */
  interruptBeforeStart: (request: GenerateRequest) =>
    settle(async () => {
      const reset = engine.resetConversation();
      const run = engine.generate(request);
      await engine.interrupt();
      await reset;
      return run;
    }),
  /**
   * A fresh engine whose workers are counted: three concurrent first calls, then terminate(), then
   * one more call. Reports how many workers were started and how many are still running.
   */
  startWorkersConcurrently: () =>
    settle(async () => {
      const started: Worker[] = [];
      const ended = new Set<Worker>();
      const counted = new WorkerEngine({
        createWorker: () => {
          const worker = defaultWorker();
          const terminate = worker.terminate.bind(worker);
          worker.terminate = () => {
            ended.add(worker);
            terminate();
          };
          started.push(worker);
          return worker;
        },
      });
      await Promise.all([counted.capabilities(), counted.listCached(), counted.memory()]);
      const firstCalls = started.length;
      counted.terminate();
      const runningAfterTerminate = started.filter((w) => !ended.has(w)).length;
      await counted.listCached();
      const afterNextCall = started.length;
      counted.terminate();
      return { firstCalls, runningAfterTerminate, afterNextCall };
    }),
  /**
   * A worker that dies: its script is missing, or throws as it starts. Every call, in flight or
   * later, must reject with a clear error; a call still pending after 20 s is reported as hung.
   */
  deadWorker: (kind: 'missing' | 'throws') =>
    settle(async () => {
      const url =
        kind === 'missing'
          ? '/no-such-engine-worker.js'
          : URL.createObjectURL(
              new Blob(['throw new Error("the worker crashed as it started");'], { type: 'text/javascript' }),
            );
      const dead = new WorkerEngine({ createWorker: () => new Worker(url, { type: 'module' }) });
      const hung = new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 20_000));
      const outcome = (run: () => Promise<unknown>) =>
        Promise.race([settle(run).then((r) => (r.ok ? 'resolved' : `${r.code}: ${r.message}`)), hung]);
      const inFlight = await Promise.all([
        outcome(() => dead.capabilities()),
        outcome(() => dead.listCached()),
      ]);
      const later = await outcome(() => dead.generate({ prompt: 'x' }));
      return { inFlight, later };
    }),
};

export type EngineHarness = typeof harness;

declare global {
  interface Window {
    edgetier: EngineHarness;
    /** Set by a driver (the CLI) that wants chunks as they stream. */
    edgetierOnChunk?: (chunk: StreamChunk) => void;
  }
}

window.edgetier = harness;
document.getElementById('status')!.textContent = 'ready';
