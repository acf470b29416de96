/**
 * Fixtures the bench and planner unit tests share: the machine these tests were written on (2 cores,
 * cross-origin isolated, JSPI, WASM SIMD, no GPU) as Capabilities, and as a bench report's
 * environment; a run's metrics with every field given; a bench target over a scripted `generate`.
 */
import type { BenchTarget } from '../../src/core/bench/method.ts';
import type { BenchEnvironment } from '../../src/core/bench/schema.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import type { GenerationMetrics } from '../../src/core/metrics.ts';

export const TWO_CORE_CAPABILITIES: Capabilities = {
  webgpu: null,
  webgpuUnavailableReason: 'navigator.gpu is missing',
  crossOriginIsolated: true,
  jspi: true,
  wasmSimd: true,
  hardwareConcurrency: 2,
  deviceMemoryGiB: 8,
  storage: { quotaBytes: 10 * 1024 ** 3, usageBytes: 0, persisted: false },
};

/** A bench report's environment block for a machine without a WebGPU adapter. */
export const NO_GPU_BENCH_ENVIRONMENT: BenchEnvironment = {
  cpu_model: 'Test CPU',
  cpu_cores: 2,
  os: 'Debian',
  node_version: 'v20.0.0',
  browser_version: 'Chromium 1 (headless)',
  webgpu: null,
  webgpu_unavailable_reason: 'no adapter',
  cross_origin_isolated: true,
  jspi: true,
  onnxruntime_node_version: '1.30.0',
  onnxruntime_web_version: '1.31.0-dev',
  transformers_version: '4.3.1',
  load_average: [1, 1, 1],
};

/** A run's metrics: the fields given, every other 0. */
export function generationMetrics(partial: Partial<GenerationMetrics>): GenerationMetrics {
  return {
    prefillTokens: 0,
    cachedPromptTokens: 0,
    ttftMs: 0,
    prefillTokPerSec: 0,
    decodeTokens: 0,
    decodeTokPerSec: 0,
    itlP50Ms: 0,
    itlP95Ms: 0,
    totalMs: 0,
    ...partial,
  };
}

/**
 * A bench target whose runs are `generate`'s answers: loads take 1 ms (`onLoad` runs first), unloads
 * nothing, peak memory unknown. For the method's own logic (what it runs, times and checks), not an
 * engine's speed.
 */
export function scriptedBenchTarget(
  generate: BenchTarget['generate'],
  onLoad: () => void = () => {},
): BenchTarget {
  return {
    async load() {
      onLoad();
      return { totalMs: 1, downloadMs: 0, initMs: 1 };
    },
    async unload() {},
    generate,
    async peakMemory() {
      return { bytes: null, note: 'x' };
    },
  };
}
