/**
 * A generation_config.json over 1 MiB: the server serves it, the CPU engine refuses it by its size
 * unread, and /models/index.json says the same refusal (a hostile review found the index silent while
 * the engine refused it; failing first on a621401). Real parts: a synthesized folder, the
 * server's real index builder and HTTP server, the CPU engine's own Node loader (which reads the file
 * as the web worker does: bytes through TextDecoder, then JSON.parse).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthPreset } from '../../src/builder/synth.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { loadCpuModelSession } from '../../src/cpu-engine/node-session.ts';
import { startServer } from '../../src/server/server.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-gen-config-size-'));
const models = join(root, 'models');
const dir = join(models, 'bigconfig');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  mkdirSync(models, { recursive: true });
  await synthPreset('tiny', dir, { dtypes: ['q8'], seed: 3 });
  // num_beams set, then a megabyte of indentation (a pretty-printer's, or a long suppress list would do).
  writeFileSync(
    join(dir, 'generation_config.json'),
    `{"num_beams": 4, "eos_token_id": 0${' '.repeat(1 << 20)}}`,
  );
}, 120_000);

describe('a generation_config.json just over 1 MiB that sets num_beams', () => {
  it('the server serves it whole, the engine refuses it by size, and /models/index.json publishes that refusal', async () => {
    let engine: string;
    try {
      await (await loadCpuModelSession({ model: dir, dtype: 'q8' })).dispose();
      engine = 'ran';
    } catch (error) {
      engine = error instanceof EdgetierError ? `${error.code}: ${error.message}` : String(error);
    }
    expect(engine).toBe(
      `unsupported_architecture: generation_config.json is ${(1 << 20) + 35} bytes, over the 1048576 any generation settings need, which edgetier's CPU engine does not read: run this model on onnxruntime.`,
    );
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      appDir: null,
      modelDirs: [models],
      native: null,
      upstream: null,
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const file = await fetch(`${base}/models/bigconfig/generation_config.json`);
      expect(file.status).toBe(200);
      expect((await file.arrayBuffer()).byteLength).toBeGreaterThan(1 << 20);
      const index = (await (await fetch(`${base}/models/index.json`)).json()) as {
        models: { name: string; cpuEngineRefusal?: string }[];
      };
      const entry = index.models.find((m) => m.name === 'bigconfig');
      // The app plans this folder for the engine (q4/q8 under 'auto') unless the index says otherwise.
      expect(entry?.cpuEngineRefusal).toBe(engine.replace(/^unsupported_architecture: /, ''));
    } finally {
      await server.close();
    }
  }, 60_000);
});
