/**
 * The benchmark method, shared by `edgetier bench` (Node driving onnxruntime-node and headless
 * Chromium) and the app's Bench view (the visitor's own browser), so both produce the same numbers
 * the same way. llama-bench conventions:
 *
 * - `pp N`: a prompt of exactly N synthetic token ids (no template, no tokenizer) is prefilled into
 *   an empty KV cache; tokens/s = N / time to first token (the prefill plus one sampling step).
 * - `tg N`: after a 1-token prompt, N + 1 tokens are generated with EOS ignored; tokens/s = N /
 *   time from the first to the last token (N decode steps, the prefill excluded).
 * - Each of `warmup` runs first (not counted), then the counted runs; mean ± sample sd.
 * - Rounds (`rounds` > 1; `reps` must be a multiple of it): the rows take turns, A B C A B C …, each
 *   turn loading warm, running the warm-up and then its counted repetitions, so that a machine whose
 *   speed drifts over minutes slows every row alike instead of whichever ran then; a row's rounds are
 *   merged in order (mergeRounds) and ratios can be read per round.
 * - Every row runs the same number of repetitions in every round, fixed before its first counted run
 *   (repsPerRound): `reps / rounds`, or fewer under the row budget. So a row's mean weighs every
 *   round alike (the mean of all values is the mean of the round means): a budget decided round by
 *   round would cut a row's slow rounds only and bias its mean upward.
 * - Row budget: when one repetition (pp + tg), timed on the last warm-up run of the first round (or
 *   on its first counted run when there is no warm-up), says `reps` of them would exceed the budget,
 *   fewer are run, the same count in every round (never fewer than 1 per round nor 2 in all, so there
 *   is still an sd); the stats carry the actual n and the row a note.
 * - Load: cold = the first load (download or cache fill, then session init), warm = a second load
 *   of the same files right after unloading.
 *
 * Pure: an engine comes in through the BenchTarget interface; no Node or DOM API here.
 */
import type { GenerationMetrics } from '../metrics.ts';
import { type Summary, summarize } from './stats.ts';

export interface BenchParams {
  /** Prompt tokens of the prompt-processing test. */
  pp: number;
  /** Generated tokens of the text-generation test. */
  tg: number;
  /** Counted repetitions. */
  reps: number;
  /** Uncounted runs before the counted ones (in every round). */
  warmup: number;
  /**
   * With `warmup` >= 1: more warm-up runs until the warm-up has taken this many seconds (at most
   * MAX_WARMUP_RUNS runs), in every round; absent or 0: exactly `warmup` runs. snake_case: the
   * params are written to the report as they are.
   */
  warmup_s?: number;
  /**
   * Turns the rows take, each with `reps / rounds` of the repetitions (`reps` must be a multiple);
   * absent: 1 (each row runs all at once).
   */
  rounds?: number;
  /**
   * Tokens already in the KV cache before each test (llama-bench's `-d`), one row per depth; absent:
   * [0] (an empty cache, the plain method). Each row's own depth is its `depth`.
   */
  depth?: number[];
}

export const DEFAULT_BENCH_PARAMS: Readonly<BenchParams> = { pp: 128, tg: 64, reps: 5, warmup: 1 };

/**
 * Seconds of warm-up every row gets at least (`edgetier bench --warmup-s`). One warm-up run is a
 * second or more for a browser row but a fraction of one for a native row, whose prefill was seen
 * still rising across rounds with one warm-up each (native q4, 135M twin: 180 → 238 → 376 tok/s);
 * a time floor gives a fast row several runs at little cost and a slow one just `warmup`.
 */
export const DEFAULT_WARMUP_S = 2;

/** The most warm-up runs `warmup_s` adds up to (a native row runs many a second). */
export const MAX_WARMUP_RUNS = 20;

/** Keeps a slow row (q4 on WASM decodes at 1-2 tok/s on a 2-core machine) within minutes. */
export const DEFAULT_ROW_BUDGET_S = 60;

