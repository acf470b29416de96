/**
 * Compare delivers the trade-off (issue 16, item 9), in real Chromium against the real `edgetier
 * serve` (the app's fresh Vite build, the tiny synthetic model folder on this device, the native tier
 * serving the same twin): the table comes first and fits the first screen at 1280x800, with what each
 * side is (parameters, download, memory, a quality note that says a twin's quality is no measure);
 * the sides run one after the other unless "at once" is ticked, and the table says which ran; equal
 * figures are a tie, not a win; a tier nobody listens at keeps the local figures, says why with Retry
 * and a link to Settings; Settings' "Test connection" reports what a tier serves, or why it failed.
 */
import { createServer } from 'node:net';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  axeViolations,
  type ServeProcess,
  serious,
  startTinyTierApp,
  type TinyTierApp,
} from './app-fixture.ts';

let fixture: TinyTierApp;
let serve: ServeProcess;
let page: Page;
/** The model the native tier serves (its /v1/models id). */
let servedModel: string;

beforeAll(async () => {
  fixture = await startTinyTierApp({ reducedMotion: true });
  ({ serve, page } = fixture);
  const models = (await (await fetch(`${serve.url}v1/models`)).json()) as { data: { id: string }[] };
  servedModel = models.data[0]!.id;
});

afterAll(async () => {
  await fixture?.close();
});

/** A loopback port nothing listens on: one the OS just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type AppLike = { app: { state: { status: string; loadedKey: string | null } } };
const status = () => page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.state.status);
const loaded = () => page.locator('et-app').evaluate((el) => (el as unknown as AppLike).app.state.loadedKey);

/** The tiny folder loaded on this device, greedy sampling, `maxNewTokens` per answer, on Compare. */
async function ready(maxNewTokens: number): Promise<void> {
  if (!page.url().startsWith(serve.url)) await page.goto(serve.url);
  if ((await loaded()) !== 'local:tiny') {
    await page.getByRole('combobox', { name: 'Model', exact: true }).selectOption('local:tiny');
  }
  await expect.poll(status, { timeout: 120_000 }).toBe('ready');
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByLabel('Temperature', { exact: false }).fill('0');
  await page.getByLabel('Temperature', { exact: false }).press('Tab');
  await page.getByLabel('Max new tokens').fill(String(maxNewTokens));
  await page.getByLabel('Max new tokens').press('Tab');
  await page.getByRole('link', { name: 'Compare', exact: true }).click();
}

const table = () => page.getByTestId('tradeoff');
const compare = () => page.getByRole('button', { name: 'Compare', exact: true });
const prompt = () => page.getByRole('textbox', { name: 'Prompt', exact: true });

/** The table's body rows as text: [row header, local cell, tier cell]. */
async function rows(): Promise<(name: string) => string[]> {
  const all = await table()
    .locator('tbody tr')
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.children].map((c) => c.textContent?.replace(/\s+/g, ' ').trim() ?? '')),
    );
  return (name) => all.find((r) => r[0] === name) ?? [];
}

/**
 * From now on, records (in page time) when the local pane stops being busy, and every text the
 * local pane's metrics shows over its figures ("Reading the prompt (N tokens)…").
 */
async function watchRun(localName: string): Promise<void> {
  // A string, evaluated in the page: this file is type-checked in the Node realm (no DOM types).
  await page.evaluate(`(() => {
    const view = document.querySelector('et-app').shadowRoot.querySelector('et-compare-view');
    const w = window;
    w.__localEnd = null;
    w.__phases = [];
    w.__watch?.forEach((o) => o.disconnect());
    w.__watch = [];
    const panels = new WeakSet();
    let sawBusy = false;
    const record = (root) => {
      const text = root.querySelector('[data-testid="phase"]')?.textContent?.trim();
      if (text && w.__phases.at(-1) !== text) w.__phases.push(text);
    };
    const watch = () => {
      const local = view.shadowRoot.querySelector('section[aria-label="${localName}"]');
      const busy = local?.getAttribute('aria-busy');
      if (busy === 'true') sawBusy = true;
      if (busy === 'false' && sawBusy && w.__localEnd === null) w.__localEnd = performance.now();
      const panel = local?.querySelector('et-metrics-panel');
      if (panel?.shadowRoot && !panels.has(panel)) {
        panels.add(panel);
        record(panel.shadowRoot);
        const o = new MutationObserver(() => record(panel.shadowRoot));
        o.observe(panel.shadowRoot, { subtree: true, childList: true, characterData: true });
        w.__watch.push(o);
      }
    };
    // An observer rather than the timeline's buffer, which stops taking entries once full.
    w.__tierStarts = [];
    w.__resources?.disconnect();
    w.__resources = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.name.endsWith('/v1/chat/completions')) w.__tierStarts.push(e.startTime);
    });
    w.__resources.observe({ type: 'resource' });
    const o = new MutationObserver(watch);
    o.observe(view.shadowRoot, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-busy'] });
    w.__watch.push(o);
  })()`);
}

