/**
 * The in-process engine for Node: the runtime's ModelSession on onnxruntime-node (device `cpu`), or,
 * asked for with `runtime: 'edgetier'`, on edgetier's own CPU engine (src/cpu-engine); 'auto' (the
 * default) keeps onnxruntime-node on cpu (src/core/cpu-runtime-plan.ts says why).
 * The CLI (`edgetier generate`), the server's native tier and the golden tests use it. Requests run
 * one at a time in order of arrival; a failed load leaves the engine empty and ready for the next.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { env } from '@huggingface/transformers';
import { planCpuRuntime } from '../core/cpu-runtime-plan.ts';
import { DTYPE_FILE, DTYPES, type Dtype } from '../core/dtypes.ts';
import type {
  CachedModel,
  CpuRuntimeChoice,
  Engine,
  GenerateRequest,
  GenerateResult,
  LoadInfo,
  LoadProgress,
  LoadRequest,
  StreamChunk,
} from '../core/engine.ts';
import { toEdgetierError } from '../core/error-mapping.ts';
import { EdgetierError } from '../core/errors.ts';
import { LoadProgressTracker } from '../core/load-progress.ts';
import { isCpuDtype } from '../cpu-engine/decoder.ts';
import { CPU_DTYPES } from '../cpu-engine/model-weights.ts';
import { loadCpuModelSession } from '../cpu-engine/node-session.ts';
import { loadModelSession, type ModelSession } from '../runtime/model-session.ts';
import { nodeTemplateRenderer } from './template-thread.ts';

export interface NodeEngineOptions {
  /** Where listCached/deleteCached look: one model folder per entry. Default `models/`. */
  modelsDir?: string;
  /** ONNX Runtime intra-op threads when a load request does not say; 0 lets ORT choose. */
  threads?: number;
  /**
   * What runs the forward passes: `auto` (default: src/core/cpu-runtime-plan.ts, which on device cpu
   * keeps onnxruntime-node), `onnxruntime` (onnxruntime-node) or `edgetier` (edgetier's WebAssembly CPU
   * engine: local folders, fp32/q8/q4 files of edgetier's converter; one thread unless `threads` (or
   * the load request's) says more).
   */
  runtime?: CpuRuntimeChoice;
}

export const NODE_RUNTIMES = ['onnxruntime', 'edgetier'] as const;
export type NodeRuntime = (typeof NODE_RUNTIMES)[number];

