/**
 * Parses a Hugging Face `config.json` into the normalised ModelSpec, for the decoder families
 * edgetier builds: llama (SmolLM2, Llama 3.x), qwen2 (Qwen2/2.5: q/k/v bias) and qwen3 (q/k RMSNorm,
 * explicit head_dim, optional sliding window). Defaults follow the transformers configuration
 * classes of each family. The rule: every field that changes what the model computes is implemented
 * exactly or refused by name; a field edgetier does not know is refused too, since it might.
 */
import { EdgetierError } from '../core/errors.ts';
import {
  FAMILIES,
  type Family,
  type Llama3RopeScaling,
  type ModelSpec,
  type SlidingWindow,
} from '../core/model-spec.ts';

/** A config.json as read from disk: loosely typed on purpose, validated field by field below. */
export type HfConfig = Record<string, unknown>;

/** Defaults of the transformers configuration classes, per family, for fields a config may omit. */
const DEFAULTS: Record<Family, { rmsNormEps: number; ropeTheta: number; maxPositionEmbeddings: number }> = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 2048 },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 32768 },
  qwen3: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 32768 },
};

/** Qwen2Config/Qwen3Config defaults for the sliding window. */
const DEFAULT_SLIDING_WINDOW = 4096;
const DEFAULT_MAX_WINDOW_LAYERS = 28;

function invalid(field: string, why: string): EdgetierError {
  return new EdgetierError('unsupported_architecture', `config.json: ${field} ${why}.`);
}

/**
 * Fields that never change what the model computes at inference: bookkeeping, training-only
 * settings, generation defaults (generation_config.json is what generate() reads) and the blocks
 * edgetier itself writes. Keys starting with "_" are private to the writer (e.g. `_name_or_path`).
 */
const INERT_FIELDS = new Set([
  'architectures',
  'model_type',
  'transformers_version',
  'torch_dtype',
  'dtype',
  'name_or_path',
  'use_cache',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sep_token_id',
  'decoder_start_token_id',
  'initializer_range',
  'attention_dropout',
  // Llama's tensor-parallel pretraining split: the same products, computed in slices.
  'pretraining_tp',
  // Only sizes transformers' caches; llama3 scaling reads its own original_max_position_embeddings.
  'max_position_embeddings',
  'id2label',
  'label2id',
  'num_labels',
  'problem_type',
  'finetuning_task',
  'tokenizer_class',
  'prefix',
  'task_specific_params',
  'return_dict',
  'output_hidden_states',
  'output_attentions',
  'torchscript',
  'use_bfloat16',
  'tf_legacy_loss',
  'is_encoder_decoder',
  'is_decoder',
  'add_cross_attention',
  'tie_encoder_decoder',
  'chunk_size_feed_forward',
  'cross_attention_hidden_size',
  'max_length',
  'min_length',
  'do_sample',
  'early_stopping',
  'num_beams',
  'num_beam_groups',
  'diversity_penalty',
  'temperature',
  'top_k',
  'top_p',
  'typical_p',
  'repetition_penalty',
  'length_penalty',
  'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size',
  'bad_words_ids',
  'num_return_sequences',
  'output_scores',
  'return_dict_in_generate',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'remove_invalid_values',
  'exponential_decay_length_penalty',
  'suppress_tokens',
  'begin_suppress_tokens',
  'unsloth_version',
  'unsloth_fixed',
  // nanotron's exports (SmolLM2) say what they are; LlamaConfig ignores it.
  'is_llama_config',
  'edgetier',
  'transformers.js_config',
]);