/** The report note that states the row budget (CLI and app alike). */
export function rowBudgetNote(budgetS: number, reps: number, warmup: number): string {
  const timedOn =
    warmup > 0
      ? 'the last warm-up run of its first round'
      : 'the first counted run of its first round (there is no warm-up)';
  return (
    `Row budget ${budgetS} s: a row whose repetition (pp + tg), timed on ${timedOn}, means ${reps} ` +
    `repetitions would take longer runs fewer, the same number in every round (at least 2 in all); ` +
    `its note and n say how many.`
  );
}

export interface LoadTiming {
  /** Wall time of the whole load, as the caller saw it. */
  totalMs: number;
  /** Fetching files (0 for a folder on disk); null where the engine cannot tell. */
  downloadMs: number | null;
  /** Building the inference session; null where the engine cannot tell. */
  initMs: number | null;
}

export interface PeakMemory {
  bytes: number | null;
  /** What `bytes` counts, or why it is null. */
  note: string;
}

/** One engine configuration as the method sees it; the caller binds device, dtype and threads. */
export interface BenchTarget {
  /** `cold`: the first load, with nothing cached for it. */
  load(cold: boolean): Promise<LoadTiming>;
  unload(): Promise<void>;
  /**
   * Forgets the KV cache, then generates exactly `newTokens` (EOS ignored) after `promptIds`. With a
   * non-empty `context` (a depth test): fills the cache with it first, untimed (generateAtDepth in
   * depth.ts), and generates after context + promptIds, the context reused from the cache.
   */
  generate(promptIds: number[], newTokens: number, context?: readonly number[]): Promise<GenerationMetrics>;
  peakMemory(): Promise<PeakMemory>;
}

export interface ConfigMeasurement {
  ppTokPerSec: Summary;
  tgTokPerSec: Summary;
  ttftMs: Summary;
  coldLoad: LoadTiming;
  warmLoad: LoadTiming;
  peakMemory: PeakMemory;
  /** Why the row deviates from the parameters (fewer repetitions under the row budget), or null. */
  note: string | null;
  /** Counted repetitions per round, in order (mergeRounds sets it); absent: one round. */
  repsByRound?: number[];
  /** The counted repetitions this turn ran: what every later round of the row runs too. */
  repsPerRound: number;
  /** Uncounted warm-up runs this turn ran (at least `warmup`; more under `warmup_s`). */
  warmupRuns: number;
  /** Warm-up runs per round, in order (mergeRounds sets it); absent: one round. */
  warmupRunsByRound?: number[];
}

export interface MeasureOptions {
  /** Wall-time budget of a row's counted repetitions, in ms; 0 or absent: always run `reps`. */
  rowBudgetMs?: number;
  /** A later round: load warm only (the first round measured the cold load, reported as such). */
  warmOnly?: boolean;
  /**
   * The row's repetitions per round, decided by its first round (repsPerRound of that measurement);
   * absent: this is the first round, which decides it.
   */
  repsPerRound?: number;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /** Tokens in the cache before each test (a depth row); default 0. */
  depth?: number;
}

/**
 * Counted repetitions a row runs in each round, given one repetition's time, decided once before
 * the row's first counted run: `reps / rounds` when all `reps` fit the budget (or there is no
 * budget), otherwise as many per round as fit, the same in every round, but never fewer than 1 per
 * round nor 2 in all (an sd needs two values).
 */
export function repsPerRound(reps: number, rounds: number, repMs: number, budgetMs: number): number {
  if (!Number.isInteger(reps / rounds)) {
    throw new Error(`reps (${reps}) must be a multiple of rounds (${rounds}): every round runs as many.`);
  }
  const share = reps / rounds;
  if (!(budgetMs > 0) || !(repMs > 0) || reps * repMs <= budgetMs) return share;
  const fit = Math.floor(budgetMs / repMs / rounds);
  return Math.min(share, Math.max(Math.ceil(2 / rounds), fit));
}