/** When the local answer ended, and when the last request to the tier's chat endpoint started (page time). */
async function timings(): Promise<{ localEnd: number; tierStart: number; phases: string[] }> {
  // The entry is reported once its response has ended: wait for it.
  await expect
    .poll(() => page.evaluate('window.__tierStarts.length'), { timeout: 30_000 })
    .toBeGreaterThan(0);
  return page.evaluate(`(() => ({
    localEnd: window.__localEnd,
    tierStart: window.__tierStarts.at(-1),
    phases: window.__phases,
  }))()`);
}

const LONG_PROMPT =
  `Please summarise this: ${'the quick brown fox jumps over the lazy dog '.repeat(8)}`.trim();

describe('the trade-off table', () => {
  it('comes first and fits the first screen at 1280x800, with what each side is and a quality note for twins; the sides ran one after the other', async () => {
    await ready(48);
    await prompt().fill(LONG_PROMPT);
    await watchRun('tiny');
    await compare().click();
    await table().waitFor({ timeout: 120_000 });

    // In the first screen, whole, without scrolling.
    const box = (await table().boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y + box.height).toBeLessThanOrEqual(800);
    const row = await rows();
    expect(row('Quality')).toEqual([
      'Quality',
      'random weights: quality not comparable',
      'random weights: quality not comparable',
    ]);
    // The tier is this server's twin: its model as the tier names it, labelled a twin, its size.
    expect(row('Model')[1]).toMatch(/^tiny · fp32 on (WASM|WebGPU|CPU) Synthetic twin$/);
    expect(row('Model')[2]).toBe(`${servedModel} Synthetic twin`);
    expect(row('Parameters')[1]).toMatch(/^\d+(\.\d)?[MB]$/);
    expect(row('Parameters')[2]).toBe(row('Parameters')[1]);
    expect(row('Download')[1]).toMatch(/^\d+ (KiB|MiB)$/);
    expect(row('Download')[2]).toBe('none: runs on the server');
    expect(row('Memory')[1]).toMatch(/^about \d+ (KiB|MiB|GiB)$/);
    expect(row('Memory')[2]).toBe('the server’s, none here');
    await expect(page.getByTestId('legend').textContent()).resolves.toMatch(/better.+tie.+not a contest/s);

    // One after the other: the tier's request started once the local answer had ended.
    const t = await timings();
    expect(t.localEnd).not.toBeNull();
    expect(t.tierStart).toBeGreaterThanOrEqual(t.localEnd);
    await expect(page.getByTestId('run-mode').textContent()).resolves.toMatch(
      /^Ran one after the other: tiny first, then This server: \S+/,
    );
    // While the local side read the prompt, its pane said so (the count is the engine's).
    expect(t.phases.some((p) => /^Reading the prompt \(\d+ tokens\)…$/.test(p))).toBe(true);
    expect(serious(await axeViolations(page))).toEqual([]);
  });

  it('runs both at once when asked, says that they share this computer, and labels the run so', async () => {
    await ready(96);
    const atOnce = page.getByRole('checkbox', { name: 'Run both at once', exact: true });
    await expect(
      atOnce.evaluate((input) => {
        const root = input.getRootNode() as unknown as {
          getElementById(id: string): { textContent: string };
        };
        return root.getElementById(input.getAttribute('aria-describedby')!).textContent;
      }),
    ).resolves.toMatch(/At once, both share this computer/);
    await atOnce.check();
    try {
      await watchRun('tiny');
      await compare().click();
      await table().waitFor({ timeout: 120_000 });
      const t = await timings();
      expect(t.tierStart).toBeGreaterThan(0);
      expect(t.tierStart).toBeLessThan(t.localEnd);
      await expect(page.getByTestId('run-mode').textContent()).resolves.toMatch(
        /^Ran at once: the tier runs on this computer too, so both shared its processor/,
      );
    } finally {
      await atOnce.uncheck();
    }
  });

  it('shows equal figures as a tie, not as a win', async () => {
    // Both free: the tier's prices set to 0.
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const tier = page.getByRole('group', { name: /^This server/ });
    await tier.getByLabel('$ per M input tokens').fill('0');
    await tier.getByLabel('$ per M output tokens').fill('0');
    await tier.getByRole('button', { name: 'Save tier', exact: true }).click();
    await ready(8);
    await compare().click();
    await table().waitFor({ timeout: 120_000 });
    const row = await rows();
    expect(row('Estimated cost')).toEqual(['Estimated cost', 'free tie', 'free tie']);
    const cost = table()
      .locator('tbody tr')
      .filter({ has: page.getByRole('rowheader', { name: 'Estimated cost' }) });
    await expect(cost.locator('td.better').count()).resolves.toBe(0);
    await expect(cost.locator('.mark.tie').count()).resolves.toBe(2);
    // A contest with a winner is marked on the winner alone.
    expect(row('Bytes that left the device')[1]).toBe('0 better');
    expect(row('Bytes that left the device')[2]).toMatch(/^[\d,]+$/);
  });
});

