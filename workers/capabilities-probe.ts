/**
 * Detects what this device can do, once per worker: WebGPU adapter (and whether it is a software
 * fallback), shader-f16, buffer limits, cross-origin isolation, JSPI, cores, memory, storage. No
 * user-agent sniffing: every field is read from the API that provides it.
 */
import type { Capabilities, StorageCapabilities, WebGpuCapabilities } from '../src/core/capabilities.ts';
import { hasWasmSimd } from './cpu-kernels.ts';

/** The WebGPU surface this module reads; the worker realm's lib has no WebGPU types. */
interface GpuAdapterLike {
  features: { has(name: string): boolean };
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

async function detectWebGpu(): Promise<{ webgpu: WebGpuCapabilities | null; reason?: string }> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) {
    return {
      webgpu: null,
      reason: 'this browser has no WebGPU (navigator.gpu is missing); Chrome or Edge 113+ have it',
    };
  }
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return {
      webgpu: null,
      reason: `requestAdapter failed: ${error instanceof Error ? error.message : error}`,
    };
  }
  if (!adapter) {
    return { webgpu: null, reason: 'no WebGPU adapter was granted (GPU blocklisted or acceleration off)' };
  }
  const info = adapter.info ?? {};
  return {
    webgpu: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
      isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      shaderF16: adapter.features.has('shader-f16'),
      maxBufferSizeBytes: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSizeBytes: adapter.limits.maxStorageBufferBindingSize,
    },
  };
}

async function detectStorage(): Promise<StorageCapabilities | null> {
  const storage = navigator.storage;
  if (!storage?.estimate) return null;
  try {
    const estimate = await storage.estimate();
    const persisted = storage.persisted ? await storage.persisted() : false;
    return { quotaBytes: estimate.quota ?? 0, usageBytes: estimate.usage ?? 0, persisted };
  } catch {
    return null;
  }
}

let detected: Promise<Capabilities> | null = null;

export function detectCapabilities(): Promise<Capabilities> {
  detected ??= (async () => {
    const [gpu, storage] = await Promise.all([detectWebGpu(), detectStorage()]);
    const deviceMemory = (navigator as unknown as { deviceMemory?: number }).deviceMemory;
    const capabilities: Capabilities = {
      webgpu: gpu.webgpu,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      jspi: typeof (WebAssembly as unknown as { Suspending?: unknown }).Suspending === 'function',
      wasmSimd: hasWasmSimd(),
      hardwareConcurrency: navigator.hardwareConcurrency || 1,
      deviceMemoryGiB: typeof deviceMemory === 'number' ? deviceMemory : null,
      storage,
    };
    if (gpu.reason) capabilities.webgpuUnavailableReason = gpu.reason;
    return capabilities;
  })();
  return detected;
}
