/**
 * One answer through NodeEngine (the path of `generate --device cpu`) on a model folder, the engine
 * loaded before and unloaded after: the tests that compare the two runtimes on the same folder.
 */
import { random } from '@huggingface/transformers';
import type { Dtype } from '../../src/core/dtypes.ts';
import type { GenerateResult, SamplingOptions } from '../../src/core/engine.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';

export async function nodeAnswer(
  runtime: 'edgetier' | 'onnxruntime',
  dir: string,
  request: {
    prompt: string;
    sampling?: SamplingOptions;
    dtype?: Dtype;
    /** Seeds transformers.js's sampler before the answer: the ORT path's draws (the CPU engine's are not seeded). */
    seed?: number;
  },
): Promise<GenerateResult> {
  const engine = new NodeEngine({ runtime });
  try {
    await engine.load({ source: { kind: 'path', path: dir }, device: 'cpu', dtype: request.dtype ?? 'fp32' });
    if (request.seed !== undefined) random.seed(request.seed);
    return await engine.generate({ prompt: request.prompt, sampling: request.sampling ?? {} });
  } finally {
    await engine.unload();
  }
}
