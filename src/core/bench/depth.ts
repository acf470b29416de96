/**
 * `--depth N` (llama-bench's `-d`): N tokens already in the KV cache before a pp or tg test. Before
 * each measured run a request of its own (not timed; its metrics are dropped) brings the cache to
 * exactly the N seeded synthetic context tokens; the test then runs as a continuation of that
 * context, so the engine reuses the N cached tokens: pp N' leaves N + N' tokens in the cache, tg N'
 * decodes with N (+ 1) tokens already present.
 *
 * That fill request goes through the engine's own prefix reuse: on an empty cache (a row's first run
 * after a load) it reads all N tokens; after a measured run, whose cache starts with the context, the
 * engine cuts it back to N - 1 and reads the last context token again, so the N-token fill is paid
 * once per load, not per run, and the cut-back (a copy of the cache on ORT) is never timed (the
 * method, method.ts, runs that first fill on its own before the warm-up, so that neither the row
 * budget nor the warm-up's time floor counts it as a repetition's time). The
 * cached keys and values are those of the first fill (the engines' cut-back is exact), and an engine
 * that cannot cut back (WebGPU tensors) resets and reads all N again. Pure: no Node or DOM API.
 */
import type { GenerateRequest, GenerateResult, StreamChunk } from '../engine.ts';

/** The part of the Engine contract a depth run needs (the Engine itself, or a harness over one). */
export interface DepthEngine {
  resetConversation(): Promise<void>;
  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult>;
}

/**
 * Brings the cache to exactly `context` (not timed: its own request; with no context, forgets the
 * cache), then generates exactly `newTokens` (EOS ignored, streamed) after `context` + `promptIds`.
 * The engine keeps every prompt token in its cache and none of the one token the fill generated (it
 * is never fed back), so the second request reuses exactly `context`: its metrics say
 * `cachedPromptTokens` = context.length (the method checks it).
 */
export async function generateAtDepth(
  engine: DepthEngine,
  context: readonly number[],
  promptIds: readonly number[],
  newTokens: number,
): Promise<GenerateResult> {
  if (context.length === 0) await engine.resetConversation();
  else {
    const fill = await engine.generate({
      promptIds: [...context],
      sampling: { maxNewTokens: 1, ignoreEos: true },
    });
    // An interrupt (the app's Stop) that ended the fill ends the run: the test would read the
    // context again, seconds at 2000 tokens, before the caller's next step saw the Stop.
    if (fill.finishReason === 'aborted') return fill;
  }
  // Streamed, like every row: each token is detokenised as it comes; the chunks are not needed.
  return engine.generate(
    { promptIds: [...context, ...promptIds], sampling: { maxNewTokens: newTokens, ignoreEos: true } },
    () => {},
  );
}

/**
 * The report's note on depth rows (what the method does, depth.ts's and method.ts's comments);
 * `warmup`: the warm-up runs asked, whose absence makes the depth-0 rows' first counted run the
 * engine's first, while a depth row's fill has run the engine before its own.
 */
export function depthReportNote(warmup: number): string {
  return (
    "Depth (llama-bench's -d): a row at depth D has D seeded synthetic tokens in its KV cache before " +
    'each test: before every run a request of its own (not timed, its metrics dropped) brings the ' +
    "cache to exactly those D tokens through the engine's prefix reuse (after a run it cuts the cache " +
    'back to D - 1 and reads the last one again; an engine that cannot cut back, WebGPU, reads all D ' +
    'again), then the test runs on top (pp: D + pp tokens in the cache after; tg: decode steps with ' +
    "D + 1 and more tokens present); the engine must report the D tokens as cached. Each turn's " +
    "first fill, which reads all D after the load, runs before the warm-up, outside the row budget's " +
    "and the warm-up floor's time; later fills are in the repetition time the budget reads (all D " +
    'each run on WebGPU). Ratios compare rows of one depth; "## Depth" compares each row with its ' +
    'configuration at depth 0.' +
    (warmup > 0
      ? ''
      : " With --warmup 0 the depth-0 rows' first counted run is the engine's first after its load, " +
        'while a depth row\'s fill has run the engine before its first: "## Depth" compares a warmer ' +
        'engine with a colder one.')
  );
}

/** A test's llama-bench name: "pp512", "tg128 @ d2000". */
export function testName(test: 'pp' | 'tg', n: number, depth = 0): string {
  return depth > 0 ? `${test}${n} @ d${depth}` : `${test}${n}`;
}

/** The context positions a test at `depth` needs (what the engine checks before it runs). */
export function positionsNeeded(depth: number, pp: number, tg: number): { pp: number; tg: number } {
  return {
    // The prompt, plus the one token pp generates.
    pp: pp > 0 ? depth + pp + 1 : 0,
    // The 1-token prompt, plus tg + 1 generated tokens, the last of which is never fed back.
    tg: tg > 0 ? depth + 1 + tg + 1 : 0,
  };
}

/**
 * Why `depth` with these pp and tg does not fit a model of `contextTokens` positions
 * (max_position_embeddings), or null when it fits.
 */
export function depthFitProblem(
  depth: number,
  pp: number,
  tg: number,
  contextTokens: number,
  model: string,
): string | null {
  const need = positionsNeeded(depth, pp, tg);
  const worst = Math.max(need.pp, need.tg);
  if (worst <= contextTokens) return null;
  const which = need.pp >= need.tg ? `depth + pp + 1 = ${need.pp}` : `depth + 1 + tg + 1 = ${need.tg}`;
  return (
    `--depth ${depth} does not fit ${model}: the tests need ${which} positions, and its context holds ` +
    `${contextTokens} (max_position_embeddings); lower --depth to ${Math.max(0, depth - (worst - contextTokens))} or less, or --pp/--tg.`
  );
}

/**
 * Parses `--depth LIST`: comma-separated whole numbers, each its own test (default [0]); duplicates
 * dropped, order kept. Throws a message naming the bad item.
 */
export function parseDepths(value: string | undefined): number[] {
  if (value === undefined) return [0];
  const items = value.split(',').map((v) => v.trim());
  if (items.length === 0 || items.every((v) => v === '')) throw new Error('--depth is empty.');
  const depths: number[] = [];
  for (const item of items) {
    if (!/^\d+$/.test(item))
      throw new Error(`--depth "${item}" is not a whole number of tokens (0 or more), e.g. --depth 0,2000.`);
    const n = Number(item);
    if (!depths.includes(n)) depths.push(n);
  }
  return depths;
}