/** The dtypes a model folder holds, from the ONNX files present. */
export function availableDtypes(modelDir: string): Dtype[] {
  return DTYPES.filter((d) => existsSync(join(modelDir, 'onnx', DTYPE_FILE[d])));
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

export class NodeEngine implements Engine {
  private session: ModelSession | null = null;
  private interrupts = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly modelsDir: string;
  private readonly threads: number;
  private readonly runtime: CpuRuntimeChoice;

  constructor(options: NodeEngineOptions = {}) {
    this.modelsDir = resolve(options.modelsDir ?? 'models');
    this.threads = options.threads ?? 0;
    this.runtime = options.runtime ?? 'auto';
  }

  /** The loaded session's model facts (synthetic twin, context size …), or null. */
  get modelInfo() {
    return this.session?.info ?? null;
  }

  load(request: LoadRequest, onProgress?: (progress: LoadProgress) => void): Promise<LoadInfo> {
    return this.enqueue(() => this.doLoad(request, onProgress));
  }

  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult> {
    // An interrupt from now on ends this request, even one that comes while it waits its turn.
    const since = this.interrupts;
    return this.enqueue(() => {
      if (!this.session) throw new EdgetierError('bad_request', 'No model is loaded: call load() first.');
      if (this.interrupts !== since) {
        throw new EdgetierError('aborted', 'Stopped before the generation started.');
      }
      return this.session.generate(request, onChunk);
    });
  }

  /** Validates a request and fits its prompt without running it (not queued); see ModelSession.fit. */
  async fitPrompt(
    request: GenerateRequest,
    signal?: AbortSignal,
  ): Promise<{ promptTokens: number; droppedMessages: number }> {
    if (!this.session) throw new EdgetierError('bad_request', 'No model is loaded: call load() first.');
    return this.session.fit(request, () => signal?.aborted === true);
  }

  /** Not queued: it must reach the generation that is running now, and those already submitted. */
  async interrupt(): Promise<void> {
    this.interrupts++;
    this.session?.interrupt();
  }

  resetConversation(): Promise<void> {
    return this.enqueue(async () => this.session?.resetConversation());
  }

  unload(): Promise<void> {
    return this.enqueue(() => this.release());
  }

  async listCached(): Promise<CachedModel[]> {
    if (!existsSync(this.modelsDir)) return [];
    const out: CachedModel[] = [];
    for (const entry of await readdir(this.modelsDir, { withFileTypes: true })) {
      const dir = join(this.modelsDir, entry.name);
      if (entry.isDirectory() && existsSync(join(dir, 'config.json'))) {
        out.push({ id: entry.name, bytes: await folderBytes(dir) });
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async deleteCached(id: string): Promise<void> {
    const dir = resolve(this.modelsDir, id);
    if (!dir.startsWith(this.modelsDir + sep) || id.includes('/') || id.includes('\\')) {
      throw new EdgetierError('bad_request', `"${id}" is not a model name in ${this.modelsDir}.`);
    }
    if (!existsSync(join(dir, 'config.json'))) {
      throw new EdgetierError('model_not_found', `No model named "${id}" in ${this.modelsDir}.`);
    }
    await rm(dir, { recursive: true, force: true });
  }

  private enqueue<T>(task: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async release(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session) await session.dispose();
  }

  private async doLoad(
    request: LoadRequest,
    onProgress?: (progress: LoadProgress) => void,
  ): Promise<LoadInfo> {
    await this.release();
    if (request.device !== 'cpu') {
      throw new EdgetierError(
        'bad_request',
        `The Node engine runs on device cpu (onnxruntime-node), not ${request.device}; ` +
          'wasm and webgpu run in the browser engine.',
      );
    }
    let model: string;
    if (request.source.kind === 'path') {
      model = resolve(request.source.path);
      if (!existsSync(join(model, 'config.json'))) {
        throw new EdgetierError(
          'model_not_found',
          `${model} is not a model folder (no config.json). Build one with \`edgetier convert\` or \`edgetier synth\`.`,
        );
      }
      const have = availableDtypes(model);
      if (!have.includes(request.dtype)) {
        throw new EdgetierError(
          'unsupported_dtype',
          `${model} has no onnx/${DTYPE_FILE[request.dtype]} (dtype ${request.dtype}); it holds ` +
            `${have.length ? have.join(', ') : 'no ONNX model'}. Pick one of those or rebuild with --dtype ${request.dtype}.`,
        );
      }
      // An absolute path is not a Hub id, so transformers.js reads it as is; never reach for the network.
      env.allowLocalModels = true;
      env.allowRemoteModels = false;
    } else if (request.source.kind === 'hub') {
      model = request.source.id;
      env.allowRemoteModels = true;
      if (request.source.host) env.remoteHost = request.source.host;
    } else {
      throw new EdgetierError(
        'bad_request',
        'The Node engine loads a model folder on disk or a Hub id; download the folder and pass its path.',
      );
    }
    const threads = request.threads && request.threads > 0 ? request.threads : this.threads;
    const plan = planCpuRuntime({ runtime: this.runtime, device: 'cpu', dtype: request.dtype });
    const runtimeChoice = { asked: this.runtime, reason: plan.reason };
    if (plan.runtime === 'edgetier') {
      return { ...(await this.loadCpuEngine(request, model, threads)), runtimeChoice };
    }
    const tracker = onProgress ? new LoadProgressTracker(onProgress) : null;
    const startMs = performance.now();
    // The end of the last file fetch separates downloading from building the session. A local folder
    // downloads nothing: ONNX Runtime reads its file while it builds the session, so all of it is init.
    let fetchedMs = startMs;
    const templateRenderer = nodeTemplateRenderer().start();
    try {
      this.session = await loadModelSession({
        model,
        dtype: request.dtype,
        device: 'cpu',
        ...(threads > 0 ? { threads } : {}),
        templateRenderer,
        progressCallback: (event) => {
          const e = event as { status?: string; file?: string; loaded?: number; total?: number };
          if (e.status === 'done' && request.source.kind !== 'path') fetchedMs = performance.now();
          tracker?.onEvent({ status: String(e.status), ...e });
        },
      });
    } catch (error) {
      // The session that would have owned the template thread never came: end the thread here.
      templateRenderer.dispose();
      throw error;
    }
    const endMs = performance.now();
    const info = this.session.info;
    return {
      modelId: model,
      device: 'cpu',
      dtype: request.dtype,
      threads,
      downloadMs: fetchedMs - startMs,
      initMs: endMs - fetchedMs,
      warmupMs: 0,
      synthetic: info.synthetic,
      ...(info.mirrors ? { mirrors: info.mirrors } : {}),
      engine: this.session.engine,
      runtimeChoice,
    };
  }

  /** Loads `model` (a checked local folder) on edgetier's CPU engine; refuses what it does not run, by name. */
  private async loadCpuEngine(request: LoadRequest, model: string, threads: number): Promise<LoadInfo> {
    if (request.source.kind !== 'path') {
      throw new EdgetierError(
        'bad_request',
        "edgetier's CPU engine loads a model folder on disk, not a Hub id; download the folder and pass its path.",
      );
    }
    if (!isCpuDtype(request.dtype)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `edgetier's CPU engine runs ${CPU_DTYPES.join(', ')} files, not ${request.dtype}; use onnxruntime for ${request.dtype}.`,
      );
    }
    // 0 (not given) is one thread: the engine never picks a thread count by itself.
    const cpuThreads = threads > 0 ? threads : 1;
    if (!Number.isInteger(cpuThreads) || cpuThreads > 64) {
      throw new EdgetierError(
        'bad_request',
        `edgetier's CPU engine runs on 1 to 64 threads, not ${threads}.`,
      );
    }
    const startMs = performance.now();
    const templateRenderer = nodeTemplateRenderer().start();
    try {
      this.session = await loadCpuModelSession({
        model,
        dtype: request.dtype,
        threads: cpuThreads,
        templateRenderer,
      });
    } catch (error) {
      // A failed load (a damaged file, threads that did not start) used to leave the template thread running.
      templateRenderer.dispose();
      throw toEdgetierError(error, { phase: 'load', model, dtype: request.dtype, device: 'cpu' });
    }
    const info = this.session.info;
    return {
      modelId: model,
      device: 'cpu',
      dtype: request.dtype,
      threads: cpuThreads,
      downloadMs: 0,
      initMs: performance.now() - startMs,
      warmupMs: 0,
      synthetic: info.synthetic,
      ...(info.mirrors ? { mirrors: info.mirrors } : {}),
      engine: this.session.engine,
      ...(this.session.cpuKernels ? { cpuKernels: this.session.cpuKernels } : {}),
    };
  }
}
