import { describe, expect, it } from 'vitest';
import { type HfConfig, parseHfConfig, specToHfConfig } from '../../src/builder/hf-config.ts';
import { expectedTensors, parameterCount } from '../../src/builder/hf-tensors.ts';
import { PRESETS, presetHfConfig } from '../../src/builder/presets.ts';

import { EdgetierError } from '../../src/core/errors.ts';

/** Llama-3.2-1B-Instruct's published config.json, as the Hub serves it. */
const LLAMA_32_1B: HfConfig = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  vocab_size: 128256,
};

/** Qwen2.5-0.5B-Instruct's config.json. */
const QWEN25_05B: HfConfig = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** Qwen3-0.6B's config.json. */
const QWEN3_06B: HfConfig = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

function errorOf(fn: () => unknown): EdgetierError {
  try {
    fn();
  } catch (error) {
    if (error instanceof EdgetierError) return error;
    throw error;
  }
  throw new Error('expected an EdgetierError');
}

describe('parseHfConfig', () => {
  it('reads Llama 3.2 with its llama3 rope scaling and explicit head_dim', () => {
    expect(parseHfConfig(LLAMA_32_1B)).toEqual({
      family: 'llama',
      vocabSize: 128256,
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: {
        type: 'llama3',
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      maxPositionEmbeddings: 131072,
      tieWordEmbeddings: true,
      attentionBias: false,
      qkNorm: false,
    });
  });

  it('accepts the older `type` key of rope_scaling', () => {
    const { rope_type: _, ...scaling } = LLAMA_32_1B.rope_scaling as Record<string, unknown>;
    const spec = parseHfConfig({ ...LLAMA_32_1B, rope_scaling: { ...scaling, type: 'llama3' } });
    expect(spec.ropeScaling?.factor).toBe(32);
  });

  it('reads Qwen2.5 with q/k/v bias and head_dim from hidden_size / heads', () => {
    const spec = parseHfConfig(QWEN25_05B);
    expect(spec).toMatchObject({
      family: 'qwen2',
      headDim: 64,
      attentionBias: true,
      qkNorm: false,
      numKvHeads: 2,
    });
    expect(spec.ropeScaling).toBeNull();
  });

  it('reads Qwen3 with q/k norm and its explicit head_dim (wider than hidden_size / heads)', () => {
    const spec = parseHfConfig(QWEN3_06B);
    expect(spec).toMatchObject({ family: 'qwen3', headDim: 128, qkNorm: true, attentionBias: false });
  });

  it('defaults num_key_value_heads to num_attention_heads and the head to untied', () => {
    const { num_key_value_heads: _, tie_word_embeddings: __, ...rest } = QWEN25_05B;
    const spec = parseHfConfig(rest);
    expect(spec.numKvHeads).toBe(14);
    expect(spec.tieWordEmbeddings).toBe(false);
  });

  it('refuses an unsupported model_type, naming the supported ones', () => {
    const e = errorOf(() => parseHfConfig({ ...LLAMA_32_1B, model_type: 'gpt2' }));
    expect(e.code).toBe('unsupported_architecture');
    expect(e.message).toBe('config.json has model_type "gpt2"; edgetier supports llama, qwen2, qwen3.');
    expect(errorOf(() => parseHfConfig({})).message).toBe(
      'config.json has no model_type; edgetier supports llama, qwen2, qwen3.',
    );
  });

  it('names a missing or malformed field', () => {
    const { hidden_size: _, ...noHidden } = LLAMA_32_1B;
    expect(errorOf(() => parseHfConfig(noHidden)).message).toBe('config.json: hidden_size is missing.');
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, num_hidden_layers: 2.5 })).message).toBe(
      'config.json: num_hidden_layers must be a positive integer, got 2.5.',
    );
    const { head_dim: __, ...noHeadDim } = QWEN3_06B;
    expect(errorOf(() => parseHfConfig(noHeadDim)).message).toBe(
      'config.json: head_dim is missing (qwen3 configs state it).',
    );
  });

  it('refuses what the graph cannot express', () => {
    expect(
      errorOf(() => parseHfConfig({ ...LLAMA_32_1B, rope_scaling: { rope_type: 'yarn', factor: 4 } }))
        .message,
    ).toBe('config.json: rope_scaling of type "yarn" is not supported (edgetier supports "llama3").');
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, hidden_act: 'gelu' })).message).toBe(
      'config.json: hidden_act is "gelu"; edgetier supports "silu".',
    );
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, num_key_value_heads: 5 })).message).toBe(
      'config.json: num_key_value_heads (5) must divide num_attention_heads (32).',
    );
    expect(errorOf(() => parseHfConfig({ ...QWEN25_05B, use_sliding_window: true })).code).toBe(
      'unsupported_architecture',
    );
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, attention_bias: true })).message).toBe(
      'config.json: attention_bias is true for llama; edgetier supports it for qwen2 only.',
    );
  });

  it('round-trips every spec through specToHfConfig', () => {
    for (const preset of PRESETS) expect(parseHfConfig(specToHfConfig(preset.spec))).toEqual(preset.spec);
  });
});

describe('presets', () => {
  it('match the published configs of the models they mirror', () => {
    const byName = Object.fromEntries(PRESETS.map((p) => [p.name, p]));
    expect(byName['llama-3.2-1b']?.spec).toEqual(parseHfConfig(LLAMA_32_1B));
    expect(byName['qwen2.5-0.5b']?.spec).toEqual(parseHfConfig(QWEN25_05B));
    expect(byName['qwen3-0.6b']?.spec).toEqual(parseHfConfig(QWEN3_06B));
    const llama = presetHfConfig(byName['llama-3.2-1b']!);
    expect(llama.eos_token_id).toEqual([128001, 128008, 128009]);
    expect(llama.bos_token_id).toBe(128000);
  });

  it('have the parameter counts their names promise', () => {
    const millions = Object.fromEntries(PRESETS.map((p) => [p.name, Math.round(p.parameterCount / 1e6)]));
    expect(millions).toEqual({
      tiny: 0,
      'smollm2-135m': 135,
      'smollm2-360m': 362,
      'smollm2-1.7b': 1711,
      'qwen2.5-0.5b': 494,
      'qwen2.5-1.5b': 1544,
      'qwen3-0.6b': 596,
      'llama-3.2-1b': 1236,
    });
  });

  it('list q/k/v biases for qwen2, q/k norms for qwen3 and lm_head only when untied', () => {
    const names = (p: string) => expectedTensors(PRESETS.find((x) => x.name === p)!.spec).map((t) => t.name);
    expect(names('qwen2.5-0.5b')).toContain('model.layers.0.self_attn.k_proj.bias');
    expect(names('qwen3-0.6b')).toContain('model.layers.27.self_attn.q_norm.weight');
    expect(names('smollm2-135m')).not.toContain('lm_head.weight');
    const untied = { ...PRESETS[0]!.spec, tieWordEmbeddings: false };
    expect(expectedTensors(untied).at(-1)).toEqual({
      name: 'lm_head.weight',
      shape: [384, 64],
      role: 'head',
    });
    expect(parameterCount(untied)).toBe(PRESETS[0]!.parameterCount + 384 * 64);
  });
});
