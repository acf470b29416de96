/**
 * Model output is untrusted: these tests feed hostile Markdown and HTML through the real renderer
 * in real Chromium and check that nothing runs and nothing loads.
 * 1. End to end: a hostile upstream behind `edgetier serve` streams a thinking part and an answer
 *    full of attacks into the app's chat (the thinking folded apart, as text); no script runs, no element that loads (img, iframe, svg, style) exists, no
 *    javascript:/data: link survives, and the upstream sees no request for the remote images.
 * 2. The sanitiser alone, on raw hostile HTML that marked would never produce (defence in depth),
 *    imported from the Vite dev server into a page.
 */

import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { createServer as createViteServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, type ServeProcess, startServe, synthTinyModels } from './app-fixture.ts';

let upstream: Server;
let upstreamUrl: string;
const upstreamHits: string[] = [];
let serve: ServeProcess;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let modelsDir: string;

/** The thinking part, streamed before the answer; shown folded, as text. */
const REASONING = 'Let me think <img src=x onerror="window.__pwned = 8"> about it.';

function hostileAnswer(origin: string): string {
  return [
    'Here you go:',
    '<img src=x onerror="window.__pwned = 1">',
    '<script>window.__pwned = 2</script>',
    '[click me](javascript:window.__pwned=3)',
    '<a href="javascript:window.__pwned=4">raw link</a>',
    `![tracker](${origin}/pixel.png)`,
    `<iframe src="${origin}/frame"></iframe>`,
    '<svg onload="window.__pwned = 5"><circle r="1"/></svg>',
    '[data link](data:text/html,<script>alert(1)</script>)',
    `<div style="background:url(${origin}/bg.png)">styled</div>`,
    `<https://example.org/auto>`,
    '**bold**, `code` and a [real link](https://example.org/docs).',
    '```js\nconst x = "<img src=y onerror=alert(1)>";\n```',
    '- one\n- two',
    'Inline <img src=x onerror="window.__pwned = 6"> and <b onmouseover="window.__pwned = 7">tags</b> in a paragraph.',
  ].join('\n\n');
}

