/**
 * edgetier's CPU engine on a pool of threads in Chromium (Debian's, headless): the engine worker starts
 * `threads - 1` Web Workers from a Blob URL over one shared WebAssembly.Memory where the page is
 * cross-origin isolated (the engine page is).
 * - greedy tokens on 2 threads equal 1 thread's, Node's (q8, q4) and the reference forward pass (fp32),
 *   on a model wide enough that every decode step's GEMMs are split (each over 65,536 multiply-adds),
 *   and after a 300-token prompt, whose attention is split too;
 * - LoadInfo and the metrics say 2 threads; unload ends the kernel threads, 20 load/unload cycles
 *   leave none behind and keep one memory, and the Blob URL is revoked once the threads started;
 * - Stop during a pooled prefill and a pooled decode;
 * - a thread that fails to start, and a page that is not cross-origin isolated, leave one thread,
 *   with the reason in LoadInfo.threadsFallback (not a failed load, not a hang).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Worker as PageWorker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { buildEnginePage } from '../../src/cli/engine-page.ts';
import type { GenerateRequest, GenerateResult, LoadRequest } from '../../src/core/engine.ts';
import type { LoadedInfo, MemoryStats } from '../../src/core/engine-protocol.ts';
import { loadCpuDecoder } from '../../src/cpu-engine/node-session.ts';
import { loadReferenceCheckpoint } from '../../src/reference/checkpoint.ts';
import { DEFAULT_BATCHING } from '../../src/runtime/chunk-batcher.ts';
import { FIXTURE_TOKENS, makeCheckpoint } from '../helpers/checkpoints.ts';
import { compareGreedy } from '../helpers/greedy.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NEW_TOKENS = 16;
const PROMPT_IDS = [17, 240, 31, 99, 5, 180, 64, 12, 201, 77, 3, 150];

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };
interface Harness {
  load(request: unknown): Promise<Outcome<LoadedInfo>>;
  generate(
    request: GenerateRequest,
    options?: { interruptAfterTokens?: number },
  ): Promise<
    Outcome<{ result: GenerateResult; interruptMs: number | null; tokensWhenAborted: number | null }>
  >;
  interrupt(): Promise<void>;
  resetConversation(): Promise<Outcome<void>>;
  unload(): Promise<Outcome<void>>;
  memory(): Promise<Outcome<MemoryStats>>;
}

let dir: string;
let checkpoint: string;
let wide: string;
let engine: BrowserEngine;
/** engine.html as the build wrote it, for the page served without isolation. */
let enginePage: string;

/**
 * A page that is not cross-origin isolated: engine.html under another path, without COOP/COEP (its
 * workers follow their page, so the rest of the build may keep its headers).
 */
function plainPage(request: IncomingMessage, response: ServerResponse): boolean {
  if (!request.url?.startsWith('/plain/engine.html')) return false;
  response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  response.end(enginePage);
  return true;
}

const cpu = (path: string, dtype: LoadRequest['dtype'], threads: number): LoadRequest => ({
  source: { kind: 'path', path },
  device: 'wasm',
  dtype,
  runtime: 'edgetier',
  threads,
  warmupBudgetMs: 0,
});

/** The kernel threads alive in the page (nested in the engine worker, started from a Blob URL). */
const kernelThreads = () => engine.page.workers().filter((w) => w.url().startsWith('blob:')).length;
/** The engine worker, once a replaced one (another thread count) has gone. */
const engineWorker = async (): Promise<PageWorker> => {
  const workers = () => engine.page.workers().filter((w) => w.url().includes('engine.worker'));
  if (!(await until(() => workers().length === 1))) throw new Error('not one engine worker');
  return workers()[0]!;
};

async function until(done: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return done();
}

