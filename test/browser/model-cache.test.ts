/**
 * edgetier's model cache as returning visitors meet it: Debian's Chromium with a persistent profile,
 * the real `edgetier serve` (the built engine page and a tiny model folder), and a counting proxy in
 * front of it that records every byte the browser asks for and can cut or stall a download.
 * Each test proves one failure of issue 20 fixed (stale weights after a rebuild, damaged cached
 * bytes, a full disk, a delete undone by another tab) or issue 15's resume across a retried load.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, requireChromium } from '../../src/cli/browser.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { type CountingProxy, startCountingProxy } from '../helpers/counting-proxy.ts';
import { type ServeProcess, startServe } from '../helpers/serve-process.ts';
import { buildApp } from './app-fixture.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const WEIGHTS = '/models/tiny/onnx/model.onnx';
const PROMPT = 'Hello there';

/** Downloads of the weights since log index `from`; transformers.js's 1-byte size probes (bytes=0-0) left out. */
const weightDownloads = (from: number) =>
  proxy.requestsFor(WEIGHTS, from).filter((r) => r.range !== 'bytes=0-0');

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };
interface LoadedInfo {
  cacheNotes?: string[];
}
interface Harness {
  load(request: unknown): Promise<Outcome<LoadedInfo>>;
  loadAuto(source: unknown): Promise<Outcome<{ info: LoadedInfo }>>;
  progress(): Promise<{ file: string; loadedBytes: number }[]>;
  generate(request: unknown): Promise<Outcome<{ result: { outputIds: number[] } }>>;
  listCached(): Promise<Outcome<{ id: string; bytes: number; dtypes?: string[] }[]>>;
  deleteCached(id: string): Promise<Outcome<void>>;
  clearCache(): Promise<Outcome<void>>;
}

/** The page's CacheStorage, typed here: this file compiles in the Node realm (no DOM types). */
interface PageCaches {
  keys(): Promise<string[]>;
  open(name: string): Promise<{
    keys(): Promise<{ url: string }[]>;
    match(request: unknown): Promise<Response | undefined>;
    put(request: unknown, response: Response): Promise<void>;
  }>;
}

let dir: string;
let models: string;
let serve: ServeProcess;
let proxy: CountingProxy;
let profile: string;
let context: BrowserContext | null = null;

function synth(seed: number): void {
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'bin/edgetier.mjs'),
      'synth',
      'tiny',
      '--out',
      join(models, 'tiny'),
      '--dtype',
      'fp32',
      '--seed',
      String(seed),
      '--force',
    ],
    { stdio: 'pipe' },
  );
}

/** Greedy ids from the native engine on the folder as it is now: the independent reference. */
async function referenceIds(): Promise<number[]> {
  const native = new NodeEngine({ threads: 1 });
  await native.load({ source: { kind: 'path', path: join(models, 'tiny') }, device: 'cpu', dtype: 'fp32' });
  const result = await native.generate({ prompt: PROMPT, sampling: { maxNewTokens: 8 } });
  await native.unload();
  return result.outputIds;
}

/** Opens (or reopens) the persistent profile on the engine page. */
async function openBrowser(): Promise<Page> {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: requireChromium(),
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return openTab(context.pages()[0]);
}

async function openTab(existing?: Page): Promise<Page> {
  const page = existing ?? (await context!.newPage());
  await page.goto(`${proxy.url}engine.html`);
  await page.waitForFunction(() => 'edgetier' in globalThis);
  return page;
}

async function closeBrowser(): Promise<void> {
  await context?.close();
  context = null;
}

/** Calls a method of the page's `window.edgetier` (src/client/engine-harness.ts). */
function call<K extends keyof Harness>(
  page: Page,
  method: K,
  ...args: Parameters<Harness[K]>
): ReturnType<Harness[K]> {
  return page.evaluate(
    ([name, values]) =>
      (globalThis as unknown as { edgetier: Record<string, (...a: unknown[]) => unknown> }).edgetier[name]!(
        ...values,
      ),
    [method, args] as const,
  ) as ReturnType<Harness[K]>;
}

const modelUrl = () => `${proxy.url}models/tiny`;
const load = (page: Page) =>
  call(page, 'load', {
    source: { kind: 'url', url: modelUrl() },
    device: 'wasm',
    dtype: 'fp32',
    warmupBudgetMs: 0,
  });

async function greedy(page: Page): Promise<number[]> {
  const outcome = await call(page, 'generate', { prompt: PROMPT, sampling: { maxNewTokens: 8 } });
  if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
  return outcome.value.result.outputIds;
}

