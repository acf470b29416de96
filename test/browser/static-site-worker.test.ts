/**
 * The static site's service worker (src/site/service-worker.js) where one origin holds more than one
 * thing, or the first visit needs no reload, in real Chromium on real servers:
 * - two sites under sub-paths of one origin (GitHub Pages project sites: user.github.io/a/, /b/):
 *   each keeps its own offline cache when the other one installs;
 * - nginx with COOP/COEP (no isolation reload): after one visit, edgetier.config.json is there
 *   offline too, so the page still knows it is a static site.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX, type StaticServer, startNginx, startPythonServer } from '../helpers/static-servers.ts';
import { launchChromium } from './app-fixture.ts';

const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;
let work: string;
/** Served as the web root: a/ and b/ are two different builds. */
let root: string;

const edgetierBuild = (args: string[]) =>
  execFileSync(process.execPath, [bin, 'build', ...args], { encoding: 'utf8' });
const buildIdOf = (dir: string) =>
  /edgetier build ([0-9a-f]{16})/.exec(readFileSync(join(dir, 'sw.js'), 'utf8'))![1]!;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'edgetier-site-worker-'));
  root = join(work, 'root');
  mkdirSync(root);
  edgetierBuild(['--out', join(root, 'a')]);
  // A second, different build from the first one's files (no second Vite run).
  const app = join(work, 'app-b');
  cpSync(join(root, 'a'), app, { recursive: true });
  writeFileSync(join(app, 'b.txt'), 'the other site');
  edgetierBuild(['--app', app, '--out', join(root, 'b')]);
  // The presenter's edit, so the config is not the default one.
  const config = join(root, 'a', 'edgetier.config.json');
  const edited = JSON.parse(readFileSync(config, 'utf8'));
  edited.tiers = [{ name: 'Proxy tier', baseUrl: '/v1', model: 'big' }];
  writeFileSync(config, JSON.stringify(edited));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const siteCaches = (page: Page) =>
  page.evaluate(
    `caches.keys().then((k) => k.filter((n) => n.startsWith('edgetier-site-')).sort())`,
  ) as Promise<string[]>;

/** Opens a site and waits until its service worker controls it and it is isolated. */
async function openSite(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await expect
    .poll(() => page.evaluate('crossOriginIsolated && navigator.serviceWorker.controller !== null'), {
      timeout: 60_000,
    })
    .toBe(true);
  await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
}

describe('two sites under sub-paths of one origin', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    server = await startPythonServer(root);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('keep their own offline caches: installing one does not delete the other', async () => {
    const page = browser.page;
    expect(buildIdOf(join(root, 'a'))).not.toBe(buildIdOf(join(root, 'b')));
    await openSite(page, `${server.url}a/`);
    await openSite(page, `${server.url}b/`);
    expect(await siteCaches(page)).toEqual(
      [
        `edgetier-site-${buildIdOf(join(root, 'a'))} ${server.url}a/`,
        `edgetier-site-${buildIdOf(join(root, 'b'))} ${server.url}b/`,
      ].sort(),
    );
    // So the first one still reopens offline.
    await browser.context.setOffline(true);
    try {
      await page.goto(`${server.url}a/`);
      await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
    } finally {
      await browser.context.setOffline(false);
    }
  });
});

describe("edgetier's CPU engine's kernels on a static site", () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    server = await startPythonServer(root);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('are in the build and reach the page offline after one visit that never used them', async () => {
    const kernels = readdirSync(join(root, 'a', 'assets')).filter((f) => /^kernels-.*\.wasm$/.test(f));
    // The plain build (one thread) and the threaded one (the engine's thread pool), each with SIMD128
    // alone and with relaxed SIMD (the worker fetches the relaxed ones where the browser computes it).
    expect(kernels).toHaveLength(4);
    expect(kernels.filter((f) => f.startsWith('kernels-relaxed-'))).toHaveLength(2);
    const page = browser.page;
    await openSite(page, `${server.url}a/`);
    await browser.context.setOffline(true);
    try {
      // Offline, the engine worker fetches them from the site's cache (ORT's large .wasm files are
      // cached when first used; these few KB are the app's own and must not need a network).
      for (const file of kernels) {
        const fetched = await page.evaluate(
          (url) =>
            fetch(url).then(
              async (r) => ({ ok: r.ok, bytes: (await r.arrayBuffer()).byteLength }),
              (e: Error) => ({ ok: false, bytes: 0, error: e.message }),
            ),
          `${server.url}a/assets/${file}`,
        );
        expect(fetched, file).toMatchObject({ ok: true });
        expect(fetched.bytes).toBeGreaterThan(0);
      }
    } finally {
      await browser.context.setOffline(false);
    }
  });
});

describe('a config edited after the build', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    const site = join(root, 'typo');
    cpSync(join(root, 'b'), site, { recursive: true });
    const file = join(site, 'edgetier.config.json');
    const config = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(
      file,
      JSON.stringify({ ...config, offerFirst: ['onnx-community/Qwen3-0.6B-ONNX', 'tiyn'] }),
    );
    server = await startPythonServer(root);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('names a model the site does not offer, rather than leaving it out in silence', async () => {
    const page = browser.page;
    await openSite(page, `${server.url}typo/`);
    await expect(page.getByTestId('site-notice').textContent()).resolves.toBe(
      'edgetier.config.json: offerFirst names "tiyn", which this site does not offer; the page leaves it out.',
    );
  });
});

describe('a site taken off its host', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    cpSync(join(root, 'b'), join(root, 'gone'), { recursive: true });
    server = await startPythonServer(root);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is not served from the cache forever: its worker leaves once the host answers 404', async () => {
    const page = browser.page;
    await openSite(page, `${server.url}gone/`);
    rmSync(join(root, 'gone'), { recursive: true });
    // The load after the removal may still come from the cache; the next one is the host's 404.
    await page.reload();
    await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
    await expect.poll(async () => (await page.reload())?.status(), { timeout: 30_000 }).toBe(404);
    expect(await siteCaches(page)).not.toContainEqual(expect.stringMatching(/ http:.*\/gone\/$/));
  });
});

describe.skipIf(!existsSync(NGINX))('served by nginx with COOP/COEP, then offline', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    server = await startNginx(join(root, 'a'));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('still has its edgetier.config.json after a first visit that needed no reload', async () => {
    const page = browser.page;
    await openSite(page, server.url);
    await browser.context.setOffline(true);
    try {
      await page.reload();
      await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
      const config = await page.evaluate(`fetch('edgetier.config.json').then((r) => r.json())`);
      expect(config).toEqual(JSON.parse(readFileSync(join(root, 'a', 'edgetier.config.json'), 'utf8')));
    } finally {
      await browser.context.setOffline(false);
    }
  });
});