async function greedy(model: string, dtype: LoadRequest['dtype'], threads: number) {
  const info = await engine.load(cpu(model, dtype, threads));
  const result = await engine.generate({ promptIds: PROMPT_IDS, sampling: { maxNewTokens: NEW_TOKENS } });
  return { info, result };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-cpu-threads-browser-'));
  checkpoint = join(dir, 'wide');
  wide = join(dir, 'wide-onnx');
  // Wide enough that a decode step's every GEMM is over the pool's 65,536 multiply-add threshold
  // (q/k/v 512 x 256, o 256 x 256, gate/up 1024 x 256, down 256 x 512, head 384 x 256): split.
  await makeCheckpoint(checkpoint, {
    family: 'llama',
    tied: false,
    seed: 17,
    linearScale: 3,
    hiddenSize: 256,
    intermediateSize: 512,
    numHeads: 4,
    numKvHeads: 2,
  });
  execFileSync(
    'node',
    [join(ROOT, 'bin/edgetier.mjs'), 'convert', checkpoint, '--out', wide, '--dtype', 'fp32,q8,q4'],
    { stdio: 'ignore' },
  );
  enginePage = readFileSync(join(await buildEnginePage(), 'engine.html'), 'utf8');
  engine = await BrowserEngine.start({ intercept: plainPage });
});

afterAll(async () => {
  await engine?.unload();
  rmSync(dir, { recursive: true, force: true });
});

describe("edgetier's CPU engine on 2 threads in Chromium: the same tokens", () => {
  it('fp32: 2 threads give 1 thread’s tokens and the reference forward pass’s; LoadInfo and metrics say 2', async () => {
    const { model: ref } = await loadReferenceCheckpoint(checkpoint);
    const reference = ref.greedy(PROMPT_IDS, NEW_TOKENS, [FIXTURE_TOKENS.imEnd]);
    expect(new Set(reference.map((s) => s.token)).size).toBeGreaterThan(3);
    const one = await greedy(wide, 'fp32', 1);
    const two = await greedy(wide, 'fp32', 2);
    expect(one.info.threads).toBe(1);
    expect(two.info.threads).toBe(2);
    expect(two.info.threadsFallback).toBeUndefined();
    expect(two.info.engine).toBe('edgetier-wasm');
    expect(two.result.metrics.threads).toBe(2);
    expect(two.result.metrics.engine).toBe('edgetier-wasm');
    expect(kernelThreads()).toBe(1);
    expect(two.result.outputIds).toEqual(one.result.outputIds);
    compareGreedy('cpu engine, 2 threads, fp32', two.result.outputIds, reference);
  });

  it.each(['q8', 'q4'] as const)('%s: 2 threads give 1 thread’s tokens and Node’s', async (dtype) => {
    const decoder = await loadCpuDecoder(wide, dtype);
    const node: number[] = [];
    let logits = decoder.forward(PROMPT_IDS);
    for (let i = 0; i < NEW_TOKENS; i++) {
      const best = logits.indexOf(Math.max(...logits));
      node.push(best);
      if (best === FIXTURE_TOKENS.imEnd) break;
      logits = decoder.forward([best]);
    }
    expect(new Set(node).size).toBeGreaterThan(3);
    const one = await greedy(wide, dtype, 1);
    const two = await greedy(wide, dtype, 2);
    expect(two.info.threads).toBe(2);
    expect(one.result.outputIds).toEqual(node);
    expect(two.result.outputIds).toEqual(node);
  });
});

describe("edgetier's CPU engine on 2 threads in Chromium: a long context", () => {
  it('q8: a 300-token prompt (attention over 5 cache chunks, split across the threads) gives 1 thread’s tokens and Node’s', async () => {
    // 4 heads of 64: a step's attention is split from 128 positions on, every prefill chunk's too.
    const long = Array.from({ length: 300 }, (_, i) => (i * 29 + 5) % 384);
    const decoder = await loadCpuDecoder(wide, 'q8');
    const node: number[] = [];
    let logits = decoder.forward(long);
    for (let i = 0; i < NEW_TOKENS; i++) {
      const best = logits.indexOf(Math.max(...logits));
      node.push(best);
      if (best === FIXTURE_TOKENS.imEnd) break;
      logits = decoder.forward([best]);
    }
    expect(new Set(node).size).toBeGreaterThan(3);
    const request = { promptIds: long, sampling: { maxNewTokens: NEW_TOKENS } };
    await engine.load(cpu(wide, 'q8', 1));
    const one = await engine.generate(request);
    expect((await engine.load(cpu(wide, 'q8', 2))).threads).toBe(2);
    const two = await engine.generate(request);
    expect(two.metrics.threads).toBe(2);
    expect(one.outputIds).toEqual(node);
    expect(two.outputIds).toEqual(node);
  });
});

