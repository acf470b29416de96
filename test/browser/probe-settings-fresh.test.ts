/**
 * The probe must read the settings file the engine's load then reads, so that its refusal
 * (ModelFacts.cpuEngineRefusal) equals the load's, in two cases a review found apart:
 * - a host with validators and a Cache-Control max-age (as GitHub Pages sends: ETag, Last-Modified,
 *   max-age=600) changed generation_config.json: the load drops its copy and downloads the new one
 *   (cache: 'no-store'), but the probe's network read goes through Chromium's HTTP cache and gets the
 *   copy its own earlier probe put there;
 * - a damaged cached copy (same size, other bytes): the load's cache.match verifies it, drops it and
 *   downloads the host's file; currentCopy hands the probe the damaged bytes unchecked.
 * Real parts: Chromium, the engine worker, a node:http host on 127.0.0.1 with CORS.
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
let origin: string;
/** Per prefix (/pages/, /plain/): what the host serves as generation_config.json now, and its version. */
const generation: Record<string, { text: string; version: number }> = {
  pages: { text: JSON.stringify({ eos_token_id: 0 }), version: 1 },
  plain: { text: JSON.stringify({ num_beams: 1, eos_token_id: 0 }), version: 1 },
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-probe-fresh-probe-'));
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
      'access-control-expose-headers': '*',
      'cross-origin-resource-policy': 'cross-origin',
    };
    if (request.method === 'OPTIONS') {
      response.writeHead(204, headers).end();
      return;
    }
    const match = /^\/(pages|plain)\/tiny\/(.*)$/.exec(
      decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname),
    );
    if (!match) {
      response.writeHead(404, headers).end();
      return;
    }
    const [, prefix, path] = match as unknown as [string, string, string];
    let body: Buffer;
    let version = 1;
    try {
      if (path === 'generation_config.json') {
        body = Buffer.from(generation[prefix]!.text);
        version = generation[prefix]!.version;
      } else body = readFileSync(join(folder, path));
    } catch {
      response.writeHead(404, headers).end();
      return;
    }
    if (prefix === 'pages') {
      // What GitHub Pages sends for every file.
      headers.etag = `"${path}-v${version}"`;
      headers['last-modified'] = new Date(Date.UTC(2026, 0, version)).toUTCString();
      headers['cache-control'] = 'max-age=600';
    }
    headers['content-length'] = String(body.length);
    response.writeHead(200, headers).end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((done) => host.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  engine = await BrowserEngine.start();
}, 180_000);

afterAll(async () => {
  await engine?.unload();
  await new Promise((done) => host?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

type Harness = { edgetier: { plan(s: unknown): Promise<unknown> } };
const PREFIX = "WASM q4 on edgetier's CPU engine skipped: ";

/** The plan's refusal of the CPU engine for `source` (the probe), or null. */
async function probed(source: unknown): Promise<string | null> {
  const plan = (await engine.page.evaluate(
    (s) => (globalThis as unknown as Harness).edgetier.plan(s),
    source,
  )) as { ok: true; value: { skipped: string[] } };
  return plan.value.skipped.find((n) => n.startsWith(PREFIX))?.slice(PREFIX.length) ?? null;
}

/** What the engine does with `source`: its refusal, or null when it runs it. */
async function loaded(source: unknown): Promise<string | null> {
  try {
    await engine.load({
      source: source as { kind: 'url'; url: string },
      device: 'wasm',
      dtype: 'q4',
      runtime: 'edgetier',
      threads: 1,
      warmupBudgetMs: 0,
    });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('the probe reads what the load then reads', () => {
  it('a host with ETag, Last-Modified and max-age (GitHub Pages) changed generation_config.json: the probe refuses as the load does', async () => {
    const source = { kind: 'url', url: `${origin}/pages/tiny/` } as const;
    // First visit as the page does it: plan, then load (the model cache keeps the files).
    expect(await probed(source)).toBeNull();
    expect(await loaded(source)).toBeNull();
    // The host's generation_config.json now asks for beam search, with a new ETag and Last-Modified.
    generation.pages = { text: JSON.stringify({ num_beams: 4, eos_token_id: 0 }), version: 2 };
    const probe = await probed(source);
    const load = await loaded(source);
    expect(load).toMatch(/num_beams/);
    expect({ probe }).toEqual({ probe: load });
  }, 180_000);

  it('a damaged cached generation_config.json (same size, other bytes): the probe refuses as the load does', async () => {
    const source = { kind: 'url', url: `${origin}/plain/tiny/` } as const;
    expect(await loaded(source)).toBeNull();
    // The cached copy's bytes change on the device; its record (size, SHA-256) does not.
    const url = `${origin}/plain/tiny/generation_config.json`;
    const damaged = JSON.stringify({ num_beams: 4, eos_token_id: 0 });
    expect(damaged.length).toBe(generation.plain!.text.length);
    const replaced = await engine.page.evaluate(
      async ({ key, body }) => {
        const { caches } = globalThis as unknown as {
          caches: {
            keys(): Promise<string[]>;
            open(name: string): Promise<{
              match(key: string): Promise<unknown>;
              put(key: string, response: Response): Promise<void>;
            }>;
          };
        };
        for (const name of await caches.keys()) {
          const cache = await caches.open(name);
          if (await cache.match(key)) {
            await cache.put(
              key,
              new Response(body, { headers: { 'content-type': 'application/octet-stream' } }),
            );
            return true;
          }
        }
        return false;
      },
      { key: `${url}?edgetier-part=0`, body: damaged },
    );
    expect(replaced).toBe(true);
    const probe = await probed(source);
    // The load checks the copy, drops it and downloads the host's file (num_beams 1): it runs.
    const load = await loaded(source);
    expect({ probe }).toEqual({ probe: load });
  }, 180_000);
});
