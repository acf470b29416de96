/**
 * Stop while a long prompt is read (issue 16, item 2), in real Chromium against the real `edgetier
 * serve`, on the default engine (ORT-web through transformers.js, in the engine worker) with a model
 * large enough that reading 600 words takes seconds: the SmolLM2-135M shape twin (q8), in a folder
 * of its own so that the other app tests keep their one-model menu. The prompt is read in chunks
 * through the cache, so Esc ends the turn between two chunks: no token, the model still loaded, and
 * the next message answered.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe } from './app-fixture.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

beforeAll(async () => {
  const app = await buildApp();
  modelsDir = mkdtempSync(join(tmpdir(), 'edgetier-prefill-stop-'));
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'bin/edgetier.mjs'),
      'synth',
      'smollm2-135m',
      '--out',
      join(modelsDir, 'smollm2-135m-twin'),
      '--dtype',
      'q8',
    ],
    { stdio: 'pipe' },
  );
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet']);
  browser = await launchChromium();
  page = browser.page;
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ reducedMotion: 'reduce' });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

const menu = () => page.getByRole('combobox', { name: 'Model', exact: true });
const message = () => page.getByRole('textbox', { name: 'Message', exact: true });
const send = () => page.getByRole('button', { name: 'Send', exact: true });
const assistantMessages = () =>
  page.locator('et-chat-message').filter({ has: page.locator('article.assistant') });

function status(): Promise<string> {
  return page.locator('et-app').evaluate((el) => {
    const { state } = (el as unknown as { app: { state: { status: string } } }).app;
    return state.status;
  });
}

/** 600 words of plain prose, different on every line. */
const words600 = Array.from(
  { length: 50 },
  (_, i) => `Line ${i + 1}: the keeper climbed the stairs and lit the lamp again.`,
).join(' ');

describe('Stop while the prompt is read', () => {
  it('Esc at 1 s into a 600-word prompt ends the turn within 2 s, with no token; the model stays loaded and answers next', async () => {
    expect(words600.split(/\s+/).length).toBe(600);
    await page.goto(serve.url);
    await menu().selectOption('local:smollm2-135m-twin');
    await expect.poll(status, { timeout: 240_000 }).toBe('ready');
    await page.getByRole('link', { name: 'Chat', exact: true }).click();

    await message().fill(words600);
    const sentAt = Date.now();
    await message().press('Enter');
    await page.getByText(/Reading the prompt \(\d+ tokens\)…/).waitFor({ timeout: 30_000 });
    const wait = sentAt + 1000 - Date.now();
    if (wait > 0) await page.waitForTimeout(wait);
    // Still reading: no token has come (so the Stop below lands in the prefill, not in the answer).
    expect(await page.getByText(/Reading the prompt \(\d+ tokens\)…/).isVisible()).toBe(true);
    const stopAt = Date.now();
    await page.keyboard.press('Escape');
    await send().waitFor({ timeout: 30_000 });
    const tookMs = Date.now() - stopAt;
    expect(tookMs).toBeLessThan(2000);

    // Stopped, not failed: the "stopped" badge, no error, no text, and the model still loaded.
    const stopped = assistantMessages().last();
    // The turn is saved and re-rendered after the button comes back: poll, and show any error.
    await expect
      .poll(async () =>
        (await stopped.locator('.error').count()) > 0
          ? await stopped.locator('.error').textContent()
          : await stopped.getByText('stopped', { exact: true }).isVisible(),
      )
      .toBe(true);
    expect((await stopped.locator('article.assistant .content').textContent())?.trim() ?? '').toBe('');
    expect(await status()).toBe('ready');
    // The time went on reading the prompt: the panel's prefill/decode split shows no decode time.
    const split = page.locator('et-metrics-panel .stat', { hasText: 'Prefill / decode' }).locator('.value');
    await expect
      .poll(async () => (await split.textContent())?.trim())
      .toMatch(/^[1-9]\d* ms \/ 0 ms$|^\d+\.\d s \/ 0 ms$/);

    // The next message (in a new conversation: a short prompt) is answered by the same worker,
    // without a reload.
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await message().fill('Short question');
    await message().press('Enter');
    const answer = assistantMessages().last();
    await answer.getByTestId('message-metrics').waitFor({ timeout: 120_000 });
    const summary = (await answer.getByTestId('message-metrics').textContent()) ?? '';
    expect(Number(/(\d+) tokens/.exec(summary)?.[1])).toBeGreaterThan(0);
    expect(await answer.locator('.error').count()).toBe(0);
    expect(await status()).toBe('ready');
  });
});
