/**
 * The engine test page's server (`edgetier generate --device wasm`, `bench`, the browser tests): a
 * request it cannot decode is a 404, never the end of the process, and a model folder's link to a
 * file outside the folder is not followed. A real server on 127.0.0.1, real files and links.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EnginePageServer, serveEnginePage } from '../../src/cli/engine-page.ts';

let root: string;
let server: EnginePageServer;

/** GET with the path sent as written (fetch would re-encode it). */
function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(`${server.origin}${path}`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'edgetier-engine-page-'));
  const dist = join(root, 'dist');
  const model = join(root, 'model');
  mkdirSync(dist);
  mkdirSync(model);
  writeFileSync(join(dist, 'engine.html'), '<!doctype html><title>engine</title>');
  writeFileSync(join(model, 'config.json'), '{"model_type":"llama"}');
  writeFileSync(join(root, 'private'), 'PRIVATE-OUTSIDE');
  symlinkSync(join(root, 'private'), join(model, 'vocab.txt'));
  server = await serveEnginePage(dist, { models: { m: model } });
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('the engine page server', () => {
  it('answers undecodable paths with 404 and keeps serving', async () => {
    expect((await get('/%E0%A4%A')).status).toBe(404);
    expect((await get('/models/%E0%A4%A/config.json')).status).toBe(404);
    expect((await get('/models/m/%E0%A4%A.json')).status).toBe(404);
    const config = await get('/models/m/config.json');
    expect(config.status).toBe(200);
    expect(JSON.parse(config.body)).toEqual({ model_type: 'llama' });
  });

  it('does not follow a link out of a model folder', async () => {
    const answer = await get('/models/m/vocab.txt');
    expect(answer.status).toBe(404);
    expect(answer.body).not.toContain('PRIVATE');
  });
});
