/**
 * probeModel's refusals (the CPU engine's, from a folder's settings) against what the CPU engine
 * really does at load with the same folder, and against the server's model index, where a review
 * found them apart: a large config.json, a generation_config.json that is not JSON, a gzipped one. Real parts: a converted checkpoint, the real `edgetier serve` server and a
 * plain node:http server over 127.0.0.1, the engine's own Node loader, the real index builder.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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

const root = mkdtempSync(join(tmpdir(), 'edgetier-probe-settings-'));
const models = join(root, 'models');
let server: Awaited<ReturnType<typeof startServer>>;
let base: string;
let gzipServer: Server;
let gzipBase: string;

beforeAll(async () => {
  const { config, folder } = await convertedFolders(root, 'q8,q4');
  // A config.json over 1 MiB (a large label map, as classification heads and some quantisation
  // configs carry), otherwise the converter's: the engine runs it.
  const id2label = Object.fromEntries(
    Array.from({ length: 60_000 }, (_, i) => [String(i), `label_${i}_${'x'.repeat(8)}`]),
  );
  folder('bigconfig', { 'config.json': JSON.stringify({ ...config, id2label }) });
  // A sliding-window config.json beside a generation_config.json that is not JSON.
  const sliding = specToHfConfig({
    ...TINY_SPECS['qwen3 qk norm, head_dim 24']!,
    numLayers: 2,
    slidingWindow: { size: 128, layers: [false, true] },
  });
  // A sliding-window config.json in a folder whose q4 file was never downloaded (a refused folder
  // need not be whole): Node's loader must refuse it by its settings, as the web worker's does,
  // before it reads the ONNX file.
  folder('sliding-noweights', { 'config.json': JSON.stringify({ ...sliding, edgetier: config.edgetier }) });
  rmSync(join(models, 'sliding-noweights', 'onnx', 'model_q4.onnx'));
  folder('sliding-badgen', {
    'config.json': JSON.stringify({ ...sliding, edgetier: config.edgetier }),
    'generation_config.json': '{"eos_token_id": 0,',
  });
  // A generation_config.json over the limit, of hex text (compresses to about half).
  let hex = '';
  while (hex.length < 3 * GENERATION_CONFIG_MAX_BYTES) hex += Math.random().toString(16).slice(2);
  folder('huge-hex', { 'generation_config.json': JSON.stringify({ eos_token_id: 0, pad: hex }) });

  server = await startServer({
    host: '127.0.0.1',
    port: 0,
    appDir: null,
    modelDirs: [models],
    native: null,
    upstream: null,
  });
  base = `http://127.0.0.1:${server.port}`;
  // A host that gzips its JSON, as CDNs and the Hub do for a browser (Content-Length: the bytes sent).
  gzipServer = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname.replace(/^\/+/, '');
    let body: Buffer;
    try {
      body = readFileSync(join(models, path));
    } catch {
      response.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = {};
    if (path.endsWith('.json')) {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    response.writeHead(200, headers).end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((done) => gzipServer.listen(0, '127.0.0.1', done));
  gzipBase = `http://127.0.0.1:${(gzipServer.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await server?.close();
  await new Promise((done) => gzipServer?.close(done));
  rmSync(root, { recursive: true, force: true });
});

/** How the CPU engine's load of models/<name> ends: null where it loads. */
async function engineLoad(name: string): Promise<{ code?: string; message: string } | null> {
  try {
    const session = await loadCpuModelSession({ model: join(models, name), dtype: 'q4' });
    await session.dispose();
    return null;
  } catch (error) {
    return error instanceof EdgetierError
      ? { code: error.code, message: error.message }
      : { message: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

describe('the probe against the engine and the index', () => {
  it('a config.json over 1 MiB that the engine runs: the probe still sees the edgetier block and plans q4 on the engine', async () => {
    expect(await engineLoad('bigconfig')).toBeNull();
    const entry = (await modelIndex([models])).models.find((m) => m.name === 'bigconfig');
    expect(entry?.edgetier).toMatchObject({ synthetic: false });
    const facts = await probeModel({ kind: 'url', url: `${base}/models/bigconfig/` }, base, base);
    expect(facts.engineGraph).toBe(true);
    const plan = planBackends(TWO_CORE_CAPABILITIES, facts, undefined, true);
    expect(plan.choices[0]).toMatchObject({ device: 'wasm', dtype: 'q4', ortDtype: 'q8' });
  }, 60_000);

  it("Node's loader refuses a folder by its settings before it reads the ONNX file, as the web worker's does", async () => {
    const engine = await engineLoad('sliding-noweights');
    expect(engine).toEqual({
      code: 'unsupported_architecture',
      message:
        "This model uses a sliding attention window (128 tokens), which edgetier's CPU engine does not implement yet: run it on onnxruntime.",
    });
    const facts = await probeModel({ kind: 'url', url: `${base}/models/sliding-noweights/` }, base, base);
    expect(facts.cpuEngineRefusal).toBe(engine?.message);
  }, 60_000);

  it('a generation_config.json that is not JSON beside a sliding-window config.json: the probe and the index claim no refusal the engine does not make', async () => {
    const engine = await engineLoad('sliding-badgen');
    // The engine stops at generation_config.json's JSON (the load "says why"): no unsupported_architecture.
    expect(engine?.code).not.toBe('unsupported_architecture');
    const facts = await probeModel({ kind: 'url', url: `${base}/models/sliding-badgen/` }, base, base);
    const entry = (await modelIndex([models])).models.find((m) => m.name === 'sliding-badgen');
    // The probe's refusal, the index's and the engine's agree exactly.
    expect({ probe: facts.cpuEngineRefusal ?? null, index: entry?.cpuEngineRefusal ?? null }).toEqual({
      probe: null,
      index: null,
    });
  }, 60_000);

  it('a generation_config.json over the limit from a host that gzips it: the probe names the size the engine names', async () => {
    const engine = await engineLoad('huge-hex');
    expect(engine?.code).toBe('unsupported_architecture');
    expect(engine?.message).toMatch(/generation_config\.json is \d+ bytes/);
    const facts = await probeModel({ kind: 'url', url: `${gzipBase}/huge-hex/` }, gzipBase, gzipBase);
    expect(facts.cpuEngineRefusal).toBe(engine?.message);
  }, 60_000);
});
