/**
 * The full-scale tier as an Engine: an OpenAI-compatible server (a provider, vLLM, llama.cpp,
 * Ollama, or `edgetier serve`'s own /v1) behind the same interface as the on-device engines, so the
 * UI treats both sides of the comparison alike. Stateless on our side: the whole conversation goes
 * with every request. Metrics come from a MetricsRecorder fed as deltas arrive; token counts are
 * corrected from the server's `usage` when it sends one.
 */
import { MAX_PLAUSIBLE_PARAMS, type ServedModel } from '../core/catalog.ts';
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
import { EdgetierError } from '../core/errors.ts';
import { type Clock, defaultClock, type GenerationMetrics, MetricsRecorder } from '../core/metrics.ts';
import { isRemoteError } from './errors.ts';
import {
  listModels,
  type RemoteEndpoint,
  type RemoteLimits,
  type StreamResult,
  streamChatCompletion,
} from './openai-client.ts';
import type { ChatCompletionRequest, WireModel } from './openai-wire.ts';

export interface RemoteEngineOptions extends RemoteEndpoint {
  /** The model to ask for; when absent, `load` picks the first one the server lists. */
  model?: string;
  limits?: Partial<RemoteLimits>;
  fetch?: typeof fetch;
  clock?: Clock;
  /**
   * The tier is the app's own `edgetier serve`: only then is the `edgetier` block of its /v1/models
   * believed (synthetic twin, mirrors). Any other tier could claim to be a twin. Default false.
   */
  ownServer?: boolean;
}

/** The `edgetier` block `edgetier serve` adds to its /v1/models entries. */
interface EdgetierModelInfo {
  synthetic?: boolean;
  mirrors?: string;
  params?: number;
}

export class RemoteEngine implements Engine {
  private model: string | undefined;
  private controller: AbortController | null = null;
  /** Serialises generate calls: one request at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Counts interrupts: a generate submitted before one is ended by it. */
  private interrupts = 0;
  /** The model-list requests of loads in flight: an interrupt aborts them. */
  private readonly loadControllers = new Set<AbortController>();

  constructor(private readonly options: RemoteEngineOptions) {
    this.model = options.model;
  }

