/**
 * The whole newcomer flow in real Chromium against the real `edgetier serve` (the app's fresh Vite
 * build, a tiny synthetic model folder, the native tier on that same model): open and watch the
 * server's model download with no click, set sampling, chat, stop mid-answer with Esc, compare
 * with the server's tier, delete the model from the cache. Along the way: no request at all leaves
 * the page during a local conversation once the model is loaded (a request listener that also sees
 * the engine worker), and axe-core on the views with content in them.
 *
 * EDGETIER_SCREENSHOTS=1 also writes docs/screenshots/<view>-{desktop,360}.png.
 */
import { join } from 'node:path';
import type { Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  type launchChromium,
  type ServeProcess,
  serious,
  startTinyTierApp,
  type TinyTierApp,
} from './app-fixture.ts';

const SCREENSHOTS = process.env.EDGETIER_SCREENSHOTS === '1';
const SHOT_DIR = join(import.meta.dirname, '../../docs/screenshots');

let fixture: TinyTierApp;
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const requests: string[] = [];

beforeAll(async () => {
  fixture = await startTinyTierApp({ reducedMotion: true });
  ({ serve, browser, page } = fixture);
  // Every request of the page and of its workers (the engine's downloads included).
  browser.context.on('request', (r: Request) => requests.push(`${r.method()} ${r.url()}`));
});

afterAll(async () => {
  await fixture?.close();
});

const message = () => page.getByRole('textbox', { name: 'Message', exact: true });
const assistantMessages = () =>
  page.locator('et-chat-message').filter({ has: page.locator('article.assistant') });

async function setSampling(temperature: number, maxNewTokens: number): Promise<void> {
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByLabel('Temperature (0 = greedy)').fill(String(temperature));
  await page.getByLabel('Temperature (0 = greedy)').press('Tab');
  await page.getByLabel('Max new tokens').fill(String(maxNewTokens));
  await page.getByLabel('Max new tokens').press('Tab');
}

async function shoot(name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  await page.screenshot({ path: join(SHOT_DIR, `${name}-desktop.png`) });
  await page.setViewportSize({ width: 360, height: 780 });
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(SHOT_DIR, `${name}-360.png`) });
  await page.setViewportSize({ width: 1280, height: 800 });
  if (name === 'chat' || name === 'compare') {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(SHOT_DIR, `${name}-dark-desktop.png`) });
    await page.emulateMedia({ colorScheme: 'light' });
  }
}

