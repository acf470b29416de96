/**
 * Validation of a `/v1/chat/completions` body. Every refusal is a 400 in OpenAI's error shape that
 * names the parameter and says what is allowed. Unknown fields are ignored, as most compatible
 * servers do, so that real clients (which send many) work.
 */
import type { ChatCompletionRequest, WireMessage, WireRole } from '../remote/openai-wire.ts';
import { ApiError } from './api-error.ts';

const ROLES: readonly WireRole[] = ['system', 'developer', 'user', 'assistant'];

function invalid(param: string, message: string): ApiError {
  return new ApiError(400, message, 'invalid_request_error', 'invalid_value', param);
}

function numberIn(body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(name, `'${name}' must be a number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function positiveInteger(body: Record<string, unknown>, name: string): number | undefined {
  return integerFrom(body, name, 1, 'a positive integer');
}

function integerFrom(
  body: Record<string, unknown>,
  name: string,
  least: number,
  what: string,
): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
    throw invalid(name, `'${name}' must be ${what}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Message content as text: a string, or an array of `{type: 'text', text}` parts. */
function contentText(content: unknown, index: number): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as { type?: unknown; text?: unknown } | null;
        if (p && p.type === 'text' && typeof p.text === 'string') return p.text;
        throw invalid(
          `messages[${index}].content[${j}]`,
          `Only text content parts are supported ({"type": "text", "text": "..."}); messages[${index}].content[${j}] is ${JSON.stringify(p?.type ?? p)}.`,
        );
      })
      .join('');
  }
  throw invalid(
    `messages[${index}].content`,
    `messages[${index}].content must be a string or an array of text parts.`,
  );
}

export function validateChatRequest(body: unknown): ChatCompletionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(
      400,
      'The request body must be a JSON object.',
      'invalid_request_error',
      'invalid_body',
    );
  }
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') {
    throw invalid('model', "'model' is required: a model id from GET /v1/models.");
  }
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    throw invalid('messages', "'messages' is required: a non-empty array of {role, content}.");
  }
  const messages: WireMessage[] = b.messages.map((m, i) => {
    const message = m as { role?: unknown; content?: unknown } | null;
    if (!message || typeof message !== 'object')
      throw invalid(`messages[${i}]`, `messages[${i}] must be an object.`);
    if (!ROLES.includes(message.role as WireRole)) {
      throw invalid(
        `messages[${i}].role`,
        `messages[${i}].role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(message.role)} (tools are not supported).`,
      );
    }
    return { role: message.role as WireRole, content: contentText(message.content, i) };
  });
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') {
    throw invalid('stream', "'stream' must be true or false.");
  }
  const n = b.n;
  if (n !== undefined && n !== null && n !== 1) throw invalid('n', "'n' must be 1: one answer per request.");
  const request: ChatCompletionRequest = { model: b.model, messages, stream: b.stream === true };
  const so = b.stream_options as { include_usage?: unknown } | null | undefined;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object') throw invalid('stream_options', "'stream_options' must be an object.");
    request.stream_options = { include_usage: so.include_usage === true };
  }
  const temperature = numberIn(b, 'temperature', 0, 2);
  const topP = numberIn(b, 'top_p', 0, 1);
  // 0 keeps every token, as both engines read it: a request can lift a model's own top_k.
  const topK = integerFrom(b, 'top_k', 0, 'a whole number from 0 (0 keeps every token)');
  const frequency = numberIn(b, 'frequency_penalty', -2, 2);
  const presence = numberIn(b, 'presence_penalty', -2, 2);
  const repetition = numberIn(b, 'repetition_penalty', 0.01, 10);
  const maxTokens = positiveInteger(b, 'max_tokens');
  const maxCompletion = positiveInteger(b, 'max_completion_tokens');
  const seed = b.seed;
  if (seed !== undefined && seed !== null && (typeof seed !== 'number' || !Number.isInteger(seed))) {
    throw invalid('seed', "'seed' must be an integer.");
  }
  if (temperature !== undefined) request.temperature = temperature;
  if (topP !== undefined) request.top_p = topP;
  if (topK !== undefined) request.top_k = topK;
  if (frequency !== undefined) request.frequency_penalty = frequency;
  if (presence !== undefined) request.presence_penalty = presence;
  if (repetition !== undefined) request.repetition_penalty = repetition;
  if (maxTokens !== undefined) request.max_tokens = maxTokens;
  if (maxCompletion !== undefined) request.max_completion_tokens = maxCompletion;
  if (typeof seed === 'number') request.seed = seed;
  const stop = b.stop;
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || s === '')) {
      throw invalid('stop', "'stop' must be a non-empty string or an array of up to 4 of them.");
    }
    request.stop = list as string[];
  }
  return request;
}
