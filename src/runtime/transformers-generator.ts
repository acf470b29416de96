/**
 * TokenGenerator on transformers.js's generate() (ONNX Runtime: onnxruntime-node for device `cpu`,
 * onnxruntime-web for `wasm` and `webgpu`). The cache is transformers.js's DynamicCache, passed back
 * to generate() for the next turn; an InterruptableStoppingCriteria carries `stop()`. transformers.js
 * 4.3.1 never applies top_p (its TopPLogitsWarper is commented out), so a NucleusLogitsProcessor does.
 *
 * generate() checks its stopping criteria only after a token, so a long prompt read in one forward
 * pass could not be stopped (in a worker, not even heard: ORT-web's run holds the thread). A prompt
 * whose new part is longer than a chunk is therefore read in chunks through the cache, with a yield
 * to the event loop and a look at the stop flag between them; generate() then runs the last chunk
 * on top of that cache, exactly as it runs a cached conversation's new turn.
 */
import {
  BaseStreamer,
  DynamicCache,
  InterruptableStoppingCriteria,
  LogitsProcessor,
  type PreTrainedModel,
  Tensor,
} from '@huggingface/transformers';
import type { Dtype } from '../core/dtypes.ts';
import type { Device, EngineName } from '../core/engine.ts';
import { effectiveGenerationSettings, eosTokenIds } from '../core/generation-settings.ts';
import { applyTemperature, DEFAULT_TOP_K, firstNaN, NanLogitsError, nucleus } from './sampling.ts';
import type { GenerationArgs, TokenGenerator } from './token-generator.ts';

/** One streamed token as transformers.js reports it: the first `put` carries the prompt. */
class TokenStreamer extends BaseStreamer {
  private seenPrompt = false;

  constructor(private readonly onToken: (id: number) => void) {
    super();
  }

  override put(value: bigint[][]): void {
    if (!this.seenPrompt) {
      this.seenPrompt = true;
      return;
    }
    const id = value[0]?.[0];
    if (id !== undefined) this.onToken(Number(id));
  }

  override end(): void {}
}

/**
 * Top-p for transformers.js's generate(): masks (to -Infinity) every logit outside the nucleus of
 * the top-k tokens, as edgetier's CPU sampler draws. generate() runs custom processors after its
 * own (repetition penalty, minimum length, temperature) and before its sampler's top-k and softmax,
 * so the order is temperature, top-k, top-p, as in src/runtime/sampling.ts.
 */
export class NucleusLogitsProcessor extends LogitsProcessor {
  constructor(
    private readonly topK: number,
    private readonly topP: number,
  ) {
    super();
  }

  override _call(_inputIds: bigint[][], logits: Tensor): Tensor {
    const data = logits.data as Float32Array;
    const vocab = logits.dims.at(-1)!;
    for (let at = 0; at < data.length; at += vocab) {
      const row = data.subarray(at, at + vocab);
      const { ids } = nucleus(row, this.topK, this.topP);
      const kept = ids.map((id) => row[id]!);
      row.fill(Number.NEGATIVE_INFINITY);
      for (let i = 0; i < ids.length; i++) row[ids[i]!] = kept[i]!;
    }
    return logits;
  }
}

/**
 * The temperature for transformers.js's generate(), applied as edgetier's CPU sampler does
 * (applyTemperature): generate() itself divides the logits, which a tiny temperature (1e-39) overflows
 * to Infinity and NaN weights. generate() is then given temperature 1 (it adds no warper for 1), and
 * this runs first among the custom processors, after its repetition penalty, before top-p and top-k.
 */
export class TemperatureLogitsProcessor extends LogitsProcessor {
  constructor(private readonly temperature: number) {
    super();
  }

  override _call(_inputIds: bigint[][], logits: Tensor): Tensor {
    const data = logits.data as Float32Array;
    const vocab = logits.dims.at(-1)!;
    for (let at = 0; at < data.length; at += vocab)
      applyTemperature(data.subarray(at, at + vocab), this.temperature);
    return logits;
  }
}