/** Fields this parser reads and implements or refuses by value. */
const COMMON_FIELDS = [
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'hidden_act',
  'rms_norm_eps',
  'rope_theta',
  'rope_scaling',
  'rope_parameters',
  'tie_word_embeddings',
  'pruned_heads',
  'quantization_config',
];
const FAMILY_FIELDS: Record<Family, readonly string[]> = {
  llama: ['attention_bias', 'mlp_bias', 'head_dim', 'rope_interleaved'],
  qwen2: [
    'attention_bias',
    'head_dim',
    'use_mrope',
    'use_sliding_window',
    'sliding_window',
    'max_window_layers',
    'layer_types',
  ],
  qwen3: [
    'attention_bias',
    'head_dim',
    'use_sliding_window',
    'sliding_window',
    'max_window_layers',
    'layer_types',
  ],
};

/** Refuses every field edgetier neither implements nor knows to be inert: it might change the model. */
function refuseUnknownFields(config: HfConfig, family: Family): void {
  const known = new Set([...COMMON_FIELDS, ...FAMILY_FIELDS[family]]);
  const unknown = Object.keys(config).filter(
    (k) => !k.startsWith('_') && !INERT_FIELDS.has(k) && !known.has(k),
  );
  if (unknown.length > 0) {
    const one = unknown.length === 1;
    throw new EdgetierError(
      'unsupported_architecture',
      `config.json: ${unknown.join(', ')} ${one ? 'is not a field' : 'are not fields'} edgetier knows for ${family} and may change what the model computes; edgetier builds only what it reproduces exactly. Convert a checkpoint without ${one ? 'it' : 'them'}, or delete ${one ? 'it' : 'them'} from config.json if you know ${one ? 'it changes' : 'they change'} nothing.`,
    );
  }
  const quantization = config.quantization_config;
  if (quantization !== undefined && quantization !== null) {
    const method = (quantization as { quant_method?: unknown }).quant_method;
    throw invalid(
      'quantization_config',
      `says the weights are quantised${typeof method === 'string' ? ` (${method})` : ''}; convert the unquantised checkpoint (edgetier quantises itself: --dtype q4 or q8)`,
    );
  }
  const pruned = config.pruned_heads;
  if (pruned !== undefined && pruned !== null && (!isObject(pruned) || Object.keys(pruned).length > 0)) {
    throw invalid('pruned_heads', 'is not empty; edgetier supports models without pruned heads');
  }
}

/** An absent field takes `fallback`; one set to null is refused (transformers would fail on it). */
function present(config: HfConfig, field: string, label: string, fallback?: number): unknown {
  const value = config[field];
  if (value === null) {
    const hint = fallback === undefined ? '' : ` (transformers' default is ${fallback})`;
    throw invalid(label, `is null; set it to a number${hint} or remove it`);
  }
  return value ?? fallback;
}

