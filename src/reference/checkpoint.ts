/**
 * Opens a Hugging Face checkpoint folder (config.json + safetensors) as a ReferenceModel. An optional
 * transform rewrites tensors as they are read, e.g. to run the reference on the de-quantised weights a
 * 4-bit model actually holds.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type HfConfig, parseHfConfig } from '../builder/hf-config.ts';
import { SafetensorsWeights } from '../builder/safetensors.ts';
import type { WeightSource } from '../builder/weights.ts';
import { ReferenceModel } from './forward.ts';

export type TensorTransform = (name: string, shape: number[], data: Float32Array) => Float32Array;

/** A WeightSource whose tensors pass through `transform` on the way out. */
export function transformWeights(source: WeightSource, transform: TensorTransform): WeightSource {
  return {
    names: () => source.names(),
    has: (name) => source.has(name),
    shape: (name) => source.shape(name),
    read: async (name) => transform(name, source.shape(name), await source.read(name)),
  };
}

export async function loadReferenceCheckpoint(
  dir: string,
  options: { transform?: TensorTransform } = {},
): Promise<{ model: ReferenceModel; config: HfConfig }> {
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as HfConfig;
  const spec = parseHfConfig(config);
  const stored = await SafetensorsWeights.openDir(dir);
  const weights = options.transform ? transformWeights(stored, options.transform) : stored;
  return { model: await ReferenceModel.load(spec, weights), config };
}