async function listed(page: Page): Promise<{ id: string; bytes: number; dtypes?: string[] }[]> {
  const outcome = await call(page, 'listCached');
  if (!outcome.ok) throw new Error(outcome.message);
  return outcome.value;
}

/** Damages every Cache API entry (in any store of the origin) whose URL names `file` of the model. */
function damageCached(page: Page, file: string, edit: 'flip' | 'truncate'): Promise<number> {
  return page.evaluate(
    async ([suffix, how]) => {
      const caches = (globalThis as unknown as { caches: PageCaches }).caches;
      let edited = 0;
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
          if (!new URL(request.url).pathname.endsWith(`/tiny/${suffix}`)) continue;
          const response = (await cache.match(request))!;
          const bytes = new Uint8Array(await response.arrayBuffer());
          const headers = new Headers(response.headers);
          let body = bytes;
          if (how === 'flip') {
            const middle = Math.floor(bytes.length / 2);
            for (let i = middle; i < Math.min(bytes.length, middle + 4096); i++) bytes[i] = bytes[i]! ^ 0xff;
          } else {
            // 99.9 % of the file, its original length still declared: transformers.js pads it with zeros.
            body = bytes.subarray(0, Math.floor(bytes.length * 0.999));
          }
          headers.set('content-length', String(bytes.length));
          await cache.put(request, new Response(body, { headers }));
          edited++;
        }
      }
      return edited;
    },
    [file, edit] as const,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-model-cache-'));
  models = join(dir, 'models');
  synth(3);
  const app = await buildApp();
  serve = await startServe(['--app', app, '--models', models, '--no-tier', '--quiet']);
  proxy = await startCountingProxy(serve.url);
});

afterEach(async () => {
  await closeBrowser();
});

