/**
 * An Engine whose NodeEngine runs on its own worker thread (native-worker.ts), so the HTTP server
 * keeps answering (static files, /healthz, other streams, disconnect detection) while a model
 * loads or generates. Errors come back as EdgetierErrors with their codes.
 */
import { Worker } from 'node:worker_threads';
import type {
  CachedModel,
  Engine,
  GenerateRequest,
  GenerateResult,
  LoadInfo,
  LoadProgress,
  LoadRequest,
  StreamChunk,
} from '../core/engine.ts';
import { EdgetierError, type EdgetierErrorCode } from '../core/errors.ts';
import type { NodeEngineOptions } from '../native/node-engine.ts';
import type { EngineOp, FromWorker, ToWorker } from './native-worker.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  onChunk?: ((chunk: StreamChunk) => void) | undefined;
}

export class ThreadedNodeEngine implements Engine {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: EdgetierError | null = null;

  constructor(options: NodeEngineOptions = {}) {
    this.worker = new Worker(new URL('./native-worker-entry.mjs', import.meta.url), { workerData: options });
    this.worker.on('message', (message: FromWorker) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      if (message.type === 'chunk') {
        pending.onChunk?.(message.chunk);
        return;
      }
      this.pending.delete(message.id);
      if (message.type === 'done') pending.resolve(message.result);
      else pending.reject(new EdgetierError(message.code as EdgetierErrorCode, message.message));
    });
    const fail = (error: EdgetierError) => {
      this.exited = error;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', (error) =>
      fail(
        new EdgetierError('internal', `The native engine thread failed: ${error.message}`, { cause: error }),
      ),
    );
    this.worker.on('exit', (code) => {
      if (!this.exited)
        fail(new EdgetierError('internal', `The native engine thread exited (code ${code}).`));
    });
  }

  /** Why the engine thread is gone (it exited or failed), or null while it runs. */
  get failure(): EdgetierError | null {
    return this.exited;
  }

  private call<T>(op: EngineOp, arg?: unknown, onChunk?: (chunk: StreamChunk) => void): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onChunk });
      this.worker.postMessage({ id, op, arg } satisfies ToWorker);
    });
  }

  /** Progress is not relayed: the server only reports when the load has ended. */
  load(request: LoadRequest, _onProgress?: (progress: LoadProgress) => void): Promise<LoadInfo> {
    return this.call('load', request);
  }

  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult> {
    return this.call('generate', request, onChunk);
  }

  /** An abort of `signal` reaches the thread as a `cancel` of this fit alone. */
  fitPrompt(
    request: GenerateRequest,
    signal?: AbortSignal,
  ): Promise<{ promptTokens: number; droppedMessages: number }> {
    if (signal?.aborted) {
      return Promise.reject(new EdgetierError('aborted', 'Stopped before the conversation was fitted.'));
    }
    const id = this.nextId; // the id `call` gives this request
    const cancel = () => {
      if (!this.exited) this.worker.postMessage({ op: 'cancel', id } satisfies ToWorker);
    };
    signal?.addEventListener('abort', cancel, { once: true });
    return this.call<{ promptTokens: number; droppedMessages: number }>('fitPrompt', request).finally(() =>
      signal?.removeEventListener('abort', cancel),
    );
  }

  async interrupt(): Promise<void> {
    if (!this.exited) this.worker.postMessage({ op: 'interrupt' } satisfies ToWorker);
  }

  resetConversation(): Promise<void> {
    return this.call('resetConversation');
  }

  /** Unloads the model and ends the thread. */
  async unload(): Promise<void> {
    if (this.exited) return;
    try {
      await this.call('unload');
    } finally {
      await this.worker.terminate();
    }
  }

  listCached(): Promise<CachedModel[]> {
    return this.call('listCached');
  }

  deleteCached(id: string): Promise<void> {
    return this.call('deleteCached', id);
  }
}
