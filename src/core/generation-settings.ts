/**
 * A model's generation settings as transformers.js's generate() reads them (config.json with its
 * decoder, generator and text_config blocks merged in, generation_config.json over it), and which of
 * them edgetier's CPU engine cannot apply exactly and so refuses by name. Pure: the engine's
 * load-time check, the model index's and the worker's probe all read the files through it, so they
 * cannot disagree.
 */

/** Off where transformers.js's generate() adds its step only above `least`; a non-number is not off. */
const offAtMost = (least: number) => (value: unknown) =>
  value === null || (typeof value === 'number' && value <= least);
/** Off as null (no step), or an empty list (a step that changes nothing). */
const offOrEmpty = (value: unknown) => value === null || (Array.isArray(value) && value.length === 0);

/**
 * Generation settings transformers.js's generate() would act on that edgetier's CPU engine does not
 * implement, each with what reads as "off" there (its _get_logits_processor's and its sampler's own
 * tests): a model that sets one otherwise is refused by name.
 */
const UNSUPPORTED_GENERATION_FIELDS: Record<string, (value: unknown) => boolean> = {
  no_repeat_ngram_size: offAtMost(0),
  bad_words_ids: offOrEmpty,
  suppress_tokens: offOrEmpty,
  begin_suppress_tokens: offOrEmpty,
  forced_bos_token_id: (value) => value === null,
  forced_eos_token_id: (value) => value === null,
  guidance_scale: offAtMost(1),
  num_beams: offAtMost(1),
};

/** Larger than any generation settings need: the engine refuses such a file unread (and the index alike). */
export const GENERATION_CONFIG_MAX_BYTES = 1 << 20;

/** The engine's refusal of a generation_config.json of `bytes` bytes, or null (read before parsing). */
export function generationConfigSizeRefusal(bytes: number): string | null {
  return bytes > GENERATION_CONFIG_MAX_BYTES
    ? `generation_config.json is ${bytes} bytes, over the ${GENERATION_CONFIG_MAX_BYTES} any generation settings need, which edgetier's CPU engine does not read: run this model on onnxruntime.`
    : null;
}

/**
 * The generation settings the CPU engine checks or applies: the ones above, and those it applies as
 * generate() does (cpu-generator.ts generationDefaults).
 */
const CHECKED_GENERATION_FIELDS = [
  ...Object.keys(UNSUPPORTED_GENERATION_FIELDS),
  'repetition_penalty',
  'top_k',
  'min_length',
  'min_new_tokens',
];

const isSettings = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The checked generation settings as transformers.js's generate() reads them (its
 * _prepare_generation_config): config.json's (with its decoder, generator and text_config blocks
 * merged in), then generation_config.json's over them. So a default config.json sets and the other
 * file does not is the engine's too, as it is ONNX Runtime's. Each value with the file it came from.
 */
export function effectiveGenerationSettings(
  config: unknown,
  generationConfig: unknown,
  fields: readonly string[] = CHECKED_GENERATION_FIELDS,
): Map<string, { value: unknown; file: string }> {
  // As generate() builds it: each block merged into the copy in turn, so a block the one before
  // brought in (decoder.text_config) is merged too, and one it replaced is not.
  const fromModel: Record<string, unknown> = isSettings(config) ? { ...config } : {};
  for (const key of ['decoder', 'generator', 'text_config']) {
    if (key in fromModel) Object.assign(fromModel, fromModel[key]);
  }
  const settings = new Map<string, { value: unknown; file: string }>();
  // generate() assigns whatever the file holds over config.json's: a number, string or boolean adds
  // nothing (the CPU engine refuses such a file by name; the ORT path must still read it).
  const own: Record<string, unknown> = isSettings(generationConfig) ? generationConfig : {};
  for (const field of fields) {
    if (field in own) settings.set(field, { value: own[field], file: 'generation_config.json' });
    else if (field in fromModel) settings.set(field, { value: fromModel[field], file: 'config.json' });
  }
  return settings;
}

