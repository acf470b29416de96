/**
 * The engine worker's probe reads a folder's settings as its CPU engine's load will: the model
 * cache's copy first where the load keeps it (workers/cpu-model.ts readFile: cache.match, then fetch),
 * else the network (a review found the probe on the network alone). A folder cached from a host that
 * sends no ETag or Last-Modified (no index.json either) keeps its cached copy unchecked, so once
 * generation_config.json changes on the host the probe must read what the engine reads, or it
 * refuses a folder the engine then runs. Real parts: Chromium, the engine worker, a node:http host on
 * 127.0.0.1 (CORS, no validators).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;
let folder: string;
let engine: BrowserEngine;
let host: Server;
let base: string;
/** What the host serves as generation_config.json now. */
let generation = JSON.stringify({ eos_token_id: 0 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-probe-cached-'));
  folder = join(dir, 'tiny');
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', folder, '--dtype', 'q8,q4'],
    { stdio: 'ignore' },
  );
  host = createServer((request, response) => {
    const headers: Record<string, string> = {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': '*',
      'cross-origin-resource-policy': 'cross-origin',
    };
    if (request.method === 'OPTIONS') {
      response.writeHead(204, headers).end();
      return;
    }
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).replace(
      /^\/tiny\//,
      '',
    );
    let body: Buffer;
    try {
      body = path === 'generation_config.json' ? Buffer.from(generation) : readFileSync(join(folder, path));
    } catch {
      response.writeHead(404, headers).end();
      return;
    }
    headers['content-length'] = String(body.length);
    response.writeHead(200, headers).end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((done) => host.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(host.address() as AddressInfo).port}/tiny/`;
  engine = await BrowserEngine.start();
}, 180_000);

afterAll(async () => {
  await engine?.unload();
  await new Promise((done) => host?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

describe('the probe against a cached folder the host has changed', () => {
  it("generation_config.json changed on a host without validators: the probe's refusal is what the engine load then does", async () => {
    const source = { kind: 'url', url: base } as const;
    const load = () =>
      engine.load({
        source,
        device: 'wasm',
        dtype: 'q4',
        runtime: 'edgetier',
        threads: 1,
        warmupBudgetMs: 0,
      });
    // First visit: the engine runs the folder, and the model cache keeps its files.
    await load();
    // The host's generation_config.json now asks for beam search (the engine refuses that).
    generation = JSON.stringify({ num_beams: 4, eos_token_id: 0 });
    type Harness = { edgetier: { plan(s: unknown): Promise<unknown> } };
    const plan = (await engine.page.evaluate(
      (s) => (globalThis as unknown as Harness).edgetier.plan(s),
      source,
    )) as { ok: true; value: { skipped: string[] } };
    const prefix = "WASM q4 on edgetier's CPU engine skipped: ";
    const probed = plan.value.skipped.find((n) => n.startsWith(prefix))?.slice(prefix.length) ?? null;
    // The worker's engine, on the engine by name: what it does with the same folder now.
    let refused: string | null = null;
    try {
      await load();
    } catch (error) {
      refused = (error as Error).message;
    }
    expect({ probe: probed }).toEqual({ probe: refused });
  }, 180_000);
});
