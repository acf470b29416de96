/**
 * RoPE inverse frequencies as Hugging Face computes them: `1 / theta^(2i / headDim)`, optionally with
 * the Llama 3 frequency adjustment (long wavelengths divided by `factor`, short ones kept, a smooth
 * blend in between). Float64 arithmetic, rounded once to float32 at the end.
 */
import type { ModelSpec } from '../../core/model-spec.ts';

export function ropeInvFreq(spec: Pick<ModelSpec, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const half = spec.headDim / 2;
  const out = new Float32Array(half);
  const s = spec.ropeScaling;
  for (let i = 0; i < half; i++) {
    let f = 1 / spec.ropeTheta ** ((2 * i) / spec.headDim);
    if (s?.type === 'llama3') {
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowFreqWavelen) {
        f /= s.factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth =
          (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        f = ((1 - smooth) * f) / s.factor + smooth * f;
      }
    }
    out[i] = f;
  }
  return out;
}
