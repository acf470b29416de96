/**
 * The embedded default tier: one local model run natively on onnxruntime-node (NodeEngine), behind
 * a bounded queue. Loading starts with the server; requests that arrive meanwhile wait in the
 * queue. A request is checked and fitted before its response starts (a plain 400 when it can never
 * run). A client that disconnects leaves the queue at once, or interrupts its generation (the
 * engine stops after the current token) and frees the slot; a cut answer is an error naming why
 * (client gone, server shutting down), never a complete one.
 */
import type { Dtype } from '../core/dtypes.ts';
import type { Engine, GenerateRequest } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';
import type { ChatCompletionRequest, WireModel } from '../remote/openai-wire.ts';
import { ApiError, abortError } from './api-error.ts';
import type { ModelIndexEntry } from './model-index.ts';
import type { Tier, TierDelta, TierOutcome } from './tier.ts';
import { WorkQueue } from './work-queue.ts';

/** OpenAI's API has no default cap; a local tier needs one. */
export const DEFAULT_NATIVE_MAX_TOKENS = 512;

export interface NativeTierOptions {
  /** The model folder's description (from the model index). */
  model: ModelIndexEntry;
  modelDir: string;
  dtype: Dtype;
  engine: Engine;
  /** Requests that may wait while one runs. Default 8. */
  maxQueue?: number;
  log?: (line: string) => void;
}

export type NativeState = 'loading' | 'ready' | 'failed';

export class NativeTier implements Tier {
  readonly id: string;
  private loadState: NativeState = 'loading';
  private readonly queue: WorkQueue;
  private readonly ready: Promise<void>;
  private loadError: EdgetierError | null = null;

  constructor(private readonly options: NativeTierOptions) {
    this.id = options.model.name;
    this.queue = new WorkQueue(1, options.maxQueue ?? 8);
    const started = Date.now();
    this.ready = options.engine
      .load({ source: { kind: 'path', path: options.modelDir }, device: 'cpu', dtype: options.dtype })
      .then(() => {
        this.loadState = 'ready';
        options.log?.(`native tier: ${this.id} (${options.dtype}) loaded in ${Date.now() - started} ms`);
      })
      .catch((error: unknown) => {
        this.loadState = 'failed';
        const message = error instanceof Error ? error.message : String(error);
        this.loadError = new EdgetierError(
          'load_failed',
          `The native tier could not load ${options.modelDir} (${options.dtype}): ${message}`,
        );
        options.log?.(`native tier: ${this.loadError.message}`);
      });
  }

  /** For /healthz: 'failed' also once the engine (its thread) has gone after loading. */
  get state(): NativeState {
    return this.engineFailure() ? 'failed' : this.loadState;
  }

  /** Why the engine is gone, for engines that can tell (the threaded one: its thread exited). */
  private engineFailure(): Error | null {
    const engine = this.options.engine as Engine & { failure?: Error | null };
    return engine.failure ?? null;
  }

  /** Resolves once loading has ended, either way. */
  whenSettled(): Promise<void> {
    return this.ready;
  }

  get queueStats() {
    return this.queue.stats;
  }

  describe(): WireModel {
    const m = this.options.model;
    const edgetier = {
      tier: 'native',
      runtime: 'onnxruntime-node',
      dtype: this.options.dtype,
      state: this.state,
      synthetic: m.synthetic,
      ...(m.mirrors ? { mirrors: m.mirrors } : {}),
      ...(m.params ? { params: m.params } : {}),
      description: m.synthetic
        ? `Synthetic shape twin${m.mirrors ? ` of ${m.mirrors}` : ''}: real shapes and speed, random weights, so its answers are noise. Configure EDGETIER_UPSTREAM_URL for a real full-scale model.`
        : `Local model ${m.name}, run natively by edgetier serve.`,
    };
    return { id: this.id, object: 'model', created: 0, owned_by: 'edgetier', edgetier };
  }

  async models(): Promise<WireModel[]> {
    return [this.describe()];
  }

  async handles(model: string): Promise<boolean> {
    return model === this.id;
  }

