/**
 * Benchmark targets in headless Chromium: edgetier's engine worker (through the engine page's
 * `window.edgetier` harness, the same WorkerEngine the app uses) and the stock transformers.js
 * baseline page (`window.stockBench`). One browser serves every browser row of a run; each
 * configuration starts from a fresh worker so its memory figure is its own.
 */
import { basename, resolve } from 'node:path';
import { type LaunchedBrowser, launchChromium } from '../cli/browser.ts';
import { buildEnginePage, type EnginePageServer, serveEnginePage } from '../cli/engine-page.ts';
import type { BackendChoice, BackendPlan } from '../core/backend-plan.ts';
import { type DepthEngine, generateAtDepth } from '../core/bench/depth.ts';
import type { BenchTarget, LoadTiming, PeakMemory } from '../core/bench/method.ts';
import { type BenchEnvironment, webgpuFields } from '../core/bench/schema.ts';
import type { Capabilities } from '../core/capabilities.ts';
import type { Dtype } from '../core/dtypes.ts';
import type { CpuRuntimeChoice, GenerateRequest, GenerateResult } from '../core/engine.ts';
import type { LoadedInfo, MemoryStats } from '../core/engine-protocol.ts';
import { EdgetierError, type EdgetierErrorCode } from '../core/errors.ts';
import type { GenerationMetrics } from '../core/metrics.ts';
import { buildStockPage } from './stock-page-build.ts';

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

interface UrlSource {
  kind: 'url';
  url: string;
}

/** The parts of engine.html's `window.edgetier` (src/client/engine-harness.ts) used here. */
interface Harness {
  capabilities(): Promise<Outcome<Capabilities>>;
  plan(source: UrlSource): Promise<Outcome<BackendPlan>>;
  load(request: unknown): Promise<Outcome<LoadedInfo>>;
  generate(request: GenerateRequest): Promise<Outcome<{ result: GenerateResult }>>;
  resetConversation(): Promise<Outcome<void>>;
  memory(): Promise<Outcome<MemoryStats>>;
  unload(): Promise<Outcome<void>>;
  clearCache(): Promise<Outcome<void>>;
  terminate(): void;
}

/** bench/stock/stock-page.ts's `window.stockBench`. */
interface StockBench {
  load(
    name: string,
    cold: boolean,
    threads: number | null,
  ): Promise<Outcome<LoadTiming & { threads: number }>>;
  unload(): Promise<Outcome<void>>;
  generate(ids: number[], n: number): Promise<Outcome<GenerationMetrics>>;
  memory(): number | null;
  versions(): { transformers: string; onnxruntimeWeb: string | null };
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw new EdgetierError(outcome.code as EdgetierErrorCode, outcome.message);
}

/** The page's globals; each page.evaluate callback is serialised, so it must name them itself. */
type G = { edgetier: Harness; stockBench: StockBench };

/** A load may download and cache hundreds of MB; one generation is at most a few minutes here. */
const LOAD_TIMEOUT_MS = 10 * 60_000;
const RUN_TIMEOUT_MS = 5 * 60_000;

/**
 * A step that never settles (a worker that died without a message) must not hang the whole run: it
 * fails its row, and the next configuration reloads the page.
 */