function positiveInt(config: HfConfig, field: string, fallback?: number): number {
  const value = present(config, field, field, fallback);
  if (value === undefined) throw invalid(field, 'is missing');
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalid(field, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveNumber(config: HfConfig, field: string, fallback?: number, label = field): number {
  const value = present(config, field, label, fallback);
  if (value === undefined) throw invalid(label, 'is missing');
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(label, `must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isFamily(value: unknown): value is Family {
  return typeof value === 'string' && (FAMILIES as readonly string[]).includes(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const LLAMA3_KEYS = ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'];

interface RopeBlock {
  field: 'rope_scaling' | 'rope_parameters';
  theta: number | undefined;
  scaling: Llama3RopeScaling | null;
}

/**
 * One RoPE block, `rope_scaling` (transformers v4) or `rope_parameters` (v5, which also carries
 * rope_theta): rope_type "default" (the default when absent) and "llama3" implemented exactly; every
 * other type, and every key neither of them reads, refused by name.
 */
function parseRopeBlock(field: RopeBlock['field'], r: Record<string, unknown>): RopeBlock {
  // transformers v4 copies `type` over `rope_type`, edgetier and v5 read rope_type first: refuse a conflict.
  if (r.type !== undefined && r.rope_type !== undefined && r.type !== r.rope_type) {
    throw invalid(
      `${field}.type (${JSON.stringify(r.type)}) and ${field}.rope_type (${JSON.stringify(r.rope_type)})`,
      'disagree (transformers v4 lets type win); keep one',
    );
  }
  const kind = r.rope_type ?? r.type ?? 'default';
  if (kind !== 'default' && kind !== 'llama3') {
    throw invalid(
      field,
      `has rope_type ${JSON.stringify(kind)}, which edgetier does not support (it supports "default" and "llama3"); convert a checkpoint without it`,
    );
  }
  const theta =
    'rope_theta' in r ? positiveNumber(r, 'rope_theta', undefined, `${field}.rope_theta`) : undefined;
  if ('partial_rotary_factor' in r && r.partial_rotary_factor !== 1) {
    throw invalid(
      `${field}.partial_rotary_factor`,
      `is ${JSON.stringify(r.partial_rotary_factor)}; edgetier supports RoPE over the whole head (1.0)`,
    );
  }
  const allowed = new Set(['rope_type', 'type', 'rope_theta', 'partial_rotary_factor']);
  if (kind === 'llama3') for (const k of LLAMA3_KEYS) allowed.add(k);
  const extra = Object.keys(r).find((k) => !allowed.has(k));
  if (extra !== undefined) {
    throw invalid(
      `${field}.${extra}`,
      `is not read by rope_type ${JSON.stringify(kind)}, so edgetier cannot tell what it means; remove it or convert a checkpoint without it`,
    );
  }
  if (kind === 'default') return { field, theta, scaling: null };
  const num = (k: string) => positiveNumber(r, k, undefined, `${field}.${k}`);
  const scaling: Llama3RopeScaling = {
    type: 'llama3',
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw invalid(`${field}.high_freq_factor`, 'must be larger than low_freq_factor');
  }
  return { field, theta, scaling };
}

/**
 * RoPE base and scaling from top-level `rope_theta` / `rope_scaling` (transformers v4) or
 * `rope_parameters` (v5). Where more than one spelling is present they must agree.
 */
function parseRope(config: HfConfig, defaultTheta: number) {
  const top =
    config.rope_theta === undefined ? undefined : positiveNumber(config, 'rope_theta', defaultTheta);
  const blocks: RopeBlock[] = [];
  for (const field of ['rope_scaling', 'rope_parameters'] as const) {
    const raw = config[field];
    if (raw === undefined || raw === null) continue;
    if (!isObject(raw)) throw invalid(field, 'must be an object or null');
    if (Object.values(raw).some(isObject)) {
      throw invalid(field, 'holds one block per layer type; edgetier supports one RoPE for every layer');
    }
    blocks.push(parseRopeBlock(field, raw));
  }
  const thetas: { field: string; value: number }[] = [];
  if (top !== undefined) thetas.push({ field: 'rope_theta', value: top });
  for (const b of blocks)
    if (b.theta !== undefined) thetas.push({ field: `${b.field}.rope_theta`, value: b.theta });
  if (thetas.some((t) => t.value !== thetas[0]!.value)) {
    throw invalid(
      thetas.map((t) => t.field).join(' and '),
      `disagree (${thetas.map((t) => t.value).join(' vs ')}); keep one`,
    );
  }
  const [first, second] = blocks;
  if (first && second && JSON.stringify(first.scaling) !== JSON.stringify(second.scaling)) {
    throw invalid('rope_scaling and rope_parameters', 'describe different RoPE scalings; keep one');
  }
  return { theta: thetas[0]?.value ?? defaultTheta, scaling: first?.scaling ?? null };
}

/**
 * Which layers use a sliding window, as transformers' Qwen3Config decides: `sliding_window` counts
 * only when `use_sliding_window` is true (4096 when absent, off when null); then `layer_types` if
 * given, else the layers i >= `max_window_layers` (default 28) slide.
 */
function parseSlidingWindow(config: HfConfig, family: Family, numLayers: number): SlidingWindow | null {
  const use = config.use_sliding_window ?? false;
  if (typeof use !== 'boolean') {
    throw invalid('use_sliding_window', `must be true or false, got ${JSON.stringify(use)}`);
  }
  let size: number | null = null;
  if (use) {
    const raw = config.sliding_window === undefined ? DEFAULT_SLIDING_WINDOW : config.sliding_window;
    if (raw !== null) {
      if (typeof raw !== 'number' || !Number.isInteger(raw) || raw <= 0) {
        throw invalid('sliding_window', `must be a positive integer, got ${JSON.stringify(raw)}`);
      }
      size = raw;
    }
  }
  let layers: boolean[];
  if (config.layer_types !== undefined && config.layer_types !== null) {
    const types = config.layer_types;
    if (!Array.isArray(types) || types.length !== numLayers) {
      throw invalid('layer_types', `must list one type per layer (${numLayers})`);
    }
    const bad = types.find((t) => t !== 'full_attention' && t !== 'sliding_attention');
    if (bad !== undefined) {
      throw invalid(
        'layer_types',
        `holds ${JSON.stringify(bad)}; edgetier supports "full_attention" and "sliding_attention"`,
      );
    }
    layers = types.map((t) => t === 'sliding_attention');
    if (size === null && layers.some(Boolean)) {
      throw invalid(
        'layer_types',
        'marks sliding_attention layers but use_sliding_window and sliding_window turn the window off; make them agree',
      );
    }
  } else {
    if (size === null) return null;
    const raw = config.max_window_layers ?? DEFAULT_MAX_WINDOW_LAYERS;
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) {
      throw invalid('max_window_layers', `must be a non-negative integer, got ${JSON.stringify(raw)}`);
    }
    layers = Array.from({ length: numLayers }, (_, i) => i >= raw);
  }
  if (size === null || !layers.some(Boolean)) return null;
  if (family === 'qwen2') {
    throw invalid(
      'use_sliding_window',
      'is true for qwen2; edgetier supports sliding windows for qwen3 only (Qwen2 releases ship with it false)',
    );
  }
  return { size, layers };
}

/** Reads a config.json object into a ModelSpec, or throws an EdgetierError naming the problem. */
export function parseHfConfig(config: HfConfig): ModelSpec {
  // A file parsed from JSON may hold anything: say what, not a TypeError from reading a field of it.
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    const what = config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config;
    throw new EdgetierError(
      'unsupported_architecture',
      `config.json holds ${what}, not an object of settings; edgetier supports ${FAMILIES.join(', ')}.`,
    );
  }
  const modelType = config.model_type;
  if (!isFamily(modelType)) {
    const got = modelType === undefined ? 'no model_type' : `model_type ${JSON.stringify(modelType)}`;
    throw new EdgetierError(
      'unsupported_architecture',
      `config.json has ${got}; edgetier supports ${FAMILIES.join(', ')}.`,
    );
  }
  const family = modelType;
  const defaults = DEFAULTS[family];
  refuseUnknownFields(config, family);

  for (const field of [
    'mlp_bias',
    'attention_bias',
    'tie_word_embeddings',
    'rope_interleaved',
    'use_mrope',
  ] as const) {
    const v = config[field];
    if (v !== undefined && v !== null && typeof v !== 'boolean') {
      throw invalid(field, `must be true or false, got ${JSON.stringify(v)}`);
    }
  }
  // transformers' ACT2FN maps both "silu" and "swish" to SiLU.
  if (config.hidden_act === null) throw invalid('hidden_act', 'is null; set it to "silu" or remove it');
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') {
    throw invalid('hidden_act', `is ${JSON.stringify(act)}; edgetier supports "silu"`);
  }
  if (config.mlp_bias === true) throw invalid('mlp_bias', 'is true; edgetier supports MLPs without bias');
  // Set by nanotron (SmolLM2) and DeepSeek's Qwen2 distills; false is what transformers computes.
  if (config.rope_interleaved === true) {
    throw invalid(
      'rope_interleaved',
      'is true; edgetier supports the rotate-half RoPE transformers computes',
    );
  }
  if (config.use_mrope === true) throw invalid('use_mrope', 'is true; edgetier supports text-only RoPE');
  // Llama's `attention_bias` also adds a bias to o_proj, which the graph does not carry.
  if (family !== 'qwen2' && config.attention_bias === true) {
    throw invalid('attention_bias', `is true for ${family}; edgetier supports it for qwen2 only`);
  }

  const hiddenSize = positiveInt(config, 'hidden_size');
  const numHeads = positiveInt(config, 'num_attention_heads');
  // transformers reads a null num_key_value_heads as one per attention head.
  const numKvHeads =
    config.num_key_value_heads === null ? numHeads : positiveInt(config, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw invalid('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  }
  let headDim: number;
  if (config.head_dim !== undefined && config.head_dim !== null) {
    headDim = positiveInt(config, 'head_dim');
  } else {
    if (family === 'qwen3') throw invalid('head_dim', 'is missing (qwen3 configs state it)');
    if (hiddenSize % numHeads !== 0) {
      throw invalid('hidden_size', `(${hiddenSize}) is not a multiple of num_attention_heads (${numHeads})`);
    }
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) throw invalid('head_dim', `(${headDim}) must be even for rotary embeddings`);
  const numLayers = positiveInt(config, 'num_hidden_layers');
  const rope = parseRope(config, defaults.ropeTheta);
  const slidingWindow = parseSlidingWindow(config, family, numLayers);

  const spec: ModelSpec = {
    family,
    vocabSize: positiveInt(config, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInt(config, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positiveNumber(config, 'rms_norm_eps', defaults.rmsNormEps),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    // Metadata for the graph (its context is not capped by it), so null falls back to the default.
    maxPositionEmbeddings:
      config.max_position_embeddings === null
        ? defaults.maxPositionEmbeddings
        : positiveInt(config, 'max_position_embeddings', defaults.maxPositionEmbeddings),
    // LlamaConfig, Qwen2Config and Qwen3Config all default to an untied head.
    tieWordEmbeddings: config.tie_word_embeddings === true,
    attentionBias: family === 'qwen2',
    qkNorm: family === 'qwen3',
  };
  if (slidingWindow) spec.slidingWindow = slidingWindow;
  return spec;
}

/** The config.json fields that describe `spec`, for synthetic models and test fixtures. */
export function specToHfConfig(spec: ModelSpec): HfConfig {
  const architectures: Record<Family, string> = {
    llama: 'LlamaForCausalLM',
    qwen2: 'Qwen2ForCausalLM',
    qwen3: 'Qwen3ForCausalLM',
  };
  const config: HfConfig = {
    architectures: [architectures[spec.family]],
    model_type: spec.family,
    vocab_size: spec.vocabSize,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    head_dim: spec.headDim,
    hidden_act: 'silu',
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    rope_scaling: spec.ropeScaling
      ? {
          rope_type: 'llama3',
          factor: spec.ropeScaling.factor,
          low_freq_factor: spec.ropeScaling.lowFreqFactor,
          high_freq_factor: spec.ropeScaling.highFreqFactor,
          original_max_position_embeddings: spec.ropeScaling.originalMaxPositionEmbeddings,
        }
      : null,
    max_position_embeddings: spec.maxPositionEmbeddings,
    tie_word_embeddings: spec.tieWordEmbeddings,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (spec.family !== 'qwen2') config.attention_bias = false;
  if (spec.family === 'llama') config.mlp_bias = false;
  if (spec.family === 'qwen2') config.use_sliding_window = false;
  if (spec.slidingWindow) {
    config.use_sliding_window = true;
    config.sliding_window = spec.slidingWindow.size;
    config.layer_types = spec.slidingWindow.layers.map((s) => (s ? 'sliding_attention' : 'full_attention'));
  }
  return config;
}