describe('the newcomer flow', () => {
  it("opens with the server's tiny model loading, shows its download, and lists it on the Models view", async () => {
    await page.goto(serve.url);
    // No click: a first visit starts with the server's own model (app-first-visit.test.ts).
    const progress = page.getByRole('progressbar', { name: 'Loading tiny' });
    await progress.waitFor();
    // The strip shows the bytes downloaded out of the total, then stays while the runtime starts.
    await page
      .getByText(
        /^(\d+ KiB of \d+ KiB · \d+ (B|KiB|MiB)\/s · |Setting up the model… \(\d+ KiB downloaded\)$)/,
      )
      .waitFor();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 60_000 });
    await expect(progress.count()).resolves.toBe(0);
    expect(requests.some((r) => r.endsWith('/models/tiny/onnx/model.onnx'))).toBe(true);
    await setSampling(0, 48);
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    const card = page.getByRole('article', { name: 'tiny', exact: true });
    // The card's badges come from probing the model's files: wait for them (waitFor fails if they never show).
    await card.getByText('Synthetic twin', { exact: true }).waitFor();
    await card.getByText('Fits this device', { exact: true }).waitFor();
    await shoot('models');
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
  });

  it('chats on the device with live metrics, no layout shift, and no request at all', async () => {
    requests.length = 0;
    // Layout shifts while the answer streams (input-driven ones excluded, as the metric defines).
    await page.evaluate(`(() => {
      window.__shift = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
      }).observe({ type: 'layout-shift' });
    })()`);
    await message().fill('Hello there');
    await message().press('Enter');
    await page.getByRole('button', { name: 'Stop', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 60_000 });
    const answer = assistantMessages().last();
    await expect(answer.getByTestId('message-metrics').textContent()).resolves.toMatch(
      /^\d+(\.\d)? tok\/s · TTFT \d+ ms · 48 tokens · \d+ ms$/,
    );
    await expect(page.getByTestId('tok-s').textContent()).resolves.toMatch(/^\d+(\.\d)? tok\/s$/);
    // Saved in this browser: it appears in the list once written.
    await page.getByRole('button', { name: 'Hello there', exact: true }).waitFor();
    expect(requests).toEqual([]);
    expect(await page.evaluate('window.__shift')).toBe(0);
    await expect(page.getByTestId('announcer').textContent()).resolves.not.toBe('');

    // Regenerate replaces the answer; edit and resend replaces the question and answers anew.
    const turns = () => page.locator('et-chat-message').count();
    await answer.getByRole('button', { name: 'Regenerate', exact: true }).click();
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 60_000 });
    await expect(turns()).resolves.toBe(2);
    await page.locator('et-chat-message').first().getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByRole('textbox', { name: 'Edit message', exact: true }).fill('Hello again');
    await page.getByRole('button', { name: 'Save and send', exact: true }).click();
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 60_000 });
    await expect(turns()).resolves.toBe(2);
    await expect(page.locator('et-chat-message').first().locator('.content').textContent()).resolves.toBe(
      'Hello again\n',
    );
    expect(requests).toEqual([]);
    await expect(page.getByText('Fully local', { exact: true }).isVisible()).resolves.toBe(true);
    expect(serious(await axeViolations(page))).toEqual([]);
    await shoot('chat');
  });

  it('stops mid-answer with Esc and keeps the partial answer', async () => {
    await setSampling(0, 2000);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await message().fill('Tell me a long story');
    await message().press('Enter');
    await page.waitForFunction(
      (el) => Number(el?.textContent) >= 8,
      await page.getByTestId('tokens').elementHandle(),
    );
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 30_000 });
    const answer = assistantMessages().last();
    await expect(answer.getByText('stopped', { exact: true }).isVisible()).resolves.toBe(true);
    const figures = (await answer.getByTestId('message-metrics').textContent()) ?? '';
    const tokens = Number(/· (\d+) tokens ·/.exec(figures)?.[1]);
    expect(tokens).toBeGreaterThanOrEqual(8);
    expect(tokens).toBeLessThan(2000);
    expect((await answer.locator('.content').textContent())?.length).toBeGreaterThan(0);
    expect(requests).toEqual([]);
  });

  it('compares the device with the tier from edgetier serve, side by side', async () => {
    await setSampling(0, 24);
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    const table = page.getByTestId('tradeoff');
    await table.waitFor({ timeout: 90_000 });
    const rows = await table
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent?.trim() ?? '')));
    const row = (name: string) => rows.find((r) => r[0] === name)!;
    expect(row('Where the data went')).toEqual([
      'Where the data went',
      'Nowhere: stayed in this tab',
      new URL(serve.url).host,
    ]);
    expect(row('Bytes that left the device')[1]).toBe('0 better');
    expect(Number(row('Bytes that left the device')[2]!.replace(/,/g, ''))).toBeGreaterThan(100);
    expect(row('Estimated cost')[1]).toBe('free better');
    // Two significant digits, never a row of zeros (the tier's cost is tiny, not zero).
    expect(row('Estimated cost')[2]).toMatch(/^\$0\.0*[1-9]\d?$/);
    expect(row('Tokens generated').slice(1)).toEqual(['24', '24']);
    expect(requests.some((r) => r === `POST ${serve.url}v1/chat/completions`)).toBe(true);
    await expect(page.getByText(/^\d+ requests? from Compare$/).isVisible()).resolves.toBe(true);
    expect(serious(await axeViolations(page))).toEqual([]);
    await shoot('compare');
  });

  it('deletes the model from the browser cache', async () => {
    await page.getByRole('link', { name: 'Models', exact: true }).click();
    const card = page.getByRole('article', { name: 'tiny', exact: true });
    const cachedBadge = card.locator('span.badge', { hasText: /^Cached$/ });
    await cachedBadge.waitFor();
    await card.getByRole('button', { name: 'Delete from cache: tiny' }).click();
    await page.getByText('Nothing cached yet', { exact: false }).waitFor();
    await expect(cachedBadge.count()).resolves.toBe(0);
    await expect(page.getByText('No model loaded', { exact: true }).isVisible()).resolves.toBe(true);
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await shoot('settings');
    await page.getByRole('link', { name: 'Bench', exact: true }).click();
    await shoot('bench');
  });

  it('keeps conversations in this browser across a reload, and deletes them', async () => {
    await page.goto(`${serve.url}#chat`);
    await page.reload();
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    await saved.getByRole('button', { name: 'Hello again', exact: true }).waitFor();
    await saved.getByRole('button', { name: 'Hello again', exact: true }).click();
    await expect.poll(() => page.locator('et-chat-message').count()).toBe(2);
    await saved.getByRole('button', { name: 'Delete conversation: Hello again', exact: true }).click();
    await saved.getByRole('button', { name: 'Hello again', exact: true }).waitFor({ state: 'detached' });
    await page.reload();
    await saved.getByRole('button', { name: 'Tell me a long story', exact: true }).waitFor();
    await expect(saved.getByRole('button', { name: 'Hello again', exact: true }).count()).resolves.toBe(0);
  });
});