function startHostileUpstream(): Promise<void> {
  upstream = createServer((req, res) => {
    upstreamHits.push(`${req.method} ${req.url}`);
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: [{ id: 'hostile', object: 'model', created: 0, owned_by: 'test' }],
        }),
      );
      return;
    }
    if (req.url === '/v1/chat/completions' && req.method === 'POST') {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const text = hostileAnswer(upstreamUrl);
        // Split mid-tag, as a real stream would.
        const pieces = text.match(/[\s\S]{1,7}/g) ?? [];
        const chunk = (delta: object, finish: string | null) =>
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'hostile', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        for (const r of REASONING.match(/[\s\S]{1,9}/g) ?? [])
          res.write(chunk({ reasoning_content: r }, null));
        for (const p of pieces) res.write(chunk({ content: p }, null));
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
      });
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    upstream.listen(0, '127.0.0.1', () => {
      upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

beforeAll(async () => {
  await startHostileUpstream();
  const app = await buildApp();
  modelsDir = synthTinyModels();
  serve = await startServe(['--app', app, '--models', modelsDir, '--no-tier', '--quiet'], {
    EDGETIER_UPSTREAM_URL: `${upstreamUrl}/v1`,
  });
  browser = await launchChromium();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  upstream?.close();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

/** Facts about the last answer's rendered DOM, gathered in the page (shadow roots included). */
const INSPECT_ANSWER = `(() => {
  const view = document.querySelector('et-app').shadowRoot.querySelector('et-chat-view');
  const messages = [...view.shadowRoot.querySelectorAll('et-chat-message')];
  const root = messages.at(-1).shadowRoot;
  const content = root.querySelector('.content');
  const details = root.querySelector('details');
  const all = [...content.querySelectorAll('*')];
  return {
    pwned: window.__pwned ?? null,
    loaders: all.filter((e) => ['IMG', 'SCRIPT', 'IFRAME', 'SVG', 'svg', 'OBJECT', 'EMBED', 'STYLE', 'LINK', 'VIDEO', 'AUDIO'].includes(e.tagName)).length,
    styled: all.filter((e) => e.hasAttribute('style')).length,
    handlers: all.flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')),
    hrefs: all.filter((e) => e.tagName === 'A').map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('rel'), a.getAttribute('target')]),
    text: content.textContent,
    strong: content.querySelector('strong')?.textContent ?? null,
    code: content.querySelector('pre code.language-js')?.textContent ?? null,
    items: content.querySelectorAll('li').length,
    thinking: details ? [details.querySelector('summary').textContent.trim(), details.open, details.querySelector('.reasoning').textContent, details.querySelectorAll('*').length] : null,
  };
})()`;

describe('model output renders inert', () => {
  it('end to end: a hostile answer streamed from the tier runs nothing and loads nothing', async () => {
    await page.goto(serve.url);
    const tierKey = await page
      .getByRole('combobox', { name: 'Model', exact: true })
      .evaluate(
        (select) =>
          [...(select as unknown as { options: { value: string }[] }).options].find((o) =>
            o.value.startsWith('remote:'),
          )!.value,
      );
    await page.getByRole('combobox', { name: 'Model', exact: true }).selectOption(tierKey);
    await page.getByText('Remote: data leaves this device').waitFor();
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Show me everything');
    await page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    // Wait for the answer to finish (it is no longer busy), not for Stop: a fast stream can show and
    // hide Stop between two polls.
    const answer = page.locator('et-chat-message').last();
    await answer.locator('article[aria-busy="false"]').getByText('click me', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Send', exact: true }).waitFor();
    await answer.getByText('click me', { exact: true }).click();
    await page.waitForTimeout(300);
    const facts = (await page.evaluate(INSPECT_ANSWER)) as Record<string, unknown>;
    expect(facts.pwned).toBeNull();
    expect(facts.loaders).toBe(0);
    expect(facts.styled).toBe(0);
    expect(facts.handlers).toEqual([]);
    // Only http(s) links keep an href, and those open apart with no referrer.
    expect(facts.hrefs).toEqual([
      ['click me', null, null, null],
      ['data link', null, null, null],
      ['https://example.org/auto', 'https://example.org/auto', 'noopener noreferrer nofollow', '_blank'],
      ['real link', 'https://example.org/docs', 'noopener noreferrer nofollow', '_blank'],
    ]);
    // Raw HTML is shown as the characters the model wrote; the image became its alt text.
    expect(facts.text).toContain('<img src=x onerror="window.__pwned = 1">');
    expect(facts.text).toContain('<script>window.__pwned = 2</script>');
    expect(facts.text).toContain('tracker');
    expect(facts.text).toContain('Inline <img src=x onerror="window.__pwned = 6"> and <b onmouseover');
    expect(facts.strong).toBe('bold');
    expect(facts.code).toBe('const x = "<img src=y onerror=alert(1)>";\n');
    expect(facts.items).toBe(2);
    // The thinking part is folded apart from the answer, as plain text.
    expect(facts.thinking).toEqual(['Thinking', false, REASONING, 2]);
    expect(facts.text).not.toContain('Let me think');
    expect(upstreamHits.filter((h) => !h.startsWith('POST /v1/chat') && h !== 'GET /v1/models')).toEqual([]);
  });
});

describe('the sanitiser on raw hostile HTML', () => {
  let vite: ViteDevServer;

  beforeAll(async () => {
    vite = await createViteServer({
      root: new URL('../..', import.meta.url).pathname,
      server: { port: 0, host: '127.0.0.1' },
      logLevel: 'error',
      optimizeDeps: { noDiscovery: true, include: [] },
    });
    await vite.listen();
  });

  afterAll(async () => {
    await vite?.close();
  });

  it('keeps no script, handler, remote load or unsafe URL', async () => {
    const base = vite.resolvedUrls!.local[0]!;
    await page.goto(`${base}engine.html`);
    const cases = [
      '<img src=x onerror="window.__pwned=1">',
      '<script>window.__pwned=2</script><p>after</p>',
      '<a href="javascript:window.__pwned=3">a</a>',
      '<a href=" JaVaScRiPt:window.__pwned=4">b</a>',
      '<a href="//evil.example/x">c</a>',
      '<a href="data:text/html,hi">d</a>',
      '<svg><a xlink:href="javascript:alert(1)"><text>e</text></a></svg>',
      '<math><mi xlink:href="javascript:alert(1)">f</mi></math>',
      '<iframe srcdoc="<script>parent.__pwned=5</script>"></iframe>',
      '<form action="https://evil.example"><input name=q><button>g</button></form>',
      '<div style="background:url(https://evil.example/bg.png)" onclick="x()">h</div>',
      '<style>@import "https://evil.example/s.css";</style><p>i</p>',
      '<link rel=stylesheet href="https://evil.example/s.css"><p>j</p>',
      '<video src="https://evil.example/v.mp4"></video><audio src="https://evil.example/a.mp3"></audio>',
      '<p class="x language-js" data-x=1 aria-hidden=true>k</p>',
      '<a href="https://example.org/" target="_self">l</a>',
    ];
    const out = (await page.evaluate(`import('/src/app/markdown/markdown.ts').then((m) =>
      ${JSON.stringify(cases)}.map((c) => m.sanitizeHtml(c)))`)) as string[];
    expect(out).toEqual([
      '',
      '<p>after</p>',
      '<a>a</a>',
      '<a>b</a>',
      '<a>c</a>',
      '<a>d</a>',
      '',
      '',
      '',
      'g',
      'h',
      '<p>i</p>',
      '<p>j</p>',
      '',
      '<p class="language-js">k</p>',
      '<a href="https://example.org/" target="_blank" rel="noopener noreferrer nofollow">l</a>',
    ]);
    expect(await page.evaluate('window.__pwned ?? null')).toBeNull();
  });
});
