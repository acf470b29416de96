/**
 * /models/index.json's `cpuEngineRefusal` against what edgetier's CPU engine really does at load
 * with the same folder (a hostile review's findings; each failed first on 299aa2e). Real parts: a converted checkpoint, the
 * server's real index builder and HTTP server, the CPU engine's own Node loader (which reads
 * generation_config.json as the web worker does: bytes through TextDecoder, then JSON.parse) and
 * ONNX Runtime's.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { loadCpuModelSession } from '../../src/cpu-engine/node-session.ts';
import { loadModelSession } from '../../src/runtime/model-session.ts';
import { modelIndex } from '../../src/server/model-index.ts';
import { startServer } from '../../src/server/server.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-gen-config-review-'));
const built = join(root, 'built');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  const checkpoint = join(root, 'checkpoint');
  await makeCheckpoint(checkpoint, { family: 'llama', maxPositionEmbeddings: 512 });
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', built, '--dtype', 'q8']);
  } finally {
    process.stderr.write = write;
  }
}, 120_000);

/** A copy of the converted folder under `models/<name>` with `generation` as generation_config.json's bytes. */
function folderWith(name: string, generation: string | Buffer): { models: string; dir: string } {
  const models = join(root, name, 'models');
  const dir = join(models, name);
  mkdirSync(models, { recursive: true });
  cpSync(built, dir, { recursive: true });
  writeFileSync(join(dir, 'generation_config.json'), generation);
  return { models, dir };
}

/** The CPU engine's load of `dir`: null where it loaded, else how it failed. */
async function engineLoad(
  dir: string,
): Promise<{ edgetier: boolean; code?: string; message: string } | null> {
  try {
    const session = await loadCpuModelSession({ model: dir, dtype: 'q8' });
    await session.dispose();
    return null;
  } catch (error) {
    return error instanceof EdgetierError
      ? { edgetier: true, code: error.code, message: error.message }
      : { edgetier: false, message: (error as Error).message };
  }
}

describe('the index and the CPU engine read generation_config.json alike', () => {
  it('a generation_config.json with a UTF-8 BOM (as Windows editors save it) that sets num_beams: the engine refuses it, the index publishes the same refusal', async () => {
    const bom = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ num_beams: 4, eos_token_id: 0 })),
    ]);
    const { models, dir } = folderWith('bom', bom);
    // The engine (node-session.ts and workers/cpu-model.ts both decode with TextDecoder, which drops the BOM).
    const engine = await engineLoad(dir);
    expect(engine).toMatchObject({ edgetier: true, code: 'unsupported_architecture' });
    expect(engine?.message).toMatch(/num_beams = 4/);
    // The index decodes as the engine does (a BOM dropped), so it knows before any download.
    const entry = (await modelIndex([models])).models.find((m) => m.name === 'bom');
    expect(entry?.cpuEngineRefusal).toBe(engine?.message);
  }, 60_000);

  it('a generation_config.json of `null`: the engine refuses it by name (a refusal ONNX Runtime takes over from), the index says the same, and ORT loads it', async () => {
    const { models, dir } = folderWith('null', 'null');
    const entry = (await modelIndex([models])).models.find((m) => m.name === 'null');
    expect(entry?.cpuEngineRefusal).toBe(
      "generation_config.json holds null, not an object of settings, which edgetier's CPU engine cannot read: run this model on onnxruntime.",
    );
    // ONNX Runtime (what the worker falls back to on a refusal) loads this folder.
    const ort = await loadModelSession({ model: dir, dtype: 'q8', device: 'cpu' });
    await ort.dispose();
    // The engine: a refusal by name (unsupported_architecture, one of CPU_ENGINE_REFUSALS), not a
    // TypeError that WorkerEngine.loadNow would rethrow instead of running the model on ORT.
    expect(await engineLoad(dir)).toEqual({
      edgetier: true,
      code: 'unsupported_architecture',
      message: entry?.cpuEngineRefusal,
    });
  }, 60_000);
});

describe('the index reads generation_config.json through a link the server refuses to serve', () => {
  it('generation_config.json -> a JSON file outside the models dir: the index does not read it, as the server does not serve it (the engine gets a 404 and runs the model)', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'settings.json'), JSON.stringify({ num_beams: 'token-0123456789abcdef' }));
    const models = join(root, 'linked', 'models');
    const dir = join(models, 'linked');
    mkdirSync(models, { recursive: true });
    cpSync(built, dir, { recursive: true });
    rmSync(join(dir, 'generation_config.json'), { force: true });
    symlinkSync(join(outside, 'settings.json'), join(dir, 'generation_config.json'));
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
      // The server does not follow the link out of the folder (realPathInside): the page's engine
      // reads no generation_config.json (an optional file: 404 is "none") and so refuses nothing.
      const file = await fetch(`${base}/models/linked/generation_config.json`);
      await file.body?.cancel();
      expect(file.status).toBe(404);
      const index = (await (await fetch(`${base}/models/index.json`)).json()) as {
        models: { name: string; cpuEngineRefusal?: string }[];
      };
      const entry = index.models.find((m) => m.name === 'linked');
      // Nor does the index read the file outside the models dir: nothing of it is published.
      expect(entry?.cpuEngineRefusal ?? '').not.toContain('token-0123456789abcdef');
      expect(entry?.cpuEngineRefusal).toBeUndefined();
    } finally {
      await server.close();
    }
  }, 60_000);
});
