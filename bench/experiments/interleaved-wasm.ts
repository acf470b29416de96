/**
 * Interleaved WASM runs in headless Chromium: configurations (ORT build x dtype x threads) take turns
 * round after round (A B C A B C …), each in a fresh browser and worker, so that load from other
 * processes spreads over all of them; `edgetier bench` runs each configuration's repetitions back to
 * back instead. Prints one JSON line per run (with the 1-minute load average) and the medians.
 *
 *   npx tsx bench/experiments/interleaved-wasm.ts <model-dir> <rounds> jspi:q8:2,jspi:q8:1,webgpu:q8:1
 *
 * What is measured is the first generation after a load: the visitor's first reply. A fourth field,
 * build:dtype:threads:MS, sets the engine's warm-up budget at load (0: no warm-up; without the field:
 * the engine's default, DEFAULT_WARMUP_BUDGET_MS).
 *
 * The prompt is 22 fixed token ids, 64 new tokens, greedy, end-of-sequence ignored.
 */
import { readFileSync } from 'node:fs';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import type { OrtBuild } from '../../src/core/backend-plan.ts';
import { type Dtype, isDtype } from '../../src/core/dtypes.ts';

interface Config {
  build: OrtBuild;
  dtype: Dtype;
  threads: number;
  /** The engine's warm-up budget at load, in ms (0: none; absent: the engine's default). */
  warmupBudgetMs?: number;
}

function parseConfig(text: string): Config {
  const [build, dtype, threads, warmup] = text.split(':');
  if (!(build === 'jspi' || build === 'wasm' || build === 'webgpu') || !dtype || !isDtype(dtype)) {
    throw new Error(`bad configuration "${text}": use build:dtype:threads, e.g. jspi:q8:2`);
  }
  return {
    build,
    dtype,
    threads: Number(threads) || 1,
    ...(warmup === undefined ? {} : { warmupBudgetMs: Number(warmup) }),
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function main(dir: string, rounds: number, configs: Config[]): Promise<void> {
  const vocab = (JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as { vocab_size: number }).vocab_size;
  const promptIds = Array.from({ length: 22 }, (_, i) => (20 + i * 7) % vocab);
  const runs = new Map<string, { decode: number[]; ttft: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const c of configs) {
      const key = `${c.build}:${c.dtype}:${c.threads}${c.warmupBudgetMs === undefined ? '' : `:${c.warmupBudgetMs}`}`;
      const engine = await BrowserEngine.start({ threads: c.threads });
      try {
        await engine.load({
          source: { kind: 'path', path: dir },
          device: 'wasm',
          dtype: c.dtype,
          threads: c.threads,
          build: c.build,
          ...(c.warmupBudgetMs === undefined ? {} : { warmupBudgetMs: c.warmupBudgetMs }),
        } as Parameters<BrowserEngine['load']>[0]);
        const result = await engine.generate({
          promptIds,
          sampling: { maxNewTokens: 64, temperature: 0, ignoreEos: true },
        });
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
        const { decodeTokPerSec, ttftMs } = result.metrics;
        console.log(JSON.stringify({ key, round, decode_tok_s: decodeTokPerSec, ttft_ms: ttftMs, load }));
        const entry = runs.get(key) ?? { decode: [], ttft: [] };
        entry.decode.push(decodeTokPerSec);
        entry.ttft.push(ttftMs);
        runs.set(key, entry);
      } finally {
        await engine.unload();
      }
    }
  }
  for (const [key, r] of runs) {
    console.log(
      `MEDIAN ${key}: decode ${median(r.decode).toFixed(1)} tok/s (${r.decode.map((x) => x.toFixed(1)).join(' ')}), ` +
        `ttft ${median(r.ttft).toFixed(0)} ms (${r.ttft.map((x) => x.toFixed(0)).join(' ')})`,
    );
  }
}

const [dir, rounds, list] = process.argv.slice(2);
if (!dir || !rounds || !list) {
  console.error(
    'usage: npx tsx bench/experiments/interleaved-wasm.ts <model-dir> <rounds> build:dtype:threads[:warm-up tokens],…',
  );
  process.exit(2);
}
await main(dir, Number(rounds), list.split(',').map(parseConfig));
