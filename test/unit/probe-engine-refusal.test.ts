/**
 * The engine worker's own plan (probeModel, then planBackends: what WorkerEngine.loadAuto and `edgetier
 * bench`'s default row follow) against a folder edgetier wrote that its CPU engine refuses by its
 * settings: a sliding attention window in config.json, a generation_config.json field it does not
 * implement, a generation_config.json over its size limit. The probe must say so before any weight is
 * read, with the engine's own words, so the plan does not put q4 on the engine (which ONNX Runtime
 * decodes at a few tokens/s, and a refusal would leave to the fallback). Real parts: a converted
 * checkpoint, the real server over 127.0.0.1, the engine's own Node loader.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { planBackends } from '../../src/core/backend-plan.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { GENERATION_CONFIG_MAX_BYTES } from '../../src/core/generation-settings.ts';
import { loadCpuModelSession } from '../../src/cpu-engine/node-session.ts';
import { modelIndex } from '../../src/server/model-index.ts';
import { startServer } from '../../src/server/server.ts';
import { probeModel } from '../../workers/model-probe.ts';
import { TWO_CORE_CAPABILITIES } from '../helpers/bench-fixtures.ts';
import { convertedFolders } from '../helpers/converted-folders.ts';
import { TINY_SPECS } from '../helpers/onnx-fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-probe-refusal-'));
const models = join(root, 'models');
let server: Awaited<ReturnType<typeof startServer>>;
let base: string;

beforeAll(async () => {
  const { config, folder } = await convertedFolders(root, 'q8,q4');
  folder('plain', {});
  folder('beams', { 'generation_config.json': JSON.stringify({ num_beams: 4, eos_token_id: 0 }) });
  folder('huge', {
    'generation_config.json': JSON.stringify({
      eos_token_id: 0,
      pad: ' '.repeat(GENERATION_CONFIG_MAX_BYTES),
    }),
  });
  // A Qwen3 config with a sliding window on every other layer, edgetier's block kept.
  const sliding = specToHfConfig({
    ...TINY_SPECS['qwen3 qk norm, head_dim 24']!,
    numLayers: 2,
    slidingWindow: { size: 128, layers: [false, true] },
  });
  folder('sliding', { 'config.json': JSON.stringify({ ...sliding, edgetier: config.edgetier }) });
  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    appDir: null,
    modelDirs: [models],
    native: null,
    upstream: null,
  });
  base = `http://127.0.0.1:${server.port}`;
}, 180_000);

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The CPU engine's refusal of models/<name> at load, or null where it loads. */
async function engineRefusal(name: string): Promise<string | null> {
  try {
    const session = await loadCpuModelSession({ model: join(models, name), dtype: 'q4' });
    await session.dispose();
    return null;
  } catch (error) {
    if (error instanceof EdgetierError && error.code === 'unsupported_architecture') return error.message;
    throw error;
  }
}

const probe = (name: string) => probeModel({ kind: 'url', url: `${base}/models/${name}/` }, base, base);

describe("the worker's probe knows what the CPU engine refuses, before any weight is read", () => {
  for (const [name, pattern] of [
    ['beams', /num_beams = 4/],
    ['huge', /generation_config\.json is \d+ bytes/],
    ['sliding', /sliding attention window \(128 tokens\)/],
  ] as const) {
    it(`${name}: the probe's refusal is the engine's own, the index says the same, and the plan puts q8 on ONNX Runtime first`, async () => {
      const refusal = await engineRefusal(name);
      expect(refusal).toMatch(pattern);
      const facts = await probe(name);
      expect(facts).toMatchObject({ engineGraph: true, cpuEngineRefusal: refusal });
      const entry = (await modelIndex([models])).models.find((m) => m.name === name);
      expect(entry?.cpuEngineRefusal).toBe(refusal);
      const plan = planBackends(TWO_CORE_CAPABILITIES, facts, undefined, true);
      expect(plan.choices[0]).toMatchObject({ device: 'wasm', dtype: 'q8' });
      expect(plan.choices[0]?.ortDtype).toBeUndefined();
      expect(plan.skipped).toContain(`WASM q4 on edgetier's CPU engine skipped: ${refusal}`);
    }, 60_000);
  }

  it('a folder the engine runs: no refusal, and the plan puts q4 on the engine', async () => {
    expect(await engineRefusal('plain')).toBeNull();
    const facts = await probe('plain');
    expect(facts.engineGraph).toBe(true);
    expect(facts).not.toHaveProperty('cpuEngineRefusal');
    const plan = planBackends(TWO_CORE_CAPABILITIES, facts, undefined, true);
    expect(plan.choices[0]).toMatchObject({ device: 'wasm', dtype: 'q4', ortDtype: 'q8' });
  }, 60_000);

  it('picked files (a folder chosen on disk): the same refusal from its own generation_config.json', async () => {
    const dir = join(models, 'beams');
    const files = ['config.json', 'generation_config.json', 'onnx/model_q4.onnx'].map((path) => ({
      path: `beams/${path}`,
      blob: new Blob([readFileSync(join(dir, path))]),
    }));
    const facts = await probeModel({ kind: 'files', name: 'beams', files }, base, base);
    expect(facts).toMatchObject({ engineGraph: true, cpuEngineRefusal: await engineRefusal('beams') });
  }, 60_000);
});
