/**
 * The hosted tier: requests forwarded to an OpenAI-compatible upstream, with the key added here so
 * the browser never sees it. The upstream's models are listed as it reports them (cached briefly).
 * Forwarding goes through the remote client, so its time limits, retries before the first token and
 * typed errors apply here too.
 */
import { EdgetierError } from '../core/errors.ts';
import {
  listModels,
  type RemoteEndpoint,
  type RemoteLimits,
  streamChatCompletion,
} from '../remote/openai-client.ts';
import type { ChatCompletionRequest, WireModel } from '../remote/openai-wire.ts';
import { ApiError, apiErrorFromUpstream } from './api-error.ts';
import type { Tier, TierDelta, TierOutcome } from './tier.ts';

export interface UpstreamOptions {
  /** Base URL up to and including /v1. */
  url: string;
  key?: string;
  limits?: Partial<RemoteLimits>;
  /** How long a /v1/models answer is reused. Default 30 s. */
  modelsTtlMs?: number;
  log?: (line: string) => void;
}

export class UpstreamTier implements Tier {
  private readonly endpoint: RemoteEndpoint;
  private cached: { at: number; models: WireModel[] } | null = null;

  constructor(private readonly options: UpstreamOptions) {
    this.endpoint = { baseUrl: options.url, ...(options.key ? { apiKey: options.key } : {}) };
  }

  async models(): Promise<WireModel[]> {
    const ttl = this.options.modelsTtlMs ?? 30_000;
    if (this.cached && Date.now() - this.cached.at < ttl) return this.cached.models;
    try {
      const list = await listModels(
        this.endpoint,
        this.options.limits ? { limits: this.options.limits } : {},
      );
      // The `edgetier` block (synthetic twin, mirrors) is this server's to give, never an upstream's.
      const models = list.data.map(({ edgetier: _claimed, ...model }) => model as WireModel);
      this.cached = { at: Date.now(), models };
      return models;
    } catch (error) {
      this.options.log?.(
        `upstream: listing models failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      return this.cached?.models ?? [];
    }
  }

  /** Every model the native tier does not claim goes upstream; the upstream says if it is unknown. */
  async handles(_model: string): Promise<boolean> {
    return true;
  }

  async run(
    request: ChatCompletionRequest,
    onDelta: (delta: TierDelta) => void,
    signal: AbortSignal,
  ): Promise<TierOutcome> {
    const { stream: _stream, stream_options: _options, ...forwarded } = request;
    try {
      const result = await streamChatCompletion(this.endpoint, forwarded, {
        signal,
        onDelta,
        ...(this.options.limits ? { limits: this.options.limits } : {}),
      });
      // An early [DONE] (no finish_reason) ended the answer as a stop would.
      return { finishReason: result.finishReason ?? 'stop', usage: result.usage };
    } catch (error) {
      // Cut by the server (shutdown): say so, not "the client went away".
      if (signal.aborted && signal.reason instanceof ApiError) throw signal.reason;
      if (error instanceof EdgetierError) throw apiErrorFromUpstream(error);
      throw new ApiError(
        502,
        `Upstream: ${error instanceof Error ? error.message : String(error)}`,
        'upstream_error',
      );
    }
  }

  async close(): Promise<void> {}
}
