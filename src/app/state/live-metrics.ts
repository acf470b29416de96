/**
 * Live figures while an answer streams. Engines send chunks of several tokens, so the page feeds
 * core's MetricsRecorder one `token()` per token of each chunk at the chunk's arrival (time to first
 * token and decode tok/s are exact over first-to-last token), and keeps the inter-token latency of
 * each chunk (gap since the previous chunk / its tokens) for the chart. When the answer ends, the
 * engine's own measured metrics replace these.
 */
import { type Clock, defaultClock, type GenerationMetrics, MetricsRecorder } from '../../core/metrics.ts';
import { Store } from './store.ts';

/** Most recent points kept for the chart. */
export const ITL_POINTS = 120;

interface LiveState {
  running: boolean;
  metrics: GenerationMetrics | null;
  /** Inter-token latency in ms, one point per chunk after the first. */
  itlMs: number[];
  tokens: number;
  /** The prompt's length in tokens, when the engine said (see StreamChunk.promptTokens). */
  promptTokens: number | null;
  /** Stop was pressed and the engine has not ended the answer yet. */
  stopping: boolean;
}

export class LiveMetrics extends Store<LiveState> {
  #recorder: MetricsRecorder | null = null;
  #lastChunkMs = 0;

  constructor(private readonly clock: Clock = defaultClock) {
    super({ running: false, metrics: null, itlMs: [], tokens: 0, promptTokens: null, stopping: false });
  }

  start(): void {
    this.#recorder = new MetricsRecorder(0, 0, this.clock);
    this.#recorder.start();
    this.#lastChunkMs = 0;
    this.set({
      running: true,
      metrics: this.#recorder.snapshot(),
      itlMs: [],
      tokens: 0,
      promptTokens: null,
      stopping: false,
    });
  }

  prompt(promptTokens: number): void {
    if (this.state.running) this.set({ promptTokens });
  }

  stopping(): void {
    if (this.state.running) this.set({ stopping: true });
  }

  chunk(tokens: number): void {
    const recorder = this.#recorder;
    if (!recorder || tokens <= 0) return;
    const now = this.clock();
    for (let i = 0; i < tokens; i++) recorder.token();
    let itlMs = this.state.itlMs;
    if (this.#lastChunkMs > 0) {
      itlMs = [...itlMs, (now - this.#lastChunkMs) / tokens].slice(-ITL_POINTS);
    }
    this.#lastChunkMs = now;
    this.set({ metrics: recorder.snapshot(), itlMs, tokens: this.state.tokens + tokens });
  }

  /** The engine's measured figures are the final word. */
  finish(final: GenerationMetrics | null): void {
    this.#recorder = null;
    this.set({ running: false, stopping: false, metrics: final ?? this.state.metrics });
  }
}
