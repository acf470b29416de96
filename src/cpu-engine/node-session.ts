/**
 * The CPU engine's loaders in Node: a model folder on disk read with node:fs, the kernels from
 * node-kernels.ts. The browser's engine worker has its own (workers/cpu-model.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import type { HfConfig } from '../builder/hf-config.ts';
import { DTYPE_FILE, type Dtype } from '../core/dtypes.ts';
import { EdgetierError } from '../core/errors.ts';
import { generationConfigRefusal, generationConfigSizeRefusal } from '../core/generation-settings.ts';
import type { LoadModelOptions, ModelSession } from '../runtime/model-session.ts';
import { cpuModelSession } from './cpu-generator.ts';
import { CpuDecoder, type CpuDecoderOptions, requireCpuDtype } from './decoder.ts';
import { cpuModelSpec } from './model-refusal.ts';
import { kernelModule } from './node-kernels.ts';
import { nodeKernelThreadSpawner } from './node-threads.ts';

/**
 * A decoder over `<dir>/config.json` and `<dir>/onnx/<file of dtype>`, on the kernels build the
 * thread count needs (`options.threads` above 1: the threaded one; `spawn` then defaults to
 * worker_threads).
 */
export async function loadCpuDecoder(
  dir: string,
  dtype: Dtype,
  options: CpuDecoderOptions = {},
): Promise<CpuDecoder> {
  const cpuDtype = requireCpuDtype(dtype);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as HfConfig;
  const onnx = await readFile(join(dir, 'onnx', DTYPE_FILE[cpuDtype]));
  const threaded = (options.threads ?? 1) > 1;
  return CpuDecoder.fromFiles(config, onnx, cpuDtype, await kernelModule(threaded), {
    ...options,
    spawn: options.spawn ?? (threaded ? nodeKernelThreadSpawner : undefined),
  });
}

/** A ModelSession on the CPU engine for a local model folder (device `cpu`). */
export async function loadCpuModelSession(
  options: Pick<LoadModelOptions, 'model' | 'batching' | 'clock' | 'templateRenderer'> & {
    dtype: Dtype;
    /** Threads (default 1); above 1, a pool of worker_threads (thread-pool.ts). */
    threads?: number;
  },
): Promise<ModelSession> {
  const { model: dir, dtype } = options;
  requireCpuDtype(dtype);
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  const read = async (name: string, required: boolean): Promise<Uint8Array | null> => {
    try {
      return await readFile(join(dir, name));
    } catch (error) {
      if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new EdgetierError(
        'model_not_found',
        `Cannot read ${join(dir, name)}: ${(error as Error).message}`,
      );
    }
  };
  const json = (bytes: Uint8Array | null) =>
    bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>) : {};
  const config = json(await read('config.json', true));
  const generationBytes = await read('generation_config.json', false);
  // Refused by size before it is parsed, as the model index refuses it (generation-settings.ts).
  const tooBig = generationBytes ? generationConfigSizeRefusal(generationBytes.length) : null;
  if (tooBig) throw new EdgetierError('unsupported_architecture', tooBig);
  const generationConfig = json(generationBytes);
  // Refused by its settings before the tokenizer and the ONNX file are read, in the web worker's
  // order (workers/cpu-model.ts): generation_config.json, then config.json.
  const generationRefusal = generationConfigRefusal(generationConfig, config);
  if (generationRefusal) throw new EdgetierError('unsupported_architecture', generationRefusal);
  cpuModelSpec(config as HfConfig);
  const tokenizer = await AutoTokenizer.from_pretrained(dir);
  const onnx = (await read(join('onnx', DTYPE_FILE[dtype]), true)) as Uint8Array;
  const threads = options.threads ?? 1;
  return cpuModelSession(
    { config, generationConfig, onnx, kernels: await kernelModule(threads > 1), tokenizer },
    { ...options, device: 'cpu', threads, spawn: nodeKernelThreadSpawner },
  );
}
