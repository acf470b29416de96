/**
 * The static build (`edgetier build`) on real web servers that are not edgetier, in real Chromium:
 * - Python's http.server (no COOP/COEP): the service worker reloads the page once and makes it
 *   cross-origin isolated; chat works with tok/s; with the network cut off the page reopens and
 *   chats with the cached model; a second build deployed over the first is what the visitor gets
 *   on the next load; no request ever leaves the page's origin.
 * - Debian's nginx with the isolation headers: isolated with no reload, chat works.
 * The model is the `tiny` synthetic twin (0.4 MB).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX, type StaticServer, startNginx, startPythonServer } from '../helpers/static-servers.ts';
import { launchChromium, synthTinyModels } from './app-fixture.ts';

const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;
let work: string;
let modelsDir: string;
let site: string;
/** edgetier.config.json as the build wrote it, before the test edits it. */
let writtenConfig: { version: number; offerFirst: string[]; defaultModel: string | null; tiers: unknown[] };

function edgetierBuild(args: string[]): string {
  return execFileSync(process.execPath, [bin, 'build', ...args], { encoding: 'utf8' });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'edgetier-site-'));
  modelsDir = synthTinyModels();
  site = join(work, 'site');
  edgetierBuild(['--out', site, '--models', modelsDir]);
  // A presenter's edit after the build: a tier behind this host's /v1 (nothing answers there).
  const configFile = join(site, 'edgetier.config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  writtenConfig = structuredClone(config);
  config.tiers = [{ name: 'Proxy tier', baseUrl: '/v1', model: 'big' }];
  writeFileSync(configFile, JSON.stringify(config));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

/** Every request the page and its workers (engine, service worker) make. */
function recordRequests(context: Awaited<ReturnType<typeof launchChromium>>['context']): string[] {
  const requests: string[] = [];
  context.on('request', (r: Request) => requests.push(r.url()));
  return requests;
}

/** Documents the page loaded (a service-worker reload is a second one; hash changes are none). */
function countNavigations(page: Page): () => number {
  let count = 0;
  page.on('domcontentloaded', () => {
    count++;
  });
  return () => count;
}

const viewLink = (page: Page, name: string) =>
  page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true });

async function setSampling(page: Page, maxNewTokens: number): Promise<void> {
  await viewLink(page, 'Settings').click();
  await page.getByLabel('Temperature (0 = greedy)').fill('0');
  await page.getByLabel('Temperature (0 = greedy)').press('Tab');
  await page.getByLabel('Max new tokens').fill(String(maxNewTokens));
  await page.getByLabel('Max new tokens').press('Tab');
}

/** Loads `tiny` from the Models view and sends one message; resolves with the answer's metrics line. */
async function chatWithTiny(page: Page, text: string): Promise<string> {
  await viewLink(page, 'Models').click();
  await page
    .getByRole('article', { name: 'tiny', exact: true })
    .getByRole('button', { name: 'Use tiny' })
    .click();
  await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
  await viewLink(page, 'Chat').click();
  const box = page.getByRole('textbox', { name: 'Message', exact: true });
  const answers = page.locator('et-chat-message').filter({ has: page.locator('article.assistant') });
  const before = await answers.count();
  await box.fill(text);
  await box.press('Enter');
  // A tiny model may finish before a Stop button could be seen: wait for the answer's figures.
  await expect.poll(() => answers.count(), { timeout: 60_000 }).toBe(before + 1);
  const metrics = answers.last().getByTestId('message-metrics');
  await expect
    .poll(async () => ((await metrics.count()) > 0 ? metrics.textContent() : ''), { timeout: 60_000 })
    .toMatch(/^\d+(\.\d)? tok\/s · TTFT \d+ ms · \d+ tokens · \d+ ms$/);
  await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 60_000 });
  await expect(page.getByTestId('tok-s').textContent()).resolves.toMatch(/^\d+(\.\d)? tok\/s$/);
  return (await metrics.textContent()) ?? '';
}

/** Threads of the loaded model's WASM runtime, and what the plan gives an isolated page here. */
const loadedThreads = (page: Page) =>
  page.evaluate(`document.querySelector('et-app').app.state.loadInfo.threads`) as Promise<number>;
const isolatedThreads = (page: Page) =>
  page.evaluate('Math.max(1, Math.min(4, navigator.hardwareConcurrency))') as Promise<number>;

