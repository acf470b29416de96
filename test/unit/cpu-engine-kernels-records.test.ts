/**
 * The machine-readable records of a run on edgetier's CPU engine in Node say which kernels ran, that
 * a q4 file at accuracy_level 4 ran on int8 activation codes and over an int8 KV cache
 * (LoadInfo.cpuKernels): `edgetier generate --json`'s `cpu_kernels`, and a `--device cpu --engine
 * edgetier` bench row's note, as the browser rows' (hostile reviews' findings).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/run-bench.ts';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { hasRelaxedSimd } from '../../src/cpu-engine/wasm-features.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

const REPO = join(import.meta.dirname, '../..');
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-json-kernels-'));
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

describe('generate --json names the CPU engine kernels', () => {
  it('a q4 file at accuracy_level 4 on --engine edgetier: the JSON says int8 activations ran', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        'bin/edgetier.mjs',
        'generate',
        modelDir,
        '--dtype',
        'q4',
        '--engine',
        'edgetier',
        '--prompt',
        'Once upon a time',
        '--raw',
        '--json',
        '--max-new-tokens',
        '4',
      ],
      { cwd: REPO },
    );
    const out = JSON.parse(stdout);
    expect(out.engine).toBe('edgetier-wasm');
    // The CLI turns relaxed SIMD on in Node 20 (bin/edgetier.mjs), as the unit tests' own flag does
    // here: where this Node computes it right, the relaxed build's int8 GEMM ran.
    const kernels = hasRelaxedSimd() ? 'relaxed SIMD' : 'SIMD128';
    expect(out.cpu_kernels).toBe(`${kernels}, int8 activations, int8 KV cache`);
  });
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
