/**
 * `edgetier synth`: builds a shape twin of a preset (src/builder/presets.ts) with seeded random
 * weights through the same builder as `convert`. Its config.json says it is synthetic and which
 * model it mirrors, so every screen and report can label it.
 */
import type { Dtype } from '../core/dtypes.ts';
import { EdgetierError } from '../core/errors.ts';
import { type BuildResult, buildModelFolder } from './model-folder.ts';
import { planOutDir } from './out-dir.ts';
import { loadPresetTokenizer } from './preset-tokenizers.ts';
import { findPreset, PRESETS, type PresetInfo, presetHfConfig } from './presets.ts';
import { RandomWeights } from './random-weights.ts';

export { PRESETS } from './presets.ts';

/** Twins are for speed work, where q4 is what a browser downloads; ask for fp32 for exactness. */
export const DEFAULT_SYNTH_DTYPES: readonly Dtype[] = ['q4'];
export const DEFAULT_SYNTH_SEED = 0;

export interface SynthOptions {
  dtypes?: Dtype[];
  seed?: number;
  force?: boolean;
  onProgress?: (line: string) => void;
}

export function presetOrThrow(name: string): PresetInfo {
  const preset = findPreset(name);
  if (!preset) {
    throw new EdgetierError(
      'usage',
      `unknown preset "${name}"; choose from ${PRESETS.map((p) => p.name).join(', ')}.`,
    );
  }
  return preset;
}

export async function synthPreset(
  presetName: string,
  outDir: string,
  options: SynthOptions = {},
): Promise<BuildResult> {
  const preset = presetOrThrow(presetName);
  const seed = options.seed ?? DEFAULT_SYNTH_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new EdgetierError('usage', `--seed must be an integer from 0 to 4294967295, got ${seed}.`);
  }
  const plan = planOutDir(outDir, {
    force: options.force ?? false,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const tokenizer = await loadPresetTokenizer(preset.tokenizer);
  if (tokenizer.size > preset.spec.vocabSize) {
    throw new EdgetierError(
      'internal',
      `preset ${preset.name}: its tokenizer has ${tokenizer.size} ids but the embedding only ${preset.spec.vocabSize} rows.`,
    );
  }
  const hfConfig = presetHfConfig(preset);
  const generationConfig: Record<string, unknown> = {
    bos_token_id: preset.bosTokenId,
    eos_token_id: preset.eosTokenId,
  };
  if (preset.padTokenId !== null) generationConfig.pad_token_id = preset.padTokenId;
  options.onProgress?.(
    `synthesising ${preset.name} (${(preset.parameterCount / 1e6).toFixed(1)}M parameters, mirrors ${preset.mirrors}, seed ${seed})`,
  );
  return buildModelFolder({
    spec: preset.spec,
    weights: new RandomWeights(preset.spec, { seed, embeddingStd: 1 / Math.sqrt(preset.spec.hiddenSize) }),
    hfConfig,
    tokenizer: { ...tokenizer.files, generationConfig },
    dtypes: options.dtypes ?? [...DEFAULT_SYNTH_DTYPES],
    outDir,
    provenance: {
      synthetic: true,
      mirrors: preset.mirrors,
      seed,
      preset: preset.name,
      tokenizer: tokenizer.description,
    },
    plan,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
