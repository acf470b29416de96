/**
 * Groups streamed text into chunks so the page gets a message every few tokens, not one per token:
 * a chunk leaves when `maxTokens` tokens are waiting or `maxDelayMs` have passed since the last one,
 * and at the end. The check runs when a token arrives, so no timer is needed.
 */
import type { StreamChunk } from '../core/engine.ts';
import { type Clock, defaultClock } from '../core/metrics.ts';

export const DEFAULT_BATCHING = { maxTokens: 8, maxDelayMs: 50 } as const;

export class ChunkBatcher {
  private text = '';
  private reasoning = '';
  private tokens = 0;
  private lastFlushMs: number;

  constructor(
    private readonly sink: (chunk: StreamChunk) => void,
    private readonly options: { maxTokens: number; maxDelayMs: number } = DEFAULT_BATCHING,
    private readonly clock: Clock = defaultClock,
  ) {
    this.lastFlushMs = clock();
  }

  /** Adds one token's worth of (possibly empty) text; sends a chunk when one is due. */
  add(piece: { text: string; reasoning: string }): void {
    this.text += piece.text;
    this.reasoning += piece.reasoning;
    this.tokens++;
    if (this.tokens >= this.options.maxTokens || this.clock() - this.lastFlushMs >= this.options.maxDelayMs) {
      this.flush();
    }
  }

  /** Adds text with no new token (what was held back, released at the end). */
  addText(piece: { text: string; reasoning: string }): void {
    this.text += piece.text;
    this.reasoning += piece.reasoning;
  }

  flush(): void {
    if (this.tokens === 0 && !this.text && !this.reasoning) return;
    const chunk: StreamChunk = { text: this.text, tokens: this.tokens };
    if (this.reasoning) chunk.reasoning = this.reasoning;
    this.text = '';
    this.reasoning = '';
    this.tokens = 0;
    this.lastFlushMs = this.clock();
    this.sink(chunk);
  }
}
