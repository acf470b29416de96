/**
 * The Models view tells the size story truthfully, and loads say what they are doing (issue 16,
 * items 7, 10 and 11), in real Chromium against the real `edgetier serve` (the app's fresh Vite
 * build, the tiny synthetic folder, the native tier on that same model): the strip labels the set-up
 * after a download and a cached load says "from the browser cache" with no MiB/s; the spectrum's bars
 * are linear in parameter count, the tier is placed by the model it serves (a twin, badged), chip
 * labels are unique, each card gives a speed expectation with its source, and the page scrolls once at
 * 1280 and 360 px; a reopened conversation offers the model that wrote it; one Bench run prints no
 * spread.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wasmSpeed } from '../../src/core/backend-plan.ts';
import { formatTokPerSec, SPEED_REFERENCE_PARAMS } from '../../src/core/catalog.ts';
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

/**
 * Records every text the load strip's figures show (each render, not only each frame), from every
 * load of the page; read with `figures()`. A string: this file is type-checked without DOM types.
 */
const RECORD_FIGURES = `(() => {
  window.__figures = [];
  const seen = new WeakSet();
  const attach = () => {
    const bar = document.querySelector('et-app')?.shadowRoot?.querySelector('et-download-progress');
    const root = bar?.shadowRoot;
    if (root && !seen.has(root)) {
      seen.add(root);
      const read = () => {
        const text = root.querySelector('[data-testid="download-figures"]')?.textContent?.trim();
        if (text && window.__figures.at(-1) !== text) window.__figures.push(text);
      };
      read();
      new MutationObserver(read).observe(root, { subtree: true, childList: true, characterData: true });
    }
    requestAnimationFrame(attach);
  };
  requestAnimationFrame(attach);
})()`;
const figures = () => page.evaluate('window.__figures') as Promise<string[]>;

beforeAll(async () => {
  fixture = await startTinyTierApp({ reducedMotion: true });
  ({ serve, page } = fixture);
  await page.addInitScript(RECORD_FIGURES);
});

afterAll(async () => {
  await fixture?.close();
});

type AppView = {
  app: {
    state: { loadedKey: string | null; status: string; catalog: { key: string; params: number | null }[] };
    budget: { wasm?: { build: 'jspi' | 'wasm' | 'webgpu'; threads: number } };
  };
};
const appState = () =>
  page.locator('et-app').evaluate((el) => {
    const { state } = (el as unknown as AppView).app;
    return { loadedKey: state.loadedKey, status: state.status };
  });
const ready = (key: string) =>
  expect.poll(appState, { timeout: 120_000 }).toEqual({ loadedKey: key, status: 'ready' });
const viewLink = (name: string) =>
  page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true });

describe('the load strip', () => {
  it('after the download reaches 100 % says "Setting up the model…"', async () => {
    await page.goto(serve.url);
    // A first visit loads the server's folder by itself, downloading it into the browser cache.
    await ready('local:tiny');
    const seen = await figures();
    // A download shows its rate; once every file is in, the set-up has its own label.
    expect(seen.some((t) => / of .* · \d+ (B|KiB|MiB)\/s · /.test(t))).toBe(true);
    expect(seen).toContainEqual(
      expect.stringMatching(/^Setting up the model… \(\d+(\.\d)? (KiB|MiB) downloaded\)$/),
    );
    expect(seen.filter((t) => t.includes('cache'))).toEqual([]);
  });

  it('on a load from the browser cache says so, with no download rate', async () => {
    await page.reload();
    await ready('local:tiny');
    const seen = await figures();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((t) => t.includes('/s'))).toEqual([]);
    expect(seen).toContainEqual(
      expect.stringMatching(/^Setting up the model… \(\d+(\.\d)? (KiB|MiB) read from the browser cache\)$/),
    );
  });
});