  /**
   * Asks the server which models it has and checks the chosen one (or, with none chosen, the first
   * it lists) is among them: what this tier serves. The `edgetier` block (twin, mirrors, parameter
   * count) is believed only from the app's own server.
   */
  async describe(wantedId?: string): Promise<ServedModel> {
    // An interrupt ends the model list's request too (Compare's Stop while a slow tier answers it).
    const controller = new AbortController();
    this.loadControllers.add(controller);
    let list: Awaited<ReturnType<typeof listModels>>;
    try {
      list = await listModels(this.options, { ...this.requestOptions(), signal: controller.signal });
    } finally {
      this.loadControllers.delete(controller);
    }
    const wanted = this.model ?? wantedId;
    const entry: WireModel | undefined = wanted ? list.data.find((m) => m.id === wanted) : list.data[0];
    if (!entry) {
      const offered = list.data.map((m) => m.id).join(', ') || 'none';
      throw new EdgetierError(
        'model_not_found',
        wanted
          ? `The tier at ${this.options.baseUrl} has no model "${wanted}" (it offers: ${offered}). Pick one of those.`
          : `The tier at ${this.options.baseUrl} lists no models. Configure one on the server.`,
      );
    }
    const claimed = (this.options.ownServer ? (entry.edgetier ?? {}) : {}) as EdgetierModelInfo;
    return {
      id: entry.id,
      synthetic: claimed.synthetic === true,
      // The mirrored name comes from a model folder's config.json (a stranger's): no bidi controls,
      // which would reverse the app's sentence after it ("a synthetic twin of …: random weights").
      ...(typeof claimed.mirrors === 'string' && claimed.mirrors.length <= 200
        ? { mirrors: claimed.mirrors.replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, '') }
        : {}),
      ...(typeof claimed.params === 'number' &&
      Number.isSafeInteger(claimed.params) &&
      claimed.params > 0 &&
      claimed.params <= MAX_PLAUSIBLE_PARAMS
        ? { params: claimed.params }
        : {}),
    };
  }

  /** Asks the server which models it has and checks the chosen one is among them. */
  async load(request: LoadRequest, _onProgress?: (progress: LoadProgress) => void): Promise<LoadInfo> {
    const started = (this.options.clock ?? defaultClock)();
    const served = await this.describe(request.source.kind === 'hub' ? request.source.id : undefined);
    this.model = served.id;
    return {
      modelId: served.id,
      // The model runs on the server; the device field echoes the request for the UI.
      device: request.device,
      dtype: request.dtype,
      threads: 0,
      downloadMs: 0,
      initMs: (this.options.clock ?? defaultClock)() - started,
      warmupMs: 0,
      synthetic: served.synthetic,
      ...(served.mirrors ? { mirrors: served.mirrors } : {}),
      ...(served.params ? { params: served.params } : {}),
    };
  }

  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult> {
    // An interrupt from now on ends this request, even while it waits its turn.
    const since = this.interrupts;
    const run = this.queue.then(() => {
      if (this.interrupts !== since)
        throw new EdgetierError('aborted', 'Stopped: the request was cancelled.');
      return this.generateNow(request, onChunk);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async generateNow(
    request: GenerateRequest,
    onChunk?: (chunk: StreamChunk) => void,
  ): Promise<GenerateResult> {
    if (!request.messages || request.prompt !== undefined) {
      throw new EdgetierError(
        'usage',
        'The remote tier speaks Chat Completions: send `messages`, not a raw `prompt`.',
      );
    }
    const model = this.model;
    if (!model)
      throw new EdgetierError('usage', 'Call load() (or pass `model`) before generate() on the remote tier.');
    const body = toWireRequest(model, request);
    const recorder = new MetricsRecorder(0, 0, this.options.clock ?? defaultClock);
    const controller = new AbortController();
    this.controller = controller;
    recorder.start();
    let result: StreamResult;
    try {
      result = await streamChatCompletion(this.options, body, {
        ...this.requestOptions(),
        signal: controller.signal,
        onDelta: (delta) => {
          recorder.token();
          const chunk: StreamChunk = { text: delta.content ?? '', tokens: 1 };
          if (delta.reasoning) chunk.reasoning = delta.reasoning;
          onChunk?.(chunk);
        },
      });
    } catch (error) {
      if (isRemoteError(error) && error.code === 'aborted') {
        const partial = error.partial ?? { text: '', reasoning: '' };
        return {
          text: partial.text,
          ...(partial.reasoning ? { reasoning: partial.reasoning } : {}),
          promptIds: [],
          outputIds: [],
          finishReason: 'aborted',
          metrics: recorder.finish(),
        };
      }
      throw error;
    } finally {
      if (this.controller === controller) this.controller = null;
    }
    return {
      text: result.text,
      ...(result.reasoning ? { reasoning: result.reasoning } : {}),
      promptIds: [],
      outputIds: [],
      finishReason:
        result.finishReason === 'length'
          ? 'length'
          : result.finishReason === 'content_filter'
            ? 'filtered'
            : 'stop',
      metrics: withUsage(recorder.finish(), result),
      ...(result.model ? { model: result.model } : {}),
    };
  }

  async interrupt(): Promise<void> {
    this.interrupts++;
    this.controller?.abort();
    for (const c of this.loadControllers) c.abort();
  }

  async resetConversation(): Promise<void> {
    // Stateless: every request carries the whole conversation.
  }

  async unload(): Promise<void> {
    // As on this device: the answer under way ends, and so does one queued behind it.
    this.interrupts++;
    this.controller?.abort();
    this.model = this.options.model;
  }

  async listCached(): Promise<CachedModel[]> {
    return [];
  }

  async deleteCached(_id: string): Promise<void> {
    // Nothing is cached on this side of the wire.
  }

  private requestOptions() {
    return {
      ...(this.options.limits ? { limits: this.options.limits } : {}),
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    };
  }
}

export function toWireRequest(model: string, request: GenerateRequest): ChatCompletionRequest {
  const sampling = request.sampling ?? {};
  const body: ChatCompletionRequest = {
    model,
    messages: (request.messages ?? []).map((m) => ({ role: m.role, content: m.content })),
    temperature: sampling.temperature ?? 0,
    max_tokens: sampling.maxNewTokens ?? 256,
  };
  if (sampling.topP !== undefined) body.top_p = sampling.topP;
  if (sampling.topK !== undefined) body.top_k = sampling.topK;
  if (sampling.repetitionPenalty !== undefined) body.repetition_penalty = sampling.repetitionPenalty;
  if (sampling.stop?.length) body.stop = sampling.stop;
  return body;
}

/**
 * Streamed deltas are counted as tokens while they arrive; when the server reports `usage`, its
 * token counts replace the counted ones over the same measured time window.
 */
export function withUsage(measured: GenerationMetrics, result: StreamResult): GenerationMetrics {
  const usage = result.usage;
  if (!usage) return measured;
  const decodeMs =
    measured.decodeTokPerSec > 0 ? (measured.decodeTokens * 1000) / measured.decodeTokPerSec : 0;
  const decodeTokens = Math.max(0, usage.completion_tokens - 1);
  return {
    ...measured,
    prefillTokens: usage.prompt_tokens,
    prefillTokPerSec: measured.ttftMs > 0 ? (usage.prompt_tokens * 1000) / measured.ttftMs : 0,
    decodeTokens,
    decodeTokPerSec: decodeMs > 0 ? (decodeTokens * 1000) / decodeMs : 0,
  };
}
