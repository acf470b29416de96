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

/** SmolLM2-135M-Instruct's config.json (a nanotron export; its transformers.js_config left out). */
const SMOLLM2_135M: HfConfig = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  is_llama_config: true,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  pad_token_id: 2,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_interleaved: false,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.3',
  use_cache: true,
  vocab_size: 49152,
};

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

  it('refuses rope_type and type that disagree (transformers v4 lets `type` overwrite rope_type)', () => {
    const scaling = LLAMA_32_1B.rope_scaling as Record<string, unknown>;
    expect(
      errorOf(() => parseHfConfig({ ...LLAMA_32_1B, rope_scaling: { ...scaling, type: 'default' } })).message,
    ).toBe(
      'config.json: rope_scaling.type ("default") and rope_scaling.rope_type ("llama3") disagree (transformers v4 lets type win); keep one.',
    );
    // The same value under both names is what transformers v4 itself saves.
    expect(parseHfConfig({ ...LLAMA_32_1B, rope_scaling: { ...scaling, type: 'llama3' } })).toEqual(
      parseHfConfig(LLAMA_32_1B),
    );
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
    ).toBe(
      'config.json: rope_scaling has rope_type "yarn", which edgetier does not support (it supports "default" and "llama3"); convert a checkpoint without it.',
    );
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

  it('reads transformers v5 rope_parameters (theta and llama3 scaling inside it) like rope_theta + rope_scaling', () => {
    const { rope_scaling: scaling, rope_theta: theta, ...rest } = LLAMA_32_1B;
    const v5 = { ...rest, rope_parameters: { ...(scaling as object), rope_theta: theta } };
    expect(parseHfConfig(v5)).toEqual(parseHfConfig(LLAMA_32_1B));
    const plain = { ...rest, rope_parameters: { rope_type: 'default', rope_theta: 123456 } };
    expect(parseHfConfig(plain)).toMatchObject({ ropeTheta: 123456, ropeScaling: null });
    // rope_type may be left out: transformers reads it as "default".
    expect(parseHfConfig({ ...rest, rope_parameters: { rope_theta: 5e5 } }).ropeTheta).toBe(5e5);
  });

  it('refuses rope_parameters it cannot reproduce, naming the field', () => {
    const { rope_scaling: _, rope_theta: __, ...rest } = LLAMA_32_1B;
    const message = (config: HfConfig) => errorOf(() => parseHfConfig(config)).message;
    expect(message({ ...rest, rope_parameters: { rope_type: 'yarn', factor: 4, rope_theta: 1e4 } })).toBe(
      'config.json: rope_parameters has rope_type "yarn", which edgetier does not support (it supports "default" and "llama3"); convert a checkpoint without it.',
    );
    expect(message({ ...rest, rope_parameters: { rope_type: 'default', rope_theta: 1e4, factor: 2 } })).toBe(
      'config.json: rope_parameters.factor is not read by rope_type "default", so edgetier cannot tell what it means; remove it or convert a checkpoint without it.',
    );
    expect(
      message({
        ...rest,
        rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 },
      }),
    ).toBe(
      'config.json: rope_parameters.partial_rotary_factor is 0.5; edgetier supports RoPE over the whole head (1.0).',
    );
    expect(message({ ...rest, rope_theta: 1e4, rope_parameters: { rope_theta: 5e5 } })).toBe(
      'config.json: rope_theta and rope_parameters.rope_theta disagree (10000 vs 500000); keep one.',
    );
    expect(
      message({
        ...rest,
        rope_parameters: { full_attention: { rope_theta: 1e4 }, sliding_attention: { rope_theta: 1e4 } },
      }),
    ).toBe(
      'config.json: rope_parameters holds one block per layer type; edgetier supports one RoPE for every layer.',
    );
  });

  it('refuses rope_theta: null instead of reading it as 10000', () => {
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, rope_theta: null })).message).toBe(
      "config.json: rope_theta is null; set it to a number (transformers' default is 10000) or remove it.",
    );
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, rms_norm_eps: null })).message).toBe(
      "config.json: rms_norm_eps is null; set it to a number (transformers' default is 0.000001) or remove it.",
    );
  });

  it("reads Qwen3's sliding window as transformers does: max_window_layers, layer_types, defaults", () => {
    const on: HfConfig = { ...QWEN3_06B, num_hidden_layers: 4, use_sliding_window: true };
    expect(parseHfConfig({ ...on, sliding_window: 8, max_window_layers: 2 }).slidingWindow).toEqual({
      size: 8,
      layers: [false, false, true, true],
    });
    // Absent sliding_window: 4096; absent max_window_layers: 28 (so no layer of 4 slides).
    const { sliding_window: _, max_window_layers: __, ...bare } = on;
    expect(parseHfConfig({ ...bare, max_window_layers: 0 }).slidingWindow).toEqual({
      size: 4096,
      layers: [true, true, true, true],
    });
    expect(parseHfConfig(bare).slidingWindow).toBeUndefined();
    // An explicit layer_types wins over max_window_layers.
    const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
    expect(parseHfConfig({ ...on, sliding_window: 3, layer_types: types }).slidingWindow).toEqual({
      size: 3,
      layers: [true, false, true, false],
    });
    // use_sliding_window false turns the window off whatever sliding_window says.
    expect(
      parseHfConfig({ ...on, use_sliding_window: false, sliding_window: 3, max_window_layers: 0 })
        .slidingWindow,
    ).toBeUndefined();
    expect(
      errorOf(() =>
        parseHfConfig({ ...on, use_sliding_window: false, sliding_window: 3, layer_types: types }),
      ).message,
    ).toBe(
      'config.json: layer_types marks sliding_attention layers but use_sliding_window and sliding_window turn the window off; make them agree.',
    );
  });

  it('reads SmolLM2 (nanotron fields) and a DeepSeek Qwen2 distill (use_mrope false); refuses them set to true', () => {
    expect(parseHfConfig(SMOLLM2_135M)).toMatchObject({ family: 'llama', headDim: 64, ropeTheta: 100000 });
    expect(parseHfConfig({ ...QWEN25_05B, use_mrope: false }).family).toBe('qwen2');
    expect(errorOf(() => parseHfConfig({ ...SMOLLM2_135M, rope_interleaved: true })).message).toBe(
      'config.json: rope_interleaved is true; edgetier supports the rotate-half RoPE transformers computes.',
    );
    expect(errorOf(() => parseHfConfig({ ...QWEN25_05B, use_mrope: true })).message).toBe(
      'config.json: use_mrope is true; edgetier supports text-only RoPE.',
    );
  });

  it('reads hidden_act "swish" as SiLU (transformers maps both to nn.SiLU)', () => {
    expect(parseHfConfig({ ...LLAMA_32_1B, hidden_act: 'swish' })).toEqual(parseHfConfig(LLAMA_32_1B));
  });

  it('refuses hidden_act: null instead of reading it as "silu" (transformers fails on it)', () => {
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, hidden_act: null })).message).toBe(
      'config.json: hidden_act is null; set it to "silu" or remove it.',
    );
  });

  it('refuses fields it does not know, since they may change the computation', () => {
    expect(
      errorOf(() => parseHfConfig({ ...LLAMA_32_1B, logits_scaling: 4, embedding_multiplier: 12 })).message,
    ).toBe(
      'config.json: logits_scaling, embedding_multiplier are not fields edgetier knows for llama and may change what the model computes; edgetier builds only what it reproduces exactly. Convert a checkpoint without them, or delete them from config.json if you know they change nothing.',
    );
    expect(errorOf(() => parseHfConfig({ ...LLAMA_32_1B, sliding_window: 4096 })).message).toMatch(
      /^config\.json: sliding_window is not a field edgetier knows for llama/,
    );
    expect(
      errorOf(() => parseHfConfig({ ...QWEN3_06B, quantization_config: { quant_method: 'awq', bits: 4 } }))
        .message,
    ).toBe(
      'config.json: quantization_config says the weights are quantised (awq); convert the unquantised checkpoint (edgetier quantises itself: --dtype q4 or q8).',
    );
    // Bookkeeping and private fields pass.
    expect(() =>
      parseHfConfig({ ...LLAMA_32_1B, _name_or_path: 'x', transformers_version: '4.45.0', id2label: {} }),
    ).not.toThrow();
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