/** The row note for a budget-cut row: "2 of 5 repetitions: row budget 60 s (one took ~48 s)". */
export function budgetNote(ran: number, reps: number, budgetMs: number, repMs: number, rounds = 1): string {
  const perRound = rounds > 1 ? ` (${ran / rounds} in each of ${rounds} rounds)` : '';
  return `${ran} of ${reps} repetitions${perRound}: row budget ${budgetMs / 1000} s (one took ~${Math.round(repMs / 1000)} s)`;
}

/**
 * One row's rounds as one measurement: the repetitions in round order, the first round's loads (the
 * only cold one), the highest peak memory, and the notes (the first round's budget decision).
 */
export function mergeRounds(parts: readonly ConfigMeasurement[]): ConfigMeasurement {
  const first = parts[0];
  if (!first) throw new Error('mergeRounds needs at least one round');
  if (parts.length === 1) return first;
  const all = (pick: (m: ConfigMeasurement) => Summary) => summarize(parts.flatMap((m) => pick(m).values));
  const bytes = parts.map((m) => m.peakMemory.bytes).filter((b): b is number => b !== null);
  const notes = [...new Set(parts.flatMap((m) => (m.note ? [m.note] : [])))];
  return {
    ppTokPerSec: all((m) => m.ppTokPerSec),
    tgTokPerSec: all((m) => m.tgTokPerSec),
    ttftMs: all((m) => m.ttftMs),
    coldLoad: first.coldLoad,
    warmLoad: first.warmLoad,
    peakMemory:
      bytes.length > 0
        ? {
            bytes: Math.max(...bytes),
            note: `${first.peakMemory.note}; the highest of ${parts.length} rounds`,
          }
        : first.peakMemory,
    note: notes.length > 0 ? notes.join('; ') : null,
    repsByRound: parts.map((m) => Math.max(m.ppTokPerSec.n, m.tgTokPerSec.n)),
    repsPerRound: first.repsPerRound,
    warmupRuns: first.warmupRuns,
    warmupRunsByRound: parts.map((m) => m.warmupRuns),
  };
}

export type BenchStep =
  | { kind: 'load'; cold: boolean }
  /** A depth row's turn reads its context into the fresh cache, untimed, before its warm-up. */
  | { kind: 'fill'; depth: number }
  | { kind: 'run'; test: 'pp' | 'tg'; rep: number; of: number; warmup: boolean };

/**
 * Token ids for a synthetic prompt: seeded, reproducible, spread over the vocabulary but clear of
 * the first ids (where tokenizers keep their special tokens).
 */
export function syntheticPromptIds(n: number, vocabSize: number, seed = 1): number[] {
  const low = vocabSize > 1000 ? 256 : 1;
  const span = Math.max(1, vocabSize - low);
  let state = seed >>> 0 || 1;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    ids.push(low + (state % span));
  }
  return ids;
}

/**
 * pp tokens/s of one run; throws when the engine did not prefill exactly the N tokens asked on top of
 * exactly `depth` cached ones.
 */
export function ppTokPerSec(metrics: GenerationMetrics, n: number, depth = 0): number {
  if (metrics.prefillTokens !== n || metrics.cachedPromptTokens !== depth) {
    throw new Error(
      `pp ${n}${depth > 0 ? ` @ d${depth}` : ''}: the engine prefilled ${metrics.prefillTokens} tokens ` +
        `(${metrics.cachedPromptTokens} cached), not ${n}${depth > 0 ? ` (${depth} cached)` : ''}.`,
    );
  }
  if (!(metrics.ttftMs > 0)) throw new Error(`pp ${n}: no time to first token was measured.`);
  return (n * 1000) / metrics.ttftMs;
}

/**
 * tg tokens/s of one run; throws when the engine did not decode exactly N tokens, or (a depth test)
 * did not find the `depth` context tokens in its cache.
 */