const isolated = (page: Page) => page.evaluate('crossOriginIsolated') as Promise<boolean>;
const siteCaches = (page: Page) =>
  page.evaluate(`caches.keys().then((k) => k.filter((n) => n.startsWith('edgetier-site-')))`) as Promise<
    string[]
  >;
const buildIdOf = (dir: string) =>
  /edgetier build ([0-9a-f]{16})/.exec(readFileSync(join(dir, 'sw.js'), 'utf8'))![1]!;

describe('edgetier build', () => {
  it('writes the site: app, ORT files, the model with its twin label, config, worker, manifest', () => {
    for (const file of [
      'index.html',
      'sw.js',
      '_headers',
      'manifest.webmanifest',
      'icon-192.png',
      'icon-512.png',
    ])
      expect(existsSync(join(site, file)), file).toBe(true);
    expect(existsSync(join(site, 'engine.html'))).toBe(false);
    const index = JSON.parse(readFileSync(join(site, 'models/index.json'), 'utf8'));
    expect(
      index.models.map((m: { name: string; url: string; synthetic: boolean }) => [
        m.name,
        m.url,
        m.synthetic,
      ]),
    ).toEqual([['tiny', 'models/tiny/', true]]);
    expect(existsSync(join(site, 'models/tiny/onnx/model.onnx'))).toBe(true);
    const config = writtenConfig;
    expect([config.version, config.offerFirst, config.defaultModel, config.tiers]).toEqual([
      1,
      ['tiny'],
      'tiny',
      [],
    ]);
    const manifest = JSON.parse(readFileSync(join(site, 'manifest.webmanifest'), 'utf8'));
    expect(manifest.icons.map((i: { src: string }) => i.src)).toEqual([
      'icon-192.png',
      'icon-512.png',
      'favicon.svg',
    ]);
    // No CDN anywhere in what the page loads.
    const sw = readFileSync(join(site, 'sw.js'), 'utf8');
    expect(sw).toMatch(/"lazy":\["assets\/ort-wasm-simd-threaded[^"]*\.wasm"/);
  });
});

describe('served by python3 -m http.server (no COOP/COEP)', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let requests: string[];
  let navigations: () => number;

  beforeAll(async () => {
    server = await startPythonServer(site);
    browser = await launchChromium();
    requests = recordRequests(browser.context);
    navigations = countNavigations(browser.page);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('isolates itself through its service worker (one reload), chats and shows tok/s', async () => {
    const page = browser.page;
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
    await expect.poll(() => isolated(page)).toBe(true);
    expect(navigations()).toBe(2);
    await expect(page.getByTestId('site-notice').count()).resolves.toBe(0);
    // edgetier.config.json: its default model is preselected; its tier replaces the server's own.
    const picker = page.getByLabel('Model', { exact: true });
    // The app picks it once its start-up (device budget, model index, cache) is done: poll for it.
    await expect.poll(() => picker.inputValue(), { timeout: 30_000 }).toBe('local:tiny');
    const options = await picker
      .locator('option')
      .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(options.filter((v) => v.startsWith('remote:'))).toEqual(['remote:site-proxy-tier']);
    expect(options.slice(0, 2)).toEqual(['', 'local:tiny']);
    await setSampling(page, 12);
    expect(await chatWithTiny(page, 'Hello')).toMatch(/ · 12 tokens · /);
    expect(await loadedThreads(page)).toBe(await isolatedThreads(page));
    expect(await siteCaches(page)).toEqual([`edgetier-site-${buildIdOf(site)} ${server.url}`]);
  });

  it('reopens and chats with the network cut off', async () => {
    const page = browser.page;
    await browser.context.setOffline(true);
    try {
      await page.reload();
      await viewLink(page, 'Chat').waitFor();
      expect(await isolated(page)).toBe(true);
      // Conversations are still listed (they live in this browser).
      await page
        .getByRole('complementary', { name: 'Conversations' })
        .getByRole('button', { name: 'Hello', exact: true })
        .waitFor();
      await viewLink(page, 'Models').click();
      await page
        .getByRole('article', { name: 'tiny', exact: true })
        .locator('span.badge', { hasText: /^Cached$/ })
        .waitFor();
      // The configured tier cannot be reached: it says so, and the page goes on working.
      await page.getByLabel('Model', { exact: true }).selectOption('remote:site-proxy-tier');
      await expect(page.getByRole('alert').first().textContent()).resolves.toMatch(
        /^Could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/models \(Failed to fetch\)\. Check that the server is running/,
      );
      expect(await chatWithTiny(page, 'Offline hello')).toMatch(/ · 12 tokens · /);
    } finally {
      await browser.context.setOffline(false);
    }
  });

  it('gets a new deployment on the next load, whole: one version, its own cache', async () => {
    const page = browser.page;
    const first = buildIdOf(site);
    // A changed app: the first site as the app, with a marker in its page.
    const app = join(work, 'app-v2');
    cpSync(site, app, { recursive: true });
    const html = readFileSync(join(app, 'index.html'), 'utf8');
    writeFileSync(
      join(app, 'index.html'),
      html.replace('<head>', '<head><meta name="edgetier-test" content="v2">'),
    );
    edgetierBuild(['--app', app, '--out', site, '--models', modelsDir]);
    const second = buildIdOf(site);
    expect(second).not.toBe(first);

    const marker = () => page.evaluate(`document.querySelector('meta[name=edgetier-test]')?.content ?? null`);
    await page.reload();
    // The reload finds the new sw.js; it installs the whole new shell, takes over, and the page
    // reloads itself once into the new version (documented in README, Deploy).
    await expect.poll(marker, { timeout: 60_000 }).toBe('v2');
    await viewLink(page, 'Chat').waitFor();
    expect(await siteCaches(page)).toEqual([`edgetier-site-${second} ${server.url}`]);
    expect(await isolated(page)).toBe(true);
    // And the load after that is the new version straight away.
    await page.reload();
    await viewLink(page, 'Chat').waitFor();
    expect(await marker()).toBe('v2');
  });

  it("opens the site's other files as themselves, not as the app", async () => {
    const page = browser.page;
    await page.goto(`${server.url}manifest.webmanifest`);
    expect(JSON.parse((await page.textContent('body')) ?? '').short_name).toBe('edgetier');
    await page.goto(`${server.url}models/index.json`);
    expect(JSON.parse((await page.textContent('body')) ?? '').models[0].name).toBe('tiny');
  });

  it('made no request outside its origin', () => {
    const origin = new URL(server.url).origin;
    expect(requests.length).toBeGreaterThan(10);
    expect(requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
  });
});

describe('served by python3 -m http.server to a browser that allows no service worker', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    server = await startPythonServer(site);
    browser = await launchChromium({ serviceWorkers: 'block' });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('runs on one thread and says so', async () => {
    const page = browser.page;
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
    await expect(page.getByTestId('site-notice').textContent()).resolves.toMatch(
      /^Running on one thread, so more slowly: the service worker (could not start|did not take control)/,
    );
    expect(await isolated(page)).toBe(false);
    await setSampling(page, 4);
    expect(await chatWithTiny(page, 'Hello')).toMatch(/ · 4 tokens · /);
    expect(await loadedThreads(page)).toBe(1);
  });
});

describe.skipIf(!existsSync(NGINX))('served by nginx with COOP/COEP', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let requests: string[];
  let navigations: () => number;

  beforeAll(async () => {
    server = await startNginx(site);
    browser = await launchChromium();
    requests = recordRequests(browser.context);
    navigations = countNavigations(browser.page);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('is isolated with no reload, chats and shows tok/s, all from its own origin', async () => {
    const page = browser.page;
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Private chat, on your device' }).waitFor();
    expect(await isolated(page)).toBe(true);
    await setSampling(page, 12);
    expect(await chatWithTiny(page, 'Hello')).toMatch(/ · 12 tokens · /);
    expect(await loadedThreads(page)).toBe(await isolatedThreads(page));
    expect(navigations()).toBe(1);
    // Installable: Chromium parses the manifest without errors; the service worker is registered.
    const cdp = await browser.context.newCDPSession(page);
    const manifest = (await cdp.send('Page.getAppManifest')) as { errors: unknown[]; url: string };
    expect([manifest.url, manifest.errors]).toEqual([`${server.url}manifest.webmanifest`, []]);
    expect(
      await page.evaluate('navigator.serviceWorker.getRegistration().then((r) => r?.active?.state)'),
    ).toBe('activated');
    const origin = new URL(server.url).origin;
    expect(requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
  });
});

if (!existsSync(NGINX)) {
  console.warn(
    `\n*** static-site.test.ts: SKIPPING the nginx tests: ${NGINX} is missing. Install it with ` +
      '`apt-get install -y nginx-light` (Debian) to run them. ***\n',
  );
}
