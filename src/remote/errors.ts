/**
 * The errors of the remote tier: one class on top of EdgetierError that carries what a caller needs
 * to act (the URL, the HTTP status, how long to wait) and the partial answer when a stream broke.
 * Messages name the URL, the status and what to do; never the key.
 */
import { EdgetierError, type EdgetierErrorCode } from '../core/errors.ts';

export interface PartialAnswer {
  text: string;
  reasoning: string;
}

export interface RemoteErrorDetails {
  url: string;
  status?: number;
  /** From `Retry-After`, when the server sent one. */
  retryAfterMs?: number;
  /** What had streamed before the failure. */
  partial?: PartialAnswer;
  cause?: unknown;
  /** No response came back at all (nothing listening, a port blocked, CORS, a wrong URL). */
  unreachable?: boolean;
}

export class RemoteError extends EdgetierError {
  readonly url: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** The request got no response at all: see RemoteErrorDetails.unreachable. */
  readonly unreachable: boolean;
  partial: PartialAnswer | undefined;

  constructor(code: EdgetierErrorCode, message: string, details: RemoteErrorDetails) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.url = details.url;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.unreachable = details.unreachable === true;
    this.partial = details.partial;
  }
}

export function isRemoteError(value: unknown): value is RemoteError {
  return value instanceof RemoteError;
}

/** The error code for an HTTP status. */
export function codeForStatus(status: number): EdgetierErrorCode {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'model_not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'bad_request';
}

const ADVICE: Partial<Record<EdgetierErrorCode, string>> = {
  auth: 'Check the API key the tier is configured with (EDGETIER_UPSTREAM_KEY or OPENAI_API_KEY) and that it may use this model.',
  model_not_found:
    'Check the model name and the base URL (it usually ends in /v1); GET /v1/models lists what the server offers.',
  rate_limited: 'The server is busy or the quota is spent: wait and try again, or lower the request rate.',
  server_error: 'The server failed; try again later, or check its logs.',
  timeout: 'The request timed out; try again, or raise the time limit.',
  bad_request: 'The server refused the request as malformed; check the parameters it names.',
};

/** "POST <url> answered 429 Too Many Requests: <server's message>. <advice>" */
export function httpErrorMessage(
  method: string,
  url: string,
  status: number,
  statusText: string,
  serverMessage: string | undefined,
  retryAfterMs?: number,
  /** Replaces the advice for a refused key (401/403): where this tier's key is set. */
  authAdvice?: string,
): string {
  const code = codeForStatus(status);
  const head = `${method} ${url} answered ${status}${statusText ? ` ${statusText}` : ''}`;
  const said = serverMessage ? `: ${serverMessage.replace(/\s+$/, '').replace(/\.$/, '')}` : '';
  const wait =
    retryAfterMs !== undefined ? ` It asked to retry after ${Math.ceil(retryAfterMs / 1000)} s.` : '';
  const advice = code === 'auth' && authAdvice ? authAdvice : (ADVICE[code] ?? '');
  return `${head}${said}.${wait} ${advice}`.trim();
}

/**
 * `Retry-After` as milliseconds: delta-seconds or an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
