/**
 * Synthetic model presets: "shape twins" of the small models the app offers, with the exact shapes
 * of their published config.json files, and `tiny` for fast tests. A twin's text is noise; its size
 * and speed are real.
 */
import type { ModelSpec } from '../core/model-spec.ts';
import { type HfConfig, specToHfConfig } from './hf-config.ts';
import { parameterCount } from './hf-tensors.ts';
import type { TokenizerSource } from './preset-tokenizers.ts';

export interface Preset {
  /** The name `edgetier synth` takes. */
  name: string;
  /** Hub id of the model whose shapes the twin copies (for tiny: none, it mirrors nothing). */
  mirrors: string;
  /** Licence of the mirrored model (the twin's random weights owe nothing to it). */
  licence: string;
  /** Which tokenizer the twin carries. */
  tokenizer: TokenizerSource;
  /** The architecture; `parameterCount` and `contextLength` derive from it. */
  spec: ModelSpec;
  /** Special token ids as in the mirrored model's config.json / generation_config.json. */
  bosTokenId: number | null;
  eosTokenId: number | number[];
  padTokenId: number | null;
  /** Extra config.json fields the mirrored model carries (kept for fidelity, ignored by the graph). */
  extraConfig?: Record<string, unknown>;
}

export interface PresetInfo extends Preset {
  family: ModelSpec['family'];
  parameterCount: number;
  contextLength: number;
}

function llama(
  over: Partial<ModelSpec> &
    Pick<ModelSpec, 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads'>,
): ModelSpec {
  return {
    family: 'llama',
    vocabSize: 49152,
    headDim: over.hiddenSize / over.numHeads,
    rmsNormEps: 1e-5,
    ropeTheta: 100000,
    ropeScaling: null,
    maxPositionEmbeddings: 8192,
    tieWordEmbeddings: true,
    attentionBias: false,
    qkNorm: false,
    ...over,
  };
}

function qwen2(
  over: Pick<ModelSpec, 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads'>,
): ModelSpec {
  return {
    family: 'qwen2',
    vocabSize: 151936,
    headDim: over.hiddenSize / over.numHeads,
    rmsNormEps: 1e-6,
    ropeTheta: 1000000,
    ropeScaling: null,
    maxPositionEmbeddings: 32768,
    tieWordEmbeddings: true,
    attentionBias: true,
    qkNorm: false,
    ...over,
  };
}

const SMOLLM2: Pick<Preset, 'bosTokenId' | 'eosTokenId' | 'padTokenId' | 'licence'> = {
  bosTokenId: 1,
  eosTokenId: 2,
  padTokenId: 2,
  licence: 'Apache-2.0',
};
const QWEN: Pick<Preset, 'bosTokenId' | 'eosTokenId' | 'padTokenId'> = {
  bosTokenId: 151643,
  eosTokenId: [151645, 151643],
  padTokenId: 151643,
};

const PRESET_LIST: Preset[] = [
  {
    name: 'tiny',
    mirrors: 'none (edgetier test model)',
    licence: 'Apache-2.0',
    tokenizer: 'tiny',
    spec: llama({
      vocabSize: 384,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      ropeTheta: 10000,
      maxPositionEmbeddings: 2048,
    }),
    bosTokenId: 1,
    eosTokenId: 2,
    padTokenId: 0,
  },
  {
    name: 'smollm2-135m',
    mirrors: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    tokenizer: 'smollm2-generated',
    spec: llama({ hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKvHeads: 3 }),
    ...SMOLLM2,
  },
  {
    name: 'smollm2-360m',
    mirrors: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    tokenizer: 'smollm2-generated',
    spec: llama({ hiddenSize: 960, intermediateSize: 2560, numLayers: 32, numHeads: 15, numKvHeads: 5 }),
    ...SMOLLM2,
  },
  {
    name: 'smollm2-1.7b',
    mirrors: 'HuggingFaceTB/SmolLM2-1.7B-Instruct',
    tokenizer: 'smollm2-generated',
    spec: llama({
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 24,
      numHeads: 32,
      numKvHeads: 32,
      ropeTheta: 130000,
    }),
    ...SMOLLM2,
  },
  {
    name: 'qwen2.5-0.5b',
    mirrors: 'Qwen/Qwen2.5-0.5B-Instruct',
    licence: 'Apache-2.0',
    tokenizer: 'qwen2.5',
    spec: qwen2({ hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14, numKvHeads: 2 }),
    ...QWEN,
    extraConfig: { sliding_window: 32768, max_window_layers: 21 },
  },
  {
    name: 'qwen2.5-1.5b',
    mirrors: 'Qwen/Qwen2.5-1.5B-Instruct',
    licence: 'Apache-2.0',
    tokenizer: 'qwen2.5',
    spec: qwen2({ hiddenSize: 1536, intermediateSize: 8960, numLayers: 28, numHeads: 12, numKvHeads: 2 }),
    ...QWEN,
    extraConfig: { sliding_window: 32768, max_window_layers: 21 },
  },
  {
    name: 'qwen3-0.6b',
    mirrors: 'Qwen/Qwen3-0.6B',
    licence: 'Apache-2.0',
    tokenizer: 'qwen3',
    spec: {
      family: 'qwen3',
      vocabSize: 151936,
      hiddenSize: 1024,
      intermediateSize: 3072,
      numLayers: 28,
      numHeads: 16,
      numKvHeads: 8,
      headDim: 128,
      rmsNormEps: 1e-6,
      ropeTheta: 1000000,
      ropeScaling: null,
      maxPositionEmbeddings: 40960,
      tieWordEmbeddings: true,
      attentionBias: false,
      qkNorm: true,
    },
    ...QWEN,
    extraConfig: { max_window_layers: 28, sliding_window: null },
  },
  {
    name: 'llama-3.2-1b',
    mirrors: 'meta-llama/Llama-3.2-1B-Instruct',
    licence: 'Llama 3.2 Community License',
    tokenizer: 'llama3',
    spec: llama({
      vocabSize: 128256,
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      ropeTheta: 500000,
      ropeScaling: {
        type: 'llama3',
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      maxPositionEmbeddings: 131072,
    }),
    bosTokenId: 128000,
    eosTokenId: [128001, 128008, 128009],
    padTokenId: null,
  },
];

/** Every preset, with its derived figures, in the order `edgetier synth --help` lists them. */
export const PRESETS: readonly PresetInfo[] = PRESET_LIST.map((p) => ({
  ...p,
  family: p.spec.family,
  parameterCount: parameterCount(p.spec),
  contextLength: p.spec.maxPositionEmbeddings,
}));

export function findPreset(name: string): PresetInfo | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** The config.json of a twin: the mirrored model's fields, with its special token ids. */
export function presetHfConfig(preset: PresetInfo): HfConfig {
  return {
    ...specToHfConfig(preset.spec),
    ...preset.extraConfig,
    bos_token_id: preset.bosTokenId,
    eos_token_id: preset.eosTokenId,
    pad_token_id: preset.padTokenId,
  };
}
