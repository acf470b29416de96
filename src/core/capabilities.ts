/**
 * What the visitor's device can do, detected once (in the engine worker) and handed to the pure
 * backend planner. Every field is plain data so it crosses the worker boundary and can be written
 * into a benchmark record as is.
 */

export interface WebGpuCapabilities {
  vendor: string;
  architecture: string;
  description: string;
  /** A software adapter (SwiftShader, WARP): WebGPU "works" but at CPU-emulation speed. */
  isFallbackAdapter: boolean;
  /** The adapter offers `shader-f16`, needed for fp16 and q4f16 weights. */
  shaderF16: boolean;
  maxBufferSizeBytes: number;
  maxStorageBufferBindingSizeBytes: number;
}

export interface StorageCapabilities {
  quotaBytes: number;
  usageBytes: number;
  /** navigator.storage.persisted(): the browser will not evict the model cache under pressure. */
  persisted: boolean;
}

export interface Capabilities {
  /** null when navigator.gpu is missing or no adapter was granted. */
  webgpu: WebGpuCapabilities | null;
  /** Why `webgpu` is null, in words a person can act on; absent when WebGPU is available. */
  webgpuUnavailableReason?: string;
  /** COOP/COEP in force: SharedArrayBuffer and therefore WASM threads are available. */
  crossOriginIsolated: boolean;
  /** `WebAssembly.Suspending` exists: ORT's JSPI build can run. */
  jspi: boolean;
  /** WebAssembly validates SIMD128: edgetier's CPU engine can run (it refuses `no_wasm_simd` otherwise). */
  wasmSimd: boolean;
  hardwareConcurrency: number;
  /** navigator.deviceMemory in GiB (rounded, capped at 8 by browsers); null where not exposed. */
  deviceMemoryGiB: number | null;
  storage: StorageCapabilities | null;
}
