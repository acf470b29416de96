/**
 * The relaxed-SIMD kernels are an optimisation (the SIMD128 builds give the same logits bit for bit):
 * where a server does not answer for them (a deployment or a cache that has only the SIMD128 kernels,
 * a proxy's 404), the engine worker runs the SIMD128 build the page also carries instead of failing
 * the load (a hostile review's finding).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;
let model: string;
let engine: BrowserEngine;
const refused: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-relaxed-asset-'));
  const checkpoint = join(dir, 'checkpoint');
  model = join(dir, 'model');
  await makeCheckpoint(checkpoint, { family: 'llama', tied: false, seed: 13, linearScale: 3 });
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'convert', checkpoint, '--out', model, '--dtype', 'q4'],
    {
      stdio: 'ignore',
    },
  );
  engine = await BrowserEngine.start({
    intercept: (request, response) => {
      if (!request.url?.includes('kernels-relaxed-')) return false;
      refused.push(request.url);
      response.writeHead(404).end();
      return true;
    },
  });
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

describe('the relaxed-SIMD kernels asset unavailable', () => {
  it('a q4 load on the CPU engine runs the SIMD128 build (the same logits) instead of failing', async () => {
    const load = engine.load({
      source: { kind: 'path', path: model },
      device: 'wasm',
      dtype: 'q4',
      runtime: 'edgetier',
      threads: 1,
      warmupBudgetMs: 0,
    });
    const info = await load.catch((error: Error) => ({
      failed: `${(error as { code?: string }).code}: ${error.message}`,
    }));
    // The page did ask for the relaxed build (Chromium computes relaxed SIMD right).
    expect(refused.length).toBeGreaterThan(0);
    expect(info).not.toHaveProperty('failed');
    expect(info).toMatchObject({
      engine: 'edgetier-wasm',
      cpuKernels: 'SIMD128, int8 activations, int8 KV cache',
    });
  });
});