function within<T>(promise: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(
        new EdgetierError('timeout', `${what} did not finish within ${ms / 1000} s; the page was reset.`),
      );
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class BrowserBench {
  private stockServer: EnginePageServer | null = null;
  /** Set when a step timed out: the engine page is reloaded before the next configuration. */
  private stale = false;
  /**
   * One stock page per thread setting ('default' or a count): ORT-web reads numThreads once, when
   * its WebAssembly module starts, so each setting needs its own page (its own ORT instance).
   */
  private readonly stockPages = new Map<string, LaunchedBrowser['page']>();

  private constructor(
    private readonly browser: LaunchedBrowser,
    private readonly server: EnginePageServer,
  ) {}

  static async start(options: { webgpu: boolean }): Promise<BrowserBench> {
    const server = await serveEnginePage(await buildEnginePage());
    let browser: LaunchedBrowser | undefined;
    try {
      browser = await launchChromium({ webgpu: options.webgpu });
      await browser.page.goto(`${server.origin}/engine.html`);
      await browser.page.waitForFunction(() => (globalThis as { edgetier?: unknown }).edgetier !== undefined);
    } catch (error) {
      await browser?.close();
      await server.close();
      throw new EdgetierError(
        'internal',
        `Could not start Chromium for the benchmark: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return new BrowserBench(browser, server);
  }

  private get page() {
    return this.browser.page;
  }

  serveModel(dir: string): string {
    return this.server.addModel(basename(resolve(dir)), dir);
  }

  async capabilities(): Promise<Capabilities> {
    return unwrap(await this.page.evaluate(() => (globalThis as unknown as G).edgetier.capabilities()));
  }

  /** The first WASM entry of the backend planner's automatic plan: edgetier's default. */
  async defaultWasmChoice(modelDir: string): Promise<BackendChoice | null> {
    const source = { kind: 'url' as const, url: this.serveModel(modelDir) };
    const plan = unwrap(
      await this.page.evaluate((s) => (globalThis as unknown as G).edgetier.plan(s), source),
    );
    return plan.choices.find((c) => c.device === 'wasm') ?? null;
  }

  /** Browser facts for the report's environment block. */
  async environment(): Promise<Partial<BenchEnvironment>> {
    const caps = await this.capabilities();
    // navigator.userAgent carries a reduced version (156.0.0.0); the DevTools protocol has the full one.
    const cdp = await this.browser.context.newCDPSession(this.page);
    const { product } = (await cdp.send('Browser.getVersion')) as { product: string };
    await cdp.detach();
    return {
      browser_version: product.replace(/^(Headless)?Chrome\//, 'Chromium ').concat(' (headless)'),
      ...webgpuFields(caps),
      cross_origin_isolated: caps.crossOriginIsolated,
      jspi: caps.jspi,
    };
  }

  /**
   * edgetier's worker engine on one configuration. `onLoaded` sees each load's LoadedInfo (which
   * runtime ran, and why) and may refuse it by throwing: the load then fails the row.
   */
  edgetierTarget(
    modelDir: string,
    config: {
      device: 'wasm' | 'webgpu';
      dtype: Dtype;
      threads: number;
      build: string;
      /**
       * Device wasm: ORT pinned ('onnxruntime'), edgetier's CPU engine pinned ('edgetier', no
       * fallback), or what the app runs by default ('auto': the CPU runtime plan, ORT on a refusal).
       */
      runtime?: CpuRuntimeChoice;
      /**
       * With 'auto': the dtype ONNX Runtime loads if edgetier's CPU engine refuses the model
       * (BrowserLoadRequest.ortDtype), as the app asks for a q4 it planned: q8, not ORT's slow q4.
       */
      ortDtype?: Dtype;
    },
    onLoaded?: (info: LoadedInfo) => void,
  ): BenchTarget & { engine: DepthEngine } {
    const url = this.serveModel(modelDir);
    const page = this.page;
    const self = this;
    /** The runtime the last load ran: the memory figure is that runtime's. */
    let ran: LoadedInfo['engine'] = config.runtime === 'edgetier' ? 'edgetier-wasm' : undefined;
    const guard = <T>(promise: Promise<T>, ms: number, what: string) =>
      within(promise, ms, what, () => {
        self.stale = true;
      });
    /** The worker engine through the page's harness: what generateAtDepth drives. */
    const engine: DepthEngine = {
      async resetConversation() {
        unwrap(
          await guard(
            page.evaluate(() => (globalThis as unknown as G).edgetier.resetConversation()),
            RUN_TIMEOUT_MS,
            'Resetting the conversation',
          ),
        );
      },
      async generate(request) {
        // The harness streams through the worker's chunk callback whatever the page is handed here.
        const outcome = await guard(
          page.evaluate((r) => (globalThis as unknown as G).edgetier.generate(r), request),
          RUN_TIMEOUT_MS,
          `Generating ${request.sampling?.maxNewTokens} tokens after ${request.promptIds?.length} with ${config.dtype} on ${config.device}`,
        );
        return unwrap(outcome).result;
      },
    };
    return {
      engine,
      async load(cold) {
        if (self.stale) {
          self.stale = false;
          await page.reload();
          await page.waitForFunction(() => (globalThis as { edgetier?: unknown }).edgetier !== undefined);
        }
        if (cold) {
          await page.evaluate(() => (globalThis as unknown as G).edgetier.terminate());
          unwrap(
            await guard(
              page.evaluate(() => (globalThis as unknown as G).edgetier.clearCache()),
              RUN_TIMEOUT_MS,
              'Clearing the model cache',
            ),
          );
        }
        // warmupBudgetMs 0: the load alone is measured; the method runs its own warm-up.
        const request = { source: { kind: 'url', url }, ...config, warmupBudgetMs: 0 };
        const { ms, outcome } = await guard(
          page.evaluate(async (req) => {
            const start = performance.now();
            const outcome = await (globalThis as unknown as G).edgetier.load(req);
            return { ms: performance.now() - start, outcome };
          }, request),
          LOAD_TIMEOUT_MS,
          `Loading ${config.dtype} on ${config.device}`,
        );
        const info = unwrap(outcome);
        // The row is labelled with its threads: one that ran fewer (the CPU engine's fallback) is an error.
        if (config.threads > 0 && info.threads !== config.threads) {
          const why = info.threadsFallback ? `: ${info.threadsFallback.reason}` : '';
          throw new Error(`The load asked for ${config.threads} threads and runs ${info.threads}${why}.`);
        }
        ran = info.engine ?? ran;
        onLoaded?.(info);
        return { totalMs: ms, downloadMs: info.downloadMs, initMs: info.initMs };
      },
      async unload() {
        unwrap(
          await guard(
            page.evaluate(() => (globalThis as unknown as G).edgetier.unload()),
            RUN_TIMEOUT_MS,
            'Unloading',
          ),
        );
      },
      async generate(promptIds, newTokens, context = []) {
        return (await generateAtDepth(engine, context, promptIds, newTokens)).metrics;
      },
      async peakMemory(): Promise<PeakMemory> {
        const stats = unwrap(await page.evaluate(() => (globalThis as unknown as G).edgetier.memory()));
        if (ran === 'edgetier-wasm') {
          return stats.cpuEngineBytes === null
            ? { bytes: null, note: "the worker reported no memory of edgetier's CPU engine" }
            : {
                bytes: stats.cpuEngineBytes,
                note: "edgetier's CPU engine's WebAssembly memory in the engine worker (weights, scratch, KV cache; it never shrinks: its peak)",
              };
        }
        return stats.wasmHeapBytes === null
          ? { bytes: null, note: 'the worker reported no WebAssembly heap' }
          : {
              bytes: stats.wasmHeapBytes,
              note: "ORT's WebAssembly heap in the engine worker (it never shrinks: its peak)",
            };
      },
    };
  }

  /**
   * The stock transformers.js pipeline, on its own page: with `threads` null exactly as a visitor
   * gets it, else with ORT's numThreads set to `threads` (the one change). `threads()` is what ORT
   * reported after the last load (0 before one).
   */
  async stockTarget(
    modelDir: string,
    threads: number | null,
  ): Promise<{ target: BenchTarget; threads: () => number }> {
    const name = basename(resolve(modelDir));
    if (!this.stockServer)
      this.stockServer = await serveEnginePage(await buildStockPage(), { appCsp: false });
    const setting = threads === null ? 'default' : String(threads);
    let page = this.stockPages.get(setting);
    if (!page) {
      page = await this.browser.context.newPage();
      await page.goto(`${this.stockServer.origin}/index.html`);
      await page.waitForFunction(() => (globalThis as { stockBench?: unknown }).stockBench !== undefined);
      this.stockPages.set(setting, page);
    }
    this.stockServer.addModel(name, modelDir);
    const stockPage = page;
    let used = 0;
    const target: BenchTarget = {
      async load(cold) {
        const timing = unwrap(
          await stockPage.evaluate(([n, c, t]) => (globalThis as unknown as G).stockBench.load(n, c, t), [
            name,
            cold,
            threads,
          ] as const),
        );
        used = timing.threads;
        return { totalMs: timing.totalMs, downloadMs: timing.downloadMs, initMs: timing.initMs };
      },
      async unload() {
        unwrap(await stockPage.evaluate(() => (globalThis as unknown as G).stockBench.unload()));
      },
      async generate(promptIds, newTokens, context = []) {
        // run-bench refuses stock rows at a depth (depthRefusal); this is the last line of that.
        if (context.length > 0)
          throw new EdgetierError('bad_request', 'The stock transformers.js page runs at depth 0 only.');
        return unwrap(
          await stockPage.evaluate(([ids, n]) => (globalThis as unknown as G).stockBench.generate(ids, n), [
            promptIds,
            newTokens,
          ] as const),
        );
      },
      async peakMemory(): Promise<PeakMemory> {
        const bytes = await stockPage.evaluate(() => (globalThis as unknown as G).stockBench.memory());
        return bytes === null
          ? { bytes: null, note: 'ORT created no WebAssembly memory on the page' }
          : {
              bytes,
              note: "ORT's WebAssembly heap on the page (it never shrinks: its peak, all loads of this page)",
            };
      },
    };
    return { target, threads: () => used };
  }

  async stockVersions(): Promise<{ transformers: string; onnxruntimeWeb: string | null } | null> {
    const page = this.stockPages.values().next().value;
    return page ? page.evaluate(() => (globalThis as unknown as G).stockBench.versions()) : null;
  }

  async close(): Promise<void> {
    await this.browser.close();
    await this.server.close();
    await this.stockServer?.close();
  }
}
