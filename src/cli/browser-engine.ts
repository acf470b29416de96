/**
 * The browser engine driven from Node: headless Chromium on the built engine page, whose
 * WorkerEngine runs the engine worker. It implements the same Engine contract as the Node engine, so
 * `edgetier generate --device wasm|webgpu` prints the same JSON as `--device cpu`. Model folders on
 * disk are served at /models/<name>/ by the page server; errors come back with their code.
 */
import { basename, resolve } from 'node:path';
import type {
  CachedModel,
  CpuRuntimeChoice,
  Engine,
  GenerateRequest,
  GenerateResult,
  LoadInfo,
  LoadProgress,
  LoadRequest,
  StreamChunk,
} from '../core/engine.ts';
import type { LoadedInfo, MemoryStats } from '../core/engine-protocol.ts';
import { EdgetierError, type EdgetierErrorCode } from '../core/errors.ts';
import { type LaunchedBrowser, launchChromium, requireChromium } from './browser.ts';
import {
  buildEnginePage,
  type EnginePageOptions,
  type EnginePageServer,
  serveEnginePage,
} from './engine-page.ts';

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

/** What engine.html puts on `window` (src/client/engine-harness.ts), as seen from Node. */
interface PageGlobals {
  edgetier: {
    load(request: unknown): Promise<Outcome<LoadedInfo>>;
    progress(): LoadProgress[];
    generate(request: GenerateRequest): Promise<Outcome<{ result: GenerateResult }>>;
    interrupt(): void;
    resetConversation(): Promise<Outcome<void>>;
    memory(): Promise<Outcome<MemoryStats>>;
    unload(): Promise<Outcome<void>>;
    listCached(): Promise<Outcome<CachedModel[]>>;
    deleteCached(id: string): Promise<Outcome<void>>;
  };
  edgetierOnChunk?: (chunk: StreamChunk) => void;
  edgetierOnChunkFromNode?: (chunk: StreamChunk) => Promise<void>;
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw new EdgetierError(outcome.code as EdgetierErrorCode, outcome.message);
}

export interface BrowserEngineOptions {
  webgpu?: boolean;
  /** WASM threads; 0 or absent lets the plan choose. */
  threads?: number;
  /** What runs device wasm when a load request does not say (default auto: src/core/cpu-runtime-plan.ts). */
  runtime?: CpuRuntimeChoice;
  /** Answers requests before the page server does (tests inject HTTP faults here). */
  intercept?: EnginePageOptions['intercept'];
}

export class BrowserEngine implements Engine {
  private constructor(
    private readonly browser: LaunchedBrowser,
    private readonly server: EnginePageServer,
    private readonly options: BrowserEngineOptions,
  ) {}

  static async start(options: BrowserEngineOptions = {}): Promise<BrowserEngine> {
    requireChromium(); // before the page build: a missing browser is said at once
    const dist = await buildEnginePage();
    const server = await serveEnginePage(dist, options.intercept ? { intercept: options.intercept } : {});
    let browser: LaunchedBrowser | undefined;
    try {
      browser = await launchChromium({ webgpu: options.webgpu ?? false });
      await browser.page.goto(`${server.origin}/engine.html`);
      await browser.page.waitForFunction(
        () => (globalThis as unknown as Partial<PageGlobals>).edgetier !== undefined,
      );
    } catch (error) {
      await browser?.close();
      await server.close();
      if (error instanceof EdgetierError) throw error; // already one line that says what to do
      throw new EdgetierError('internal', `Could not start the browser engine: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new BrowserEngine(browser, server, options);
  }

  /** The page, for tests and benchmarks that drive `window.edgetier` directly. */
  get page() {
    return this.browser.page;
  }

  get origin(): string {
    return this.server.origin;
  }

  /** Serves a model folder and returns its URL on the page's origin. */
  serveModel(dir: string, name = basename(resolve(dir))): string {
    return this.server.addModel(name, dir);
  }

  async load(request: LoadRequest, onProgress?: (progress: LoadProgress) => void): Promise<LoadedInfo> {
    const source =
      request.source.kind === 'path'
        ? { kind: 'url' as const, url: this.serveModel(request.source.path) }
        : request.source;
    const threads = request.threads && request.threads > 0 ? request.threads : this.options.threads;
    const outcome = await this.page.evaluate(
      (req) => (globalThis as unknown as PageGlobals).edgetier.load(req),
      {
        ...request,
        source,
        ...(threads ? { threads } : {}),
        ...(!request.runtime && this.options.runtime ? { runtime: this.options.runtime } : {}),
      },
    );
    if (onProgress)
      for (const p of await this.page.evaluate(() =>
        (globalThis as unknown as PageGlobals).edgetier.progress(),
      ))
        onProgress(p);
    return unwrap(outcome);
  }

  async generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult> {
    if (onChunk) {
      await this.page.exposeFunction('edgetierOnChunkFromNode', onChunk).catch(() => undefined);
      await this.page.evaluate(() => {
        const page = globalThis as unknown as PageGlobals;
        page.edgetierOnChunk = (chunk) => void page.edgetierOnChunkFromNode?.(chunk);
      });
    }
    const outcome = await this.page.evaluate(
      (req) => (globalThis as unknown as PageGlobals).edgetier.generate(req),
      request,
    );
    return unwrap(outcome).result;
  }

  async interrupt(): Promise<void> {
    await this.page.evaluate(() => (globalThis as unknown as PageGlobals).edgetier.interrupt());
  }

  async resetConversation(): Promise<void> {
    unwrap(
      await this.page.evaluate(() => (globalThis as unknown as PageGlobals).edgetier.resetConversation()),
    );
  }

  async memory(): Promise<MemoryStats> {
    return unwrap(await this.page.evaluate(() => (globalThis as unknown as PageGlobals).edgetier.memory()));
  }

  /** Unloads the model and closes Chromium and the page server. */
  async unload(): Promise<void> {
    await this.page
      .evaluate(() => (globalThis as unknown as PageGlobals).edgetier.unload())
      .catch(() => undefined);
    await this.browser.close();
    await this.server.close();
  }

  async listCached(): Promise<CachedModel[]> {
    return unwrap(
      await this.page.evaluate(() => (globalThis as unknown as PageGlobals).edgetier.listCached()),
    );
  }

  async deleteCached(id: string): Promise<void> {
    unwrap(
      await this.page.evaluate((i) => (globalThis as unknown as PageGlobals).edgetier.deleteCached(i), id),
    );
  }
}

export type { LoadInfo };
