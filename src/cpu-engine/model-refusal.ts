/**
 * What edgetier's CPU engine refuses in a model folder's settings (config.json, generation_config.json),
 * before any weight is read: the loaders throw it (EdgetierError unsupported_architecture, a refusal ONNX Runtime takes over from),
 * and the server's model index and the engine worker's probe report it beforehand, so a plan does
 * not pick the engine for a folder it will refuse. Kept apart from the decoder: the probe runs in the
 * engine worker before the engine itself is loaded.
 */
import { type HfConfig, parseHfConfig } from '../builder/hf-config.ts';
import { EdgetierError } from '../core/errors.ts';
import { generationConfigRefusal, generationConfigSizeRefusal } from '../core/generation-settings.ts';
import type { ModelSpec } from '../core/model-spec.ts';

/**
 * The model's spec from config.json, refused by name (EdgetierError unsupported_architecture) when the
 * CPU engine does not run it: a loader calls it before it reads the ONNX file, so a model refused by
 * its config is not downloaded first.
 */
export function cpuModelSpec(config: HfConfig): ModelSpec {
  const spec = parseHfConfig(config);
  if (spec.numHeads % spec.numKvHeads !== 0 || spec.headDim % 2 !== 0) {
    throw new EdgetierError(
      'unsupported_architecture',
      `numHeads (${spec.numHeads}) must be a multiple of numKvHeads (${spec.numKvHeads}) and headDim (${spec.headDim}) even.`,
    );
  }
  // Its attention reads the whole cache: a sliding-window model would get wrong answers, so it goes
  // to ORT, whose graph masks the window.
  if (spec.slidingWindow) {
    throw new EdgetierError(
      'unsupported_architecture',
      `This model uses a sliding attention window (${spec.slidingWindow.size} tokens), which edgetier's CPU engine does not implement yet: run it on onnxruntime.`,
    );
  }
  return spec;
}

/**
 * cpuModelSpec's refusal of a parsed config.json, or null: only the refusals a load hands to ONNX
 * Runtime (unsupported_architecture). A config.json that is not valid for any runtime is null here:
 * the load says what is wrong with it.
 */
export function cpuModelSpecRefusal(config: unknown): string | null {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return null;
  try {
    cpuModelSpec(config as HfConfig);
    return null;
  } catch (error) {
    return error instanceof EdgetierError && error.code === 'unsupported_architecture' ? error.message : null;
  }
}

/** A model folder's generation_config.json as a refusal check needs it: its size, and its text on demand. */
export interface GenerationConfigFile {
  bytes: number;
  /** Decoded as the engine decodes it (TextDecoder: a UTF-8 BOM dropped). */
  text(): Promise<string>;
}

/**
 * The CPU engine's refusal of a folder's settings, in its loaders' order and words, or null: its
 * generation_config.json (null where the folder has none) by size unread, then by its JSON (one that
 * does not parse, or cannot be read, fails the load before any refusal: none here either), then by
 * the fields it does not implement; then config.json (parsed; null where damaged). For the model index
 * and the engine worker's probe, which must say before any download what the load will say.
 */
export async function cpuEngineSettingsRefusal(
  config: unknown,
  generation: GenerationConfigFile | null,
): Promise<string | null> {
  // Absent, the loaders read it as {}: config.json's generation settings are still checked.
  let settings: unknown = {};
  if (generation) {
    const tooBig = generationConfigSizeRefusal(generation.bytes);
    if (tooBig) return tooBig;
    try {
      settings = JSON.parse(await generation.text());
    } catch {
      return null;
    }
  }
  const refusal = generationConfigRefusal(settings, config);
  if (refusal) return refusal;
  return cpuModelSpecRefusal(config);
}
