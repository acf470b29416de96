/**
 * Right-to-left and bidi-control text from strangers cannot reverse the app's own sentence around it,
 * in real Chromium against the real `edgetier serve`: a tier's error message, a model folder's
 * `edgetier.mirrors` and the text a chat template raises each carry U+202E (RIGHT-TO-LEFT OVERRIDE)
 * and Hebrew. Each check reads the rendered line's visual order (the screen position of the app's own
 * words, from Range rectangles) and that no U+202E reaches the page unless isolated in a `<bdi>`.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, UPSTREAM_KEY, type Upstream } from '../helpers/misbehaving-upstream.ts';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

const RLO = '\u202E';
const HEBREW = '\u05E9\u05DC\u05D5\u05DD';
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await startUpstream();
  const app = await buildApp();
  modelsDir = synthTinyModels();
  // One hostile folder: its mirrors and its chat template both try to reverse the app's words.
  const rtl = join(modelsDir, 'rtl');
  cpSync(join(modelsDir, 'tiny'), rtl, { recursive: true });
  const configPath = join(rtl, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(
    configPath,
    JSON.stringify({ ...config, edgetier: { ...config.edgetier, mirrors: `Org/${RLO}ledom ${HEBREW}` } }),
  );
  const tokenizerPath = join(rtl, 'tokenizer_config.json');
  const tokenizer = JSON.parse(readFileSync(tokenizerPath, 'utf8'));
  writeFileSync(
    tokenizerPath,
    JSON.stringify({ ...tokenizer, chat_template: `{{ raise_exception("${RLO}tpmorp ${HEBREW}") }}` }),
  );
  serve = await startServe(['--app', app, '--models', modelsDir, '--quiet']);
  browser = await launchChromium();
  page = browser.page;
  await page.setViewportSize({ width: 1600, height: 1000 });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await upstream?.close();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

/** Runs in the page (its body is a string: the Node realm's types have no DOM). */
const LAYOUT_SCRIPT = new Function(
  'root',
  'args',
  `const [wanted, rlo] = args;
  const positions = {};
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
  for (const word of wanted) {
    positions[word] = null;
    for (const node of nodes) {
      const at = node.data.indexOf(word);
      if (at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + word.length);
      const rect = range.getClientRects()[0];
      if (rect) positions[word] = { top: Math.round(rect.top), left: rect.left };
      break;
    }
  }
  const unisolated = nodes.some((n) => n.data.includes(rlo) && !n.parentElement?.closest('bdi'));
  return { text: root.textContent ?? '', positions, unisolated };`,
) as (root: unknown, args: [string[], string]) => Layout;

interface Layout {
  text: string;
  positions: Record<string, { top: number; left: number } | null>;
  unisolated: boolean;
}

/**
 * Where each word first appears on screen (line, then x), and whether a U+202E outside a <bdi> is in
 * the element's text.
 */
async function layout(element: Locator, words: string[]): Promise<Layout> {
  return element.evaluate(LAYOUT_SCRIPT, [words, RLO] as [string[], string]);
}

/** The words appear on screen in the order given (left to right, line by line). */
function inReadingOrder(positions: Record<string, { top: number; left: number } | null>, words: string[]) {
  const placed = words.map((w) => ({ w, p: positions[w] }));
  for (const { w, p } of placed) expect(p, `"${w}" is on screen`).not.toBeNull();
  const order = [...placed].sort((a, b) => a.p!.top - b.p!.top || a.p!.left - b.p!.left).map((x) => x.w);
  expect(order).toEqual(words);
}

const lastError = () => page.locator('et-chat-message').last().locator('.error');

async function ask(text: string): Promise<void> {
  const message = page.getByRole('textbox', { name: 'Message', exact: true });
  await message.fill(text);
  await message.press('Enter');
  await page
    .locator('et-chat-message')
    .last()
    .locator('article[aria-busy="false"]')
    .waitFor({ timeout: 60_000 });
}

describe('foreign right-to-left text inside the app’s sentences', () => {
  it("a model folder's mirrors leave the twin note in order", async () => {
    await page.goto(`${serve.url}#models`);
    const note = page.getByRole('article', { name: 'rtl', exact: true }).locator('p.note');
    await note.waitFor();
    const words = ['Synthetic', 'twin', 'real', 'shapes', 'random', 'weights', 'speed', 'answers'];
    const seen = await layout(note, words);
    inReadingOrder(seen.positions, words);
    expect(seen.unisolated).toBe(false);
  });

  it('the text a chat template raises leaves the error line in order', async () => {
    await page
      .getByRole('article', { name: 'rtl', exact: true })
      .getByRole('button', { name: 'Use rtl' })
      .click();
    await page.getByText('Fully local', { exact: true }).waitFor({ timeout: 90_000 });
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await ask('hi');
    const seen = await layout(lastError(), [
      'chat',
      'template',
      'failed',
      'Fix',
      'replace',
      'tokenizer_config',
    ]);
    inReadingOrder(seen.positions, ['chat', 'template', 'failed', 'Fix', 'replace', 'tokenizer_config']);
    expect(seen.text).toContain(`its own words: “tpmorp ${HEBREW}”. Fix or replace the chat_template`);
    expect(seen.unisolated).toBe(false);
  });

  it("a tier's error message leaves the advice after it in order", async () => {
    await page.goto(`${serve.url}#chat`);
    await page.evaluate(
      ([settings, keys]) => {
        localStorage.setItem('edgetier.settings.v1', settings as string);
        localStorage.setItem('edgetier.keys.v1', keys as string);
      },
      [
        JSON.stringify({
          tiers: [
            {
              id: 'rtl',
              name: 'RTL tier',
              baseUrl: upstream.url,
              model: 'rtl-error',
              priceInPerMTok: 0,
              priceOutPerMTok: 0,
              rememberKey: true,
            },
          ],
          sampling: { temperature: 0, topP: 1, maxNewTokens: 8 },
          backend: 'auto',
          enableThinking: false,
        }),
        JSON.stringify({ rtl: UPSTREAM_KEY }),
      ],
    );
    await page.reload();
    await page.getByRole('combobox', { name: 'Model', exact: true }).selectOption('remote:rtl');
    await page.getByText('Remote: data leaves this device').waitFor();
    await ask('hi');
    const words = ['answered', 'Internal', 'The server failed', 'try again later', 'logs'];
    const seen = await layout(lastError(), words);
    inReadingOrder(seen.positions, words);
    expect(seen.text).toContain(`Internal Server Error: daolrevo si reviser ${HEBREW}. The server failed;`);
    expect(seen.unisolated).toBe(false);
  });
});