/**
 * The token ids that end an answer, as generate() reads eos_token_id (effectiveGenerationSettings): a
 * generation_config.json null is none, not config.json's; one in config.json's text_config counts.
 */
export function eosTokenIds(config: unknown, generationConfig: unknown): Set<number> {
  const eos = effectiveGenerationSettings(config, generationConfig, ['eos_token_id']).get(
    'eos_token_id',
  )?.value;
  return new Set((Array.isArray(eos) ? eos : eos == null ? [] : [eos]).map(Number));
}

/**
 * Why edgetier's CPU engine refuses a model for its generation settings (a field it does not
 * implement, set on; a value it cannot apply exactly), or null: generation_config.json's, and
 * config.json's where that file does not set them (effectiveGenerationSettings). The engine's
 * load-time check, and the model index's and the worker's probe's, so the app knows before any
 * download.
 */
export function generationConfigRefusal(generationConfig: unknown, config: unknown = {}): string | null {
  if (!isSettings(generationConfig)) {
    const what =
      generationConfig === null
        ? 'null'
        : Array.isArray(generationConfig)
          ? 'an array'
          : typeof generationConfig;
    return `generation_config.json holds ${what}, not an object of settings, which edgetier's CPU engine cannot read: run this model on onnxruntime.`;
  }
  const settings = effectiveGenerationSettings(config, generationConfig);
  for (const [key, off] of Object.entries(UNSUPPORTED_GENERATION_FIELDS)) {
    const setting = settings.get(key);
    if (setting && setting.value !== undefined && !off(setting.value)) {
      return `${setting.file} sets ${key} = ${JSON.stringify(setting.value)}, which edgetier's CPU engine does not implement: run this model on onnxruntime.`;
    }
  }
  // EOS ids the engine compares as numbers: generate() compares bigints with ==, which other forms
  // ("2.0", [null, 3]) would make stop elsewhere.
  const eos = effectiveGenerationSettings(config, generationConfig, ['eos_token_id']).get('eos_token_id');
  const isId = (value: unknown) => typeof value === 'number' && Number.isInteger(value);
  if (eos && eos.value !== null && !isId(eos.value) && !(Array.isArray(eos.value) && eos.value.every(isId))) {
    return `${eos.file} sets eos_token_id = ${JSON.stringify(eos.value)}; edgetier's CPU engine takes a token id or a list of them only: run this model on onnxruntime.`;
  }
  // The two defaults the engine takes from the files (cpu-generator.ts), where it can honour them: a
  // value it cannot apply exactly is refused, not replaced by its default (null means unset).
  const penalty = settings.get('repetition_penalty');
  if (
    penalty &&
    penalty.value !== undefined &&
    penalty.value !== null &&
    !(typeof penalty.value === 'number' && Number.isFinite(penalty.value) && penalty.value > 0)
  ) {
    return `${penalty.file} sets repetition_penalty = ${JSON.stringify(penalty.value)}; edgetier's CPU engine takes a finite penalty above 0 only: run this model on onnxruntime.`;
  }
  const topK = settings.get('top_k');
  if (
    topK &&
    topK.value !== undefined &&
    topK.value !== null &&
    !(typeof topK.value === 'number' && Number.isInteger(topK.value))
  ) {
    return `${topK.file} sets top_k = ${JSON.stringify(topK.value)}; edgetier's CPU engine takes a whole number (0 or less keeps every token) only: run this model on onnxruntime.`;
  }
  // Applied as generate()'s MinLength and MinNewTokensLength processors (EOS suppressed while the
  // sequence, or the answer, is shorter): a number; null is unset. Anything else generate() would
  // coerce with < and >, which the engine does not copy.
  for (const field of ['min_length', 'min_new_tokens']) {
    const min = settings.get(field);
    if (
      min &&
      min.value !== undefined &&
      min.value !== null &&
      !(typeof min.value === 'number' && !Number.isNaN(min.value))
    ) {
      return `${min.file} sets ${field} = ${JSON.stringify(min.value)}; edgetier's CPU engine takes a number only: run this model on onnxruntime.`;
    }
  }
  return null;
}
