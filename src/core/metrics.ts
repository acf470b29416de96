/**
 * Generation metrics, measured rather than estimated. A recorder is fed the moments that matter
 * (start, first token, each later token, end) by the engine itself, on an injectable clock, so the
 * figures do not depend on how often a UI repaints. Every name carries its unit.
 */
import type { Device, EngineName } from './device.ts';

export interface GenerationMetrics {
  /** Tokens of the prompt that were actually run through the model (cached prefix excluded). */
  prefillTokens: number;
  /** Prompt tokens served from the conversation's KV cache. */
  cachedPromptTokens: number;
  /** From the request to the first generated token: prefill plus the first sampling step. */
  ttftMs: number;
  prefillTokPerSec: number;
  /** Tokens generated after the first one. */
  decodeTokens: number;
  decodeTokPerSec: number;
  /** Inter-token latency percentiles over the decode phase. */
  itlP50Ms: number;
  itlP95Ms: number;
  totalMs: number;
  device?: Device;
  dtype?: string;
  threads?: number;
  /** The runtime that ran the forward passes. */
  engine?: EngineName;
}

/**
 * A run's time split at its first token: reading the prompt before it, decoding after. A run with no
 * token (stopped while its prompt was read, in chunks on either engine) spent it all on the prompt,
 * none decoding (its `ttftMs` is 0: there was no first token).
 */
export function prefillDecodeMs(m: Pick<GenerationMetrics, 'ttftMs' | 'totalMs'>): {
  prefillMs: number;
  decodeMs: number;
} {
  const totalMs = Math.max(0, m.totalMs);
  if (m.ttftMs <= 0) return { prefillMs: totalMs, decodeMs: 0 };
  return { prefillMs: m.ttftMs, decodeMs: Math.max(0, totalMs - m.ttftMs) };
}

export type Clock = () => number;

export const defaultClock: Clock = () => performance.now();

/** The q-quantile of sorted values, linear interpolation between ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export class MetricsRecorder {
  private startMs = 0;
  private firstTokenMs: number | null = null;
  private lastTokenMs = 0;
  private readonly gapsMs: number[] = [];
  private tokens = 0;

  constructor(
    private readonly prefillTokens: number,
    private readonly cachedPromptTokens = 0,
    private readonly clock: Clock = defaultClock,
  ) {}

  /** `atMs`: when the request began, if that was before the recorder existed (same clock). */
  start(atMs: number = this.clock()): void {
    this.startMs = atMs;
  }

  /** Call once per generated token, as soon as it exists. */
  token(): void {
    const now = this.clock();
    if (this.firstTokenMs === null) this.firstTokenMs = now;
    else this.gapsMs.push(now - this.lastTokenMs);
    this.lastTokenMs = now;
    this.tokens++;
  }

  /** Live figures while tokens stream; `finish` gives the final ones. */
  snapshot(): GenerationMetrics {
    return this.compute(this.clock());
  }

  finish(): GenerationMetrics {
    return this.compute(this.clock());
  }

  private compute(nowMs: number): GenerationMetrics {
    const ttftMs = this.firstTokenMs === null ? 0 : this.firstTokenMs - this.startMs;
    const decodeTokens = Math.max(0, this.tokens - 1);
    const decodeMs = this.firstTokenMs === null ? 0 : this.lastTokenMs - this.firstTokenMs;
    const sorted = [...this.gapsMs].sort((a, b) => a - b);
    return {
      prefillTokens: this.prefillTokens,
      cachedPromptTokens: this.cachedPromptTokens,
      ttftMs,
      prefillTokPerSec: ttftMs > 0 ? (this.prefillTokens * 1000) / ttftMs : 0,
      decodeTokens,
      decodeTokPerSec: decodeMs > 0 ? (decodeTokens * 1000) / decodeMs : 0,
      itlP50Ms: quantile(sorted, 0.5),
      itlP95Ms: quantile(sorted, 0.95),
      totalMs: nowMs - this.startMs,
    };
  }
}
