/**
 * What answers a chat request behind /v1: the upstream (a hosted OpenAI-compatible API) or the
 * native tier (a local model on onnxruntime-node). The HTTP layer turns deltas into SSE or JSON and
 * errors into OpenAI's error shape; a tier only streams text and throws ApiErrors.
 */
import type { ChatCompletionRequest, Usage, WireModel } from '../remote/openai-wire.ts';

export interface TierDelta {
  content?: string;
  reasoning?: string;
}

export interface TierOutcome {
  /** `content_filter` only from an upstream that sent it. */
  finishReason: 'stop' | 'length' | 'content_filter';
  usage: Usage | undefined;
}

export interface Tier {
  /** For /healthz: 'loading' | 'ready' | 'failed' | 'building'; absent for tiers without one. */
  readonly state?: string;
  /** Its entries for /v1/models. */
  models(): Promise<WireModel[]>;
  /** Whether a request naming `model` goes to this tier. */
  handles(model: string): Promise<boolean>;
  /**
   * Streams one answer; rejects with an ApiError. Must stop soon after `signal` fires. A tier that
   * may keep a request waiting (the native queue) calls `onAccepted` once it has taken the request,
   * so a streaming response can start (headers, keep-alives) before the first token.
   */
  run(
    request: ChatCompletionRequest,
    onDelta: (delta: TierDelta) => void,
    signal: AbortSignal,
    onAccepted?: () => void,
  ): Promise<TierOutcome>;
  close(): Promise<void>;
}