describe("edgetier's CPU engine on 2 threads in Chromium: the threads' lives", () => {
  it('unload ends the kernel threads; 20 load/unload cycles leave none and keep one memory; the Blob URL is revoked', async () => {
    const url = engine.serveModel(wide);
    const request = { ...cpu(wide, 'q4', 2), source: { kind: 'url' as const, url } };
    // The engine worker for 2 threads (a load starts it), then its Blob URLs recorded from the next load on.
    await engine.load(request);
    await (await engineWorker()).evaluate(() => {
      const scope = globalThis as unknown as { blobUrls: string[] };
      scope.blobUrls = [];
      const create = URL.createObjectURL.bind(URL);
      URL.createObjectURL = (blob: Blob) => {
        const made = create(blob);
        scope.blobUrls.push(made);
        return made;
      };
    });
    const cycle = async () => {
      const outcome = await engine.page.evaluate(async (req) => {
        const h = (globalThis as unknown as { edgetier: Harness }).edgetier;
        const loaded = await h.load(req);
        if (!loaded.ok) return loaded;
        const generated = await h.generate({ prompt: 'warm', sampling: { maxNewTokens: 2 } });
        if (!generated.ok) return generated;
        return { ok: true as const, value: loaded.value.threads };
      }, request);
      if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.message}`);
      expect(outcome.value).toBe(2);
      expect(kernelThreads()).toBe(1);
      const unloaded = await engine.page.evaluate(() =>
        (globalThis as unknown as { edgetier: Harness }).edgetier.unload(),
      );
      expect(unloaded.ok).toBe(true);
      // The worker ends once its loop has seen the stop flag (page.workers() hears it a moment later).
      expect(await until(() => kernelThreads() === 0)).toBe(true);
      const memory = await engine.page.evaluate(() =>
        (globalThis as unknown as { edgetier: Harness }).edgetier.memory(),
      );
      if (!memory.ok) throw new Error(memory.message);
      return memory.value;
    };
    const first = await cycle();
    expect(first.cpuEngineBytes).toBeGreaterThan(0);
    let last = first;
    for (let i = 0; i < 20; i++) last = await cycle();
    expect(last.cpuEngineBytes).toBe(first.cpuEngineBytes);
    expect(last.wasmHeapBytes).toBeNull();
    // One Blob URL per load, each revoked once its threads had started: it no longer resolves.
    const urls = await (await engineWorker()).evaluate(async () => {
      const made = (globalThis as unknown as { blobUrls: string[] }).blobUrls;
      const live = await Promise.all(
        made.map((u) =>
          fetch(u).then(
            () => true,
            () => false,
          ),
        ),
      );
      return { made: made.length, live: live.filter(Boolean).length };
    });
    expect(urls).toEqual({ made: 21, live: 0 });
  });

  it('Stop during a pooled decode keeps the partial answer; Stop during a pooled prefill leaves a cache the same prompt reuses', async () => {
    // A load that does not say takes the plan's count, as ORT does: every core up to 4 (2 here).
    const { threads: _, ...planned } = cpu(wide, 'q8', 2);
    const cores = await engine.page.evaluate(() => navigator.hardwareConcurrency);
    expect((await engine.load(planned)).threads).toBe(Math.min(4, cores));
    await engine.load(cpu(wide, 'q8', 2));
    const decoding = await engine.page.evaluate(
      (req) =>
        (globalThis as unknown as { edgetier: Harness }).edgetier.generate(req, { interruptAfterTokens: 3 }),
      { promptIds: PROMPT_IDS, sampling: { maxNewTokens: 400, ignoreEos: true } },
    );
    if (!decoding.ok) throw new Error(decoding.message);
    expect(decoding.value.result.finishReason).toBe('aborted');
    expect(decoding.value.result.metrics.threads).toBe(2);
    // This model decodes a token in a millisecond or two, so the tokens that follow the page's abort
    // are its message's travel time, which a busy machine stretches: the claim is that the worker
    // stops soon after it, long before the 400th token.
    expect(decoding.value.result.outputIds.length).toBeLessThanOrEqual(
      decoding.value.tokensWhenAborted! + DEFAULT_BATCHING.maxTokens + 128,
    );

    const long = Array.from({ length: 480 }, (_, i) => PROMPT_IDS[(i * 7) % PROMPT_IDS.length]!);
    const request = { promptIds: long, sampling: { maxNewTokens: 6 } };
    await engine.resetConversation();
    // Stop a while into the prefill. The page's timer can fire after the prefill is over (a busy
    // machine; or a quick prefill): the answer then ran on (finish reason `length`, or `aborted` with
    // more than one token), the conversation is reset and Stop comes sooner, down to at once, which
    // ends the request before or during its prefill.
    const prefilling = await engine.page.evaluate(async (req) => {
      const h = (globalThis as unknown as { edgetier: Harness }).edgetier;
      for (const delayMs of [30, 10, 2]) {
        const run = h.generate(req);
        await new Promise((r) => setTimeout(r, delayMs));
        await h.interrupt();
        const settled = await run;
        const inPrefill =
          !settled.ok ||
          (settled.value.result.finishReason === 'aborted' && settled.value.result.outputIds.length <= 1);
        if (inPrefill) return settled;
        await h.resetConversation();
      }
      const run = h.generate(req);
      await h.interrupt();
      return run;
    }, request);
    if (prefilling.ok) {
      expect(prefilling.value.result.finishReason).toBe('aborted');
      // Stopped in the prefill: no token, or one if the prefill had ended.
      expect(prefilling.value.result.outputIds.length).toBeLessThanOrEqual(1);
    } else expect(prefilling.code).toBe('aborted');
    const again = await engine.generate(request);
    await engine.resetConversation();
    const fresh = await engine.generate(request);
    expect(fresh.metrics.cachedPromptTokens).toBe(0);
    expect(again.outputIds).toEqual(fresh.outputIds);
    expect(kernelThreads()).toBe(1);
  });
});

describe("edgetier's CPU engine: one thread, and why, where the pool cannot start", () => {
  it('a thread that fails to start: the load runs on one thread and LoadInfo says why', async () => {
    const one = await greedy(wide, 'q8', 1);
    await engine.load(cpu(wide, 'q8', 2));
    // The same engine worker (same threads) from now on starts threads whose script throws.
    await (await engineWorker()).evaluate(() => {
      type WorkerClass = new (url: string, options?: unknown) => object;
      const scope = globalThis as unknown as { Worker: WorkerClass };
      const Native = scope.Worker;
      const failing = URL.createObjectURL(
        new Blob(['throw new Error("no threads today")'], { type: 'text/javascript' }),
      );
      scope.Worker = class extends Native {
        constructor(_url: string, options?: unknown) {
          super(failing, options);
        }
      };
    });
    const info = await engine.load(cpu(wide, 'q8', 2));
    expect(info.threads).toBe(1);
    expect(info.threadsFallback).toEqual({
      asked: 2,
      reason: expect.stringMatching(/^its threads failed to start: thread 1 failed: .*no threads today/),
    });
    expect(await until(() => kernelThreads() === 0)).toBe(true);
    const result = await engine.generate({ promptIds: PROMPT_IDS, sampling: { maxNewTokens: NEW_TOKENS } });
    expect(result.metrics.threads).toBe(1);
    expect(result.outputIds).toEqual(one.result.outputIds);
  });

  it('a page that is not cross-origin isolated: one thread, with the reason', async () => {
    const origin = new URL(engine.page.url()).origin;
    const one = await greedy(wide, 'q4', 1);
    await engine.page.goto(`${origin}/plain/engine.html`);
    await engine.page.waitForFunction(() => (globalThis as { edgetier?: unknown }).edgetier !== undefined);
    expect(
      await engine.page.evaluate(() => (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated),
    ).toBe(false);
    const info = await engine.load(cpu(wide, 'q4', 2));
    expect(info.threads).toBe(1);
    expect(info.threadsFallback).toEqual({
      asked: 2,
      reason: expect.stringContaining('the page is not cross-origin isolated'),
    });
    expect(kernelThreads()).toBe(0);
    const result = await engine.generate({ promptIds: PROMPT_IDS, sampling: { maxNewTokens: NEW_TOKENS } });
    expect(result.metrics.threads).toBe(1);
    expect(result.outputIds).toEqual(one.result.outputIds);
  });
});