  async run(
    request: ChatCompletionRequest,
    onDelta: (delta: TierDelta) => void,
    signal: AbortSignal,
    onAccepted?: () => void,
  ): Promise<TierOutcome> {
    this.throwIfLoadFailed();
    // A parameter the tier cannot apply is refused before the request takes a place in line.
    const generateRequest = toGenerateRequest(request);
    // A full queue refuses at once (429, before any header); otherwise the request takes its place
    // in line now, while it is checked.
    const refused = this.queue.full;
    const slot = this.queue.acquire(signal);
    // Its rejection (client gone while it waits) is read once its turn matters, not before.
    slot.catch(() => undefined);
    let release: (() => void) | null = null;
    const engine = this.options.engine;
    const onAbort = () => void engine.interrupt();
    try {
      if (refused) await slot;
      await this.ready;
      this.throwIfLoadFailed();
      // A request that can never run (over the context window, malformed) is refused before the
      // response starts, streaming or not: a plain HTTP 400.
      await engine.fitPrompt?.(generateRequest, signal);
      if (signal.aborted) throw abortError(signal);
      // Taken: a streaming response opens now and keep-alives flow while it waits for its turn.
      onAccepted?.();
      release = await slot;
      if (signal.aborted) throw abortError(signal);
      // Each request is a whole conversation of its own: no KV reuse across clients.
      await engine.resetConversation();
      // From the moment generate() is called (synchronously after this check), an abort reaches it:
      // the engine ends a submitted request that an interrupt follows.
      if (signal.aborted) throw abortError(signal);
      signal.addEventListener('abort', onAbort, { once: true });
      const result = await engine.generate(generateRequest, (chunk) => {
        const delta: TierDelta = {};
        if (chunk.text) delta.content = chunk.text;
        if (chunk.reasoning) delta.reasoning = chunk.reasoning;
        if (delta.content !== undefined || delta.reasoning !== undefined) onDelta(delta);
      });
      // A cut answer is never reported as complete: the cut is an error naming its cause.
      if (result.finishReason === 'aborted') throw abortError(signal);
      const promptTokens =
        result.promptIds.length || result.metrics.prefillTokens + result.metrics.cachedPromptTokens;
      return {
        // A local model has no content filter: 'filtered' comes only from remote engines.
        finishReason: result.finishReason === 'filtered' ? 'content_filter' : result.finishReason,
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: result.outputIds.length,
          total_tokens: promptTokens + result.outputIds.length,
        },
      };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof EdgetierError) {
        if (error.code === 'aborted') throw abortError(signal);
        const status = error.code === 'context_overflow' || error.code === 'bad_request' ? 400 : 500;
        throw new ApiError(
          status,
          error.message,
          status === 400 ? 'invalid_request_error' : 'server_error',
          error.code,
        );
      }
      throw new ApiError(
        500,
        `The native tier failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (release) release();
      else
        slot.then(
          (r) => r(),
          () => undefined,
        );
    }
  }

  private throwIfLoadFailed(): void {
    if (this.loadError) throw new ApiError(503, this.loadError.message, 'server_error', 'load_failed');
    const failure = this.engineFailure();
    if (failure) {
      throw new ApiError(
        503,
        `The native tier's engine thread ${failure.message.replace(/^The native engine thread /, '').replace(/\.$/, '')}. Restart edgetier serve; its log says why.`,
        'server_error',
        'engine_exited',
      );
    }
  }

  async close(): Promise<void> {
    await this.options.engine.interrupt();
    await this.ready;
    await this.options.engine.unload();
  }
}

/**
 * OpenAI parameters that the native tier's sampler has no counterpart for are refused by name (a
 * 400 in OpenAI's shape), never ignored. Zero penalties ask for nothing, and many clients send them.
 */
function refuseUnapplied(request: ChatCompletionRequest): void {
  for (const param of ['frequency_penalty', 'presence_penalty'] as const) {
    const value = request[param];
    if (value !== undefined && value !== 0) {
      throw new ApiError(
        400,
        `The native tier does not apply '${param}' (got ${value}): send 0 or leave it out ('repetition_penalty' is applied), or ask a model of the upstream tier.`,
        'invalid_request_error',
        'unsupported_parameter',
        param,
      );
    }
  }
  if (request.seed !== undefined) {
    throw new ApiError(
      400,
      `The native tier cannot seed its sampling (got 'seed' ${request.seed}): leave 'seed' out ('temperature' 0 gives the same answer every time), or ask a model of the upstream tier.`,
      'invalid_request_error',
      'unsupported_parameter',
      'seed',
    );
  }
}

/** The engine's request for a validated chat request; throws a 400 ApiError for what it cannot apply. */
export function toGenerateRequest(request: ChatCompletionRequest): GenerateRequest {
  refuseUnapplied(request);
  const sampling: NonNullable<GenerateRequest['sampling']> = {
    maxNewTokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_NATIVE_MAX_TOKENS,
  };
  // OpenAI's default temperature is 1; a request that says 0 gets greedy decoding.
  sampling.temperature = request.temperature ?? 1;
  if (request.top_p !== undefined) sampling.topP = request.top_p;
  if (request.top_k !== undefined) sampling.topK = request.top_k;
  if (request.repetition_penalty !== undefined) sampling.repetitionPenalty = request.repetition_penalty;
  if (request.stop) sampling.stop = Array.isArray(request.stop) ? request.stop : [request.stop];
  return {
    messages: request.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: m.content,
    })),
    sampling,
  };
}
