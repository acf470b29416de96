/**
 * The Vite dev server (`npm run dev`) serves the whole project root, models/ included. Its model
 * folder middleware answers `/models/...`, but Vite reaches the same files by other spellings
 * (`//models/`, `/%6dodels/`, `/./models/`, `/@fs/<abs>`, `/@id/`); none of them may serve a model
 * folder's page or script on the app's origin. A real dev server on 127.0.0.1, real files.
 */

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const NAME = `hostile-dev-${process.pid}`;
const FOLDER = join(ROOT, 'models', NAME);
const MARKER = 'HOSTILE_DEV_MARKER';

let server: ViteDevServer;
let port: number;
let outside: string;

/** GET with the path sent exactly as written (fetch would fold `/./` and `//` away). */
function get(path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }),
      );
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  mkdirSync(FOLDER, { recursive: true });
  writeFileSync(join(FOLDER, 'config.json'), '{"model_type":"llama"}');
  writeFileSync(join(FOLDER, 'card.html'), `<script type="module" src="x.js"></script>${MARKER}`);
  writeFileSync(join(FOLDER, 'x.js'), `globalThis.${MARKER} = 1;`);
  outside = mkdtempSync(join(tmpdir(), 'edgetier-outside-'));
  writeFileSync(join(outside, 'private'), MARKER);
  symlinkSync(join(outside, 'private'), join(FOLDER, 'vocab.txt'));
  server = await createServer({
    configFile: join(ROOT, 'vite.config.ts'),
    logLevel: 'silent',
    server: { port: 0, host: '127.0.0.1', hmr: false },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === 'string') throw new Error('the dev server has no TCP address');
  port = (address as AddressInfo).port;
});

afterAll(async () => {
  await server?.close();
  rmSync(FOLDER, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('the dev server and a model folder', () => {
  it('serves the model files under /models/ inert', async () => {
    const config = await get(`/models/${NAME}/config.json`);
    expect(config.status).toBe(200);
    expect(config.type).toBe('application/json; charset=utf-8');
    expect((await get(`/models/${NAME}/card.html`)).status).toBe(404);
    expect((await get(`/models/${NAME}/x.js`)).status).toBe(404);
  });

  it('does not follow a link out of the model folder', async () => {
    const answer = await get(`/models/${NAME}/vocab.txt`);
    expect(answer.status).toBe(404);
    expect(answer.body).not.toContain(MARKER);
  });

  it.each([
    `//models/${NAME}/card.html`,
    `/%6dodels/${NAME}/card.html`,
    `/./models/${NAME}/card.html`,
    `/%6dodels/${NAME}/card.html?raw`,
    `//models/${NAME}/x.js`,
    `/%6dodels/${NAME}/x.js?import`,
    `/@fs${FOLDER}/card.html`,
    `/@fs${FOLDER}/x.js`,
    `/@id/models/${NAME}/x.js`,
    `/@id/${FOLDER}/x.js`,
  ])('never serves a model folder file as %s', async (path) => {
    const answer = await get(path);
    expect(answer.body).not.toContain(MARKER);
    expect([403, 404].includes(answer.status) || answer.body.includes('<title>edgetier')).toBe(true);
  });
});
