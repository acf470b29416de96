/**
 * The benchmark method, shared by `edgetier bench` (Node driving onnxruntime-node and headless
 * Chromium) and the app's Bench view (the visitor's own browser), so both produce the same numbers
 * the same way. llama-bench conventions:
 *
 * - `pp N`: a prompt of exactly N synthetic token ids (no template, no tokenizer) is prefilled into
 *   an empty KV cache; tokens/s = N / time to first token (the prefill plus one sampling step).
 * - `tg N`: after a 1-token prompt, N + 1 tokens are generated with EOS ignored; tokens/s = N /
 *   time from the first to the last token (N decode steps, the prefill excluded).
 * - Each of `warmup` runs first (not counted), then `reps` counted runs; mean ± sample sd.
 * - Row budget: when one repetition (pp + tg), timed on the last warm-up run (or on the first counted
 *   run when there is no warm-up), says `reps` of them would exceed the budget, fewer are run (never
 *   fewer than 2, so there is still an sd); the stats carry the actual n and the row a note.
 * - Load: cold = the first load (download or cache fill, then session init), warm = a second load
 *   of the same files right after unloading.
 * - Rounds (`rounds` > 1): the rows take turns, A B C A B C …, each turn loading warm, running the
 *   warm-up and its share of the repetitions (repsByRound), so that a machine whose speed drifts over
 *   minutes slows every row alike instead of whichever ran then; a row's rounds are merged in order
 *   (mergeRounds) and ratios can be read per round.
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
  /** Turns the rows take, each with its share of `reps`; absent: 1 (each row runs all at once). */
  rounds?: number;
}

export const DEFAULT_BENCH_PARAMS: Readonly<BenchParams> = { pp: 128, tg: 64, reps: 5, warmup: 1 };

/** Keeps a slow row (q4 on WASM decodes at 1-2 tok/s on a 2-core machine) within minutes. */
export const DEFAULT_ROW_BUDGET_S = 60;

/** The report note that states the row budget (CLI and app alike). */
export function rowBudgetNote(budgetS: number, reps: number): string {
  return (
    `Row budget ${budgetS} s: a row whose repetition (pp + tg), timed on the last warm-up run, ` +
    `means ${reps} repetitions would take longer runs fewer (at least 2); its note and n say how many.`
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
  /** Forgets the KV cache, then generates exactly `newTokens` (EOS ignored) after `promptIds`. */
  generate(promptIds: number[], newTokens: number): Promise<GenerationMetrics>;
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
}

export interface MeasureOptions {
  /** Wall-time budget of a row's counted repetitions, in ms; 0 or absent: always run `reps`. */
  rowBudgetMs?: number;
  /** A later round: load warm only (the first round measured the cold load, reported as such). */
  warmOnly?: boolean;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
}

/**
 * How many counted repetitions fit the row budget, given one repetition's time: `reps` when they
 * all fit (or there is no budget), otherwise as many as fit, but never fewer than 2 (an sd needs
 * two values) nor more than `reps`.
 */
export function repsWithinBudget(reps: number, repMs: number, budgetMs: number): number {
  if (!(budgetMs > 0) || !(repMs > 0) || reps * repMs <= budgetMs) return reps;
  return Math.min(reps, Math.max(2, Math.floor(budgetMs / repMs)));
}

/** The row note for a budget-cut row: "2 of 5 repetitions: row budget 60 s (one took ~48 s)". */
export function budgetNote(ran: number, reps: number, budgetMs: number, repMs: number): string {
  return `${ran} of ${reps} repetitions: row budget ${budgetMs / 1000} s (one took ~${Math.round(repMs / 1000)} s)`;
}

/** `reps` shared over `rounds` as evenly as possible, earlier rounds first: (5, 2) → [3, 2]. */
export function repsByRound(reps: number, rounds: number): number[] {
  return Array.from({ length: rounds }, (_, r) => Math.floor(reps / rounds) + (r < reps % rounds ? 1 : 0));
}

/**
 * One row's rounds as one measurement: the repetitions in round order, the first round's loads (the
 * only cold one), the highest peak memory, and each round's budget note prefixed with its round.
 */
export function mergeRounds(parts: readonly ConfigMeasurement[]): ConfigMeasurement {
  const first = parts[0];
  if (!first) throw new Error('mergeRounds needs at least one round');
  if (parts.length === 1) return first;
  const all = (pick: (m: ConfigMeasurement) => Summary) => summarize(parts.flatMap((m) => pick(m).values));
  const bytes = parts.map((m) => m.peakMemory.bytes).filter((b): b is number => b !== null);
  const notes = parts.flatMap((m, r) => (m.note ? [`round ${r + 1}: ${m.note}`] : []));
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
  };
}

export type BenchStep =
  | { kind: 'load'; cold: boolean }
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

/** pp tokens/s of one run; throws when the engine did not prefill exactly the N tokens asked. */
export function ppTokPerSec(metrics: GenerationMetrics, n: number): number {
  if (metrics.prefillTokens !== n || metrics.cachedPromptTokens !== 0) {
    throw new Error(
      `pp ${n}: the engine prefilled ${metrics.prefillTokens} tokens (${metrics.cachedPromptTokens} cached), not ${n}.`,
    );
  }
  if (!(metrics.ttftMs > 0)) throw new Error(`pp ${n}: no time to first token was measured.`);
  return (n * 1000) / metrics.ttftMs;
}

/** tg tokens/s of one run; throws when the engine did not decode exactly N tokens. */
export function tgTokPerSec(metrics: GenerationMetrics, n: number): number {
  if (metrics.decodeTokens !== n) {
    throw new Error(`tg ${n}: the engine decoded ${metrics.decodeTokens} tokens, not ${n}.`);
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
    let reps = params.reps;
    let note: string | null = null;
    // The run whose time estimates one counted repetition: the last warm-up, else the first rep.
    const probe = Math.max(0, params.warmup - 1);
    for (let i = 0; i < params.warmup + reps; i++) {
      const warmup = i < params.warmup;
      const rep = warmup ? i + 1 : i - params.warmup + 1;
      const of = warmup ? params.warmup : reps;
      const started = now();
      if (params.pp > 0) {
        onStep?.({ kind: 'run', test: 'pp', rep, of, warmup });
        const m = await target.generate(ppIds, 1);
        const speed = ppTokPerSec(m, params.pp);
        if (!warmup) {
          pp.push(speed);
          ttft.push(m.ttftMs);
        }
      }
      if (params.tg > 0) {
        onStep?.({ kind: 'run', test: 'tg', rep, of, warmup });
        const m = await target.generate(tgIds, params.tg + 1);
        const speed = tgTokPerSec(m, params.tg);
        if (!warmup) tg.push(speed);
      }
      if (i === probe && budgetMs > 0) {
        const repMs = now() - started;
        reps = repsWithinBudget(params.reps, repMs, budgetMs);
        if (reps < params.reps) note = budgetNote(reps, params.reps, budgetMs, repMs);
      }
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
    };
  } finally {
    await target.unload().catch(() => undefined);
  }
}
