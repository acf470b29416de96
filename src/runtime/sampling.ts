/**
 * Next-token choice from a step's logits, for runtimes that return raw logits (edgetier's CPU
 * engine). The steps and their order are transformers.js's (4.3.1), so a request means the same on
 * either runtime: repetition penalty, end-of-sequence suppression while a minimum length is not
 * reached, then greedy argmax, or temperature, top-k, top-p (the nucleus of the top-k tokens),
 * softmax and a weighted draw. transformers.js 4.3.1 never applies top_p by itself (its
 * TopPLogitsWarper is commented out); edgetier's TransformersGenerator adds `nucleus` as a logits
 * processor so that the onnxruntime path applies it the same way.
 */

import { EdgetierError } from '../core/errors.ts';

/** transformers.js's GenerationConfig default, used when generation_config.json sets no top_k. */
export const DEFAULT_TOP_K = 50;

/**
 * The refusal of a step whose logits hold NaN, where no token can be chosen and any would be noise:
 * a model whose arithmetic overflowed (f16 weights on a GPU can) or whose weights are damaged. Both
 * runtimes refuse such a step by name rather than answer with whatever their argmax or the draw makes
 * of NaN (token 0, or the last candidate). A logit set to -Infinity before the choice (an EOS under
 * ignoreEos) is no longer NaN, on either runtime. Its own class so that the load's warm-up can tell
 * it apart: a model may answer other prompts (ModelSession.warmUp).
 */
export class NanLogitsError extends EdgetierError {
  /** `answerToken`: the tokens of the answer before this one. */
  constructor(answerToken: number) {
    super(
      'generation_failed',
      `The model's scores for token ${answerToken + 1} of the answer are not numbers (NaN), so no next token can be chosen: its arithmetic overflowed (as f16 weights on a GPU can) or its weights are damaged. Try another weight format (dtype) or device.`,
    );
  }
}

/** The index of the first NaN among `values`, or -1. */
export function firstNaN(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return i;
  return -1;
}

/** Divides positive logits of tokens already present by `penalty` and multiplies negative ones (once per distinct id). */
export function applyRepetitionPenalty(logits: Float32Array, ids: Iterable<number>, penalty: number): void {
  for (const id of new Set(ids)) {
    const v = logits[id];
    if (v === undefined) continue;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/** Sets the logits of `ids` to -Infinity (the end-of-sequence tokens before min_new_tokens). */
export function suppressTokens(logits: Float32Array, ids: Iterable<number>): void {
  for (const id of ids) if (id >= 0 && id < logits.length) logits[id] = Number.NEGATIVE_INFINITY;
}

/** The index of the largest logit; the first one among equals. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let max = logits[0] ?? Number.NEGATIVE_INFINITY;
  for (let i = 1; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * The `k` largest logits' indices, largest first (lower index first among equals). A partial
 * insertion sort for small k (a 50-of-49152 selection each step), a full sort otherwise.
 */
export function topKIndices(logits: Float32Array, k: number): number[] {
  const n = logits.length;
  const want = Math.max(1, Math.min(k, n));
  if (want * 8 >= n) {
    const all = Array.from({ length: n }, (_, i) => i);
    return all.sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, want);
  }
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (idx.length < want) idx.push(i);
    else if (v > logits[idx[want - 1]!]!) idx[want - 1] = i;
    else continue;
    // Bubble it up past smaller values; an equal value stays ahead (lower index first).
    for (let at = idx.length - 1; at > 0 && logits[idx[at - 1]!]! < v; at--) {
      idx[at] = idx[at - 1]!;
      idx[at - 1] = i;
    }
  }
  return idx;
}

export interface SamplingParams {
  /** Above 0. */
  temperature: number;
  /** 0 keeps every token. */
  topK: number;
  /** Keep the smallest set of top tokens whose probability reaches this; 1 keeps all. */
  topP: number;
}

/**
 * The candidates of a draw from `logits` (already divided by the temperature): the top-k ids,
 * largest first, cut to the smallest run whose weight reaches `topP` of the top-k's total (at
 * least one id), with their weights exp(logit - max) and the kept weights' sum.
 */
export function nucleus(
  logits: Float32Array,
  topK: number,
  topP: number,
): { ids: number[]; weights: number[]; total: number } {
  const ids = topKIndices(logits, topK > 0 ? topK : logits.length);
  const top = logits[ids[0]!]!;
  const weights = ids.map((id) => Math.exp(logits[id]! - top));
  const total = weights.reduce((a, b) => a + b, 0);
  if (topP >= 1) return { ids, weights, total };
  let sum = 0;
  let keep = 0;
  while (keep < ids.length && sum < topP * total) sum += weights[keep++]!;
  if (keep === 0) return { ids: ids.slice(0, 1), weights: weights.slice(0, 1), total: weights[0]! };
  return { ids: ids.slice(0, keep), weights: weights.slice(0, keep), total: sum };
}

/**
 * Replaces `logits` in place by (logit - largest) / temperature: the softmax of logits / temperature,
 * as transformers.js divides them, but a tiny temperature (1e-39) cannot overflow the largest to
 * Infinity (Infinity - Infinity is NaN, which drew the last candidate): it is then greedy, every other
 * weight exp(-Infinity) = 0.
 */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  let largest = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > largest) largest = logits[i]!;
  // +Infinity (an fp16 overflow) takes all the weight, shared by every such logit, as greedy takes it.
  if (largest === Infinity) {
    for (let i = 0; i < logits.length; i++) logits[i] = logits[i] === Infinity ? 0 : -Infinity;
    return;
  }
  // Every logit -Infinity (or NaN): nothing to shift by.
  const shift = Number.isFinite(largest) ? largest : 0;
  for (let i = 0; i < logits.length; i++) logits[i] = (logits[i]! - shift) / temperature;
}

/**
 * A token drawn from softmax(logits / temperature) over the top-k (then top-p) tokens. `random`
 * gives numbers in [0, 1). Applies the temperature to `logits` in place (applyTemperature).
 */
export function sampleToken(logits: Float32Array, params: SamplingParams, random: () => number): number {
  applyTemperature(logits, params.temperature);
  const { ids, weights, total } = nucleus(logits, params.topK, params.topP);
  let r = random() * total;
  for (let i = 0; i < ids.length; i++) {
    r -= weights[i]!;
    if (r < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}