/**
 * Refuses a step whose logits hold NaN (NanLogitsError), as edgetier's CPU engine does, where
 * generate() would pick token 0 (greedy) or the last candidate (a draw). First among the custom
 * processors, greedy too, so after generate()'s own (repetition penalty, EOS suppression under
 * min_new_tokens); `promptTokens` counts the answer's tokens from the sequence it is given.
 */
export class NanLogitsRefusal extends LogitsProcessor {
  constructor(private readonly promptTokens: number) {
    super();
  }

  override _call(inputIds: bigint[][], logits: Tensor): Tensor {
    if (firstNaN(logits.data as Float32Array) >= 0) {
      throw new NanLogitsError((inputIds[0]?.length ?? this.promptTokens) - this.promptTokens);
    }
    return logits;
  }
}

/**
 * The top_k generate() samples with when the request sets none, read as generate() reads it
 * (effectiveGenerationSettings: generation_config.json's, else config.json's): a null is no top-k, as
 * its own sampler reads it; absent, 50.
 */
function defaultTopK(model: PreTrainedModel): number {
  const topK = effectiveGenerationSettings(model.config, model.generation_config).get('top_k')?.value;
  return typeof topK === 'number' ? Math.max(0, topK) : topK === null ? 0 : DEFAULT_TOP_K;
}

function toIds(tensor: Tensor): number[] {
  return Array.from(tensor.data as BigInt64Array, (v) => Number(v));
}

/**
 * Cuts a cache back to its first `length` positions, in place. Keys and values of a position depend
 * only on the tokens up to it (causal attention), so the kept part is exactly what a fresh prefill
 * of those tokens would give. Only for caches in CPU memory; returns false for GPU-resident ones.
 */
function truncateCache(cache: DynamicCache, length: number): boolean {
  const entries = Object.entries(cache as Record<string, Tensor>).filter(([name]) =>
    name.startsWith('past_key_values.'),
  );
  if (entries.some(([, t]) => t.location !== 'cpu')) return false;
  cache.update(
    Object.fromEntries(entries.map(([name, t]) => [name, t.slice(null, null, [0, length], null)])),
  );
  return true;
}

/**
 * How a long prompt is read in chunks. Chunks are sized by the time the previous one took (doubled
 * under `targetMs`, halved past twice it; the next prompt starts where the last one ended), so that
 * a Stop lands within about that long on a small model and a large one alike (the page's watchdog
 * replaces a worker that does not answer Stop within 1 s): a fixed token count would be 0.2 s on
 * one model and 5 s on another. Weights whose numbers depend on the chunking (q8) get a fixed size
 * instead, from the model's shape (`prefillChunkingFor`): their tokens must not follow the clock.
 */
export interface PrefillChunking {
  /** A new (uncached) prompt part up to this many tokens is read in one pass. */
  onePassTokens: number;
  /** The first chunk's size before any chunk was timed (small: the model may be a slow one). */
  firstChunkTokens: number;
  /** Bounds of a chunk's size. */
  minChunkTokens: number;
  maxChunkTokens: number;
  /** A chunk shorter than this doubles the next one's size. */
  targetMs: number;
  /**
   * Every chunk this many tokens, whatever the time it took (absent: sized by time). For weights
   * whose numbers depend on the rows run together, so that the same prompt gives the same tokens
   * on a busy machine and an idle one.
   */
  fixedChunkTokens?: number;
}

/** Chosen by measurement: ARCHITECTURE.md, bench/experiments/prefill-chunks.ts. */
export const DEFAULT_PREFILL_CHUNKING: PrefillChunking = {
  onePassTokens: 64,
  firstChunkTokens: 16,
  minChunkTokens: 8,
  maxChunkTokens: 256,
  targetMs: 250,
};

