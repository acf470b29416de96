/**
 * The generation core shared by the Node engine and the Web Worker: one loaded model (tokenizer +
 * a TokenGenerator: ONNX Runtime through transformers.js, or edgetier's CPU engine) and one
 * conversation's KV cache.
 *
 * Isomorphic on purpose: no Node or DOM API is used here. The caller configures transformers.js's
 * `env` (local model paths, remote host, wasm paths) before `loadModelSession`.
 *
 * What a `generate` call does, in order: render the chat template (or take the raw prompt), fit the
 * conversation into the context window, reuse the KV cache for the prompt's prefix it already holds
 * (cut back where the conversation diverged), generate (greedy unless a temperature is given) while streaming batched chunks, stop on
 * EOS, a stop string, max new tokens or an interrupt, then split `<think>` reasoning from the answer
 * and report measured metrics.
 */
import { Template } from '@huggingface/jinja';
import {
  AutoModelForCausalLM,
  AutoTokenizer,
  env,
  type PreTrainedModel,
  type PreTrainedTokenizer,
} from '@huggingface/transformers';
import type { Dtype } from '../core/dtypes.ts';
import type { ChatMessage, Device, GenerateRequest, GenerateResult, StreamChunk } from '../core/engine.ts';
import { toEdgetierError } from '../core/error-mapping.ts';
import { EdgetierError } from '../core/errors.ts';
import { type Clock, defaultClock, MetricsRecorder } from '../core/metrics.ts';
import { ChunkBatcher, DEFAULT_BATCHING } from './chunk-batcher.ts';
import { fitConversation } from './context-window.ts';
import { NanLogitsError } from './sampling.ts';
import { checkSampling } from './sampling-check.ts';
import { cutAtStop, findStop, stopHoldback } from './stop-strings.ts';
import {
  chatTemplateJob,
  DEFAULT_TEMPLATE_BUDGET,
  InThreadTemplateRenderer,
  type TemplateRenderer,
} from './template-budget.ts';
import { TextStream } from './text-stream.ts';
import { THINK_OPEN, ThinkSplitter } from './think-split.ts';
import type { TokenGenerator } from './token-generator.ts';
import { prefillChunkingFor, TransformersGenerator } from './transformers-generator.ts';

export const DEFAULT_MAX_NEW_TOKENS = 256;
/** The warm-up stops here even within its budget (a small model needs no more). */
export const WARMUP_MAX_TOKENS = 32;
/** Used when config.json states no `max_position_embeddings`. */
export const DEFAULT_CONTEXT_TOKENS = 2048;

export interface LoadModelOptions {
  /** A local folder in Node; a Hub id or a URL-relative id in the browser. */
  model: string;
  dtype: Dtype;
  device: Device;
  /** CPU threads for ONNX Runtime (intra-op threads natively, wasm threads in the browser). */
  threads?: number;
  /** transformers.js progress events, passed through as they come. */
  progressCallback?: (progress: unknown) => void;
  /** Streaming cadence; defaults to DEFAULT_BATCHING. */
  batching?: { maxTokens: number; maxDelayMs: number };
  /** For tests; defaults to performance.now(). */
  clock?: Clock;
  /**
   * Renders the chat template under its time and output budget (a helper thread per realm); defaults
   * to rendering on this thread with the output budget only.
   */
  templateRenderer?: TemplateRenderer;
}

export interface ModelInfo {
  /** config.json says this is a shape twin with random weights (`edgetier.synthetic`). */
  synthetic: boolean;
  /** The real model a shape twin mirrors. */
  mirrors?: string;
  modelType: string;
  maxContextTokens: number;
  /** The chat template has a thinking switch (Qwen3 `enable_thinking`). */
  hasThinking: boolean;
}