describe('a tier that cannot be reached', () => {
  it('fails Test connection with the causes, and in Compare keeps the local figures, explains, retries and links to Settings', async () => {
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}/v1`;
    await ready(8);
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByRole('button', { name: 'Add fast tier', exact: true }).click();
    const fast = page.getByRole('group', { name: 'Fast tier' });
    await fast.getByLabel('Base URL').fill(base);
    // Test connection reads the form as it is, before it is saved.
    await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
    const check = fast.getByTestId('tier-check');
    await expect
      .poll(() => check.textContent(), { timeout: 60_000 })
      .toMatch(
        new RegExp(
          `^Could not reach Fast tier at ${base.replace(/[.]/g, '\\.')}\\. Likely causes: no server is running`,
        ),
      );
    const explained = (await check.textContent())!;
    expect(explained).toContain('CORS: it must allow the origin');
    expect(explained).toContain('Correct the fields above, then Test connection again.');
    expect(explained).toMatch(/\(The browser said: Failed to fetch\.\)$/);
    await fast.getByRole('button', { name: 'Save tier', exact: true }).click();

    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await page
      .getByRole('combobox', { name: 'Remote tier', exact: true })
      .selectOption({ label: 'Fast tier' });
    let attempts = 0;
    page.on('requestfailed', (request) => {
      if (request.url().startsWith(`http://127.0.0.1:${port}/`)) attempts++;
    });
    await compare().click();
    await table().waitFor({ timeout: 120_000 });
    const alert = page.getByTestId('tier-error');
    await expect(alert.getAttribute('role')).resolves.toBe('alert');
    const message = (await alert.locator('p').textContent())!;
    expect(message).toMatch(
      new RegExp(`^Could not reach Fast tier at ${base.replace(/[.]/g, '\\.')}\\. Likely causes:`),
    );
    for (const cause of [
      'no server is running',
      'a firewall or proxy blocks port',
      'CORS',
      'the base URL is wrong',
    ]) {
      expect(message).toContain(cause);
    }
    expect(message).toContain("Check the tier's address in Settings, then Retry.");
    // The local side's figures stay; the tier's are blank.
    const row = await rows();
    expect(row('Time to first token')[1]).toMatch(/^\d+ ms$/);
    expect(row('Time to first token')[2]).toBe('—');
    expect(row('Where the data went')[2]).toBe(`127.0.0.1:${port} (no answer)`);
    expect(serious(await axeViolations(page))).toEqual([]);

    // Retry asks the tier again, and says the same when it still cannot.
    const before = attempts;
    await alert.getByRole('button', { name: 'Retry', exact: true }).click();
    await expect.poll(() => attempts, { timeout: 30_000 }).toBeGreaterThan(before);
    await alert.waitFor({ timeout: 30_000 });
    await expect(table().count()).resolves.toBe(1);

    await alert.getByRole('link', { name: 'Check the tier in Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Settings', exact: true }).waitFor();
    expect(new URL(page.url()).hash).toBe('#settings');
  });
});