/**
 * Weight formats whose tokens depend on how a prompt is cut into chunks: q8 quantizes activations
 * with one scale per tensor (DynamicQuantizeLinear), so the rows run together change the numbers.
 * q4 (MatMulNBits) and float weights give one pass's tokens whatever the chunks.
 */
export const CHUNKING_SENSITIVE_DTYPES: ReadonlySet<Dtype> = new Set<Dtype>(['q8']);

/**
 * Multiply-adds of the layers' Linears a fixed-size chunk may cost (2^33, about 8.6 G): 64 tokens of
 * SmolLM2-135M (106 M per token), 4 of SmolLM2-1.7B (1.6 G per token). Measured on onnxruntime-node,
 * 2 threads, q8: see ARCHITECTURE.md (each run well under the page's 1 s Stop watchdog).
 */
export const FIXED_CHUNK_MULTIPLY_ADDS = 2 ** 33;

/**
 * Multiply-adds per token of a decoder's Linears (attention projections and the gated MLP, every
 * layer; the head runs on the last position only), from config.json; null when a field is missing.
 */
export function layerMultiplyAddsPerToken(config: Record<string, unknown>): number | null {
  const num = (name: string): number | null => {
    const v = config[name];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
  };
  const hidden = num('hidden_size');
  const layers = num('num_hidden_layers');
  const heads = num('num_attention_heads');
  const mlp = num('intermediate_size');
  if (hidden === null || layers === null || heads === null || mlp === null) return null;
  const headDim = num('head_dim') ?? hidden / heads;
  const kvHeads = num('num_key_value_heads') ?? heads;
  const attention = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim;
  return layers * (attention + 3 * hidden * mlp);
}

/**
 * How a model in `dtype` reads long prompts: by time where the tokens do not depend on the chunks;
 * for q8, chunks of a fixed size, the largest power of two within FIXED_CHUNK_MULTIPLY_ADDS (1-256
 * tokens; 8 where the shape is unknown), a pure function of the model (prompts up to one chunk
 * are read in one pass).
 */
export function prefillChunkingFor(dtype: Dtype, config: Record<string, unknown>): PrefillChunking {
  const base = DEFAULT_PREFILL_CHUNKING;
  if (!CHUNKING_SENSITIVE_DTYPES.has(dtype)) return base;
  const perToken = layerMultiplyAddsPerToken(config);
  // One token at least, however large the model: Stop then lands after each token read.
  const size =
    perToken === null
      ? base.minChunkTokens
      : Math.min(
          base.maxChunkTokens,
          2 ** Math.floor(Math.log2(Math.max(1, FIXED_CHUNK_MULTIPLY_ADDS / perToken))),
        );
  return { ...base, onePassTokens: size, firstChunkTokens: size, fixedChunkTokens: size };
}

/**
 * The chunk after one of `size` tokens that took `ms`: twice as long while under the target, half as
 * long past twice the target, else the same. Not sized from the rate the chunk gives: a run has a
 * fixed cost (the q8 135M twin's is about a decode step's), so a rate read off short chunks sizes
 * them shorter still, down to the minimum, where that cost is most of the time.
 */
function nextChunkSize(chunking: PrefillChunking, size: number, ms: number): number {
  if (chunking.fixedChunkTokens !== undefined) return chunking.fixedChunkTokens;
  const next = ms < chunking.targetMs ? size * 2 : ms > 2 * chunking.targetMs ? Math.floor(size / 2) : size;
  return Math.max(chunking.minChunkTokens, Math.min(chunking.maxChunkTokens, next));
}

/** Lets queued messages (an interrupt) and timers run: ORT-web's run may hold the thread for a whole chunk. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Whether a model's cache is attention keys and values only (`present.N.key`/`.value` out,
 * `past_key_values.N.…` in): only then is a prompt read in chunks (a hybrid model's recurrent
 * state, Mamba's or LFM2's, would need its own naming and is read in one pass).
 */
