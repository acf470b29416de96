/**
 * How a decode step's wall time splits in the browser engine: time inside ORT's session.run (the
 * engine worker's ORT shim counts it, workers/ort-for-transformers.ts) against everything else
 * between two runs: transformers.js's generation loop (logits processing, argmax over the vocabulary,
 * cache bookkeeping, streaming) and the worker's yield to its message queue.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrowserEngine } from '../cli/browser-engine.ts';
import type { OrtBuild } from '../core/backend-plan.ts';
import type { Dtype } from '../core/dtypes.ts';
import type { GenerateResult } from '../core/engine.ts';

export interface BrowserStepSplitOptions {
  dir: string;
  dtype: Dtype;
  /** WASM threads; 0 = the plan's choice. */
  threads: number;
  /** The ORT build; absent = the plan's choice for this browser. */
  build?: OrtBuild;
  promptTokens: number;
  steps: number;
}

export interface BrowserStepSplit {
  dtype: Dtype;
  threads: number;
  build: OrtBuild;
  promptTokens: number;
  steps: number;
  ttftMs: number;
  /** Of the prompt's run alone. */
  prefillOrtMs: number;
  decodeTokPerSec: number;
  /** Wall time per decode step (1000 / decodeTokPerSec). */
  decodeStepMs: number;
  /** Inside session.run, per decode step (mean). */
  decodeOrtMs: number;
  /** The median decode run: below the mean when some steps stall (another process, a GC pause). */
  decodeOrtMedianMs: number;
  /** decodeStepMs - decodeOrtMs: transformers.js and the worker between two runs. */
  betweenRunsMs: number;
}

interface RunStats {
  runs: number;
  ms: number;
  /** Durations of the last runs, oldest first (workers/ort-for-transformers.ts keeps 256). */
  recentMs: number[];
}

export async function browserStepSplit(options: BrowserStepSplitOptions): Promise<BrowserStepSplit> {
  const engine = await BrowserEngine.start(options.threads > 0 ? { threads: options.threads } : {});
  try {
    const info = await engine.load({
      source: { kind: 'path', path: options.dir },
      device: 'wasm',
      dtype: options.dtype,
      ...(options.threads > 0 ? { threads: options.threads } : {}),
      ...(options.build ? { build: options.build } : {}),
      // It counts ORT's runs: ORT pinned ('auto' would run q8/q4 on edgetier's CPU engine).
      runtime: 'onnxruntime',
    } as Parameters<BrowserEngine['load']>[0]);
    const worker = engine.page.workers()[0];
    if (!worker) throw new Error('the engine page has no worker');
    const stats = () =>
      worker.evaluate(() => {
        const s = (globalThis as { edgetierOrtRunStats?: RunStats }).edgetierOrtRunStats;
        return s ? { runs: s.runs, ms: s.ms, recentMs: [...s.recentMs] } : null;
      });
    const config = JSON.parse(readFileSync(join(options.dir, 'config.json'), 'utf8')) as {
      vocab_size?: number;
    };
    const vocab = config.vocab_size ?? 256;
    // Ids spread over the vocabulary, fixed so that runs compare (as in decoder-profile.ts).
    const promptIds = Array.from({ length: options.promptTokens }, (_, i) => (7 + i * 97) % vocab);
    const generate = (tokens: number): Promise<GenerateResult> =>
      engine.generate({ promptIds, sampling: { maxNewTokens: tokens, temperature: 0, ignoreEos: true } });

    // Warm-up of the same length: first-run allocations, and V8's tier-up of ORT's WASM code (a 2-token
    // warm-up left the measured run 20-30% slower, most of it inside session.run).
    await generate(options.steps + 1);
    await engine.resetConversation();
    const before = await stats();
    if (!before) throw new Error('the engine worker does not count ORT runs (old build?)');
    const result = await generate(options.steps + 1);
    const after = (await stats())!;

    // The generation's own runs, in order: the prompt run first, then one run per decode step.
    const runs = after.recentMs.slice(after.recentMs.length - (after.runs - before.runs));
    const prefillOrtMs = runs[0] ?? 0;
    const decodeRuns = runs.slice(1);
    const decodeOrtMs = decodeRuns.reduce((a, b) => a + b, 0) / Math.max(1, decodeRuns.length);
    const decodeOrtMedianMs = [...decodeRuns].sort((a, b) => a - b)[decodeRuns.length >> 1] ?? 0;
    const decodeStepMs = 1000 / result.metrics.decodeTokPerSec;
    return {
      dtype: options.dtype,
      threads: info.threads,
      build: info.build,
      promptTokens: options.promptTokens,
      steps: options.steps,
      ttftMs: result.metrics.ttftMs,
      prefillOrtMs,
      decodeTokPerSec: result.metrics.decodeTokPerSec,
      decodeStepMs,
      decodeOrtMs,
      decodeOrtMedianMs,
      betweenRunsMs: decodeStepMs - decodeOrtMs,
    };
  } finally {
    await engine.unload();
  }
}
