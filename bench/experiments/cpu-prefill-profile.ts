/**
 * Where the CPU engine's prefill time goes: wall time per kernel (every export of the kernels module
 * the decoder calls, and the thread pool's split GEMMs) over a prompt of `--pp` tokens, on one thread
 * or the pool (`--threads`), median of `--rounds` after a warm-up. The rest ("other") is the decoder's
 * JavaScript: embedding, RoPE angles, cache copies. Wrapping each call adds about a microsecond.
 *
 *   npx tsx bench/experiments/cpu-prefill-profile.ts [--dtype q8] [--threads 1] [--pp 22] [--rounds 5] <model-dir>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CpuDecoder } from '../../src/cpu-engine/decoder.ts';
import type { CpuDtype } from '../../src/cpu-engine/model-weights.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import { nodeKernelThreadSpawner } from '../../src/cpu-engine/node-threads.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dtype: { type: 'string', default: 'q8' },
    threads: { type: 'string', default: '1' },
    pp: { type: 'string', default: '22' },
    rounds: { type: 'string', default: '5' },
  },
});
const dir = positionals[0];
if (!dir) throw new Error('give one model folder');
const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as { vocab_size: number };
const prompt = Array.from({ length: Number(values.pp) }, (_, i) => (100 + i * 7) % config.vocab_size);

const spent = new Map<string, number>();
const calls = new Map<string, number>();
/** Replaces each function of `target` by a timed call of the original, counted under its name. */
function instrument(target: Record<string, unknown>, prefix: string): void {
  for (const name of Object.keys(target)) {
    const f = target[name];
    if (typeof f !== 'function') continue;
    const key = prefix + name;
    target[name] = (...args: unknown[]) => {
      const t = performance.now();
      const out = (f as (...a: unknown[]) => unknown)(...args);
      spent.set(key, (spent.get(key) ?? 0) + performance.now() - t);
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return out;
    };
  }
}

for (const dtype of values.dtype.split(',') as CpuDtype[]) {
  for (const threads of values.threads.split(',').map(Number)) {
    const decoder: CpuDecoder = await loadCpuDecoder(dir, dtype, { threads, spawn: nodeKernelThreadSpawner });
    // The decoder reaches the kernels through kx.k and the pool: swap in timed copies of both.
    const inner = decoder as unknown as { kx: { k: Record<string, unknown> } };
    const k: Record<string, unknown> = { ...inner.kx.k };
    inner.kx.k = k;
    instrument(k, '');
    if (decoder.pool) {
      const pool = decoder.pool as unknown as Record<string, unknown>;
      for (const name of ['gemmQ', 'gemmF32']) {
        const f = pool[name] as (...a: unknown[]) => unknown;
        pool[name] = (...args: unknown[]) => {
          const t = performance.now();
          const out = f.apply(decoder.pool, args);
          const key = `pool.${name}`;
          spent.set(key, (spent.get(key) ?? 0) + performance.now() - t);
          calls.set(key, (calls.get(key) ?? 0) + 1);
          return out;
        };
      }
    }
    const rounds = Number(values.rounds);
    const totals: number[] = [];
    const perKernel = new Map<string, number[]>();
    for (let round = 0; round <= rounds; round++) {
      spent.clear();
      calls.clear();
      decoder.truncate(0);
      const t0 = performance.now();
      decoder.forward(prompt);
      const total = performance.now() - t0;
      if (round === 0) continue;
      totals.push(total);
      let kernels = 0;
      for (const [key, ms] of spent) {
        perKernel.set(key, [...(perKernel.get(key) ?? []), ms]);
        // The pool's calls run the GEMMs: the kernels they call on this thread are not counted twice.
        if (!key.startsWith('gemm') || !decoder.pool) kernels += ms;
      }
      perKernel.set('other (JavaScript)', [...(perKernel.get('other (JavaScript)') ?? []), total - kernels]);
    }
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
    const total = median(totals);
    console.log(
      `\n${dtype}, ${threads} thread(s), prefill of ${prompt.length} tokens: ${total.toFixed(1)} ms (median of ${rounds})`,
    );
    console.log('| kernel | calls | ms | share |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [key, ms] of [...perKernel].sort((a, b) => median(b[1]) - median(a[1]))) {
      const m = median(ms);
      console.log(
        `| ${key} | ${calls.get(key) ?? ''} | ${m.toFixed(1)} | ${((100 * m) / total).toFixed(0)}% |`,
      );
    }
    await decoder.dispose();
  }
}
