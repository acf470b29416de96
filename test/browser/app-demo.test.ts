/**
 * What a live demo needs from the app (issue 16), in real Chromium against the real `edgetier serve`
 * (the app's fresh Vite build, the tiny synthetic model folder, the native tier on that same model):
 * the Model menu loads only on a confirmed choice and agrees with the badge after a failed load; the
 * privacy badge counts per view, so a Compare run does not mark the chat as having left the device.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServeProcess, startTinyTierApp, type TinyTierApp } from './app-fixture.ts';

let fixture: TinyTierApp;
let serve: ServeProcess;
let page: Page;

beforeAll(async () => {
  fixture = await startTinyTierApp({ reducedMotion: true });
  ({ serve, page } = fixture);
});

afterAll(async () => {
  await fixture?.close();
});

const menu = () => page.getByRole('combobox', { name: 'Model', exact: true });
const badge = () => page.locator('et-app header .status');

/** The app's load state, read from its store. */
function appState(): Promise<{ selectedKey: string | null; loadedKey: string | null; status: string }> {
  return page.locator('et-app').evaluate((el) => {
    const { state } = (el as unknown as { app: { state: Record<string, unknown> } }).app;
    return {
      selectedKey: state.selectedKey as string | null,
      loadedKey: state.loadedKey as string | null,
      status: state.status as string,
    };
  });
}

/** Counts the loads the app starts from now on (each turns the status to "loading"). */
async function countLoads(): Promise<void> {
  await page.locator('et-app').evaluate((el) => {
    const app = (el as unknown as { app: EventTarget & { state: { status: string } } }).app;
    const w = globalThis as unknown as { __loads: number };
    w.__loads = 0;
    let last = app.state.status;
    app.addEventListener('change', () => {
      if (app.state.status === 'loading' && last !== 'loading') w.__loads++;
      last = app.state.status;
    });
  });
}
const loads = () => page.evaluate(() => (globalThis as unknown as { __loads: number }).__loads);

/** The tiny folder, loaded (chosen in the menu unless it already is). */
async function loadTiny(): Promise<void> {
  if (!page.url().startsWith(serve.url)) await page.goto(serve.url);
  if ((await appState()).loadedKey !== 'local:tiny') await menu().selectOption('local:tiny');
  await expect.poll(async () => (await appState()).status, { timeout: 120_000 }).toBe('ready');
}

async function setSampling(temperature: number, maxNewTokens: number): Promise<void> {
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByLabel('Temperature', { exact: false }).fill(String(temperature));
  await page.getByLabel('Temperature', { exact: false }).press('Tab');
  await page.getByLabel('Max new tokens').fill(String(maxNewTokens));
  await page.getByLabel('Max new tokens').press('Tab');
}

describe('the Model menu', () => {
  it('loads nothing on arrow keys, loads on Enter, and after a failed load agrees with the badge and offers Retry', async () => {
    await page.goto(serve.url);
    await badge().getByText('Fully local', { exact: true }).waitFor({ timeout: 120_000 });
    await countLoads();
    await menu().focus();
    for (let i = 0; i < 3; i++) await menu().press('ArrowDown');
    // The menu moved to the third entry after tiny (a Hub model) but nothing started loading.
    const moved = await menu().inputValue();
    expect(moved).not.toBe('local:tiny');
    expect(await loads()).toBe(0);
    expect(await appState()).toMatchObject({ loadedKey: 'local:tiny', status: 'ready' });
    await badge().getByText('Fully local', { exact: true }).waitFor();
    // A Hub model not in the cache: the button says it downloads.
    await page.getByRole('button', { name: /^Download and load .+ \((≈ )?\d+ MiB\)$/ }).waitFor();

    // Enter confirms: the Hub model loads, and fails here (no network to the Hub).
    await menu().press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 120_000 });
    expect(await loads()).toBe(1);
    // Menu and badge agree: no model is loaded and none is shown chosen.
    await expect(menu().inputValue()).resolves.toBe('');
    await badge().getByText('No model loaded', { exact: true }).waitFor();
    expect(await appState()).toMatchObject({ selectedKey: null, loadedKey: null, status: 'error' });

    // The banner's Retry is a real button that loads the same model again.
    await alert.getByRole('button', { name: 'Retry', exact: true }).click();
    await expect.poll(loads, { timeout: 30_000 }).toBe(2);
    await alert.waitFor({ timeout: 120_000 });
    await expect.poll(async () => (await appState()).status, { timeout: 120_000 }).toBe('error');
    await expect(menu().inputValue()).resolves.toBe('');

    // Choosing the local folder again (a click in the menu) loads it.
    await menu().selectOption('local:tiny');
    await badge().getByText('Fully local', { exact: true }).waitFor({ timeout: 120_000 });
    expect(await loads()).toBe(3);
    await expect(menu().inputValue()).resolves.toBe('local:tiny');
  });
});