describe('the Models view', () => {
  /** Each chip: its key, the parameters the app knows for it, its label, and its bar's share of the track. */
  const chips = () =>
    page
      .getByRole('navigation', { name: 'Spectrum by parameter count' })
      .getByRole('link')
      .evaluateAll((links) =>
        links.map((link) => {
          type Box = { getBoundingClientRect(): { width: number } };
          const a = link as unknown as {
            dataset: { key: string };
            textContent: string;
            querySelector(
              s: string,
            ): (Box & { textContent: string; scrollWidth: number; clientWidth: number }) | null;
          };
          const label = a.querySelector('.label')!;
          const track = a.querySelector('.track')?.getBoundingClientRect().width ?? 0;
          const bar = a.querySelector('.size')?.getBoundingClientRect().width ?? null;
          return {
            key: a.dataset.key,
            label: label.textContent.trim(),
            cut: label.scrollWidth > label.clientWidth + 1,
            share: bar === null || track === 0 ? null : bar / track,
            text: a.textContent.replace(/\s+/g, ' ').trim(),
          };
        }),
      );

  it('draws sizes on a linear axis, places the tier by its served twin, and labels every chip uniquely', async () => {
    await viewLink('Models').click();
    const served = (await (await fetch(`${serve.url}v1/models`)).json()) as {
      data: { id: string; edgetier: { params: number; synthetic: boolean } }[];
    };
    const tier = served.data[0]!;
    expect(tier.edgetier).toMatchObject({ synthetic: true });
    expect(tier.edgetier.params).toBeGreaterThan(0);
    const card = page.getByRole('article', { name: /^This server: / });
    // The card names the served model and badges it a twin, as Compare does.
    await card.getByTestId('served-model').getByText(tier.id, { exact: true }).waitFor();
    await card.getByText('Synthetic twin', { exact: true }).waitFor();
    await expect(card.textContent()).resolves.not.toContain('server default');

    const params = new Map(
      await page
        .locator('et-app')
        .evaluate((el) =>
          (el as unknown as AppView).app.state.catalog.map((e) => [e.key, e.params] as const),
        ),
    );
    params.set('remote:server', tier.edgetier.params);
    const largest = Math.max(...[...params.values()].map((p) => p ?? 0));
    const drawn = await chips();
    expect(drawn.map((c) => c.key)).toEqual([...params.keys()]);
    // Every bar's length is its parameter count over the largest one: 135M is 7.6 % of 1.78B, not 52 %.
    for (const chip of drawn) {
      expect(chip.share, chip.key).not.toBeNull();
      expect(chip.share!, chip.key).toBeCloseTo(params.get(chip.key)! / largest, 2);
    }
    const share = (key: string) => drawn.find((c) => c.key === key)!.share!;
    expect(
      share('onnx-community/SmolLM2-135M-Instruct-ONNX') / share('onnx-community/Qwen3-1.7B-ONNX'),
    ).toBeCloseTo(134.5 / 1720, 2);
    // The tier sits where its twin's size says (it is the smallest here), badged a twin, not "full scale".
    const remote = drawn.find((c) => c.key === 'remote:server')!;
    expect(remote.share!).toBeLessThan(share('onnx-community/SmolLM2-135M-Instruct-ONNX'));
    expect(remote.text).toMatch(/server · 0\.1M twin$/);
    // Unique labels, none cut short.
    expect(new Set(drawn.map((c) => c.label)).size).toBe(drawn.length);
    expect(drawn.filter((c) => c.cut)).toEqual([]);
    expect(drawn.map((c) => c.label)).toEqual(expect.arrayContaining(['Qwen2.5 0.5B', 'Qwen2.5 Coder 0.5B']));
  });

  it('gives each on-device model a speed expectation from the plan, with its source', async () => {
    const wasm = await page
      .locator('et-app')
      .evaluate((el) => (el as unknown as AppView).app.budget.wasm ?? null);
    expect(wasm).not.toBeNull();
    const reference = wasmSpeed(wasm!.build, 'q8', wasm!.threads)!;
    const card = page.getByRole('article', { name: 'Qwen3 1.7B' });
    const speed = card.getByTestId('speed');
    await expect(speed.textContent()).resolves.toContain(
      `about ${formatTokPerSec((reference * SPEED_REFERENCE_PARAMS) / 1.72e9)}`,
    );
    await expect(speed.textContent()).resolves.toContain(
      `the backend plan's ${reference} tok/s for q8 on the ${wasm!.build} build`,
    );
    // Slower than reading: the verdict says so instead of a plain "Fits this device".
    await card.getByText('Fits, but slow here', { exact: true }).waitFor();
    await expect(
      page.getByRole('article', { name: 'tiny', exact: true }).getByTestId('speed').textContent(),
    ).resolves.toMatch(/^\s*at least \d+ tok\/s/);
  });

  it('scrolls once (the view, no blank page tail) at 1280 and 360 px, with a model cached', async () => {
    await page.getByRole('heading', { name: 'Cached in this browser' }).waitFor();
    await page.getByRole('table', { name: 'Cached in this browser' }).waitFor();
    for (const [width, height] of [
      [1280, 800],
      [360, 740],
    ] as const) {
      await page.setViewportSize({ width, height });
      const scroll = await page.evaluate(`(() => {
        const view = document.querySelector('et-app').shadowRoot.querySelector('et-models-view');
        const doc = document.scrollingElement;
        return {
          document: doc.scrollHeight - doc.clientHeight,
          documentWide: doc.scrollWidth - doc.clientWidth,
          view: view.scrollHeight - view.clientHeight,
        };
      })()`);
      expect(scroll, `${width} px`).toMatchObject({ document: 0, documentWide: 0 });
      expect((scroll as { view: number }).view, `${width} px`).toBeGreaterThan(0);
      expect(serious(await axeViolations(page))).toEqual([]);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});

describe('a reopened conversation', () => {
  it('written by another model offers to load it', async () => {
    await page.getByLabel('Model', { exact: true }).selectOption('remote:server');
    await ready('remote:server');
    await viewLink('Chat').click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).first().click();
    const box = page.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('Written remotely');
    await box.press('Enter');
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    await saved.getByRole('button', { name: 'Written remotely', exact: true }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor({ timeout: 60_000 });
    // Its own model loaded: nothing to offer.
    await expect(page.getByTestId('written-with').count()).resolves.toBe(0);

    await page.getByLabel('Model', { exact: true }).selectOption('local:tiny');
    await ready('local:tiny');
    await page.reload();
    await ready('local:tiny');
    await saved.getByRole('button', { name: 'Written remotely', exact: true }).click();
    const note = page.getByTestId('written-with');
    await expect(note.textContent()).resolves.toMatch(
      /^\s*Written with This server: \S+; tiny is loaded\.\s*Load This server: \S+\s*$/,
    );
    await note.getByRole('button', { name: /^Load This server: \S+$/ }).click();
    await ready('remote:server');
    await note.waitFor({ state: 'detached' });
    expect(serious(await axeViolations(page))).toEqual([]);
  });
});

describe('Bench', () => {
  it('prints one run without a spread, and the Models view then shows the measured speed', async () => {
    await page.getByLabel('Model', { exact: true }).selectOption('local:tiny');
    await ready('local:tiny');
    await viewLink('Bench').click();
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny');
    await page.getByLabel('Prompt tokens (pp)').fill('8');
    await page.getByLabel('Generated tokens (tg)').fill('4');
    await page.getByLabel('Repetitions').fill('1');
    await page.getByLabel('Warm-up runs').fill('0');
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const results = page.getByRole('region', { name: 'Results' });
    await results.waitFor({ timeout: 120_000 });
    const caption = ((await results.locator('caption').textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(caption).toMatch(/^One run, no spread to show, after 0 warm-up run\(s\) not counted\. /);
    const table = (await results.locator('table').textContent()) ?? '';
    expect(table).not.toContain('±');
    expect(caption).not.toContain('1 runs');
    await ready('local:tiny'); // the bench gives the model back

    await viewLink('Models').click();
    await expect(
      page.getByRole('article', { name: 'tiny', exact: true }).getByTestId('speed').textContent(),
    ).resolves.toMatch(
      /^\s*\d+(\.\d)? tok\/s\s*\(Measured by Bench on this device \(tg4, WASM fp32, \d threads?\)\.\)\s*$/,
    );
  });
});

/**
 * A hostile visitor's own storage (review of issue 16 items 7 and 10): saved values that are damaged
 * or crafted must neither show absurd figures, nor inject markup, nor leave the app with nothing loaded.
 */
describe('hostile saved state', () => {
  const HOSTILE_NAME = `<img src=x onerror="window.__pwned=1">${'W'.repeat(10_000)}`;
  const SEED = (records: unknown[]) => `new Promise((resolve, reject) => {
    localStorage.setItem('edgetier.benchSpeeds.v1', JSON.stringify({
      'local:tiny': { decodeTokPerSec: 1e300, device: 'wasm', dtype: 'fp32', threads: -3, tg: 0.5 },
    }));
    // A Hub id with odd characters that this app does not list (a removed model, a damaged record).
    localStorage.setItem('edgetier.modelChoice.v1', 'onnx-community/<script>gone</script>?x=1&y=%00');
    const open = indexedDB.open('edgetier', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction('conversations', 'readwrite');
      for (const r of ${JSON.stringify(records)}) tx.objectStore('conversations').put(r);
      tx.oncomplete = () => { open.result.close(); resolve(true); };
      tx.onerror = () => reject(tx.error);
    };
  })`;
  const conversation = (id: string, title: string, modelKey: string, modelName: string) => ({
    id,
    title,
    createdAt: Date.now(),
    updatedAt: Date.now(),
    messages: [
      { id: `${id}-u`, role: 'user', content: title },
      { id: `${id}-a`, role: 'assistant', content: 'ok', modelKey, modelName, local: false },
    ],
    modelKey,
    modelName,
  });

  it('a stale remembered model starts as a first visit; an absurd saved speed is not shown', async () => {
    await viewLink('Chat').click();
    await page.evaluate(
      SEED([
        conversation('hostile', 'Hostile writer', '<b>gone</b>'.repeat(1000), HOSTILE_NAME),
        conversation(
          'hub',
          'Hub writer',
          'onnx-community/SmolLM2-135M-Instruct-ONNX',
          'SmolLM2 135M Instruct',
        ),
        conversation('remote', 'Remote writer', 'remote:server', 'Full-scale tier (this server)'),
      ]),
    );
    await page.reload();
    // Not "No model loaded": the server's folder loads as on a first visit.
    await expect.poll(appState, { timeout: 30_000 }).toEqual({ loadedKey: 'local:tiny', status: 'ready' });
    await viewLink('Models').click();
    const speed = page.getByRole('article', { name: 'tiny', exact: true }).getByTestId('speed');
    await speed.waitFor();
    const text = (await speed.textContent()) ?? '';
    expect(text).toMatch(/^\s*at least \d+ tok\/s/);
    expect(text).not.toMatch(/e\+|-3 thread|tg0\.5/);
  });

  it('a conversation whose model is markup and 10 KB long shows it inert and cut', async () => {
    await viewLink('Chat').click();
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    await saved.getByRole('button', { name: 'Hostile writer', exact: true }).click();
    const note = page.getByTestId('written-with');
    const text = ((await note.textContent()) ?? '').replace(/\s+/g, ' ').trim();
    expect(text).toMatch(
      /^Written with <img src=x onerror="window\.__pwned=1">W+…, which this app no longer lists; tiny is loaded\.$/,
    );
    expect(text.length).toBeLessThan(160);
    await expect(note.locator('img').count()).resolves.toBe(0);
    await expect(note.getByRole('button').count()).resolves.toBe(0);
    await expect(page.evaluate('window.__pwned')).resolves.toBeUndefined();
  });

  it('offers a Hub model gone from the cache as a download, reachable by keyboard at 360 px', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    // At 360 px the list is a drawer, opened from the toolbar.
    await page.getByRole('button', { name: 'Conversations', exact: true }).click();
    await saved.getByRole('button', { name: 'Hub writer', exact: true }).click();
    const button = page.getByTestId('written-with').getByRole('button');
    await expect(button.textContent()).resolves.toMatch(
      /^\s*Load SmolLM2 135M Instruct \(downloads ≈ \d+ MiB\)\s*$/,
    );
    const box = (await button.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(360);
    await page.getByRole('button', { name: 'Conversations', exact: true }).focus();
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await button.evaluate((b) => b.matches(':focus'));
    }
    expect(reached).toBe(true);
    expect(serious(await axeViolations(page))).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('a double click on "Load X" loads it once', async () => {
    const saved = page.getByRole('complementary', { name: 'Conversations' });
    await saved.getByRole('button', { name: 'Remote writer', exact: true }).click();
    let lists = 0;
    const count = (r: { url(): string }) => {
      if (r.url().endsWith('/v1/models')) lists++;
    };
    page.on('request', count);
    await page
      .getByTestId('written-with')
      .getByRole('button', { name: /^Load This server: \S+$/ })
      .dblclick();
    await ready('remote:server');
    page.off('request', count);
    expect(lists).toBe(1);
  });
});

describe('the Models view by keyboard', () => {
  it('a chip followed with Enter moves focus to its card, so Tab goes on inside that card', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await viewLink('Models').click();
    const chip = page
      .getByRole('navigation', { name: 'Spectrum by parameter count' })
      .locator('a[data-key="onnx-community/Qwen3-1.7B-ONNX"]');
    await chip.focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    const inCard = await page
      .getByRole('article', { name: 'Qwen3 1.7B' })
      .evaluate((card) => (card as unknown as { matches(s: string): boolean }).matches(':focus-within'));
    expect(inCard).toBe(true);
    expect(serious(await axeViolations(page))).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
