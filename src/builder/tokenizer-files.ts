/**
 * The tokenizer side of a model folder: tokenizer.json, tokenizer_config.json (which must hold the
 * chat template, since transformers.js does not read chat_template.jinja) and generation_config.json.
 * Reads them from a checkpoint, normalises them, and writes them into a folder.
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import type { HfConfig } from './hf-config.ts';
import { isLfsPointerText, lfsPointerError } from './lfs-pointer.ts';

export interface TokenizerFileSet {
  /** tokenizer.json: a path to copy as it is, or the object to write. */
  tokenizerJson: string | Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
  /** The largest token id tokenizer.json can produce, where it was read from a checkpoint. */
  maxId?: number;
}

async function readJson(file: string, code: 'config_missing' | 'weights_corrupt' = 'config_missing') {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EdgetierError('io_error', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (isLfsPointerText(text)) throw lfsPointerError(file);
  try {
    const value = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new EdgetierError(code, `${file} is not a valid JSON object (truncated?); download it again.`, {
      cause: error,
    });
  }
}

/**
 * The largest id a tokenizer.json can produce: its model's vocabulary (a token -> id map, or a
 * Unigram list whose index is the id) and its added tokens. Refuses a file without a model.
 */
export function tokenizerMaxId(file: string, json: Record<string, unknown>): number {
  const model = json.model as { vocab?: unknown } | undefined;
  if (!model || typeof model !== 'object' || model.vocab === undefined) {
    throw new EdgetierError(
      'config_missing',
      `${file} has no model vocabulary: it is not a Hugging Face tokenizer.json. Copy the model's own tokenizer.json.`,
    );
  }
  let max = -1;
  const vocab = model.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') {
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  }
  for (const token of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    const id = (token as { id?: unknown }).id;
    if (typeof id === 'number' && id > max) max = id;
  }
  return max;
}

/** Token ids a generation_config.json carries, taken from config.json when the checkpoint has none. */
export function defaultGenerationConfig(hfConfig: HfConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) {
    if (hfConfig[key] !== undefined && hfConfig[key] !== null) out[key] = hfConfig[key];
  }
  return out;
}

/**
 * Reads a checkpoint's tokenizer files. tokenizer.json is required (transformers.js cannot load a
 * model folder without it); a chat_template.jinja is folded into tokenizer_config.json; a missing
 * generation_config.json is made from config.json's token ids.
 */
export async function readCheckpointTokenizer(dir: string, hfConfig: HfConfig): Promise<TokenizerFileSet> {
  const tokenizerJson = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerJson)) {
    throw new EdgetierError(
      'config_missing',
      `no tokenizer.json in ${dir}: copy the tokenizer files of the model next to config.json.`,
    );
  }
  // Parsed here, not only copied: a truncated file or a git-lfs pointer must stop the build now.
  const maxId = tokenizerMaxId(tokenizerJson, await readJson(tokenizerJson));
  const configFile = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = existsSync(configFile) ? await readJson(configFile) : {};
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) {
    const template = await readFile(jinja, 'utf8');
    if (isLfsPointerText(template)) throw lfsPointerError(jinja);
    tokenizerConfig.chat_template = template;
  }
  const generationFile = join(dir, 'generation_config.json');
  const generationConfig = existsSync(generationFile)
    ? await readJson(generationFile)
    : defaultGenerationConfig(hfConfig);
  return { tokenizerJson, tokenizerConfig, generationConfig, maxId };
}

export async function writeTokenizerFiles(files: TokenizerFileSet, outDir: string): Promise<void> {
  const target = join(outDir, 'tokenizer.json');
  if (typeof files.tokenizerJson === 'string') await copyFile(files.tokenizerJson, target);
  else await writeFile(target, JSON.stringify(files.tokenizerJson));
  await writeFile(
    join(outDir, 'tokenizer_config.json'),
    `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`,
  );
  await writeFile(
    join(outDir, 'generation_config.json'),
    `${JSON.stringify(files.generationConfig, null, 2)}\n`,
  );
}