describe('Test connection', () => {
  it("reports the model this server's tier serves, with its twin label and size", async () => {
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const tier = page.getByRole('group', { name: /^This server/ });
    await tier.getByRole('button', { name: 'Test connection', exact: true }).click();
    const check = tier.getByTestId('tier-check');
    await expect
      .poll(() => check.textContent(), { timeout: 60_000 })
      .toMatch(
        new RegExp(
          `^Connected: ${new URL(serve.url).origin.replace(/[.]/g, '\\.')}/v1 serves ${servedModel} \\(\\d+(\\.\\d)?M parameters\\)\\. It is a synthetic twin: random weights, so its answers are noise\\.$`,
        ),
      );
  });
});

describe('at 360 px', () => {
  it('lays out a run with an unreachable tier without sideways scrolling', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      await page.getByRole('link', { name: 'Compare', exact: true }).click();
      // The tier chosen in Compare is remembered (Settings' compareTierId).
      await expect(
        page.getByRole('combobox', { name: 'Remote tier', exact: true }).evaluate((s) => {
          const select = s as unknown as { selectedOptions: { textContent: string }[] };
          return select.selectedOptions[0]?.textContent;
        }),
      ).resolves.toBe('Fast tier');
      await compare().click();
      await page.getByTestId('tier-error').waitFor({ timeout: 120_000 });
      const widths = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
      )) as { scroll: number; viewport: number };
      expect(widths.scroll).toBeLessThanOrEqual(widths.viewport);
      const alert = (await page.getByTestId('tier-error').boundingBox())!;
      expect(alert.x + alert.width).toBeLessThanOrEqual(360);
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });
});

/**
 * A tier on 127.0.0.1 that answers as a hosted provider does (CORS for any origin), slowly or
 * failing on request, and records what reached it: paths, and the Authorization headers.
 */
interface TestTier {
  base: string;
  seen: string[];
  authorizations: string[];
  /** How long GET /v1/models waits before it answers. */
  modelsDelayMs: number;
  /** How many of the next GET /v1/models answer 500. */
  modelsFailures: number;
  /** The model it lists and answers as. */
  modelId: string;
  /** How many words its answer has, and how long it waits before each. */
  words: number;
  wordDelayMs: number;
  /** The finish_reason its answer ends with. */
  finish: string;
  close(): Promise<void>;
}

async function startTestTier(): Promise<TestTier> {
  const { createServer: createHttpServer } = await import('node:http');
  const tier = {
    base: '',
    seen: [] as string[],
    authorizations: [] as string[],
    modelsDelayMs: 0,
    modelsFailures: 0,
    modelId: 'test-model',
    words: 2,
    wordDelayMs: 0,
    finish: 'stop',
    close: () => Promise.resolve(),
  };
  const server = createHttpServer(async (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'authorization, content-type',
      });
      res.end();
      return;
    }
    tier.seen.push(`${req.method} ${req.url}`);
    tier.authorizations.push(req.headers.authorization ?? '');
    req.resume();
    if (req.method === 'GET' && req.url === '/v1/models') {
      await new Promise((r) => setTimeout(r, tier.modelsDelayMs));
      if (tier.modelsFailures > 0) {
        tier.modelsFailures--;
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'Warming up.', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: [{ id: tier.modelId, object: 'model', created: 1, owned_by: 'test' }],
        }),
      );
      return;
    }
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const frame = (delta: object, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: tier.modelId, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.flushHeaders();
      for (let i = 0; i < tier.words && !res.destroyed; i++) {
        if (tier.wordDelayMs) await new Promise((r) => setTimeout(r, tier.wordDelayMs));
        res.write(frame(i === 0 ? { role: 'assistant', content: 'Hi' } : { content: ' there' }));
      }
      if (!res.destroyed) res.end(`${frame({}, tier.finish)}data: [DONE]\n\n`);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tier.base = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  tier.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return tier;
}

/**
 * Settings' Fast tier group, added when missing. Counted only once the view has rendered (its Add
 * buttons are there): counted before, a tier saved by an earlier test was missed and a second one
 * added. Its name gains ": <served model>" once the tier says what it serves.
 */
