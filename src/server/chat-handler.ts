/**
 * `/v1/chat/completions` on top of a Tier. Streaming: the response headers wait for the first delta
 * (or for the native queue to take the request), so a failure before it is a plain HTTP error in
 * OpenAI's shape; after it, the failure is a final `data: {"error": {...}}` event following the
 * partial deltas (no [DONE]). Not streaming: the deltas are gathered into one `chat.completion`.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  Usage,
} from '../remote/openai-wire.ts';
import { ApiError } from './api-error.ts';
import type { Tier, TierDelta, TierOutcome } from './tier.ts';

/** A comment line this often while a taken request waits for its first token. */
export const KEEP_ALIVE_MS = 15_000;

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(500, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
}

export function sendApiError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) return;
  res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', ...error.headers });
  res.end(JSON.stringify(error.toWire()));
}

export interface ChatOutcome {
  status: number;
  deltas: number;
  error?: ApiError;
}

export async function handleChat(
  res: ServerResponse,
  request: ChatCompletionRequest,
  tier: Tier,
  signal: AbortSignal,
): Promise<ChatOutcome> {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = request.model;
  const chunk = (
    delta: ChatCompletionChunk['choices'][0]['delta'],
    finish: TierOutcome['finishReason'] | null,
  ) =>
    ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    }) satisfies ChatCompletionChunk;

  if (request.stream) {
    let deltas = 0;
    const send = (payload: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(payload)}\n\n`);
    };
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const stopKeepAlive = () => {
      if (keepAlive !== undefined) clearInterval(keepAlive);
      keepAlive = undefined;
    };
    const open = () => {
      if (res.headersSent) return;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache',
        'X-Accel-Buffering': 'no',
      });
      send(chunk({ role: 'assistant', content: '' }, null));
    };
    try {
      const outcome = await tier.run(
        request,
        (delta: TierDelta) => {
          open();
          stopKeepAlive();
          deltas++;
          send(chunk(wireDelta(delta), null));
        },
        signal,
        () => {
          // Taken but maybe queued: open the stream now so clients' header timeouts do not fire,
          // and keep proxies from closing it while it waits.
          open();
          keepAlive ??= setInterval(() => {
            if (!res.writableEnded && !res.destroyed) res.write(': keep-alive\n\n');
          }, KEEP_ALIVE_MS);
        },
      );
      stopKeepAlive();
      open();
      send(chunk({}, outcome.finishReason));
      if (request.stream_options?.include_usage && outcome.usage) {
        send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: outcome.usage });
      }
      if (!res.writableEnded) res.end('data: [DONE]\n\n');
      return { status: 200, deltas };
    } catch (error) {
      stopKeepAlive();
      const apiError = toApiError(error);
      if (!res.headersSent) {
        sendApiError(res, apiError);
        return { status: apiError.status, deltas, error: apiError };
      }
      send(apiError.toWire());
      res.end();
      return { status: 200, deltas, error: apiError };
    }
  }

  let text = '';
  let reasoning = '';
  let outcome: TierOutcome;
  try {
    outcome = await tier.run(
      request,
      (delta) => {
        text += delta.content ?? '';
        reasoning += delta.reasoning ?? '';
      },
      signal,
    );
  } catch (error) {
    const apiError = toApiError(error);
    sendApiError(res, apiError);
    return { status: apiError.status, deltas: 0, error: apiError };
  }
  const usage: Usage = outcome.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  const body: ChatCompletion = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, ...(reasoning ? { reasoning_content: reasoning } : {}) },
        finish_reason: outcome.finishReason,
      },
    ],
    usage,
  };
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
  return { status: 200, deltas: 1 };
}

function wireDelta(delta: TierDelta): ChatCompletionChunk['choices'][0]['delta'] {
  return {
    ...(delta.content !== undefined ? { content: delta.content } : {}),
    ...(delta.reasoning !== undefined ? { reasoning_content: delta.reasoning } : {}),
  };
}
