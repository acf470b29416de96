/**
 * Settings' "Test connection" from the keyboard, in real Chromium against the real `edgetier serve`:
 * a visitor who tabbed to Cancel keeps a place on the page when the answer comes and the Cancel
 * button goes away (the focus goes back to Test connection, not to the top of the document).
 */
import { createServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe } from './app-fixture.ts';

let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let slow: Server;
let slowBase: string;
/** Answers to GET /v1/models held until the test releases them. */
const held: (() => void)[] = [];

beforeAll(async () => {
  const app = await buildApp();
  serve = await startServe(['--app', app, '--quiet']);
  // An OpenAI-compatible model list that answers only when told to (CORS open, as providers are).
  slow = createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    held.push(() => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'slow-model', object: 'model' }] }));
    });
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowBase = `http://127.0.0.1:${(slow.address() as { port: number }).port}/v1`;
  browser = await launchChromium();
  page = browser.page;
  await page.setViewportSize({ width: 360, height: 740 });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  slow?.closeAllConnections();
  await new Promise<void>((resolve) => (slow ? slow.close(() => resolve()) : resolve()));
});

/** The focused element inside the Settings view, as "tag#id" ("none" when the focus left it). */
const focused = () =>
  page.locator('et-settings-view').evaluate((el) => {
    const active = el.shadowRoot?.activeElement;
    return active ? `${active.tagName.toLowerCase()}#${active.id}` : 'none';
  });

describe('Test connection from the keyboard at 360 px', () => {
  it('keeps the focus in the form when the answer removes the Cancel button it was on', async () => {
    await page.goto(`${serve.url}#settings`);
    await page.getByRole('button', { name: 'Add fast tier', exact: true }).click();
    const fast = page.getByRole('group', { name: 'Fast tier' });
    await fast.getByLabel('Base URL').fill(slowBase);
    const result = fast.getByTestId('tier-check');
    const test = fast.getByRole('button', { name: 'Test connection', exact: true });
    await test.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => result.textContent()).toMatch(/^Testing the connection…/);
    await expect.poll(() => held.length).toBe(1);
    // Tab to Cancel, then the server answers before the visitor presses it.
    await page.keyboard.press('Tab');
    await expect(
      fast.getByRole('button', { name: 'Cancel', exact: true }).evaluate((b) => b.matches(':focus')),
    ).resolves.toBe(true);
    held.shift()!();
    await expect.poll(() => result.textContent()).toMatch(/^Connected: .* serves slow-model\./);
    await expect(fast.getByRole('button', { name: 'Cancel', exact: true }).count()).resolves.toBe(0);
    await expect.poll(focused).toMatch(/^button#test-/);
    await expect(test.evaluate((b) => b.matches(':focus'))).resolves.toBe(true);
  });

  it('stops at Esc pressed anywhere in Settings, as its status line says, not only inside its form', async () => {
    const fast = page.getByRole('group', { name: 'Fast tier' });
    const result = fast.getByTestId('tier-check');
    await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
    await expect.poll(() => result.textContent()).toBe('Testing the connection… (Esc or Cancel to stop)');
    // The visitor clicks on the page's heading (the focus leaves the form), then presses Esc.
    await page.getByRole('heading', { name: 'Settings', exact: true }).click();
    await expect.poll(focused).toBe('none');
    await page.keyboard.press('Escape');
    await expect.poll(() => result.textContent()).toBe('Cancelled.');
    await expect(fast.getByRole('button', { name: 'Cancel', exact: true }).count()).resolves.toBe(0);
    // Esc pressed in another field (Max new tokens) stops it too, and leaves the focus in that field.
    await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
    await expect.poll(() => result.textContent()).toMatch(/^Testing the connection…/);
    await page.getByLabel('Max new tokens').focus();
    await page.keyboard.press('Escape');
    await expect.poll(() => result.textContent()).toBe('Cancelled.');
    await expect(page.getByLabel('Max new tokens').evaluate((i) => i.matches(':focus'))).resolves.toBe(true);
  });
});
