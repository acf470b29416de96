/**
 * The engine worker's own probe (probeModel, through the harness's
 * plan) against the same worker's CPU engine load (workers/cpu-model.ts), in Chromium, for a folder
 * edgetier wrote that the engine refuses twice over (a sliding window in config.json and num_beams
 * in generation_config.json). The promise: the probe's refusal is the engine's own, word for word.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { loadCpuModelSession } from '../../src/cpu-engine/node-session.ts';
import { TINY_SPECS } from '../helpers/onnx-fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;
let folder: string;
let engine: BrowserEngine;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-probe-order-'));
  folder = join(dir, 'twice');
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', folder, '--dtype', 'q8,q4'],
    { stdio: 'ignore' },
  );
  const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
  const sliding = specToHfConfig({
    ...TINY_SPECS['qwen3 qk norm, head_dim 24']!,
    numLayers: 2,
    slidingWindow: { size: 128, layers: [false, true] },
  });
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...sliding, edgetier: config.edgetier }));
  writeFileSync(join(folder, 'generation_config.json'), JSON.stringify({ num_beams: 4, eos_token_id: 0 }));
  engine = await BrowserEngine.start();
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

describe("the worker's probe and the worker's engine load name the same refusal", () => {
  it('a folder refused by config.json and by generation_config.json: the probe names what the engine load names', async () => {
    type Harness = { edgetier: { plan(s: unknown): Promise<unknown> } };
    const source = { kind: 'url', url: engine.serveModel(folder) };
    const plan = (await engine.page.evaluate(
      (s) => (globalThis as unknown as Harness).edgetier.plan(s),
      source,
    )) as { ok: true; value: { skipped: string[] } };
    const prefix = "WASM q4 on edgetier's CPU engine skipped: ";
    const probed = plan.value.skipped.find((n) => n.startsWith(prefix))?.slice(prefix.length);
    // The engine worker's own load of the planned file, on the engine by name (no fallback).
    let refused: string | null = null;
    try {
      await engine.load({
        source: { kind: 'path', path: folder },
        device: 'wasm',
        dtype: 'q4',
        runtime: 'edgetier',
        threads: 1,
        warmupBudgetMs: 0,
      });
    } catch (error) {
      expect(error).toMatchObject({ code: 'unsupported_architecture' });
      refused = (error as Error).message;
    }
    // Node's loader (node-session.ts) on the same folder, for the record.
    let node: string | null = null;
    try {
      await (await loadCpuModelSession({ model: folder, dtype: 'q4' })).dispose();
    } catch (error) {
      node = error instanceof EdgetierError ? error.message : String(error);
    }
    expect({ probe: probed, workerEngine: refused, nodeEngine: node }).toEqual({
      probe: refused,
      workerEngine: refused,
      nodeEngine: refused,
    });
  });
});