describe('the privacy badge', () => {
  it('after a Compare run still says "Fully local" on Chat, while Compare shows its own count', async () => {
    await loadTiny();
    await setSampling(0, 8);
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.getByTestId('tradeoff').waitFor({ timeout: 90_000 });
    await badge()
      .getByText(/^\d+ requests? from Compare$/)
      .waitFor();
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await badge().getByText('Fully local', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Compare', exact: true }).click();
    await badge()
      .getByText(/^\d+ requests? from Compare$/)
      .waitFor();
  });
});

const message = () => page.getByRole('textbox', { name: 'Message', exact: true });
const send = () => page.getByRole('button', { name: 'Send', exact: true });
const assistantMessages = () =>
  page.locator('et-chat-message').filter({ has: page.locator('article.assistant') });

/** The conversation's scroll position: how far from its bottom, and whether it can scroll at all. */
function scrollState(): Promise<{ fromBottom: number; scrollable: boolean }> {
  return page.locator('et-chat-view').evaluate((el) => {
    const list = el.shadowRoot!.querySelector('.messages')!;
    return {
      fromBottom: list.scrollHeight - list.scrollTop - list.clientHeight,
      scrollable: list.scrollHeight > list.clientHeight + 100,
    };
  });
}
const scrollToTop = () =>
  page.locator('et-chat-view').evaluate((el) => {
    el.shadowRoot!.querySelector('.messages')!.scrollTop = 0;
  });

/** Whether the locator's box lies inside the conversation's visible area. */
async function inView(locator: ReturnType<Page['locator']>): Promise<boolean> {
  const list = await page.locator('et-chat-view').evaluate((el) => {
    const r = el.shadowRoot!.querySelector('.messages')!.getBoundingClientRect();
    return { top: r.top, bottom: r.bottom };
  });
  const box = await locator.boundingBox();
  return box !== null && box.y >= list.top - 1 && box.y + box.height <= list.bottom + 1;
}

describe('following the conversation', () => {
  it('brings a turn sent while scrolled up into view with its figures, and a reopened one opens at the bottom', async () => {
    await loadTiny();
    await setSampling(0, 48);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    for (const question of ['First question', 'Second question', 'Third question']) {
      await message().fill(question);
      await message().press('Enter');
      await assistantMessages().last().getByTestId('message-metrics').waitFor({ timeout: 60_000 });
      await send().waitFor();
    }
    expect((await scrollState()).scrollable).toBe(true);
    await scrollToTop();
    await message().fill('Fourth question');
    await message().press('Enter');
    await send().waitFor({ timeout: 60_000 });
    const last = assistantMessages().nth(3);
    await last.getByTestId('message-metrics').waitFor();
    // The answer's figures and Regenerate end in view, at the bottom.
    await expect.poll(() => inView(last.getByTestId('message-metrics'))).toBe(true);
    await expect.poll(() => inView(last.getByRole('button', { name: 'Regenerate' }))).toBe(true);
    expect((await scrollState()).fromBottom).toBeLessThan(2);

    // Reopened from the list, the conversation opens at its latest turn.
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await page
      .getByRole('complementary', { name: 'Conversations' })
      .getByRole('button', { name: 'First question', exact: true })
      .click();
    await expect.poll(() => page.locator('et-chat-message').count()).toBe(8);
    await expect.poll(async () => (await scrollState()).fromBottom).toBeLessThan(2);
  });

  it('stops following when the visitor scrolls up during an answer, and offers "Jump to latest"', async () => {
    await setSampling(0, 2000);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await message().fill('Tell me a long story');
    await message().press('Enter');
    const tokens = () => page.getByTestId('tokens').textContent().then(Number);
    // Until the answer overflows the view (it follows the stream to the bottom meanwhile).
    await expect.poll(async () => (await scrollState()).scrollable, { timeout: 60_000 }).toBe(true);
    // It scrolls in the frame after each render, so poll rather than read once.
    await expect.poll(async () => (await scrollState()).fromBottom).toBeLessThan(48);
    await scrollToTop();
    const jump = page.getByRole('button', { name: 'Jump to latest', exact: false });
    await jump.waitFor();
    // More tokens arrive and the view stays where the visitor put it.
    const seen = await tokens();
    await expect.poll(tokens, { timeout: 60_000 }).toBeGreaterThan(seen + 16);
    await expect(
      page.locator('et-chat-view').evaluate((el) => el.shadowRoot!.querySelector('.messages')!.scrollTop),
    ).resolves.toBe(0);
    await jump.click();
    await expect.poll(async () => (await scrollState()).fromBottom).toBeLessThan(48);
    await expect(jump.count()).resolves.toBe(0);
    await page.keyboard.press('Escape');
    await send().waitFor({ timeout: 30_000 });
  });
});

describe('sampling', () => {
  it('samples by default (temperature 0.7, explained in Settings): two Regenerates give different answers', async () => {
    // A first visit's settings: nothing saved.
    if (!page.url().startsWith(serve.url)) await page.goto(serve.url);
    await page.evaluate(() => localStorage.removeItem('edgetier.settings.v1'));
    await page.reload();
    await loadTiny();
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const temperature = page.getByLabel('Temperature', { exact: false });
    await expect(temperature.inputValue()).resolves.toBe('0.7');
    await expect(
      temperature.evaluate((input) => {
        const root = input.getRootNode() as unknown as {
          getElementById(id: string): { textContent: string } | null;
        };
        return root.getElementById(input.getAttribute('aria-describedby')!)?.textContent;
      }),
    ).resolves.toMatch(/0 always gives the same, most likely answer/);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await message().fill('Hello');
    await message().press('Enter');
    const answer = assistantMessages().last();
    const text = async () => {
      await answer.getByTestId('message-metrics').waitFor({ timeout: 120_000 });
      return answer.evaluate((el) => (el as unknown as { message: { content: string } }).message.content);
    };
    await text();
    const answers: string[] = [];
    for (let i = 0; i < 2; i++) {
      await answer.getByRole('button', { name: 'Regenerate', exact: true }).click({ timeout: 60_000 });
      await send().waitFor({ timeout: 120_000 });
      answers.push(await text());
    }
    expect(answers[0]!.length).toBeGreaterThan(0);
    expect(answers[1]).not.toBe(answers[0]);
  });
});

/** Records every text the metrics panel's status line and the composer's button show from now on. */
async function recordPhases(): Promise<void> {
  await page.locator('et-chat-view').evaluate((view) => {
    const seen: string[] = [];
    (globalThis as unknown as { __phases: string[] }).__phases = seen;
    const roots = [
      view.shadowRoot!.querySelector('et-metrics-panel')!.shadowRoot!,
      view.shadowRoot!.querySelector('et-composer')!.shadowRoot!,
    ];
    const record = () => {
      for (const root of roots) {
        for (const el of root.querySelectorAll('[data-testid="phase"], button')) {
          const text = el.textContent?.trim() ?? '';
          if (text && seen.at(-1) !== text) seen.push(text);
        }
      }
    };
    for (const root of roots) {
      const { MutationObserver: Observer } = globalThis as unknown as {
        MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
      };
      new Observer(record).observe(root, { subtree: true, childList: true, characterData: true });
    }
  });
}
const phases = () => page.evaluate(() => (globalThis as unknown as { __phases: string[] }).__phases);

describe('waiting for the first token, and stopping', () => {
  it('says "Reading the prompt (N tokens)…" (N as the server counts it) instead of 0 tok/s, and "Stopping…" after Stop', async () => {
    await loadTiny();
    await setSampling(0, 1000);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    const question =
      `Please summarise this: ${'the quick brown fox jumps over the lazy dog '.repeat(8)}`.trim();
    const models = (await (await fetch(`${serve.url}v1/models`)).json()) as { data: { id: string }[] };
    const native = (await (
      await fetch(`${serve.url}v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: models.data[0]!.id,
          messages: [{ role: 'user', content: question }],
          max_tokens: 1,
        }),
      })
    ).json()) as { usage: { prompt_tokens: number } };
    await recordPhases();
    // The tiny model writes its few hundred tokens in about a second: on a loaded machine the answer
    // can end before the Stop click lands (seen in CI: no Stop button for 30 s). Then ask again.
    let stopped = false;
    for (let attempt = 0; attempt < 3 && !stopped; attempt++) {
      await send().waitFor({ timeout: 30_000 });
      await message().fill(question);
      await message().press('Enter');
      await expect
        .poll(() => page.getByTestId('tokens').textContent().then(Number), { timeout: 60_000 })
        .toBeGreaterThanOrEqual(8);
      stopped = await page
        .getByRole('button', { name: 'Stop', exact: true })
        .click({ timeout: 2_000 })
        .then(
          () => true,
          () => false,
        );
    }
    expect(stopped).toBe(true);
    await send().waitFor({ timeout: 30_000 });
    const seen = await phases();
    expect(seen).toContain(`Reading the prompt (${native.usage.prompt_tokens} tokens)…`);
    expect(seen).toContain('Stopping…');
    expect(seen.indexOf('Stopping…')).toBeGreaterThan(seen.indexOf('Stop'));
    expect(seen.some((t) => /^0(\.0)? tok\/s$/.test(t))).toBe(false);
  });
});

/** The focused element, through shadow roots: its tag and id, or its text for a button. */
function focused(): Promise<string> {
  // A string, evaluated in the page: this file is type-checked in the Node realm (no DOM types).
  return page.evaluate(`(() => {
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    if (!active) return 'none';
    return active.id
      ? active.tagName.toLowerCase() + '#' + active.id
      : active.tagName.toLowerCase() + ':' + active.textContent?.trim();
  })()`);
}

describe('focus', () => {
  it('lands on the message box after Regenerate, a sent edit and a load; Edit focuses its box', async () => {
    await loadTiny();
    await setSampling(0, 8);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await message().fill('Hi');
    await message().press('Enter');
    await send().waitFor({ timeout: 60_000 });
    await assistantMessages().last().getByTestId('message-metrics').waitFor();

    await assistantMessages().last().getByRole('button', { name: 'Regenerate', exact: true }).press('Enter');
    await send().waitFor({ timeout: 60_000 });
    await expect.poll(focused).toBe('textarea#message');

    const question = page.locator('et-chat-message').first();
    await question.getByRole('button', { name: 'Edit', exact: true }).press('Enter');
    await expect.poll(focused).toBe('textarea#edit');
    await page.keyboard.press('Escape');
    await expect.poll(focused).toBe('button:Edit');
    await question.getByRole('button', { name: 'Edit', exact: true }).press('Enter');
    await page.keyboard.type(' again');
    await page.keyboard.press('Enter');
    await send().waitFor({ timeout: 60_000 });
    await expect.poll(focused).toBe('textarea#message');

    // A load chosen from the keyboard: the focus goes to the message box once it is ready.
    await menu().focus();
    await menu().press('End');
    await menu().press('Enter');
    await expect.poll(async () => (await appState()).loadedKey, { timeout: 60_000 }).toMatch(/^remote:/);
    await expect.poll(focused).toBe('textarea#message');
  });
});

describe('the conversation list', () => {
  const LONG = 'Supercalifragilisticexpialidociousandthensomemorewordsjoined';
  const aside = () => page.getByRole('complementary', { name: 'Conversations' });

  it('cuts a long title and keeps its delete button inside the sidebar', async () => {
    await loadTiny();
    await setSampling(0, 4);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await page.getByRole('button', { name: 'New conversation', exact: true }).click();
    await message().fill(LONG);
    await message().press('Enter');
    await send().waitFor({ timeout: 60_000 });
    const title = `${LONG.slice(0, 47)}…`;
    const remove = aside().getByRole('button', { name: `Delete conversation: ${title}`, exact: true });
    await remove.waitFor();
    const box = (await remove.boundingBox())!;
    const side = (await aside().boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(side.x + side.width);
  });

  it('at 360 px, closes its overlay with Esc (focus back on its toggle) and with a close button', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    try {
      const toggle = page.getByRole('button', { name: 'Conversations', exact: true });
      await toggle.click();
      await aside().waitFor({ state: 'visible' });
      await page.keyboard.press('Escape');
      await aside().waitFor({ state: 'hidden' });
      await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('false');
      await expect.poll(focused).toBe('button:Conversations');
      await toggle.click();
      await aside().getByRole('button', { name: 'Close conversations', exact: true }).click();
      await aside().waitFor({ state: 'hidden' });
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });
});

describe('Bench', () => {
  const results = () => page.getByRole('region', { name: 'Results' });
  async function setParams(pp: number, tg: number, reps: number): Promise<void> {
    await page.getByLabel('Prompt tokens (pp)').fill(String(pp));
    await page.getByLabel('Generated tokens (tg)').fill(String(tg));
    await page.getByLabel('Repetitions').fill(String(reps));
    await page.getByLabel('Warm-up runs').fill('0');
  }

  it('refuses pp = tg = 0 with a message, names the model with its key on hover, and stops on Stop', async () => {
    await loadTiny();
    await page.getByRole('link', { name: 'Bench', exact: true }).click();
    await page.getByRole('combobox', { name: 'Model to benchmark' }).selectOption('local:tiny');
    await setParams(0, 0, 1);
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(
      'Nothing to measure: set Prompt tokens (pp) or Generated tokens (tg) above 0, or both.',
    );
    await expect(results().count()).resolves.toBe(0);

    await setParams(8, 4, 1);
    await page.getByRole('button', { name: 'Run benchmark' }).click();
    const name = results().getByRole('rowheader');
    await name.waitFor({ timeout: 120_000 });
    await expect(name.textContent()).resolves.toBe('tiny');
    await expect(name.getAttribute('title')).resolves.toBe('local:tiny');

    // From the keyboard: the focus follows Run to Stop and back.
    await setParams(8, 64, 20);
    await page.getByRole('button', { name: 'Run benchmark' }).press('Enter');
    // "run N of M…": the row budget may cut the 20 repetitions on a busy machine.
    await page.getByText(/run \d+ of \d+…$/).waitFor({ timeout: 120_000 });
    await expect.poll(focused).toBe('button:Stop');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Run benchmark' }).waitFor({ timeout: 60_000 });
    await expect.poll(focused).toBe('button:Run benchmark');
    await expect(page.getByRole('alert').textContent()).resolves.toBe(
      'Stopped: no figures, since the run did not finish.',
    );
    await expect(results().count()).resolves.toBe(0);
    // The model loaded before the run is loaded again.
    await expect.poll(async () => (await appState()).status, { timeout: 120_000 }).toBe('ready');
  });
});