/** transformers.js maps onnxruntime-node to device 'cpu' and onnxruntime-web's CPU path to 'wasm'. */
export async function loadModelSession(options: LoadModelOptions): Promise<ModelSession> {
  const { model, dtype, device, threads, progressCallback } = options;
  if (device === 'wasm' && threads && threads > 0) {
    const wasm = env.backends.onnx.wasm;
    if (wasm) wasm.numThreads = threads;
  }
  let tokenizer: PreTrainedTokenizer;
  let loaded: PreTrainedModel;
  try {
    const progress = progressCallback ? { progress_callback: progressCallback } : {};
    tokenizer = await AutoTokenizer.from_pretrained(model, progress);
    loaded = await AutoModelForCausalLM.from_pretrained(model, {
      ...progress,
      dtype,
      device,
      ...(device === 'cpu' && threads && threads > 0
        ? { session_options: { intraOpNumThreads: threads } }
        : {}),
    });
  } catch (error) {
    throw toEdgetierError(error, { phase: 'load', model, dtype, device });
  }
  return new ModelSession(
    tokenizer,
    // q8's chunk grid is fixed by the model's shape, so its tokens never follow the clock.
    new TransformersGenerator(
      loaded,
      device,
      prefillChunkingFor(dtype, loaded.config as unknown as Record<string, unknown>),
    ),
    { dtype, device, threads: threads ?? 0 },
    options,
  );
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class ModelSession {
  readonly info: ModelInfo;
  private readonly eosIds: ReadonlySet<number>;
  private readonly clock: Clock;
  private readonly batching: { maxTokens: number; maxDelayMs: number };
  /** Counts interrupts: a request is interrupted when this moved since it was submitted. */
  private interrupts = 0;
  /** Requests run one at a time, in order of arrival. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly templateRenderer: TemplateRenderer;

  constructor(
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly generator: TokenGenerator,
    private readonly backend: { dtype: Dtype; device: Device; threads: number },
    options: Pick<LoadModelOptions, 'batching' | 'clock' | 'templateRenderer'> = {},
  ) {
    this.clock = options.clock ?? defaultClock;
    this.templateRenderer = options.templateRenderer ?? new InThreadTemplateRenderer(Template);
    this.batching = options.batching ?? DEFAULT_BATCHING;
    const config = generator.config;
    const edgetier = (config.edgetier ?? {}) as { synthetic?: unknown; mirrors?: unknown };
    const template = tokenizer.chat_template;
    const templateText = typeof template === 'string' ? template : JSON.stringify(template ?? '');
    const maxPositions = config.max_position_embeddings;
    this.info = {
      synthetic: edgetier.synthetic === true,
      ...(typeof edgetier.mirrors === 'string' ? { mirrors: edgetier.mirrors } : {}),
      modelType: String(config.model_type ?? 'unknown'),
      maxContextTokens:
        typeof maxPositions === 'number' && maxPositions > 0 ? maxPositions : DEFAULT_CONTEXT_TOKENS,
      hasThinking: templateText.includes('enable_thinking'),
    };
    this.eosIds = generator.eosIds;
  }

  /** Threads the model runs on (the CPU engine's: after any fallback to one). */
  get threads(): number {
    return this.backend.threads;
  }

  /**
   * Runs one request; concurrent calls wait their turn. An `interrupt()` from now on ends it, whether
   * it is still waiting, fitting its prompt (an `aborted` error) or generating (its partial answer).
   * `since` is an `interruptMark()` taken earlier, when the request was accepted (defaults to now).
   */
  generate(
    request: GenerateRequest,
    onChunk?: (chunk: StreamChunk) => void,
    since = this.interrupts,
  ): Promise<GenerateResult> {
    const run = this.queue.then(() => this.run(request, onChunk, since));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the running generation after its current token (its partial answer is returned), and every request already submitted. */
  interrupt(): void {
    this.interrupts++;
    this.generator.stop();
  }

  /** A mark for `generate(…, since)`: interrupts after this moment reach that request. */
  interruptMark(): number {
    return this.interrupts;
  }

  /**
   * Validates a request and fits its prompt into the context window, as `generate` would, without
   * running it: the server answers a request that can never run before its response starts. Not
   * queued behind the running generation.
   */
  async fit(
    request: GenerateRequest,
    shouldStop: () => boolean = () => false,
  ): Promise<{ promptTokens: number; droppedMessages: number }> {
    const prepared = await this.prepare(request, shouldStop);
    return { promptTokens: prepared.promptIds.length, droppedMessages: prepared.droppedMessages };
  }

  /**
   * A silent generation, then a reset: in a browser a session's first generation runs on V8's baseline
   * WASM code (and WebGPU compiles its pipelines on first use), so without it a visitor's first reply
   * would be the slowest. Stops after `maxTokens` or once `budgetMs` has passed (at the next streamed
   * chunk); returns the time it took and the tokens it generated. Leaves no trace in the conversation.
   */
  async warmUp(budgetMs: number, maxTokens = WARMUP_MAX_TOKENS): Promise<{ ms: number; tokens: number }> {
    if (!(budgetMs > 0) || !(maxTokens > 0)) return { ms: 0, tokens: 0 };
    const start = this.clock();
    let tokens = 0;
    try {
      const result = await this.generate(
        { prompt: 'Hello', sampling: { maxNewTokens: maxTokens, ignoreEos: true } },
        () => {
          if (this.clock() - start >= budgetMs) this.interrupt();
        },
      );
      tokens = result.outputIds.length;
    } catch (error) {
      // A NaN step in the warm-up's own answer is no reason to refuse the load: other prompts may
      // answer, and one that does not is refused then, by the request's own message.
      if (!(error instanceof NanLogitsError)) throw error;
    } finally {
      this.resetConversation();
    }
    return { ms: this.clock() - start, tokens };
  }

  /** Forgets the KV cache: the next request prefills its whole prompt. */
  resetConversation(): void {
    this.generator.reset();
  }

  /** Which runtime runs the forward passes. */
  get engine(): TokenGenerator['engine'] {
    return this.generator.engine;
  }

  /** The CPU engine's kernels (TokenGenerator.cpuKernels); undefined on ORT. */
  get cpuKernels(): string | undefined {
    return this.generator.cpuKernels;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.interrupt();
    await this.queue;
    this.templateRenderer.dispose();
    await this.generator.dispose();
  }

  /**
   * Token ids of a chat rendered through the template, with the generation prompt: what
   * `apply_chat_template` renders, under the template's time and output budget.
   */
  private async renderChat(
    messages: ChatMessage[],
    enableThinking: boolean | undefined,
  ): Promise<{ text: string; ids: number[] }> {
    const job = chatTemplateJob(
      this.tokenizer as unknown as Parameters<typeof chatTemplateJob>[0],
      messages,
      enableThinking,
      DEFAULT_TEMPLATE_BUDGET,
    );
    const text = await this.templateRenderer.render(job);
    return { text, ids: this.tokenizer.encode(text, { add_special_tokens: false }) };
  }

  /** Checks the request and turns it into prompt ids that fit the context window. */
  private async prepare(request: GenerateRequest, shouldStop: () => boolean) {
    const sampling = request.sampling ?? {};
    checkSampling(sampling);
    const maxNewTokens = sampling.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const contextTokens = this.info.maxContextTokens;
    // Room kept for the answer when fitting the prompt: at most half the window, so a large
    // max_new_tokens does not wipe out the whole history.
    const reserve = Math.min(maxNewTokens, Math.floor(contextTokens / 2));
    const given = [request.messages, request.prompt, request.promptIds].filter((v) => v !== undefined);
    if (given.length !== 1) {
      throw new EdgetierError(
        'bad_request',
        request.promptIds === undefined
          ? 'Give exactly one of `messages` and `prompt`.'
          : 'Give exactly one of `messages`, `prompt` and `promptIds`.',
      );
    }
    let promptIds: number[];
    let renderedPrompt = '';
    let droppedMessages = 0;
    if (request.messages) {
      if (request.messages.length === 0) throw new EdgetierError('bad_request', '`messages` is empty.');
      const fitted = await fitConversation(
        request.messages,
        {
          countMessage: (m) => this.tokenizer.encode(m.content, { add_special_tokens: false }).length,
          countConversation: async (m) => (await this.renderChat(m, request.enableThinking)).ids.length,
        },
        contextTokens - reserve,
        { shouldStop },
      );
      droppedMessages = fitted.dropped;
      const rendered = await this.renderChat(fitted.messages, request.enableThinking);
      promptIds = rendered.ids;
      renderedPrompt = rendered.text;
    } else {
      const vocab = this.generator.config.vocab_size;
      promptIds = request.promptIds
        ? request.promptIds.map((id) => {
            if (!Number.isInteger(id) || id < 0) {
              throw new EdgetierError('bad_request', `promptIds must be non-negative integers, got ${id}.`);
            }
            // Past the embedding table ORT fails deep in a Gather node (and resets the conversation).
            if (typeof vocab === 'number' && id >= vocab) {
              throw new EdgetierError(
                'bad_request',
                `promptIds must be token ids below the vocabulary size ${vocab}, got ${id}.`,
              );
            }
            return id;
          })
        : this.tokenizer.encode(request.prompt ?? '');
      if (promptIds.length + reserve > contextTokens) {
        throw new EdgetierError(
          'context_overflow',
          `The prompt needs ${promptIds.length} tokens plus ${reserve} for the answer, but the context window ` +
            `holds ${contextTokens}. Shorten the prompt or lower max new tokens.`,
        );
      }
    }
    if (promptIds.length === 0) throw new EdgetierError('bad_request', 'The prompt is empty.');
    return { promptIds, renderedPrompt, droppedMessages };
  }

  private async run(
    request: GenerateRequest,
    onChunk: ((chunk: StreamChunk) => void) | undefined,
    since: number,
  ): Promise<GenerateResult> {
    if (this.disposed)
      throw new EdgetierError('generation_failed', 'This model was unloaded; load it again.');
    const startMs = this.clock();
    // Interrupts sent before this request was submitted do not apply to it; later ones do, even
    // those that came while it waited its turn.
    const interrupted = () => this.interrupts !== since;
    this.generator.clearStop();
    if (interrupted()) throw new EdgetierError('aborted', 'Stopped before the generation started.');

    const sampling = request.sampling ?? {};
    const maxNewTokens = sampling.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const stops = (sampling.stop ?? []).filter((s) => s.length > 0);
    const contextTokens = this.info.maxContextTokens;
    const chat = request.messages !== undefined;
    const { promptIds, renderedPrompt, droppedMessages } = await this.prepare(request, interrupted);
    if (interrupted()) throw new EdgetierError('aborted', 'Stopped before the generation started.');
    // An interrupt from here on reaches the generation through the generator's stop().
    this.generator.clearStop();
    const newTokenLimit = Math.max(1, Math.min(maxNewTokens, contextTokens - promptIds.length));

    // Reuse the cached tokens the new prompt starts with. When the conversation diverges from the cache
    // part-way (an edited turn, or an answer whose text re-tokenises differently), the cache is cut
    // back to the shared prefix. At least one prompt token must remain to run.
    let reuse = false;
    const cachedIds = this.generator.cachedIds;
    if (cachedIds.length > 0) {
      const shared = Math.min(commonPrefixLength(promptIds, cachedIds), promptIds.length - 1);
      if (shared === cachedIds.length) reuse = shared > 0;
      else if (shared > 0 && this.generator.truncate(shared)) reuse = true;
    }
    if (!reuse) this.resetConversation();
    const cachedPromptTokens = reuse ? this.generator.cachedIds.length : 0;
    const recorder = new MetricsRecorder(
      promptIds.length - cachedPromptTokens,
      cachedPromptTokens,
      this.clock,
    );
    // Templating and tokenising count toward time to first token: they are part of the request.
    recorder.start(startMs);

    const outputIds: number[] = [];
    const startInReasoning = chat && renderedPrompt.trimEnd().endsWith(THINK_OPEN);
    const splitter = chat ? new ThinkSplitter(startInReasoning) : null;
    const batcher = onChunk ? new ChunkBatcher(onChunk, this.batching, this.clock) : null;
    let stopHit = false;
    const decode = (ids: number[]) => this.tokenizer.decode(ids, { skip_special_tokens: true });
    // Streamed pieces add up to the final text: only text that can no longer change leaves.
    const cleanup =
      (this.tokenizer as unknown as { clean_up_tokenization_spaces?: boolean })
        .clean_up_tokenization_spaces !== false;
    const stream = new TextStream(decode, cleanup);
    const longestStop = Math.max(0, ...stops.map((s) => s.length));
    /** The end of the text handed out so far, long enough for a stop string to straddle it. */
    let recent = '';

    const onToken = (id: number) => {
      recorder.token();
      outputIds.push(id);
      if (!batcher && stops.length === 0) return;
      stream.push(id);
      let pending = stream.pending;
      let end = stream.settled;
      if (stops.length > 0) {
        const look = recent + pending;
        const at = findStop(look, stops);
        if (at >= 0) {
          stopHit = true;
          this.generator.stop();
          // What is not settled yet leaves with the final text, cut there too.
          end = Math.min(end, Math.max(0, at - recent.length));
          pending = pending.slice(0, end);
        } else {
          end = Math.max(0, end - stopHoldback(look.slice(0, recent.length + end), stops));
        }
      }
      const piece = pending.slice(0, end);
      stream.take(piece.length);
      if (longestStop > 0) recent = (recent + piece).slice(-longestStop);
      if (!batcher) return;
      batcher.add(splitter ? splitter.push(piece) : { text: piece, reasoning: '' });
    };

    try {
      const temperature = sampling.temperature ?? 0;
      await this.generator.generate({
        promptIds,
        reuse,
        maxNewTokens: newTokenLimit,
        ignoreEos: sampling.ignoreEos === true,
        sampling: {
          temperature,
          ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
          ...(sampling.topK !== undefined ? { topK: sampling.topK } : {}),
          ...(sampling.repetitionPenalty !== undefined
            ? { repetitionPenalty: sampling.repetitionPenalty }
            : {}),
        },
        onToken,
      });
    } catch (error) {
      this.resetConversation();
      throw toEdgetierError(error, {
        phase: 'generate',
        device: this.backend.device,
        dtype: this.backend.dtype,
      });
    }
    const metrics = recorder.finish();
    metrics.device = this.backend.device;
    metrics.dtype = this.backend.dtype;
    metrics.threads = this.backend.threads;
    metrics.engine = this.generator.engine;

    // The final text comes from decoding every generated token at once.
    // None when an interrupt came while the prompt was read (both generators check between prefill chunks).
    const whole = outputIds.length > 0 ? cutAtStop(decode(outputIds), stops) : '';
    const emitted = stream.taken;
    let text = whole;
    let reasoning = '';
    if (splitter) {
      ({ text, reasoning } = ThinkSplitter.split(whole, startInReasoning));
      if (batcher) {
        const rest = unsent(whole, emitted);
        const a = splitter.push(rest);
        const b = splitter.flush();
        batcher.addText({ text: a.text + b.text, reasoning: a.reasoning + b.reasoning });
      }
    } else if (batcher) {
      batcher.addText({ text: unsent(whole, emitted), reasoning: '' });
    }
    batcher?.flush();

    const last = outputIds.at(-1);
    let finishReason: GenerateResult['finishReason'];
    if (interrupted() && !stopHit) finishReason = 'aborted';
    else if (stopHit || (last !== undefined && this.eosIds.has(last))) finishReason = 'stop';
    else finishReason = 'length';
    this.generator.clearStop();

    const result: GenerateResult = { text, promptIds, outputIds, finishReason, metrics };
    if (reasoning) result.reasoning = reasoning;
    if (droppedMessages > 0) result.droppedMessages = droppedMessages;
    return result;
  }
}

/** What of `whole` was not streamed yet. */
function unsent(whole: string, emitted: number): string {
  return whole.length > emitted ? whole.slice(emitted) : '';
}