afterAll(async () => {
  await closeBrowser();
  await proxy?.close();
  await serve?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the model cache with a persistent profile and edgetier serve', () => {
  it('re-fetches a folder rebuilt on the server on the next visit, says so, and runs the new weights', async () => {
    profile = join(dir, 'profile-rebuild');
    synth(3);
    let page = await openBrowser();
    expect(await load(page)).toMatchObject({ ok: true });
    expect(await greedy(page)).toEqual(await referenceIds());
    // A second visit with nothing changed asks for no model file again.
    await closeBrowser();
    page = await openBrowser();
    let from = proxy.log.length;
    expect(await load(page)).toMatchObject({ ok: true });
    expect(weightDownloads(from)).toEqual([]);
    await closeBrowser();

    synth(7);
    page = await openBrowser();
    from = proxy.log.length;
    const reloaded = await load(page);
    expect(reloaded.ok).toBe(true);
    const weights = weightDownloads(from);
    expect(weights.map((r) => [r.range, r.bytes])).toEqual([
      [null, statSync(join(models, 'tiny/onnx/model.onnx')).size],
    ]);
    expect(reloaded.ok && reloaded.value.cacheNotes?.join(' ')).toMatch(
      /models\/tiny changed on the server since it was cached \(.*onnx\/model\.onnx.*\): downloaded again\./,
    );
    expect(await greedy(page)).toEqual(await referenceIds());
  });

  it('uses the cached copy as it is when the server cannot be reached, and says so', async () => {
    profile = join(dir, 'profile-offline');
    synth(3);
    const reference = await referenceIds();
    const page = await openBrowser();
    expect(await load(page)).toMatchObject({ ok: true });
    proxy.refuse('/models/');
    try {
      const offline = await load(page);
      expect(offline.ok).toBe(true);
      expect(offline.ok && offline.value.cacheNotes).toEqual([
        `Offline: the cached copy of ${modelUrl()} is used as it is, without asking the server for a newer one.`,
      ]);
      expect(await greedy(page)).toEqual(reference);
    } finally {
      proxy.heal();
    }
  });

  const damages = [
    { file: 'onnx/model.onnx', how: 'flip', what: 'a cached weights file with 4 KiB flipped' },
    { file: 'onnx/model.onnx', how: 'truncate', what: 'a cached weights file cut to 99.9 % and zero-padded' },
    { file: 'tokenizer.json', how: 'truncate', what: 'a cached tokenizer.json cut short' },
  ] as const;
  for (const { file, how, what } of damages) {
    it(`detects ${what} and repairs it with one download`, async () => {
      profile = join(dir, `profile-${how}-${file.replace(/\W/g, '-')}`);
      synth(3);
      const reference = await referenceIds();
      const path = `/models/tiny/${file}`;
      let page = await openBrowser();
      expect(await load(page)).toMatchObject({ ok: true });
      expect(await damageCached(page, file, how)).toBeGreaterThan(0);
      await closeBrowser();

      page = await openBrowser();
      const from = proxy.log.length;
      const repaired = await load(page);
      expect(repaired).toMatchObject({ ok: true });
      const size = statSync(join(models, 'tiny', file)).size;
      const downloads = proxy.requestsFor(path, from).filter((r) => r.range !== 'bytes=0-0');
      expect(downloads.map((r) => [r.range, r.bytes])).toEqual([[null, size]]);
      expect(repaired.ok && repaired.value.cacheNotes?.join(' ')).toContain(
        `The cached ${file} of ${modelUrl()} was damaged (`,
      );
      expect(await greedy(page)).toEqual(reference);
      // Repaired for good: the next load reads it from the cache again.
      const next = proxy.log.length;
      expect(await load(page)).toMatchObject({ ok: true });
      expect(proxy.requestsFor(path, next)).toEqual([]);
    });
  }

  it('records a Web Crypto SHA-256 per 8 MiB slice of each cached file, the digests a load checks', async () => {
    profile = join(dir, 'profile-slices');
    synth(3);
    const page = await openBrowser();
    expect(await load(page)).toMatchObject({ ok: true });
    const manifest = await page.evaluate(async (base) => {
      const caches = (globalThis as unknown as { caches: PageCaches }).caches;
      const response = await (await caches.open('edgetier-models-v2')).match(
        `${base}/.edgetier/manifest.json`,
      );
      return (await response!.json()) as { files: Record<string, { sha256?: string; slices?: string[] }> };
    }, modelUrl());
    const weights = readFileSync(join(models, 'tiny/onnx/model.onnx'));
    const sha256 = createHash('sha256').update(weights).digest('hex');
    // The tiny model's weights fit in one slice: its digest is the file's.
    expect(manifest.files[`${modelUrl()}/onnx/model.onnx`]).toMatchObject({ sha256, slices: [sha256] });
  });

  it('refuses an empty config.json from the server by name, keeps nothing, and does not walk the backends', async () => {
    profile = join(dir, 'profile-empty-config');
    synth(3);
    const broken = join(models, 'broken');
    cpSync(join(models, 'tiny'), broken, { recursive: true });
    writeFileSync(join(broken, 'config.json'), '');
    // A second dtype, so the plan has a second backend to (wrongly) walk to.
    cpSync(join(broken, 'onnx/model.onnx'), join(broken, 'onnx/model_quantized.onnx'));
    try {
      const page = await openBrowser();
      const from = proxy.log.length;
      const url = `${proxy.url}models/broken`;
      const outcome = await call(page, 'loadAuto', { kind: 'url', url });
      expect(outcome).toMatchObject({ ok: false, code: 'weights_corrupt' });
      expect(outcome.ok || outcome.message).toMatch(
        /^The downloaded config\.json is damaged: it is empty, not JSON\. It was not kept; load the model again/,
      );
      // Read once by the plan (probeModel: does edgetier's mark say the CPU engine's?), downloaded,
      // then once more: no second backend was tried on the same broken file.
      expect(proxy.requestsFor('/models/broken/config.json', from)).toHaveLength(3);
      expect(await listed(page)).toEqual([]);
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('downloads a file again once when it arrives damaged, and reports clearly when it does again', async () => {
    profile = join(dir, 'profile-transit');
    synth(3);
    const size = statSync(join(models, 'tiny/onnx/model.onnx')).size;
    const page = await openBrowser();
    proxy.corrupt(WEIGHTS, 1);
    let from = proxy.log.length;
    expect(await load(page)).toMatchObject({ ok: true });
    expect(weightDownloads(from).map((r) => [r.range, r.bytes])).toEqual([
      [null, size],
      [null, size],
    ]);
    expect(await greedy(page)).toEqual(await referenceIds());
    expect(await call(page, 'clearCache')).toMatchObject({ ok: true });

    proxy.corrupt(WEIGHTS, 2);
    from = proxy.log.length;
    const failed = await load(page);
    proxy.heal();
    expect(failed).toMatchObject({ ok: false, code: 'weights_corrupt' });
    expect(failed.ok || failed.message).toMatch(
      /^The downloaded onnx\/model\.onnx is damaged: its SHA-256 is [0-9a-f]{12}…, the server's index says [0-9a-f]{12}…\. It was not kept; load the model again/,
    );
    expect(weightDownloads(from)).toHaveLength(2);
    expect(await listed(page)).toEqual([]);
  });

  it('resumes a download cut in one load from the bytes kept, in the retried load (a fresh worker)', async () => {
    profile = join(dir, 'profile-resume');
    synth(3);
    const size = statSync(join(models, 'tiny/onnx/model.onnx')).size;
    const page = await openBrowser();
    const from = proxy.log.length;
    const stall = proxy.stall(WEIGHTS, 32_768);
    const failing = load(page);
    await stall.reached;
    // Feed a few bytes at a time until the worker has visibly read some of the weights, then cut:
    // Chromium may drop bytes that arrived just before a connection fails, so the cut comes after.
    const weightsRead = () =>
      call(page, 'progress').then((events) =>
        events.some((p) => p.file === 'onnx/model.onnx' && p.loadedBytes > 0),
      );
    while (!(await weightsRead())) {
      stall.drip(1024);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    proxy.refuse(WEIGHTS);
    stall.drop();
    const failed = await failing;
    proxy.heal();
    expect(failed).toMatchObject({ ok: false, code: 'download_failed' });
    const kept = Number(/broke off after (\d+) of \d+ bytes/.exec(failed.ok ? '' : failed.message)?.[1]);
    expect(failed.ok || failed.message).toMatch(/Retry the load: it resumes where it stopped\.$/);
    const sent = weightDownloads(from)[0]!.bytes;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(sent);

    const retry = proxy.log.length;
    expect(await load(page)).toMatchObject({ ok: true });
    expect(weightDownloads(retry).map((r) => [r.range, r.bytes])).toEqual([[`bytes=${kept}-`, size - kept]]);
    expect(await greedy(page)).toEqual(await referenceIds());
    expect((await listed(page)).map((m) => m.id)).toEqual([modelUrl()]);
  });

  it('keeps listing a whole q8 while a download of its q4 broke off (the app loads the q8 offline)', async () => {
    // Automatic plans q4 where the engine runs it: a visitor with a whole q8 who tried the q4 and lost
    // the connection must still see the q8 listed, or the app plans the q4 and fails offline.
    profile = join(dir, 'profile-partial-q4');
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'bin/edgetier.mjs'),
        'synth',
        'tiny',
        '--out',
        join(models, 'both'),
        '--dtype',
        'q8,q4',
        '--seed',
        '3',
        '--force',
      ],
      { stdio: 'pipe' },
    );
    const url = `${proxy.url}models/both`;
    const q4 = '/models/both/onnx/model_q4.onnx';
    const loadBoth = (dtype: string) =>
      call(page, 'load', { source: { kind: 'url', url }, device: 'wasm', dtype, warmupBudgetMs: 0 });
    const page = await openBrowser();
    expect(await loadBoth('q8')).toMatchObject({ ok: true });
    expect((await listed(page)).find((m) => m.id === url)?.dtypes).toEqual(['q8']);
    const stall = proxy.stall(q4, 32_768);
    const failing = loadBoth('q4');
    await stall.reached;
    const q4Read = () =>
      call(page, 'progress').then((events) =>
        events.some((p) => p.file === 'onnx/model_q4.onnx' && p.loadedBytes > 0),
      );
    while (!(await q4Read())) {
      stall.drip(1024);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    proxy.refuse(q4);
    stall.drop();
    const failed = await failing;
    proxy.heal();
    expect(failed).toMatchObject({ ok: false, code: 'download_failed' });
    // Some of the q4 is kept (the next q4 load resumes); the q8 is still whole and listed as such.
    expect(failed.ok || failed.message).toMatch(/broke off after [1-9]\d* of/);
    expect((await listed(page)).find((m) => m.id === url)?.dtypes).toEqual(['q8']);
  });

  it('finishes a download the network cuts every 32 KiB within one load, resuming each time', async () => {
    profile = join(dir, 'profile-chopped');
    synth(3);
    const size = statSync(join(models, 'tiny/onnx/model.onnx')).size;
    const page = await openBrowser();
    proxy.chop(WEIGHTS, 32_768);
    const from = proxy.log.length;
    let outcome: Outcome<LoadedInfo>;
    try {
      outcome = await load(page);
    } finally {
      proxy.heal();
    }
    expect(outcome.ok ? 'loaded' : `${outcome.code}: ${outcome.message}`).toBe('loaded');
    const weights = weightDownloads(from);
    // Never started over: every request after the first asks for the rest only.
    expect(weights[0]!.range).toBeNull();
    expect(weights.slice(1).every((r) => /^bytes=\d+-$/.test(r.range ?? ''))).toBe(true);
    expect(weights.length).toBeGreaterThan(Math.floor(size / 32_768));
    expect(await greedy(page)).toEqual(await referenceIds());
    expect((await listed(page)).map((m) => m.id)).toEqual([modelUrl()]);
  });

  it('never appends a resumed range the server answers from the wrong byte (no hash in the index to catch it)', async () => {
    profile = join(dir, 'profile-misrange');
    synth(3);
    const page = await openBrowser();
    // No per-file facts in the index, as for a Hub model: only the ranges themselves can be checked.
    proxy.rewriteIndex((index) => {
      for (const model of index.models) delete model.files;
    });
    proxy.chop(WEIGHTS, 32_768);
    proxy.misrange(WEIGHTS);
    let outcome: Outcome<LoadedInfo>;
    try {
      outcome = await load(page);
    } finally {
      proxy.heal();
    }
    expect(outcome.ok ? 'loaded' : outcome.code).toBe('download_failed');
    expect(outcome.ok || outcome.message).toMatch(
      /onnx\/model\.onnx broke off after \d+ of \d+ bytes \(the server answered bytes=\d+- with bytes 0-\d+\/\d+\)/,
    );
    expect(await listed(page)).toEqual([]);
    // What was kept is sound: the next load resumes from it and runs the right weights.
    expect(await load(page)).toMatchObject({ ok: true });
    expect(await greedy(page)).toEqual(await referenceIds());
  });

  for (const framing of ['length', 'chunked'] as const) {
    it(`caches a tokenizer.json a CDN gzips (${framing === 'length' ? 'compressed Content-Length' : 'no Content-Length'}) and loads it offline from the cache`, async () => {
      profile = join(dir, `profile-gzip-${framing}`);
      synth(3);
      const reference = await referenceIds();
      const page = await openBrowser();
      proxy.compress('/models/tiny/tokenizer.json', framing);
      let outcome: Outcome<LoadedInfo>;
      try {
        outcome = await load(page);
      } finally {
        proxy.heal();
      }
      expect(outcome.ok ? 'loaded' : `${outcome.code}: ${outcome.message}`).toBe('loaded');
      expect(await greedy(page)).toEqual(reference);
      expect((await listed(page)).map((m) => m.id)).toEqual([modelUrl()]);
      // Listed as cached means every file is there: it loads with the server gone.
      proxy.refuse('/models/');
      try {
        const offline = await load(page);
        expect(offline.ok ? 'loaded' : `${offline.code}: ${offline.message}`).toBe('loaded');
        expect(await greedy(page)).toEqual(reference);
      } finally {
        proxy.heal();
      }
    });
  }

  it('accepts SHA-256 digests an index writes in uppercase', async () => {
    profile = join(dir, 'profile-index-uppercase');
    synth(3);
    const page = await openBrowser();
    proxy.rewriteIndex((index) => {
      for (const model of index.models) for (const f of model.files ?? []) f.sha256 = f.sha256?.toUpperCase();
    });
    try {
      const outcome = await load(page);
      expect(outcome.ok ? 'loaded' : `${outcome.code}: ${outcome.message}`).toBe('loaded');
      expect(await greedy(page)).toEqual(await referenceIds());
      // Cached under the same digest: the next load downloads nothing.
      const from = proxy.log.length;
      expect(await load(page)).toMatchObject({ ok: true });
      expect(weightDownloads(from)).toEqual([]);
    } finally {
      proxy.heal();
    }
  });

  it('refuses by name an index whose sha256 for a file is not 64 hex digits', async () => {
    profile = join(dir, 'profile-index-bogus');
    synth(3);
    const page = await openBrowser();
    proxy.rewriteIndex((index) => {
      for (const model of index.models) {
        for (const f of model.files ?? []) if (f.path === 'onnx/model.onnx') f.sha256 = 'sha256:0123abcd';
      }
    });
    try {
      const outcome = await load(page);
      expect(outcome.ok ? 'loaded' : `${outcome.code}: ${outcome.message}`).toBe(
        `download_failed: The server's models/index.json gives ${modelUrl()}/onnx/model.onnx the sha256 ` +
          '"sha256:0123abcd", which is not 64 hex digits: rebuild the index on the server (edgetier serve ' +
          'or edgetier build writes it).',
      );
      expect(await listed(page)).toEqual([]);
    } finally {
      proxy.heal();
    }
  });

  it('does not download again, every visit, a cached file the index does not list', async () => {
    profile = join(dir, 'profile-index-unlisted');
    synth(3);
    const page = await openBrowser();
    expect(await load(page)).toMatchObject({ ok: true });
    proxy.rewriteIndex((index) => {
      for (const model of index.models) model.files = model.files?.filter((f) => f.path !== 'tokenizer.json');
    });
    try {
      const from = proxy.log.length;
      const again = await load(page);
      expect(again.ok ? (again.value.cacheNotes ?? []) : again.message).toEqual([]);
      expect(proxy.requestsFor('/models/tiny/tokenizer.json', from)).toEqual([]);
    } finally {
      proxy.heal();
    }
  });

  it('stops with storage_full when the origin has no room, says what the model needs, and lists nothing', async () => {
    profile = join(dir, 'profile-quota');
    synth(3);
    const page = await openBrowser();
    const cdp = await context!.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: proxy.url.replace(/\/$/, ''),
      quotaSize: 100_000,
    });
    const outcome = await load(page);
    expect(outcome).toMatchObject({ ok: false, code: 'storage_full' });
    expect(outcome.ok || outcome.message).toMatch(
      /^Storage is full: .*models\/tiny needs 0\.4 MB .*\. Free disk space \(or allow this site more storage\), then load it again\.$/,
    );
    expect(await listed(page)).toEqual([]);
  });

  it('stops with storage_full when the disk fills during the download, and keeps nothing of the model', async () => {
    profile = join(dir, 'profile-fills');
    synth(3);
    const page = await openBrowser();
    const stall = proxy.stall(WEIGHTS, 65_536);
    const loading = load(page);
    await stall.reached;
    const cdp = await context!.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: proxy.url.replace(/\/$/, ''),
      quotaSize: 50_000,
    });
    stall.release();
    const outcome = await loading;
    expect(outcome).toMatchObject({ ok: false, code: 'storage_full' });
    expect(outcome.ok || outcome.message).toMatch(/^Storage is full: .*models\/tiny/);
    expect(await listed(page)).toEqual([]);
  });

  it('downloads and writes a model once when two tabs load it at the same time', async () => {
    profile = join(dir, 'profile-two-tabs');
    synth(3);
    const tabA = await openBrowser();
    const tabB = await openTab();
    const from = proxy.log.length;
    const [a, b] = await Promise.all([load(tabA), load(tabB)]);
    expect(a).toMatchObject({ ok: true });
    expect(b).toMatchObject({ ok: true });
    const size = statSync(join(models, 'tiny/onnx/model.onnx')).size;
    expect(weightDownloads(from).map((r) => [r.range, r.bytes])).toEqual([[null, size]]);
    // The format loaded (fp32: onnx/model.onnx) is the one listed as whole.
    expect(await listed(tabB)).toEqual([{ id: modelUrl(), bytes: expect.any(Number), dtypes: ['fp32'] }]);
  });

  it("keeps a model deleted in one tab deleted while another tab's download of it is in flight", async () => {
    profile = join(dir, 'profile-delete');
    synth(3);
    const tabA = await openBrowser();
    const tabB = await openTab();
    const stall = proxy.stall(WEIGHTS, 65_536);
    const loading = load(tabA);
    await stall.reached;
    const deleted = await call(tabB, 'deleteCached', modelUrl());
    expect(deleted).toMatchObject({ ok: true });
    stall.release();
    const loaded = await loading;
    expect(loaded.ok).toBe(true);
    expect(await listed(tabB)).toEqual([]);
    const leftovers = await tabB.evaluate(async (base) => {
      const caches = (globalThis as unknown as { caches: PageCaches }).caches;
      const urls: string[] = [];
      for (const name of await caches.keys()) {
        for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
      }
      return urls.filter((u) => u.startsWith(base) && !u.endsWith('/.edgetier/generation'));
    }, modelUrl());
    expect(leftovers).toEqual([]);
    expect(loaded.ok && loaded.value.cacheNotes?.join(' ')).toMatch(
      /deleted from the cache while it loaded: it is not kept/,
    );
    // The tab that loaded still runs the model from memory.
    expect(await greedy(tabA)).toEqual(await referenceIds());
  });
});
