/**
 * What a live demo still tripped on (issue 16's last items), in real Chromium against the real
 * `edgetier serve` (the app's fresh Vite build, the tiny synthetic folder on this device, the native
 * tier serving the same twin): a first visit's console is clean; the server's tier is named by the
 * model it serves, marked a twin, wherever it is named; the Model menu's Load button says when it
 * downloads and how much; Settings' "Test connection" against a server that never answers can be
 * cancelled (button and Esc) and gives up after 10 s saying what timed out; a local failure in
 * Compare keeps the table, the local column marked failed with its reason.
 */
import { createServer, type Socket } from 'node:net';
import type { ConsoleMessage, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startTinyTierApp, type TinyTierApp } from './app-fixture.ts';

let fixture: TinyTierApp;
let serve: ServeProcess;
let page: Page;
/** The model the native tier serves (its /v1/models id). */
let servedModel: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  fixture = await startTinyTierApp();
  ({ serve, page } = fixture);
  const models = (await (await fetch(`${serve.url}v1/models`)).json()) as { data: { id: string }[] };
  servedModel = models.data[0]!.id;
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e: Error) => consoleErrors.push(`page error: ${e.message}`));
  page.on('response', (r: Response) => {
    if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`);
  });
});

afterAll(async () => {
  await fixture?.close();
});

type AppLike = {
  app: { init(): Promise<void>; state: { status: string; loadedKey: string | null; served: object } };
};
const status = () => page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.state.status);
const viewLink = (name: string) => page.getByRole('link', { name, exact: true });
/** Text of the page's shadow trees, as a person reads it (innerText of every view). */
const viewText = () =>
  page.locator('et-app').evaluate((el) => {
    const texts: string[] = [];
    const walk = (root: { querySelectorAll(s: string): ArrayLike<unknown> }) => {
      for (const node of Array.from(root.querySelectorAll('*')) as {
        shadowRoot: { querySelectorAll(s: string): ArrayLike<unknown>; textContent: string } | null;
      }[]) {
        if (node.shadowRoot) {
          texts.push(node.shadowRoot.textContent ?? '');
          walk(node.shadowRoot);
        }
      }
    };
    walk(el as unknown as { querySelectorAll(s: string): ArrayLike<unknown> });
    return texts.join(' ').replace(/\s+/g, ' ');
  });

describe('a first visit', () => {
  it('leaves the console clean: no error, no failed request (edgetier.config.json included)', async () => {
    await page.goto(serve.url);
    await page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.init());
    await expect.poll(status, { timeout: 120_000 }).toBe('ready');
    // The page asks for edgetier.config.json first thing, before the app starts: answered by now.
    expect(consoleErrors).toEqual([]);
  });
});

describe("the server's tier", () => {
  it('is named by the model it serves and marked a twin in the Model menu, Compare, Models and Settings', async () => {
    const name = `This server: ${servedModel}`;
    // Asked at start-up, whatever the view: what the tier serves names it.
    await expect
      .poll(() =>
        page.locator('et-app').evaluate((el) => Object.keys((el as unknown as AppLike).app.state.served)),
      )
      .toEqual(['remote:server']);
    const menuOption = page
      .getByRole('combobox', { name: 'Model', exact: true })
      .locator('option[value="remote:server"]');
    await expect
      .poll(() => menuOption.textContent())
      .toMatch(new RegExp(`^\\s*${name} · synthetic twin\\s*$`));

    await viewLink('Compare').click();
    const tierOption = page
      .getByRole('combobox', { name: 'Remote tier', exact: true })
      .locator('option[value="remote:server"]');
    await expect(tierOption.textContent()).resolves.toBe(`${name} · synthetic twin (random weights)`);
    expect(await viewText()).not.toMatch(/full-scale/i);

    await viewLink('Models').click();
    const card = page.getByRole('article', { name, exact: true });
    // isVisible() does not wait: the view renders after the click (a loaded machine showed the race).
    await card.getByText('Synthetic twin', { exact: true }).waitFor({ state: 'visible', timeout: 10_000 });
    await expect(card.getByText('Synthetic twin', { exact: true }).isVisible()).resolves.toBe(true);
    expect(await viewText()).not.toMatch(/Full-scale tier/);

    await viewLink('Settings').click();
    const group = page.getByRole('group', { name: `${name} Synthetic twin: random weights`, exact: true });
    await group.waitFor({ state: 'visible', timeout: 10_000 });
    await expect(group.isVisible()).resolves.toBe(true);
    expect(await viewText()).not.toMatch(/Full-scale tier/);
    await viewLink('Chat').click();
  });
});

describe("the Model menu's Load button", () => {
  it('says that a remembered Hub model not in the cache downloads, and how much', async () => {
    await page.evaluate(() =>
      localStorage.setItem('edgetier.modelChoice.v1', 'onnx-community/SmolLM2-135M-Instruct-ONNX'),
    );
    await page.reload();
    const load = page.locator('et-app').getByRole('button', { name: /load SmolLM2 135M Instruct/i });
    await expect
      .poll(() => load.textContent(), { timeout: 60_000 })
      .toMatch(/^\s*Download and load SmolLM2 135M Instruct \((≈ )?\d+ MiB\)\s*$/);
    // Nothing was downloaded: the button only offers it.
    await expect(status()).resolves.toBe('idle');
    // The folder on this server is no download: its Load button says Load.
    const menu = page.getByRole('combobox', { name: 'Model', exact: true });
    await menu.focus();
    await menu.selectOption('local:tiny');
    await page.evaluate(() => localStorage.removeItem('edgetier.modelChoice.v1'));
    await expect.poll(status, { timeout: 120_000 }).toBe('ready');
  });
});

/** A server on 127.0.0.1 that takes every connection and never answers; counts the closed ones. */
async function silentServer(): Promise<{ base: string; closed: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let closed = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {}); // read the request, answer nothing
    socket.on('close', () => {
      sockets.delete(socket);
      closed++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    base: `http://127.0.0.1:${port}/v1`,
    closed: () => closed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('Settings: Test connection against a server that never answers', () => {
  it('Cancel and Esc end it at once, saying "Cancelled."; left alone it gives up after 10 s, naming what timed out', async () => {
    const silent = await silentServer();
    try {
      await viewLink('Settings').click();
      await page.getByRole('button', { name: 'Add fast tier', exact: true }).click();
      const fast = page.getByRole('group', { name: 'Fast tier' });
      await fast.getByLabel('Base URL').fill(silent.base);
      const result = fast.getByTestId('tier-check');
      const test = fast.getByRole('button', { name: 'Test connection', exact: true });

      // Cancel, the button: the request is aborted (the server sees its connection close).
      await test.click();
      await expect.poll(() => result.textContent()).toMatch(/^Testing the connection…/);
      const closedBefore = silent.closed();
      await fast.getByRole('button', { name: 'Cancel', exact: true }).click();
      await expect(result.textContent()).resolves.toBe('Cancelled.');
      await expect.poll(silent.closed, { timeout: 5000 }).toBeGreaterThan(closedBefore);
      // The Cancel button is gone and the focus is back on Test connection.
      await expect(fast.getByRole('button', { name: 'Cancel', exact: true }).count()).resolves.toBe(0);
      await expect(test.evaluate((b) => b.matches(':focus'))).resolves.toBe(true);

      // Esc, from the keyboard.
      await page.keyboard.press('Enter');
      await expect.poll(() => result.textContent()).toMatch(/^Testing the connection…/);
      await page.keyboard.press('Escape');
      await expect(result.textContent()).resolves.toBe('Cancelled.');

      // Left alone: it gives up after 10 s (not 30) and says what timed out.
      await test.click();
      await expect
        .poll(() => result.textContent(), { timeout: 20_000 })
        .toMatch(
          new RegExp(
            `^Timed out: GET ${silent.base.replace(/[.]/g, '\\.')}/models \\(the model list\\) got no answer within 10 s\\.`,
          ),
        );
      await fast.getByRole('button', { name: 'Remove Fast tier', exact: true }).click();
    } finally {
      await silent.close();
    }
  });
});

describe('Compare when the local side fails', () => {
  it('keeps the trade-off table: the tier column with its figures, the local column marked failed with its reason', async () => {
    await page.goto(serve.url);
    await expect.poll(status, { timeout: 120_000 }).toBe('ready');
    await viewLink('Settings').click();
    await page.getByLabel('Max new tokens').fill('8');
    await page.getByLabel('Max new tokens').press('Tab');
    await viewLink('Compare').click();
    // The fault, injected at the engine's boundary: the on-device engine's next generate fails.
    await page.locator('et-app').evaluate((el) => {
      type Engine = { generate: (...args: unknown[]) => Promise<unknown> };
      const { app } = el as unknown as { app: { localEngine(): Engine } };
      const engine = app.localEngine();
      const real = engine.generate;
      engine.generate = () => {
        engine.generate = real;
        return Promise.reject(new Error('The model failed while generating: injected test fault.'));
      };
    });
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    const table = page.getByTestId('tradeoff');
    await table.waitFor({ timeout: 120_000 });
    await page.getByRole('button', { name: 'Compare', exact: true }).waitFor({ timeout: 120_000 });
    const rows = await table
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.children].map((c) => c.textContent?.replace(/\s+/g, ' ').trim() ?? '')),
      );
    const row = (name: string) => rows.find((r) => r[0] === name) ?? [];
    const header = await table
      .locator('thead th')
      .evaluateAll((ths) => ths.map((th) => th.textContent?.replace(/\s+/g, ' ').trim() ?? ''));
    expect(header[1]).toBe('tiny failed');
    expect(header[2]).not.toMatch(/failed/);
    expect(row('Outcome')).toEqual([
      'Outcome',
      'failed: The model failed while generating: injected test fault.',
      'answered',
    ]);
    // The tier's figures stay; the local side has none, and no contest is marked against it.
    expect(row('Tokens generated')[2]).toBe('8');
    expect(row('Time to first token')[2]).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(row('Time to first token')[1]).toBe('—');
    expect(row('Estimated cost')[2]).toMatch(/^\$0\.0*[1-9]\d?$/);
  });
});
