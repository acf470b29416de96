/**
 * The native benchmark target: edgetier's NodeEngine on onnxruntime-node (device `cpu`), or on
 * edgetier's own CPU engine (`runtime: 'edgetier'`), a fresh engine per configuration, streaming like every row. Peak memory is the bench process's resident set size, sampled while the
 * configuration runs.
 */
import { type DepthEngine, generateAtDepth } from '../core/bench/depth.ts';
import type { BenchTarget, PeakMemory } from '../core/bench/method.ts';
import type { Dtype } from '../core/dtypes.ts';
import type { LoadInfo, ModelSource } from '../core/engine.ts';
import { NodeEngine, type NodeRuntime } from '../native/node-engine.ts';

const RSS_SAMPLE_MS = 25;

export function nativeTarget(
  source: ModelSource,
  config: { dtype: Dtype; threads: number; runtime?: NodeRuntime },
  /** Told each load's LoadInfo (a CPU-engine row's note says which kernels and KV cache ran). */
  onLoaded?: (info: LoadInfo) => void,
): BenchTarget & { engine: DepthEngine } {
  // The runtime pinned, never 'auto': a row is labelled with the runtime it ran.
  const engine = new NodeEngine({ threads: config.threads, runtime: config.runtime ?? 'onnxruntime' });
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, RSS_SAMPLE_MS);
  sampler.unref();
  return {
    engine,
    async load() {
      // A folder on disk: "cold" is the first load of this configuration in this process (the OS
      // may still hold the file in its page cache), "warm" the second.
      const start = performance.now();
      const info = await engine.load({ source, device: 'cpu', dtype: config.dtype, threads: config.threads });
      onLoaded?.(info);
      return { totalMs: performance.now() - start, downloadMs: info.downloadMs, initMs: info.initMs };
    },
    async unload() {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      await engine.unload();
    },
    async generate(promptIds, newTokens, context = []) {
      // Streamed, like every row (the browser rows stream through the worker); a depth row's context
      // is filled first, untimed.
      const result = await generateAtDepth(engine, context, promptIds, newTokens);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      return result.metrics;
    },
    async peakMemory(): Promise<PeakMemory> {
      clearInterval(sampler);
      return {
        bytes: peakRss,
        note: `peak RSS of the bench process while this row ran (sampled every ${RSS_SAMPLE_MS} ms; includes Node itself)`,
      };
    },
  };
}