export function tgTokPerSec(metrics: GenerationMetrics, n: number, depth = 0): number {
  if (metrics.decodeTokens !== n) {
    throw new Error(`tg ${n}: the engine decoded ${metrics.decodeTokens} tokens, not ${n}.`);
  }
  if (depth > 0 && metrics.cachedPromptTokens !== depth) {
    throw new Error(
      `tg ${n} @ d${depth}: the engine found ${metrics.cachedPromptTokens} tokens in its cache, not ${depth}.`,
    );
  }
  if (!(metrics.decodeTokPerSec > 0)) throw new Error(`tg ${n}: no decode time was measured.`);
  return metrics.decodeTokPerSec;
}

/** Runs the whole method on one configuration; the target is unloaded at the end, even on error. */
export async function measureConfig(
  target: BenchTarget,
  params: BenchParams,
  vocabSize: number,
  onStep?: (step: BenchStep) => void,
  options: MeasureOptions = {},
): Promise<ConfigMeasurement> {
  const now = options.now ?? (() => Date.now());
  const budgetMs = options.rowBudgetMs ?? 0;
  const ppIds = syntheticPromptIds(params.pp, vocabSize, 1);
  const tgIds = syntheticPromptIds(1, vocabSize, 2);
  const depth = options.depth ?? 0;
  // The context of a depth row: seeded like the prompts, filled untimed before every measured run.
  const context = depth > 0 ? syntheticPromptIds(depth, vocabSize, 3) : undefined;
  const run = (ids: number[], n: number) =>
    context ? target.generate(ids, n, context) : target.generate(ids, n);
  try {
    let coldLoad: LoadTiming | null = null;
    if (!options.warmOnly) {
      onStep?.({ kind: 'load', cold: true });
      coldLoad = await target.load(true);
      await target.unload();
    }
    onStep?.({ kind: 'load', cold: false });
    const warmLoad = await target.load(false);
    const pp: number[] = [];
    const tg: number[] = [];
    const ttft: number[] = [];
    const rounds = params.rounds ?? 1;
    // Checks that reps is a multiple of rounds, whether or not this turn decides the count.
    let reps = repsPerRound(params.reps, rounds, 0, 0);
    const decided = options.repsPerRound;
    if (decided !== undefined) reps = decided;
    let note: string | null = null;
    /** One repetition (pp, then tg), counted or not; returns its wall time. */
    const repetition = async (rep: number, of: number, warmup: boolean): Promise<number> => {
      const started = now();
      if (params.pp > 0) {
        onStep?.({ kind: 'run', test: 'pp', rep, of, warmup });
        const m = await run(ppIds, 1);
        const speed = ppTokPerSec(m, params.pp, depth);
        if (!warmup) {
          pp.push(speed);
          ttft.push(m.ttftMs);
        }
      }
      if (params.tg > 0) {
        onStep?.({ kind: 'run', test: 'tg', rep, of, warmup });
        const m = await run(tgIds, params.tg + 1);
        const speed = tgTokPerSec(m, params.tg, depth);
        if (!warmup) tg.push(speed);
      }
      return now() - started;
    };
    const decide = (repMs: number) => {
      if (!(budgetMs > 0) || decided !== undefined) return;
      reps = repsPerRound(params.reps, rounds, repMs, budgetMs);
      if (reps * rounds < params.reps) note = budgetNote(reps * rounds, params.reps, budgetMs, repMs, rounds);
    };
    // A depth row's first fill after a load reads all `depth` tokens (seconds at 2000); later runs'
    // fills cut the cache back and read one token. Done here, on its own, it is neither a warm-up
    // run's time (the row budget's estimate of a repetition) nor the warm-up time floor's.
    if (context) {
      onStep?.({ kind: 'fill', depth });
      await run(tgIds, 1);
    }
    // Warm-up: `warmup` runs, then (when warmup >= 1) more until the warm-up has taken warmup_s
    // seconds, at most MAX_WARMUP_RUNS in all: a fast row (native: well under a second a run)
    // gets several, a slow one just `warmup`.
    const minWarmupMs = params.warmup > 0 ? (params.warmup_s ?? 0) * 1000 : 0;
    let warmupRuns = 0;
    let warmupMs = 0;
    let lastWarmupMs = 0;
    while (warmupRuns < params.warmup || (warmupMs < minWarmupMs && warmupRuns < MAX_WARMUP_RUNS)) {
      warmupRuns++;
      lastWarmupMs = await repetition(warmupRuns, Math.max(params.warmup, warmupRuns), true);
      warmupMs += lastWarmupMs;
    }
    // The run whose time estimates one counted repetition: the last warm-up, else the first rep.
    if (warmupRuns > 0) decide(lastWarmupMs);
    for (let rep = 1; rep <= reps; rep++) {
      const ms = await repetition(rep, reps, false);
      if (rep === 1 && warmupRuns === 0) decide(ms);
    }
    const peakMemory = await target.peakMemory();
    return {
      ppTokPerSec: summarize(pp),
      tgTokPerSec: summarize(tg),
      ttftMs: summarize(ttft),
      coldLoad: coldLoad ?? warmLoad,
      warmLoad,
      peakMemory,
      note,
      repsPerRound: reps,
      warmupRuns,
    };
  } finally {
    await target.unload().catch(() => undefined);
  }
}

