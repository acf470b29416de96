/**
 * Opens a Hugging Face checkpoint folder for conversion: config.json parsed into a ModelSpec, the
 * safetensors weights (single or sharded) checked tensor by tensor against that spec, and the
 * tokenizer files. Everything is validated before a single output byte is written: headers, shapes,
 * dtypes, finite values, the tokenizer's ids against the vocabulary.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { type HfConfig, parseHfConfig } from './hf-config.ts';
import { expectedTensors } from './hf-tensors.ts';
import { refuseLfsPointer } from './lfs-pointer.ts';
import { SafetensorsWeights } from './safetensors.ts';
import { readCheckpointTokenizer, type TokenizerFileSet } from './tokenizer-files.ts';
import type { WeightSource } from './weights.ts';

export interface Checkpoint {
  dir: string;
  hfConfig: HfConfig;
  spec: ModelSpec;
  weights: SafetensorsWeights;
  tokenizer: TokenizerFileSet;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Reads and parses `<dir>/config.json`. */
export async function readHfConfig(dir: string): Promise<HfConfig> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new EdgetierError('config_missing', `${dir} is not a folder: give the checkpoint folder.`);
  }
  const file = join(dir, 'config.json');
  if (!existsSync(file)) {
    throw new EdgetierError(
      'config_missing',
      `no config.json in ${dir}: a Hugging Face checkpoint folder holds config.json next to its weights.`,
    );
  }
  await refuseLfsPointer(file);
  let config: unknown;
  try {
    config = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new EdgetierError('config_missing', `${file} is not valid JSON.`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new EdgetierError('config_missing', `${file} does not hold a JSON object.`);
  }
  return config as HfConfig;
}

/**
 * Checks that every tensor the spec calls for is present with the shape it implies. Extra tensors
 * (e.g. an lm_head.weight copy in a tied checkpoint, rotary caches) are ignored.
 */
export function validateWeights(spec: ModelSpec, weights: WeightSource, hfConfig: HfConfig = {}): void {
  for (const t of expectedTensors(spec)) {
    if (!weights.has(t.name)) {
      throw new EdgetierError('weights_missing', missingTensorMessage(t.name, spec, hfConfig));
    }
    const actual = weights.shape(t.name);
    if (actual.length !== t.shape.length || actual.some((d, i) => d !== t.shape[i])) {
      throw new EdgetierError(
        'shape_mismatch',
        `tensor ${t.name} has shape ${shapeText(actual)} but config.json implies ${shapeText(t.shape)}.`,
      );
    }
  }
}

function missingTensorMessage(name: string, spec: ModelSpec, hfConfig: HfConfig): string {
  const base = `the checkpoint has no tensor ${name}, which config.json calls for`;
  if (name !== 'lm_head.weight') return `${base}.`;
  if (hfConfig.tie_word_embeddings === undefined || hfConfig.tie_word_embeddings === null) {
    return `${base} (config.json does not set tie_word_embeddings, and transformers' default for ${spec.family} is false). If the output head shares the embedding, add "tie_word_embeddings": true to config.json.`;
  }
  return `${base} (config.json says tie_word_embeddings is false).`;
}

/**
 * The checks that need the tensor data: each tensor the model uses is stored as F32, F16 or BF16
 * and holds only finite values (a scan of the raw bits; the first bad tensor is named).
 */
export async function validateWeightValues(spec: ModelSpec, weights: SafetensorsWeights): Promise<void> {
  for (const t of expectedTensors(spec)) {
    const dtype = weights.storedDtype(t.name);
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
      throw new EdgetierError(
        'weights_corrupt',
        `tensor ${t.name} is stored as ${dtype}; edgetier reads F32, F16 and BF16. Export the checkpoint in one of them.`,
      );
    }
    const at = await weights.firstNonFinite(t.name);
    if (at >= 0) {
      throw new EdgetierError(
        'weights_corrupt',
        `tensor ${t.name} in ${basename(weights.fileOf(t.name))} holds NaN or infinite values (the first at element ${at}): the checkpoint is damaged. Download or export it again.`,
      );
    }
  }
}

/** Config vocab against the tokenizer: every id the tokenizer can produce needs an embedding row. */
export function validateVocabulary(spec: ModelSpec, tokenizer: TokenizerFileSet): void {
  const { maxId } = tokenizer;
  if (maxId !== undefined && maxId >= spec.vocabSize) {
    throw new EdgetierError(
      'shape_mismatch',
      `tokenizer.json has token ids up to ${maxId}, but config.json's vocab_size (the rows of the embedding) is ${spec.vocabSize}: the tokenizer belongs to another model. Use the checkpoint's own tokenizer files.`,
    );
  }
}

export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    return await readCheckpoint(dir);
  } catch (error) {
    if (error instanceof EdgetierError) throw error;
    // An OS error reading the checkpoint (EACCES, EIO...): one line that names it.
    const message = error instanceof Error ? error.message : String(error);
    throw new EdgetierError('io_error', `cannot read the checkpoint ${dir}: ${message}`, { cause: error });
  }
}

async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const hfConfig = await readHfConfig(dir);
  const spec = parseHfConfig(hfConfig);
  const weights = await SafetensorsWeights.openDir(dir);
  validateWeights(spec, weights, hfConfig);
  const tokenizer = await readCheckpointTokenizer(dir, hfConfig);
  validateVocabulary(spec, tokenizer);
  await validateWeightValues(spec, weights);
  return { dir, hfConfig, spec, weights, tokenizer };
}