function chunkableCache(model: PreTrainedModel): boolean {
  const names: unknown = model.sessions?.model?.outputNames;
  return (
    Array.isArray(names) &&
    names.includes('logits') &&
    names.some((n) => n.startsWith('present.')) &&
    names.every((n) => n === 'logits' || /^present\.\d+\.(key|value)$/.test(n))
  );
}

export class TransformersGenerator implements TokenGenerator {
  readonly engine: EngineName;
  readonly config: Record<string, unknown>;
  readonly eosIds: ReadonlySet<number>;
  private readonly stopper = new InterruptableStoppingCriteria();
  private cache: DynamicCache | null = null;
  private ids: number[] = [];
  /** null: every prompt is read in one pass. */
  private readonly chunking: PrefillChunking | null;
  /** The size the last chunk run ended on (0: none run yet): the next prompt starts there. */
  private chunkTokens = 0;
  /** The model takes `num_logits_to_keep`: a prefill chunk computes no logits but the last position's. */
  private readonly keepsLogits: boolean;
  /** Prefill chunks run through the cache before generate() (since load, over all requests). */
  prefillChunks = 0;

  /** `chunking`: how long prompts are read (null: in one pass, as generate() alone would). */
  constructor(
    private readonly model: PreTrainedModel,
    device: Device,
    chunking: PrefillChunking | null = DEFAULT_PREFILL_CHUNKING,
    private readonly clock: () => number = () => performance.now(),
  ) {
    if (
      chunking &&
      !(
        Number.isInteger(chunking.minChunkTokens) &&
        chunking.minChunkTokens >= 1 &&
        Number.isInteger(chunking.maxChunkTokens) &&
        chunking.maxChunkTokens >= chunking.minChunkTokens &&
        Number.isInteger(chunking.onePassTokens) &&
        chunking.onePassTokens >= 1 &&
        Number.isInteger(chunking.firstChunkTokens) &&
        chunking.firstChunkTokens >= 1 &&
        chunking.targetMs > 0 &&
        (chunking.fixedChunkTokens === undefined ||
          (Number.isInteger(chunking.fixedChunkTokens) && chunking.fixedChunkTokens >= 1))
      )
    ) {
      throw new RangeError(`Bad prefill chunking: ${JSON.stringify(chunking)}.`);
    }
    this.engine = device === 'cpu' ? 'onnxruntime-node' : 'onnxruntime-web';
    this.chunking = chunking && chunkableCache(model) ? chunking : null;
    const inputs: unknown = model.sessions?.model?.inputNames;
    this.keepsLogits = Array.isArray(inputs) && inputs.includes('num_logits_to_keep');
    this.config = model.config as unknown as Record<string, unknown>;
    // As generate() reads it, so that its stops and ours agree (finish reason, ignoreEos).
    this.eosIds = eosTokenIds(this.config, model.generation_config);
  }

  get cachedIds(): readonly number[] {
    return this.ids;
  }

  truncate(length: number): boolean {
    if (!this.cache || !truncateCache(this.cache, length)) return false;
    this.ids = this.ids.slice(0, length);
    return true;
  }

  reset(): void {
    const cache = this.cache;
    this.cache = null;
    this.ids = [];
    if (cache) void cache.dispose();
  }

  stop(): void {
    this.stopper.interrupt();
  }

  clearStop(): void {
    this.stopper.reset();
  }

