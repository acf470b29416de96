/**
 * Parses a Hugging Face `config.json` into the normalised ModelSpec, for the decoder families
 * edgetier builds: llama (SmolLM2, Llama 3.x), qwen2 (Qwen2/2.5: q/k/v bias) and qwen3 (q/k RMSNorm,
 * explicit head_dim). Defaults follow the transformers configuration classes of each family;
 * anything the graph cannot express is refused with a message that names it.
 */
import { EdgetierError } from '../core/errors.ts';
import { FAMILIES, type Family, type Llama3RopeScaling, type ModelSpec } from '../core/model-spec.ts';

/** A config.json as read from disk: loosely typed on purpose, validated field by field below. */
export type HfConfig = Record<string, unknown>;

/** Defaults of the transformers configuration classes, per family, for fields a config may omit. */
const DEFAULTS: Record<Family, { rmsNormEps: number; ropeTheta: number; maxPositionEmbeddings: number }> = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 2048 },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 32768 },
  qwen3: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositionEmbeddings: 32768 },
};

function invalid(field: string, why: string): EdgetierError {
  return new EdgetierError('unsupported_architecture', `config.json: ${field} ${why}.`);
}

function positiveInt(config: HfConfig, field: string, fallback?: number): number {
  const value = config[field] ?? fallback;
  if (value === undefined || value === null) throw invalid(field, 'is missing');
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalid(field, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveNumber(config: HfConfig, field: string, fallback: number): number {
  const value = config[field] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(field, `must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isFamily(value: unknown): value is Family {
  return typeof value === 'string' && (FAMILIES as readonly string[]).includes(value);
}

function parseRopeScaling(config: HfConfig): Llama3RopeScaling | null {
  const raw = config.rope_scaling;
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object') throw invalid('rope_scaling', 'must be an object or null');
  const r = raw as Record<string, unknown>;
  const kind = r.rope_type ?? r.type;
  if (kind === 'default') return null;
  if (kind !== 'llama3') {
    throw invalid(
      'rope_scaling',
      `of type ${JSON.stringify(kind)} is not supported (edgetier supports "llama3")`,
    );
  }
  const num = (field: string) => {
    const v = r[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw invalid(`rope_scaling.${field}`, `must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  return {
    type: 'llama3',
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
}

/** Reads a config.json object into a ModelSpec, or throws an EdgetierError naming the problem. */
export function parseHfConfig(config: HfConfig): ModelSpec {
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

  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw invalid('hidden_act', `is ${JSON.stringify(act)}; edgetier supports "silu"`);
  if (config.mlp_bias === true) throw invalid('mlp_bias', 'is true; edgetier supports MLPs without bias');
  if (family === 'qwen2' && config.use_sliding_window === true) {
    throw invalid('use_sliding_window', 'is true; edgetier supports full attention only');
  }
  // Llama's `attention_bias` also adds a bias to o_proj, which the graph does not carry.
  if (family !== 'qwen2' && config.attention_bias === true) {
    throw invalid('attention_bias', `is true for ${family}; edgetier supports it for qwen2 only`);
  }

  const hiddenSize = positiveInt(config, 'hidden_size');
  const numHeads = positiveInt(config, 'num_attention_heads');
  const numKvHeads = positiveInt(config, 'num_key_value_heads', numHeads);
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

  return {
    family,
    vocabSize: positiveInt(config, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInt(config, 'intermediate_size'),
    numLayers: positiveInt(config, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positiveNumber(config, 'rms_norm_eps', defaults.rmsNormEps),
    ropeTheta: positiveNumber(config, 'rope_theta', defaults.ropeTheta),
    ropeScaling: parseRopeScaling(config),
    maxPositionEmbeddings: positiveInt(config, 'max_position_embeddings', defaults.maxPositionEmbeddings),
    // LlamaConfig, Qwen2Config and Qwen3Config all default to an untied head.
    tieWordEmbeddings: config.tie_word_embeddings === true,
    attentionBias: family === 'qwen2',
    qkNorm: family === 'qwen3',
  };
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
  return config;
}