/** One row of a run in rounds: opens a fresh target for each of its turns. */
export interface RoundsRow {
  open(): Promise<BenchTarget>;
  vocabSize: number;
  /** Tokens in the cache before each test; default 0. */
  depth?: number;
}

export interface RoundsHooks {
  /** A row's turn starts (row index, round index, both from 0). */
  onTurn?(row: number, round: number): void;
  onStep?(row: number, round: number, step: BenchStep): void;
  /** A row is done: all its rounds merged, or the error that stopped it (it runs no later turn). */
  onDone?(row: number, round: number, outcome: RoundsOutcome): void;
}

/** A row's merged rounds, or the error that stopped it and the round (from 0) it stopped in. */
export type RoundsOutcome = ConfigMeasurement | { error: unknown; round: number };

/**
 * A failed row's error message: a failure after the first round says which round, since the
 * rounds that ran are not reported (a row's rounds are merged only when all of them ran, so that
 * every reported row weighs every round alike).
 */
export function roundFailureMessage(message: string, round: number, rounds: number): string {
  if (round === 0) return message;
  return `round ${round + 1} of ${rounds} (the row's earlier rounds are not reported: its rounds must all run): ${message}`;
}

/**
 * Runs the rows in rounds (A B C, A B C, …; one round is the plain row-by-row run). Each row's
 * first turn decides its repetitions per round from the budget; its later turns run exactly that
 * many, so every round weighs the same in its mean.
 */
export async function measureInRounds(
  rows: readonly RoundsRow[],
  params: BenchParams,
  options: Pick<MeasureOptions, 'rowBudgetMs' | 'now'> = {},
  hooks: RoundsHooks = {},
): Promise<RoundsOutcome[]> {
  const rounds = params.rounds ?? 1;
  repsPerRound(params.reps, rounds, 0, 0);
  const parts: ConfigMeasurement[][] = rows.map(() => []);
  const outcomes: RoundsOutcome[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [i, row] of rows.entries()) {
      if (outcomes[i]) continue;
      hooks.onTurn?.(i, round);
      const decided = parts[i]![0]?.repsPerRound;
      try {
        const target = await row.open();
        parts[i]!.push(
          await measureConfig(target, params, row.vocabSize, (step) => hooks.onStep?.(i, round, step), {
            ...options,
            ...(row.depth ? { depth: row.depth } : {}),
            warmOnly: round > 0,
            ...(decided === undefined ? {} : { repsPerRound: decided }),
          }),
        );
      } catch (error) {
        outcomes[i] = { error, round };
        hooks.onDone?.(i, round, outcomes[i]!);
        continue;
      }
      if (round === rounds - 1) {
        outcomes[i] = mergeRounds(parts[i]!);
        hooks.onDone?.(i, round, outcomes[i]!);
      }
    }
  }
  return outcomes;
}
