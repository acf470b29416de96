/**
 * Stands in for `onnxruntime-web/webgpu` inside transformers.js (vite.config.ts redirects that one
 * import here): it hands transformers.js the ORT build the plan picked instead of always the
 * asyncify/WebGPU build, which is 1.3-1.8x slower on WASM and twice the download.
 */
import { loadOrt } from './ort-build.ts';

const ort = await loadOrt();

export const InferenceSession = ort.InferenceSession;
export const Tensor = ort.Tensor;
export const env = ort.env;
