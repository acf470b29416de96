/**
 * The page side of the on-device engine: `WorkerEngine implements Engine` over a Comlink
 * `Remote<EngineWorkerApi>`. It queues requests (one at a time), turns an AbortSignal into an
 * interrupt, rebuilds EdgetierErrors with their code, and owns the worker's lifetime: ORT fixes its
 * build and thread count once per worker, so a load that needs another starts a fresh worker.
 * `loadAuto` detects capabilities, plans backends and tries them in order. A worker that does not
 * answer Stop is terminated and replaced (./worker-watchdog.ts), and a load interrupts a generation
 * first: a hung template or step never blocks Stop or a model change.
 */
import * as Comlink from 'comlink';
import {
  type BackendChoice,
  type BackendPlan,
  buildForDevice,
  type OrtBuild,
  type PlanOverride,
  wasmThreads,
} from '../core/backend-plan.ts';
import type { Capabilities } from '../core/capabilities.ts';
import { planCpuRuntime } from '../core/cpu-runtime-plan.ts';
import type { Dtype } from '../core/dtypes.ts';
import type {
  CachedModel,
  CpuRuntime,
  Engine,
  GenerateRequest,
  GenerateResult,
  LoadProgress,
  LoadRequest,
  StreamChunk,
} from '../core/engine.ts';
import {
  type BrowserModelSource,
  ENGINE_PROTOCOL_VERSION,
  type EngineWorkerApi,
  type LoadedInfo,
  type MemoryStats,
  type WorkerEnvironment,
} from '../core/engine-protocol.ts';
import { toEdgetierError } from '../core/error-mapping.ts';
import { registerErrorTransfer } from '../core/error-transfer.ts';
import { EdgetierError, type EdgetierErrorCode, isEdgetierError } from '../core/errors.ts';
import { type GenerationStream, toStream } from './stream.ts';
import { engineRestartedError, STOP_ANSWER_MS, settlesWithin, WorkerWatch } from './worker-watchdog.ts';

registerErrorTransfer(Comlink.transferHandlers as never, (error) =>
  toEdgetierError(error, { phase: 'load' }),
);

export interface WorkerEngineOptions {
  /** Starts the engine worker; the default is Vite's bundled workers/engine.worker.ts. */
  createWorker?: () => Worker;
  environment?: WorkerEnvironment;
}

export interface BrowserLoadRequest extends Omit<LoadRequest, 'source'> {
  source: BrowserModelSource;
  /** ORT build; by default the fastest that can run `device` here. */
  build?: OrtBuild;
  /**
   * With an explicit `runtime: 'edgetier'`: when the CPU engine refuses the browser or the model
   * (CPU_ENGINE_REFUSALS), load it on ONNX Runtime instead and say why in LoadedInfo.fallback (the app
   * sets it; benchmarks and tests do not, so a row labelled edgetier is never ORT's). 'auto' (the
   * default) always falls back so.
   */
  fallbackToOrt?: boolean;
  /**
   * The dtype ONNX Runtime loads if edgetier's CPU engine refuses this load (with the fallback above):
   * set where the dtype was planned for the engine (q4, AUTO_ENGINE_PREFERS_Q4), never for one the
   * user chose. LoadedInfo.fallback.plannedDtype then names the dtype planned.
   */
  ortDtype?: Dtype;
}

/** The CPU engine's refusals that ONNX Runtime may not share: a fallback can still run the model. */
export const CPU_ENGINE_REFUSALS: ReadonlySet<EdgetierErrorCode> = new Set([
  'no_wasm_simd',
  'unsupported_architecture',
  'unsupported_dtype',
  'shape_mismatch',
]);

export interface LoadAttempt {
  choice: BackendChoice;
  error?: { code: EdgetierErrorCode; message: string };
}

/** Failures that no other backend would fix (missing, damaged or unstorable files): stop trying the plan. */
const NOT_BACKEND_RELATED: ReadonlySet<EdgetierErrorCode> = new Set([
  'model_not_found',
  'download_failed',
  'weights_corrupt',
  'storage_full',
  'aborted',
  'unsupported_architecture',
  'bad_request',
]);

/** The bundled engine worker (workers/engine.worker.ts). */
export function defaultWorker(): Worker {
  return new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module' });
}

