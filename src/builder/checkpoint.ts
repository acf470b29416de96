/**
 * Opens a Hugging Face checkpoint folder for conversion: config.json parsed into a ModelSpec, the
 * safetensors weights (single or sharded) checked tensor by tensor against that spec, and the
 * tokenizer files. Everything is validated before a single output byte is written.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { type HfConfig, parseHfConfig } from './hf-config.ts';
import { expectedTensors } from './hf-tensors.ts';
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
export function validateWeights(spec: ModelSpec, weights: WeightSource): void {
  for (const t of expectedTensors(spec)) {
    if (!weights.has(t.name)) {
      const why = t.name === 'lm_head.weight' ? ' (config.json says tie_word_embeddings is false)' : '';
      throw new EdgetierError(
        'weights_missing',
        `the checkpoint has no tensor ${t.name}, which config.json calls for${why}.`,
      );
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

export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const hfConfig = await readHfConfig(dir);
  const spec = parseHfConfig(hfConfig);
  const weights = await SafetensorsWeights.openDir(dir);
  validateWeights(spec, weights);
  const tokenizer = await readCheckpointTokenizer(dir, hfConfig);
  return { dir, hfConfig, spec, weights, tokenizer };
}