  async generate({
    promptIds,
    reuse,
    maxNewTokens,
    ignoreEos,
    sampling,
    onToken,
  }: GenerationArgs): Promise<void> {
    try {
      if (!reuse || !this.cache) this.reset();
      // Every chunk but the last, through the cache; an interrupt (heard during the yield) ends the
      // request here with no token, the cache holding the chunks read (a prefix of the prompt).
      const chunking = this.chunking;
      if (chunking && promptIds.length - this.ids.length > chunking.onePassTokens) {
        let size = chunking.fixedChunkTokens ?? (this.chunkTokens || chunking.firstChunkTokens);
        while (promptIds.length - this.ids.length > size) {
          if (this.stopper.interrupted) return;
          const startMs = this.clock();
          await this.prefillChunk(promptIds.slice(this.ids.length, this.ids.length + size));
          size = nextChunkSize(chunking, size, this.clock() - startMs);
          this.chunkTokens = size;
          await yieldToEventLoop();
        }
      }
      if (this.stopper.interrupted) return;
      const dims = [1, promptIds.length];
      const input_ids = new Tensor(
        'int64',
        BigInt64Array.from(promptIds, (v) => BigInt(v)),
        dims,
      );
      const attention_mask = new Tensor('int64', new BigInt64Array(promptIds.length).fill(1n), dims);
      const temperature = sampling.temperature ?? 0;
      const topP = sampling.topP ?? 1;
      // Top-p only matters when sampling; the processor and the sampler then use the same top-k.
      const topK = sampling.topK ?? (temperature > 0 && topP < 1 ? defaultTopK(this.model) : undefined);
      const options: Record<string, unknown> = {
        input_ids,
        attention_mask,
        max_new_tokens: maxNewTokens,
        ...(ignoreEos ? { min_new_tokens: maxNewTokens } : {}),
        do_sample: temperature > 0,
        // 1, not the model's generation_config.json temperature: TemperatureLogitsProcessor applies ours.
        ...(temperature > 0 ? { temperature: 1 } : {}),
        ...(topK !== undefined ? { top_k: topK } : {}),
        logits_processor: [
          new NanLogitsRefusal(promptIds.length),
          ...(temperature > 0 ? [new TemperatureLogitsProcessor(temperature)] : []),
          ...(temperature > 0 && topP < 1 ? [new NucleusLogitsProcessor(topK ?? DEFAULT_TOP_K, topP)] : []),
        ],
        ...(sampling.repetitionPenalty !== undefined
          ? { repetition_penalty: sampling.repetitionPenalty }
          : {}),
        stopping_criteria: [this.stopper],
        streamer: new TokenStreamer(onToken),
        return_dict_in_generate: true,
        ...(this.cache ? { past_key_values: this.cache } : {}),
      };
      // The option types of generate() do not admit a custom streamer; the runtime accepts any BaseStreamer.
      const output = (await this.model.generate(
        options as Parameters<PreTrainedModel['generate']>[0],
      )) as unknown as {
        sequences: Tensor;
        past_key_values: DynamicCache;
      };
      const sequences = toIds(output.sequences);
      // The cache now holds every token but the last one generated (it was never fed back).
      this.cache = output.past_key_values;
      this.ids = sequences.slice(0, this.cache.get_seq_length());
    } catch (error) {
      this.reset();
      throw error;
    }
  }

  /**
   * Runs `ids` (the prompt's next tokens) through the model on top of the cache, which then holds
   * them too. Only the last position's logits are computed where the model allows it; they are not used.
   */
  private async prefillChunk(ids: readonly number[]): Promise<void> {
    const past = this.ids.length;
    const total = past + ids.length;
    const inputs: Record<string, unknown> = {
      input_ids: new Tensor(
        'int64',
        BigInt64Array.from(ids, (v) => BigInt(v)),
        [1, ids.length],
      ),
      attention_mask: new Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
      past_key_values: this.cache,
      ...(this.keepsLogits ? { num_logits_to_keep: new Tensor('int64', [1n], []) } : {}),
    };
    const outputs = (await this.model.forward(inputs)) as Record<string, Tensor>;
    const entries: Record<string, Tensor> = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (name.startsWith('present.')) entries[`past_key_values.${name.slice('present.'.length)}`] = tensor;
      else if (tensor.location === 'gpu-buffer') tensor.dispose();
    }
    if (this.cache) this.cache.update(entries);
    else this.cache = new DynamicCache(entries);
    this.ids.push(...ids);
    this.prefillChunks++;
  }

  async dispose(): Promise<void> {
    this.reset();
    await this.model.dispose();
  }
}
