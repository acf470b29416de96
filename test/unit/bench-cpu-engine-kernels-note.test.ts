/**
 * `edgetier bench --device cpu --engine edgetier` runs edgetier's CPU engine in Node, where since
 * 93a08d5 (bin/edgetier.mjs turns on relaxed SIMD in Node 20) and 4be308e (q4 files keep an int8 KV
 * cache) what ran depends on the Node and the file: relaxed SIMD or SIMD128, int8 or float32 KV
 * cache. The wasm rows say so in their note (LoadInfo.cpuKernels, 'CPU engine kernels: ...'); the
 * Node rows say nothing (run-bench.ts's cpuEngine row has no `loaded`), so a bench.json cannot tell
 * an int8-cache row from a float32 one. (Hostile review.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/run-bench.ts';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { hasRelaxedSimd } from '../../src/cpu-engine/wasm-features.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-bench-kernels-'));
  const checkpoint = join(root, 'checkpoint');
  modelDir = join(root, 'model');
  await makeCheckpoint(checkpoint, { family: 'llama', tied: false, seed: 21, linearScale: 3 });
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', modelDir, '--dtype', 'q4']);
  } finally {
    process.stderr.write = write;
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bench: an edgetier CPU-engine row in Node says which kernels and KV cache ran', () => {
  it('a q4 row on --device cpu --engine edgetier notes its kernels, as a wasm row does', async () => {
    const report = await runBench(
      {
        models: [modelDir],
        devices: ['cpu'],
        dtypes: ['q4'],
        threads: [1],
        cpuEngines: ['edgetier'],
        params: { pp: 8, tg: 4, reps: 1, warmup: 0 },
        rowBudgetS: 0,
        baseline: false,
        command: 'test',
      },
      () => {},
    );
    const [row] = report.rows;
    expect(row).toMatchObject({ engine: 'edgetier', device: 'cpu', ort_build: 'edgetier-wasm', error: null });
    const kernels = hasRelaxedSimd() ? 'relaxed SIMD' : 'SIMD128';
    expect(row?.note).toBe(`CPU engine kernels: ${kernels}, int8 activations, int8 KV cache`);
  }, 120_000);
});