async function fastTierGroup(): Promise<Locator> {
  const add = page.getByRole('button', { name: 'Add fast tier', exact: true });
  await add.waitFor({ timeout: 30_000 });
  const groups = page.getByRole('group', { name: /^Fast tier(:|$)/ });
  if ((await groups.count()) === 0) await add.click();
  return groups.first();
}

/** Settings' "Fast tier" (added when missing) set to `base` (and `key`), saved; Compare shows it. */
async function useFastTier(base: string, key = ''): Promise<void> {
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  const fast = await fastTierGroup();
  await fast.getByLabel('Base URL').fill(base);
  await fast.getByLabel('API key (optional)').fill(key);
  await fast.getByRole('button', { name: 'Save tier', exact: true }).click();
  await page.getByRole('link', { name: 'Compare', exact: true }).click();
  await page.getByRole('combobox', { name: 'Remote tier', exact: true }).selectOption({ label: 'Fast tier' });
}

describe('hostile and slow tiers (review)', () => {
  it("Stop while the tier's model list is on its way ends the run there: no chat request follows", async () => {
    const tier = await startTestTier();
    try {
      await ready(8);
      await useFastTier(tier.base);
      tier.modelsDelayMs = 4000;
      await compare().click();
      await expect.poll(() => tier.seen.includes('GET /v1/models'), { timeout: 120_000 }).toBe(true);
      const stopped = Date.now();
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await compare().waitFor({ timeout: 10_000 });
      expect(Date.now() - stopped).toBeLessThan(2000);
      // Past the list's delay: still no prompt sent to the tier.
      await new Promise((r) => setTimeout(r, 5000));
      expect(tier.seen).not.toContain('POST /v1/chat/completions');
      await expect(page.getByTestId('tier-error').count()).resolves.toBe(0);
    } finally {
      tier.modelsDelayMs = 0;
      await tier.close();
    }
  });

  it('moves the focus to Stop while Retry runs, and to the table when it succeeds', async () => {
    const tier = await startTestTier();
    try {
      await ready(8);
      tier.modelsFailures = 1;
      await useFastTier(tier.base);
      await compare().click();
      const retry = page.getByTestId('tier-error').getByRole('button', { name: 'Retry', exact: true });
      await retry.waitFor({ timeout: 120_000 });
      await retry.focus();
      tier.modelsDelayMs = 1500;
      await page.keyboard.press('Enter');
      const focused = () =>
        page.evaluate(`(() => {
          let el = document.activeElement;
          while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
          return el ? el.tagName + '|' + (el.textContent ?? '').trim().slice(0, 20) + '|' + (el.getAttribute('data-testid') ?? '') : 'none';
        })()`);
      await expect.poll(focused, { timeout: 1000 }).toBe('BUTTON|Stop|');
      await expect.poll(async () => (await rows())('Model')[2], { timeout: 30_000 }).toBe('test-model');
      await expect.poll(focused, { timeout: 5000 }).toMatch(/^DIV\|.*\|tradeoff-wrap$/s);
    } finally {
      tier.modelsDelayMs = 0;
      await tier.close();
    }
  });

  it('never shows a user name or password written into the base URL, and says such a URL is refused', async () => {
    const tier = await startTestTier();
    try {
      const withCredentials = tier.base.replace('http://', 'http://someone:s3cret-pass@');
      await page.getByRole('link', { name: 'Settings', exact: true }).click();
      const fast = await fastTierGroup();
      await fast.getByLabel('Base URL').fill(withCredentials);
      await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
      const check = fast.getByTestId('tier-check');
      await expect.poll(() => check.textContent(), { timeout: 30_000 }).toMatch(/user name or password/);
      expect(await check.textContent()).not.toContain('s3cret-pass');

      // Saving it is refused by name: the password is not stored.
      await fast.getByRole('button', { name: 'Save tier', exact: true }).click();
      await expect
        .poll(
          () =>
            page.evaluate(
              'document.querySelector("et-app").shadowRoot.querySelector("et-settings-view").shadowRoot.textContent',
            ),
          { timeout: 5000 },
        )
        .toMatch(/Not saved\. The base URL of Fast tier holds a user name or password/);
      const stored = (await page.evaluate(
        'JSON.stringify(Object.assign({}, localStorage, sessionStorage))',
      )) as string;
      expect(stored).not.toContain('s3cret-pass');
      // An address that is no URL, or another scheme, is refused by name too (not "Testing…" forever).
      for (const [bad, said] of [
        ['http://', /is not a full web address/],
        ['api.example.com/v1', /is not a full web address/],
        ['ftp://127.0.0.1/v1', /starts with "ftp:"/],
      ] as const) {
        await fast.getByLabel('Base URL').fill(bad);
        await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
        await expect.poll(() => check.textContent(), { timeout: 10_000 }).toMatch(said);
      }
    } finally {
      await tier.close();
    }
  });

  it("Test connection against an unsaved address of another origin does not send the tier's saved key there", async () => {
    const saved = await startTestTier();
    const other = await startTestTier();
    try {
      await ready(8);
      await useFastTier(saved.base, 'sk-saved-secret-123');
      await page.getByRole('link', { name: 'Settings', exact: true }).click();
      const fast = page.getByRole('group', { name: 'Fast tier' });
      // The key field still holds the saved key (masked); only the address is changed, not saved.
      await fast.getByLabel('Base URL').fill(other.base);
      await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
      const check = fast.getByTestId('tier-check');
      await expect.poll(() => check.textContent(), { timeout: 30_000 }).toMatch(/^Connected/);
      expect(other.authorizations.join(' ')).not.toContain('sk-saved-secret-123');
      expect(await check.textContent()).toMatch(/saved key was not sent/);
      // Typed again for this address, it is sent.
      await fast.getByLabel('API key (optional)').fill('sk-typed-for-other');
      await fast.getByRole('button', { name: 'Test connection', exact: true }).click();
      await expect
        .poll(() => other.authorizations.at(-1), { timeout: 30_000 })
        .toBe('Bearer sk-typed-for-other');
      // Put the saved form back as it was.
      await useFastTier(saved.base, '');
    } finally {
      await saved.close();
      await other.close();
    }
  });

  it('Save with only the address moved to another origin drops the saved key: Compare sends it nowhere new', async () => {
    const saved = await startTestTier();
    const other = await startTestTier();
    try {
      await ready(8);
      await useFastTier(saved.base, 'sk-saved-secret-456');
      await page.getByRole('link', { name: 'Settings', exact: true }).click();
      const fast = page.getByRole('group', { name: 'Fast tier' });
      const settingsText = () =>
        page.evaluate(
          'document.querySelector("et-app").shadowRoot.querySelector("et-settings-view").shadowRoot.textContent',
        ) as Promise<string>;
      // A path on the same origin keeps the key.
      await fast.getByLabel('Base URL').fill(`${saved.base}/../v1`);
      await fast.getByRole('button', { name: 'Save tier', exact: true }).click();
      await expect.poll(settingsText, { timeout: 5000 }).toMatch(/Saved Fast tier\./);
      expect(await fast.getByLabel('API key (optional)').inputValue()).toBe('sk-saved-secret-456');
      // Only the address changed, to another origin; the key field still holds the saved key.
      await fast.getByLabel('Base URL').fill(other.base);
      await fast.getByRole('button', { name: 'Save tier', exact: true }).click();
      await expect
        .poll(settingsText, { timeout: 5000 })
        .toContain('The saved key was not kept for the new address; type it again to use it there.');
      expect(await fast.getByLabel('API key (optional)').inputValue()).toBe('');
      await page.getByRole('link', { name: 'Compare', exact: true }).click();
      await page
        .getByRole('combobox', { name: 'Remote tier', exact: true })
        .selectOption({ label: 'Fast tier' });
      await compare().click();
      await table().waitFor({ timeout: 120_000 });
      expect(other.seen).toContain('POST /v1/chat/completions');
      expect(other.authorizations.join(' ')).not.toContain('sk-saved-secret-456');
      // A key typed anew for the new address is saved and sent there.
      await useFastTier(other.base, 'sk-typed-for-other-2');
      await compare().click();
      await table().waitFor({ timeout: 120_000 });
      expect(other.authorizations.at(-1)).toBe('Bearer sk-typed-for-other-2');
      // Put the saved form back as it was.
      await useFastTier(saved.base, '');
    } finally {
      await saved.close();
      await other.close();
    }
  });

  it('keeps a 256-character model name and bidi controls from the tier inside a 360 px screen, isolated', async () => {
    const tier = await startTestTier();
    tier.modelId = `\u202E${'m'.repeat(255)}`;
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      await ready(8);
      await useFastTier(tier.base);
      await compare().click();
      await table().waitFor({ timeout: 120_000 });
      await expect.poll(async () => (await rows())('Model')[2], { timeout: 30_000 }).toContain('mmmm');
      const widths = (await page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })',
      )) as { scroll: number; viewport: number };
      expect(widths.scroll).toBeLessThanOrEqual(widths.viewport);
      // Every element of the view ends inside the screen (a pane's header included).
      const overflowing = await page.evaluate(`(() => {
        const view = document.querySelector('et-app').shadowRoot.querySelector('et-compare-view');
        return [...view.shadowRoot.querySelectorAll('*')]
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
          .filter((el) => !el.closest('.table-wrap'))
          .map((el) => el.tagName + '.' + el.className);
      })()`);
      expect(overflowing).toEqual([]);
      // Shown inside <bdi>, so its override does not reach the text around it.
      const isolated = await page.evaluate(`(() => {
        const view = document.querySelector('et-app').shadowRoot.querySelector('et-compare-view');
        return [...view.shadowRoot.querySelectorAll('bdi')].filter((b) => b.textContent.includes('mmmm')).length;
      })()`);
      expect(isolated).toBeGreaterThanOrEqual(2);
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
      await tier.close();
    }
  });

  it("Stop during the tier's answer: its total time and cost are marked stopped and win no contest", async () => {
    const tier = await startTestTier();
    tier.words = 200;
    tier.wordDelayMs = 100;
    try {
      await ready(8);
      await useFastTier(tier.base);
      await compare().click();
      await expect
        .poll(() => page.locator('section[aria-label="Fast tier"] .answer').textContent(), {
          timeout: 120_000,
        })
        .toContain('there');
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await table().waitFor({ timeout: 10_000 });
      const row = await rows();
      expect(row('Tokens generated')[2]).toMatch(/^\d+ \(stopped\)$/);
      expect(row('Total time')[2]).toMatch(/\(stopped\)$/);
      expect(row('Total time')[1]).not.toMatch(/better|tie/);
      expect(row('Total time')[2]).not.toMatch(/better|tie/);
      expect(row('Estimated cost')[1]).not.toMatch(/better|tie/);
    } finally {
      await tier.close();
    }
  });

  it("a tier answer cut by the provider's filter says so, and its total time and cost win no contest", async () => {
    const tier = await startTestTier();
    tier.finish = 'content_filter';
    try {
      await ready(8);
      await useFastTier(tier.base);
      await compare().click();
      await table().waitFor({ timeout: 120_000 });
      const pane = page.locator('section[aria-label="Fast tier"]');
      await expect.poll(() => pane.locator('.answer').textContent()).toContain('Hi there');
      expect(await pane.textContent()).toContain("Cut by the provider's filter");
      const row = await rows();
      expect(row('Tokens generated')[2]).toMatch(/^\d+ \(filtered\)$/);
      expect(row('Total time')[2]).toMatch(/\(filtered\)$/);
      expect(row('Total time')[1]).not.toMatch(/better|tie/);
      expect(row('Total time')[2]).not.toMatch(/better|tie/);
      expect(row('Estimated cost')[1]).not.toMatch(/better|tie/);
    } finally {
      await tier.close();
    }
  });

  it('a stored tier address that does not parse is refused by name in Compare, and the view keeps working', async () => {
    await ready(8);
    await useFastTier('http://127.0.0.1:9/v1');
    await page.evaluate(`(() => {
      const s = JSON.parse(localStorage.getItem('edgetier.settings.v1'));
      for (const t of s.tiers) if (t.name === 'Fast tier') t.baseUrl = 'https://[bad';
      localStorage.setItem('edgetier.settings.v1', JSON.stringify(s));
    })()`);
    await page.reload();
    await ready(8);
    await page
      .getByRole('combobox', { name: 'Remote tier', exact: true })
      .selectOption({ label: 'Fast tier' });
    await compare().click();
    const alert = page.getByTestId('tier-error');
    await alert.waitFor({ timeout: 120_000 });
    await expect(alert.textContent()).resolves.toMatch(/is not a full web address/);
    const row = await rows();
    expect(row('Where the data went')[2]).toBe('Nowhere: the address was refused');
    expect(row('Time to first token')[1]).toMatch(/\d/);
    // Settings shows it and a fix saves.
    await useFastTier('http://127.0.0.1:9/v1');
  });
});
