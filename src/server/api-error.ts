/**
 * Errors the HTTP API answers with, in OpenAI's error shape:
 * `{"error": {"message", "type", "param", "code"}}`. A handler throws one; the server writes it as
 * the HTTP response before the first token, or as the final SSE event after it.
 */
import type { EdgetierError } from '../core/errors.ts';
import { isRemoteError } from '../remote/errors.ts';
import type { WireError } from '../remote/openai-wire.ts';

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'upstream_error'
  | 'timeout_error';

export class ApiError extends Error {
  override name = 'ApiError' as const;
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toWire(): WireError {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/**
 * An upstream failure as an ApiError. Statuses the caller can act on pass through (400, 404, 429
 * with its Retry-After); an upstream that refuses our key is the server's problem, not the
 * client's, so it becomes 502; timeouts become 504; everything else 502.
 */
export function apiErrorFromUpstream(error: EdgetierError): ApiError {
  const retryAfterMs = isRemoteError(error) ? error.retryAfterMs : undefined;
  const message = `Upstream: ${error.message}`;
  switch (error.code) {
    case 'bad_request':
      return new ApiError(400, message, 'invalid_request_error', 'upstream_bad_request');
    case 'context_overflow':
      return new ApiError(400, message, 'invalid_request_error', 'context_overflow');
    case 'model_not_found':
      return new ApiError(404, message, 'not_found_error', 'model_not_found');
    case 'rate_limited':
      return new ApiError(
        429,
        message,
        'rate_limit_error',
        'upstream_rate_limited',
        null,
        retryAfterMs === undefined ? {} : { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
      );
    case 'timeout':
      return new ApiError(504, message, 'timeout_error', 'upstream_timeout');
    case 'auth':
      return new ApiError(502, message, 'upstream_error', 'upstream_auth');
    case 'aborted':
      return new ApiError(499, message, 'upstream_error', 'aborted');
    default:
      return new ApiError(502, message, 'upstream_error', `upstream_${error.code}`);
  }
}

/** The reason the server gives a request's signal when it cuts it at shutdown. */
export function shuttingDownError(): ApiError {
  return new ApiError(
    503,
    'The server is shutting down: this request was cut before it completed. Retry once it is back.',
    'server_error',
    'shutting_down',
  );
}

/** Why a request's signal fired: the reason the server gave it (shutdown), or the client went away. */
export function abortError(signal: AbortSignal): ApiError {
  if (signal.reason instanceof ApiError) return signal.reason;
  return new ApiError(499, 'The client went away.', 'invalid_request_error', 'aborted');
}
