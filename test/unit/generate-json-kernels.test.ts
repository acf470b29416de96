/**
 * `edgetier generate --json` on edgetier's CPU engine with a q4 file at accuracy_level 4 says which
 * kernels ran and that the 4-bit layers ran on int8 activation codes (LoadInfo.cpuKernels as
 * `cpu_kernels`): the one machine-readable record a script keeps of a run (a hostile review's finding).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
