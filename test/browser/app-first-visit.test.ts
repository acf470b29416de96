/**
 * A newcomer's first visit, in real Chromium against the real `edgetier serve` holding one local
 * model (the tiny twin): before any interaction the Model menu already holds that model and the app
 * loads it; the visitor types, presses Send, and gets the answer. The answer's text is checked
 * against the same model run natively by the server's tier (onnxruntime-node, greedy, same
 * messages), and no request leaves the server's origin: nothing is fetched from the Hub.
 */
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/app/state/settings-store.ts';
import { type launchChromium, type ServeProcess, startTinyTierApp, type TinyTierApp } from './app-fixture.ts';

/** The app's default sampling but greedy: the answer is compared exactly with the server's. */
const sampling = { ...DEFAULT_SETTINGS.sampling, temperature: 0 };

let fixture: TinyTierApp;
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const requests: string[] = [];

beforeAll(async () => {
  fixture = await startTinyTierApp({ viewport: null });
  ({ serve, browser, page } = fixture);
  browser.context.on('request', (r: Request) => requests.push(r.url()));
});

afterAll(async () => {
  await fixture?.close();
});

/** The server's native answer to the same conversation, greedy like the app after the test sets 0. */
async function nativeAnswer(content: string): Promise<string> {
  const models = (await (await fetch(`${serve.url}v1/models`)).json()) as { data: { id: string }[] };
  const response = await fetch(`${serve.url}v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: models.data[0]!.id,
      messages: [{ role: 'user', content }],
      temperature: sampling.temperature,
      top_p: sampling.topP,
      max_tokens: sampling.maxNewTokens,
    }),
  });
  const body = (await response.json()) as { choices: { message: { content: string } }[] };
  return body.choices[0]!.message.content;
}

/** Waits for the app's start-up (server list, cache list, the first-visit choice) and reads its choice. */
async function afterStart(): Promise<{ selectedKey: string | null; status: string }> {
  return page.locator('et-app').evaluate(async (el) => {
    type App = { init(): Promise<void>; state: { selectedKey: string | null; status: string } };
    const { app } = el as unknown as { app: App };
    await app.init();
    return { selectedKey: app.state.selectedKey, status: app.state.status };
  });
}

describe('first visit', () => {
  it("opens with the server's model chosen and loading; typing and pressing Send answers", async () => {
    await page.goto(serve.url);
    const menu = page.getByRole('combobox', { name: 'Model', exact: true });
    // No click, no key: the app chooses the local folder by itself once it has read the server's list.
    await expect.poll(() => menu.inputValue(), { timeout: 60_000 }).toBe('local:tiny');
    await expect(menu.locator('option:checked').textContent()).resolves.toMatch(/^\s*tiny\b/);

    // Chat samples by default (temperature 0.7); greedy makes the answer comparable exactly.
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Temperature (0 = greedy)').fill('0');
    await page.getByLabel('Temperature (0 = greedy)').press('Tab');
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    const message = page.getByRole('textbox', { name: 'Message', exact: true });
    await message.fill('Hello');
    // Send is enabled as soon as the model is ready; the click waits for that.
    await page.getByRole('button', { name: 'Send', exact: true }).click({ timeout: 120_000 });
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 120_000 });
    const answer = page.locator('et-chat-message').filter({ has: page.locator('article.assistant') });
    await answer.getByTestId('message-metrics').waitFor({ timeout: 120_000 });
    const text = await answer.evaluate(
      (el) => (el as unknown as { message: { content: string } }).message.content,
    );
    expect(text.length).toBeGreaterThan(0);
    expect(text).toBe(await nativeAnswer('Hello'));

    expect(requests.filter((url) => !url.startsWith(serve.url) && !url.startsWith('blob:'))).toEqual([]);
  });

  // Only the first visit chooses for the visitor: their own choice on an earlier visit, a remote tier
  // or "none" (they deleted the model from the cache), is not replaced by the server's folder.
  it('a later visit offers back the remote tier the visitor chose, without calling it or loading the folder', async () => {
    const menu = page.getByRole('combobox', { name: 'Model', exact: true });
    await menu.selectOption('remote:server');
    await page.reload();
    expect(await afterStart()).toEqual({ selectedKey: null, status: 'idle' });
    // Remembered: the menu shows it with a Load button, and it loads only when confirmed.
    await expect(menu.inputValue()).resolves.toBe('remote:server');
    const load = page.getByRole('button', { name: /^Load This server(: \S+)?$/ });
    await load.click();
    await expect
      .poll(afterStart, { timeout: 60_000 })
      .toEqual({ selectedKey: 'remote:server', status: 'ready' });
    await load.waitFor({ state: 'detached' });
  });

  it('a later visit restores the folder the visitor chose, and keeps "none" once they deleted it', async () => {
    const menu = page.getByRole('combobox', { name: 'Model', exact: true });
    await menu.selectOption('local:tiny');
    await expect.poll(async () => (await afterStart()).status, { timeout: 120_000 }).toBe('ready');
    await page.reload();
    expect(await afterStart()).toMatchObject({ selectedKey: 'local:tiny' });

    await page.getByRole('link', { name: 'Models', exact: true }).click();
    await page
      .getByRole('button', { name: 'Delete from cache: tiny', exact: true })
      .click({ timeout: 120_000 });
    await expect.poll(() => menu.inputValue(), { timeout: 60_000 }).toBe('');
    const before = requests.length;
    await page.reload();
    expect(await afterStart()).toEqual({ selectedKey: null, status: 'idle' });
    expect(requests.slice(before).filter((url) => url.includes('/models/tiny/'))).toEqual([]);
  });
});