export class WorkerEngine implements Engine {
  private worker: Worker | null = null;
  private remote: Comlink.Remote<EngineWorkerApi> | null = null;
  /** The worker being started (or started): concurrent first calls share it. */
  private starting: Promise<Comlink.Remote<EngineWorkerApi>> | null = null;
  /** Rejects the calls in flight when the worker dies or is terminated. */
  private failPending: ((error: EdgetierError) => void) | null = null;
  /** build/threads/runtime the current worker runs with, once it has loaded a model. */
  private runsWith: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private capabilitiesCache: Capabilities | null = null;
  /** The current worker's calls in flight (load, generate), failed at once if it is terminated. */
  private watch = new WorkerWatch();
  /** Counts interrupts: a generate submitted before one is ended by it, even if it has not started. */
  private interrupts = 0;
  /** Loads running now (not waiting their turn). */
  private loadsRunning = 0;

  constructor(private readonly options: WorkerEngineOptions = {}) {}

  private api(): Promise<Comlink.Remote<EngineWorkerApi>> {
    this.starting ??= this.start();
    return this.starting;
  }

  /**
   * Starts one worker and checks its protocol. Every call on it is raced against its end: a worker
   * that fails (an `error` event: its script did not load, or it crashed) or is terminated rejects
   * every call in flight with a clear error instead of leaving it pending forever, and the next call
   * starts a fresh worker.
   */
  private async start(): Promise<Comlink.Remote<EngineWorkerApi>> {
    const worker = (this.options.createWorker ?? defaultWorker)();
    this.worker = worker;
    let fail: (error: EdgetierError) => void = () => undefined;
    const ended = new Promise<never>((_, reject) => {
      fail = reject;
    });
    ended.catch(() => undefined);
    this.failPending = fail;
    const onError = (event: Event) => {
      const detail = event instanceof ErrorEvent && event.message ? `: ${event.message}` : '';
      const error = new EdgetierError(
        'internal',
        `The engine worker failed${detail}. Reload the model; if it keeps failing, reload the page.`,
      );
      fail(error);
      if (this.worker === worker) this.terminate(error);
    };
    worker.addEventListener('error', onError);
    const raw = Comlink.wrap<EngineWorkerApi>(worker);
    const guarded = new Proxy(raw, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof property === 'symbol' || typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          Promise.race([(value as (...a: unknown[]) => unknown)(...args), ended]);
      },
    }) as Comlink.Remote<EngineWorkerApi>;
    try {
      const version = await guarded.protocolVersion();
      if (version !== ENGINE_PROTOCOL_VERSION) {
        throw new EdgetierError(
          'internal',
          `The engine worker speaks protocol ${version}, the page ${ENGINE_PROTOCOL_VERSION}: reload the page.`,
        );
      }
      if (this.options.environment) await guarded.configure(this.options.environment);
    } catch (error) {
      if (this.worker === worker) this.terminate();
      throw error;
    }
    this.remote = guarded;
    return guarded;
  }

  private queued<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the worker and everything it holds (calls in flight reject with `error`); the next call starts a fresh one. */
  terminate(
    error: Error = new EdgetierError('aborted', 'The engine worker was stopped (terminate()).'),
  ): void {
    this.failPending?.(error as EdgetierError);
    this.failPending = null;
    this.watch.lose(error);
    this.watch = new WorkerWatch();
    this.remote?.[Comlink.releaseProxy]();
    this.worker?.terminate();
    this.worker = null;
    this.remote = null;
    this.starting = null;
    this.runsWith = null;
  }

  async capabilities(): Promise<Capabilities> {
    this.capabilitiesCache ??= await (await this.api()).capabilities();
    return this.capabilitiesCache;
  }

  async plan(source: BrowserModelSource, override?: PlanOverride): Promise<BackendPlan> {
    const api = await this.api();
    return api.plan(await api.probeModel(source), override);
  }

  load(request: BrowserLoadRequest, onProgress?: (progress: LoadProgress) => void): Promise<LoadedInfo> {
    const stopped = this.supersede();
    return this.queued(() =>
      this.loading(async () => {
        await stopped;
        return this.loadNow(request, onProgress);
      }),
    );
  }

  /**
   * Another model supersedes whatever runs now. A generation is interrupted (a worker that does not
   * stop is replaced). A load is ended by replacing the worker: its download may have stalled, and
   * the worker, not stuck, would acknowledge Stop and go on waiting, the next load queued behind it.
   */
  private supersede(): Promise<void> {
    if (this.loadsRunning > 0) {
      this.terminate(
        new EdgetierError('aborted', 'Stopped: another model was chosen before this one finished loading.'),
      );
      return Promise.resolve();
    }
    return this.watch.busy ? this.interrupt() : Promise.resolve();
  }

  private async loading<T>(task: () => Promise<T>): Promise<T> {
    this.loadsRunning++;
    try {
      return await task();
    } finally {
      this.loadsRunning--;
    }
  }

  private async loadNow(
    request: BrowserLoadRequest,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<LoadedInfo> {
    const { fallbackToOrt, ortDtype, ...rest } = request;
    // 'auto' (or absent) is settled here, once, by the pure plan; the worker gets the runtime it runs.
    const plan = planCpuRuntime(request);
    const runtimeChoice = { asked: request.runtime ?? 'auto', reason: plan.reason } as const;
    const plain = { ...rest, runtime: plan.runtime };
    if (plan.runtime !== 'edgetier' || !plan.fallbackToOrt) {
      return { ...(await this.loadOnce(plain, onProgress)), runtimeChoice };
    }
    try {
      return { ...(await this.loadOnce(plain, onProgress)), runtimeChoice };
    } catch (error) {
      if (!(error instanceof EdgetierError) || !CPU_ENGINE_REFUSALS.has(error.code)) throw error;
      const dtype = ortDtype ?? plain.dtype;
      // The progress starts over for ORT's files: said, so a bar going back reads as what it is.
      const onOrtProgress =
        onProgress && ((p: LoadProgress) => onProgress({ ...p, fallback: 'onnxruntime' }));
      let info: LoadedInfo;
      try {
        info = await this.loadOnce({ ...plain, dtype, runtime: 'onnxruntime' }, onOrtProgress);
      } catch (ortError) {
        // Its own error, naming the file that failed and the refusal before it (a Bench row says so).
        const message = ortError instanceof Error ? ortError.message : String(ortError);
        throw new EdgetierError(
          isEdgetierError(ortError) ? ortError.code : 'load_failed',
          `${message} (ONNX Runtime was loading the ${dtype} file: edgetier's CPU engine had refused the ${plain.dtype} one.)`,
          { cause: ortError, dtype },
        );
      }
      return {
        ...info,
        runtimeChoice,
        fallback: {
          asked: 'edgetier',
          code: error.code,
          reason: error.message,
          ...(dtype !== plain.dtype ? { plannedDtype: plain.dtype } : {}),
        },
      };
    }
  }

  private async loadOnce(
    request: Omit<BrowserLoadRequest, 'runtime' | 'fallbackToOrt'> & { runtime: CpuRuntime },
    onProgress?: (p: LoadProgress) => void,
  ) {
    if (request.device === 'cpu') {
      throw new EdgetierError(
        'bad_request',
        'The browser engine runs on wasm or webgpu; cpu is the Node engine.',
      );
    }
    // 0 or absent is the engine's choice; anything else not a whole count is refused, not read as 0
    // (a -1 or NaN would otherwise start the plan's pool of threads).
    const asked = request.threads;
    if (asked !== undefined && asked !== null && !(Number.isInteger(asked) && asked >= 0)) {
      throw new EdgetierError(
        'bad_request',
        `threads is a whole number of threads, or 0 for the engine's choice, not ${asked}.`,
      );
    }
    const capabilities = await this.capabilities();
    const build = request.build ?? buildForDevice(request.device, capabilities);
    // The request's threads, else the plan's (one where the page is not cross-origin isolated), for
    // ORT and edgetier's CPU engine alike (its pool of Web Workers).
    const threads =
      request.device === 'webgpu'
        ? 1
        : request.threads && request.threads > 0
          ? request.threads
          : wasmThreads(capabilities);
    // The runtime too: ORT's heap and the CPU engine's memory never shrink, so a worker that ran one
    // would hold its memory (a model's weights) beside the other's; a switch starts a fresh worker.
    const key = `${build}/${threads}/${request.runtime}`;
    if (this.runsWith !== null && this.runsWith !== key) this.terminate();
    const api = await this.api();
    try {
      const info = await this.watch.guard(
        api.load({ ...request, build, threads }, onProgress ? Comlink.proxy(onProgress) : undefined),
      );
      this.runsWith = key;
      return info;
    } catch (error) {
      // transformers.js chains session creation on one promise, so a failed load poisons every
      // later one in that worker: start the next load in a fresh worker.
      this.terminate();
      throw error;
    }
  }

  /** Plans backends from this device's capabilities and tries them in order until one loads. */
  loadAuto(
    source: BrowserModelSource,
    options: { override?: PlanOverride; onProgress?: (progress: LoadProgress) => void } = {},
  ): Promise<{ info: LoadedInfo; plan: BackendPlan; attempts: LoadAttempt[] }> {
    const stopped = this.supersede();
    return this.queued(() =>
      this.loading(async () => {
        await stopped;
        const plan = await this.plan(source, options.override);
        const attempts: LoadAttempt[] = [];
        for (const choice of plan.choices) {
          try {
            const info = await this.loadNow({ source, ...choice }, options.onProgress);
            attempts.push({ choice });
            return { info, plan, attempts };
          } catch (error) {
            const e = error instanceof EdgetierError ? error : toEdgetierError(error, { phase: 'load' });
            attempts.push({ choice, error: { code: e.code, message: e.message } });
            if (NOT_BACKEND_RELATED.has(e.code)) throw e;
          }
        }
        const tried = attempts
          .map((a) => `${a.choice.device}/${a.choice.dtype}: ${a.error?.message}`)
          .join(' | ');
        throw new EdgetierError('load_failed', `No backend could load the model. Tried ${tried}`);
      }),
    );
  }

  generate(
    request: GenerateRequest & { signal?: AbortSignal },
    onChunk?: (chunk: StreamChunk) => void,
  ): Promise<GenerateResult> {
    const { signal, ...plain } = request;
    // An interrupt or abort from now on ends this request, even while it waits its turn.
    const since = this.interrupts;
    const cancelled = () => signal?.aborted === true || this.interrupts !== since;
    return this.queued(async () => {
      if (cancelled()) throw new EdgetierError('aborted', 'Stopped: the request was cancelled.');
      const api = await this.api();
      if (cancelled()) throw new EdgetierError('aborted', 'Stopped: the request was cancelled.');
      // Attached before the call is posted: an abort after it posts the interrupt after the request.
      const stop = () => void api.interrupt();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        return await this.watch.guard(api.generate(plain, onChunk ? Comlink.proxy(onChunk) : undefined));
      } catch (error) {
        // ORT keeps the GPUDevice it started with for the worker's life: a reload must start a fresh worker.
        if (error instanceof EdgetierError && error.code === 'device_lost') this.terminate();
        throw error;
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    });
  }

  /** Chunks as an AsyncIterable, and the final result; `signal` interrupts. */
  stream(request: GenerateRequest & { signal?: AbortSignal }): GenerationStream {
    return toStream((onChunk) => this.generate(request, onChunk));
  }

  /**
   * Not queued: it must reach the worker while a generation runs, and ends the generations already
   * submitted. A busy worker that does not acknowledge within STOP_ANSWER_MS is stuck in code that
   * never yields: it is terminated, and the calls in flight reject with code `timeout` (the next
   * load starts a fresh worker).
   */
  async interrupt(): Promise<void> {
    this.interrupts++;
    const remote = this.remote;
    if (!remote) return;
    const watch = this.watch;
    if (await settlesWithin(remote.interrupt(), STOP_ANSWER_MS)) return;
    if (watch.busy && this.watch === watch) this.terminate(engineRestartedError());
  }

  resetConversation(): Promise<void> {
    return this.queued(async () => (await this.api()).resetConversation());
  }

  unload(): Promise<void> {
    // As a load does, an unload ends a running answer first instead of waiting for its last token.
    // The interrupt counts at once, busy or not: a generate queued before this unload (behind a reset,
    // say, while the worker is idle) is ended too, not run to its last token.
    if (this.watch.busy) void this.interrupt();
    else this.interrupts++;
    return this.queued(async () => {
      if (this.remote) await this.remote.unload();
    });
  }

  memory(): Promise<MemoryStats> {
    return this.queued(async () => (await this.api()).memory());
  }

  listCached(): Promise<CachedModel[]> {
    return this.queued(async () => (await this.api()).listCached());
  }

  deleteCached(id: string): Promise<void> {
    return this.queued(async () => (await this.api()).deleteCached(id));
  }

  clearCache(): Promise<void> {
    return this.queued(async () => (await this.api()).clearCache());
  }

  /** Asks the browser not to evict the model cache (a page-only API); resolves to whether it agreed. */
  async persistStorage(): Promise<boolean> {
    return navigator.storage?.persist ? navigator.storage.persist() : false;
  }
}
