/**
 * A client for OpenAI-compatible `/v1/chat/completions` that survives real wire behaviour. It uses
 * only fetch, ReadableStream, AbortController and TextDecoder, so the browser app and the Node server
 * share it.
 *
 * Time limits: `connect` runs until the response headers arrive, `firstToken` from the request to the
 * first delta, `idle` between two deltas (comment keep-alives do not reset it: a server that only
 * sends keep-alives is stalled). Retries with backoff happen for 429 and 503 only, before the first
 * token, honouring `Retry-After`. A stream that breaks keeps its partial answer on the error. Every
 * field read from the server is checked by type and size first (./wire-checks.ts).
 */
import { EdgetierError, type EdgetierErrorCode } from '../core/errors.ts';
import {
  codeForStatus,
  httpErrorMessage,
  type PartialAnswer,
  parseRetryAfter,
  RemoteError,
} from './errors.ts';
import type { ChatCompletionRequest, ModelList, Usage, WireFinishReason } from './openai-wire.ts';
import { readSseEvents } from './sse.ts';
import {
  capServerMessage,
  checkChunk,
  checkCompletion,
  checkModelList,
  MAX_ANSWER_CHARS,
  WireShapeError,
} from './wire-checks.ts';

export interface RemoteEndpoint {
  /** The API root, usually ending in `/v1` (e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; omit for servers without auth (or behind edgetier serve). */
  apiKey?: string;
  headers?: Record<string, string>;
  /**
   * What to check when the tier refuses the key (401/403), e.g. "the key entered in Settings".
   * Default: the server's EDGETIER_UPSTREAM_KEY / OPENAI_API_KEY.
   */
  authAdvice?: string;
}

export interface RemoteLimits {
  /** Until the response headers arrive. */
  connectTimeoutMs: number;
  /** From the request to the first streamed delta (covers queueing and prefill on the server). */
  firstTokenTimeoutMs: number;
  /** Between two deltas once streaming. */
  idleTimeoutMs: number;
  /** Retries after 429/503, before the first token only. */
  maxRetries: number;
  /** Backoff without Retry-After: base · 2^attempt, with jitter. */
  retryBaseDelayMs: number;
  /** A Retry-After longer than this fails at once instead of waiting. */
  maxRetryDelayMs: number;
}

export const DEFAULT_REMOTE_LIMITS: RemoteLimits = {
  connectTimeoutMs: 30_000,
  firstTokenTimeoutMs: 120_000,
  idleTimeoutMs: 60_000,
  maxRetries: 3,
  retryBaseDelayMs: 500,
  maxRetryDelayMs: 30_000,
};

/** The longest the stream reader runs before it lets the event loop run other tasks. */
const YIELD_EVERY_MS = 25;

export interface StreamDelta {
  content?: string;
  reasoning?: string;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  status: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  limits?: Partial<RemoteLimits>;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface StreamOptions extends RequestOptions {
  onDelta?: (delta: StreamDelta) => void;
  onRetry?: (info: RetryInfo) => void;
  /** Called once, when the response headers of the attempt that streams have arrived. */
  onResponse?: (response: Response) => void;
}

export interface StreamResult {
  id: string | undefined;
  model: string | undefined;
  text: string;
  reasoning: string;
  finishReason: WireFinishReason | null;
  /** Present when the server honoured `stream_options.include_usage`. */
  usage: Usage | undefined;
  /** Deltas that carried text (a token count when the server sends no usage). */
  deltas: number;
  /** The server ended with `data: [DONE]`. */
  doneSeen: boolean;
}

/** `${baseUrl}/${path}` without doubled slashes. */
export function endpointUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function headersFor(endpoint: RemoteEndpoint, accept: string, json: boolean): Record<string, string> {
  const headers: Record<string, string> = { Accept: accept, ...endpoint.headers };
  if (json) headers['Content-Type'] = 'application/json';
  if (endpoint.apiKey) headers.Authorization = `Bearer ${endpoint.apiKey}`;
  return headers;
}

type TimerKind = 'connect' | 'first_token' | 'idle';

/** One attempt's abort controller, linked to the caller's signal, with the three timers. */
class Attempt {
  readonly controller = new AbortController();
  firedTimer: TimerKind | null = null;
  private timers = new Map<TimerKind, ReturnType<typeof setTimeout>>();
  private readonly unlink: () => void;

  constructor(private readonly signal: AbortSignal | undefined) {
    const onAbort = () => this.controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.unlink = () => signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) this.controller.abort();
  }

  get callerAborted(): boolean {
    return this.signal?.aborted === true;
  }

  arm(kind: TimerKind, ms: number): void {
    this.disarm(kind);
    this.timers.set(
      kind,
      setTimeout(() => {
        this.firedTimer = kind;
        this.controller.abort();
      }, ms),
    );
  }

  disarm(kind: TimerKind): void {
    const timer = this.timers.get(kind);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(kind);
  }

  /** Stops the timers, unlinks the caller's signal and closes the connection if still open. */
  close(): void {
    for (const kind of [...this.timers.keys()]) this.disarm(kind);
    this.unlink();
    this.controller.abort();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The server's own error message from an OpenAI-style (or any JSON or text) error body. */
export function serverMessageFrom(body: string): string | undefined {
  const trimmed = body.trim();
  if (!trimmed) return undefined;
  try {
    const parsed = JSON.parse(trimmed) as {
      error?: { message?: unknown } | string;
      message?: unknown;
      detail?: unknown;
    };
    if (typeof parsed.error === 'string') return capServerMessage(parsed.error);
    if (typeof parsed.error?.message === 'string') return capServerMessage(parsed.error.message);
    if (typeof parsed.message === 'string') return capServerMessage(parsed.message);
    if (typeof parsed.detail === 'string') return capServerMessage(parsed.detail);
  } catch {
    // not JSON (or cut at MAX_ERROR_BODY_BYTES): a cut JSON body still holds its message's start
    const cut = /"message"\s*:\s*"((?:[^"\\]|\\.)*)/.exec(trimmed);
    if (cut) {
      try {
        return capServerMessage(JSON.parse(`"${cut[1]}"`) as string);
      } catch {
        return capServerMessage(cut[1]!);
      }
    }
  }
  const text = trimmed
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text || undefined;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

function timeoutError(
  kind: TimerKind,
  url: string,
  limits: RemoteLimits,
  partial: PartialAnswer,
  method: 'GET' | 'POST' = 'POST',
): RemoteError {
  const chars = partial.text.length + partial.reasoning.length;
  const message =
    kind === 'connect'
      ? `${method} ${url} sent no response within ${seconds(limits.connectTimeoutMs)}. Check that the server is up and the URL is right, or raise the connect time limit.`
      : kind === 'first_token'
        ? `POST ${url} sent no token within ${seconds(limits.firstTokenTimeoutMs)}. The server may be overloaded or still loading the model; try again, or raise the first-token time limit.`
        : `POST ${url} stopped streaming: nothing for ${seconds(limits.idleTimeoutMs)} after ${chars} characters. The partial answer is kept; try again, or raise the idle time limit.`;
  return new RemoteError('timeout', message, { url, partial });
}

function abortedError(url: string, partial: PartialAnswer): RemoteError {
  return new RemoteError('aborted', `The request to ${url} was cancelled.`, { url, partial });
}

function networkError(url: string, cause: unknown, partial: PartialAnswer, streaming: boolean): RemoteError {
  const reason =
    cause instanceof Error
      ? cause.cause instanceof Error
        ? cause.cause.message
        : cause.message
      : String(cause);
  const message = streaming
    ? `The stream from POST ${url} broke after ${partial.text.length + partial.reasoning.length} characters (${reason}). The partial answer is kept; try again.`
    : `Could not reach ${url} (${reason}). Check that the server is running and the URL is right.`;
  return new RemoteError('network', message, { url, cause, partial, unreachable: !streaming });
}

/** An error body is read up to this many bytes: its message is in the first few hundred. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The start of a body, at most `limit` bytes; the rest is never read (the connection is closed). */
async function readCapped(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, limit - size);
      size += part.length;
      text += decoder.decode(part, { stream: true });
    }
    return text + decoder.decode();
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

/** Turns a non-2xx response into a RemoteError, reading the start of the body within the attempt's limits. */
async function httpError(
  method: string,
  url: string,
  response: Response,
  authAdvice?: string,
): Promise<RemoteError> {
  let body = '';
  try {
    body = await readCapped(response, MAX_ERROR_BODY_BYTES);
  } catch {
    // the body broke or timed out: the status alone still says enough
  }
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  const message = httpErrorMessage(
    method,
    url,
    response.status,
    response.statusText,
    serverMessageFrom(body),
    retryAfterMs,
    authAdvice,
  );
  const details = { url, status: response.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  return new RemoteError(codeForStatus(response.status), message, details);
}

/**
 * Redirects are not followed: the prompt goes to the host the tier names, or nowhere (and Compare's
 * "Where the data went" stays true). A browser reports a redirect as an opaque response of status 0.
 */
function refuseRedirect(method: string, url: string, response: Response): void {
  if (response.type !== 'opaqueredirect' && (response.status < 300 || response.status > 399)) return;
  const to = response.headers.get('location');
  throw new RemoteError(
    'bad_request',
    `${method} ${url} answered with a redirect${to ? ` to ${capServerMessage(to)}` : ''}. edgetier does not follow a tier's redirects, so that a prompt never reaches another host than the one configured: set the tier's base URL to the final address.`,
    { url, status: response.status },
  );
}

function backoffMs(attempt: number, limits: RemoteLimits): number {
  const base = limits.retryBaseDelayMs * 2 ** attempt;
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * Streams one chat completion. Resolves with the whole answer; rejects with a RemoteError whose
 * `partial` holds what had streamed (code `aborted` when the caller's signal fired).
 */
export async function streamChatCompletion(
  endpoint: RemoteEndpoint,
  request: ChatCompletionRequest,
  options: StreamOptions = {},
): Promise<StreamResult> {
  const limits = { ...DEFAULT_REMOTE_LIMITS, ...options.limits };
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const url = endpointUrl(endpoint.baseUrl, 'chat/completions');
  const body = JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } });
  const result: StreamResult = {
    id: undefined,
    model: undefined,
    text: '',
    reasoning: '',
    finishReason: null,
    usage: undefined,
    deltas: 0,
    doneSeen: false,
  };
  const partial = (): PartialAnswer => ({ text: result.text, reasoning: result.reasoning });

  for (let attempt = 0; ; attempt++) {
    const current = new Attempt(options.signal);
    current.arm('connect', limits.connectTimeoutMs);
    current.arm('first_token', limits.firstTokenTimeoutMs);
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers: headersFor(endpoint, 'text/event-stream', true),
        body,
        signal: current.controller.signal,
        redirect: 'manual',
      });
    } catch (error) {
      current.close();
      if (current.callerAborted) throw abortedError(url, partial());
      if (current.firedTimer) throw timeoutError(current.firedTimer, url, limits, partial());
      throw networkError(url, error, partial(), false);
    }
    current.disarm('connect');
    try {
      refuseRedirect('POST', url, response);
    } catch (error) {
      current.close();
      throw error;
    }

    if (!response.ok) {
      const error = await httpError('POST', url, response, endpoint.authAdvice);
      current.close();
      if (current.callerAborted) throw abortedError(url, partial());
      if (current.firedTimer) throw timeoutError(current.firedTimer, url, limits, partial());
      const retryable = response.status === 429 || response.status === 503;
      if (!retryable || attempt >= limits.maxRetries) throw error;
      const delayMs = error.retryAfterMs ?? backoffMs(attempt, limits);
      if (delayMs > limits.maxRetryDelayMs) throw error;
      options.onRetry?.({ attempt: attempt + 1, delayMs, status: response.status });
      try {
        await sleep(delayMs, options.signal);
      } catch {
        throw abortedError(url, partial());
      }
      continue;
    }

    options.onResponse?.(response);
    try {
      const contentType = response.headers.get('content-type') ?? '';
      if (contentType.includes('application/json')) {
        // The server ignored `stream: true` and answered in one piece: accept it as one delta.
        const completion = checkCompletion(await response.json());
        result.id = completion.id;
        result.model = completion.model;
        result.text = completion.content;
        result.reasoning = completion.reasoning;
        result.finishReason = completion.finishReason ?? 'stop';
        result.usage = completion.usage;
        result.deltas = 1;
        result.doneSeen = true;
        options.onDelta?.({
          content: result.text,
          ...(result.reasoning ? { reasoning: result.reasoning } : {}),
        });
        return result;
      }
      if (!response.body) throw new Error('the response has no body');
      await readStream(response.body, url, current, limits, result, options.onDelta);
    } catch (error) {
      if (current.callerAborted) throw abortedError(url, partial());
      if (current.firedTimer) throw timeoutError(current.firedTimer, url, limits, partial());
      if (error instanceof RemoteError) {
        error.partial = partial();
        throw error;
      }
      if (error instanceof WireShapeError) {
        throw new RemoteError(
          'server_error',
          `POST ${url} sent an answer edgetier cannot use: ${error.message}. Is it an OpenAI-compatible API?`,
          { url, status: response.status, partial: partial(), cause: error },
        );
      }
      if (error instanceof SyntaxError) {
        throw new RemoteError(
          'server_error',
          `POST ${url} sent an answer that is not valid JSON (${error.message}).`,
          {
            url,
            status: response.status,
            partial: partial(),
            cause: error,
          },
        );
      }
      throw networkError(url, error, partial(), true);
    } finally {
      current.close();
    }
    if (!result.doneSeen && result.finishReason === null) {
      throw new RemoteError(
        'network',
        `The stream from POST ${url} ended before the answer was complete (no finish_reason, no [DONE]) after ${result.text.length + result.reasoning.length} characters. The partial answer is kept; try again.`,
        { url, status: response.status, partial: partial() },
      );
    }
    return result;
  }
}

async function readStream(
  body: ReadableStream<Uint8Array>,
  url: string,
  attempt: Attempt,
  limits: RemoteLimits,
  result: StreamResult,
  onDelta: ((delta: StreamDelta) => void) | undefined,
): Promise<void> {
  let events = 0;
  let lastYield = Date.now();
  for await (const event of readSseEvents(body)) {
    events++;
    // Events already buffered are read in one run of microtasks: a fast server would keep the page
    // (its rendering, its input) waiting until the whole answer is in. Give the event loop a turn.
    if (Date.now() - lastYield > YIELD_EVERY_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = Date.now();
    }
    if (event.data === '[DONE]') {
      result.doneSeen = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(event.data);
    } catch {
      const sample = event.data.length > 80 ? `${event.data.slice(0, 80)}…` : event.data;
      throw new RemoteError(
        'server_error',
        `POST ${url} sent an event that is not JSON ("${sample}"). Is the URL an OpenAI-compatible API?`,
        { url },
      );
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new RemoteError('server_error', `POST ${url} sent an event that is not a JSON object.`, { url });
    }
    const chunk = checkChunk(parsed);
    if (chunk.error !== undefined) {
      const said = chunk.error;
      const chars = result.text.length + result.reasoning.length;
      // A refusal of the request itself (edgetier's context_overflow, an invalid request) would fail
      // the same way again: say so, instead of "try again".
      const raw = (parsed as { error?: unknown }).error;
      const refusal = raw !== null && typeof raw === 'object' ? refusalCode(raw) : null;
      if (refusal) {
        throw new RemoteError(
          refusal,
          `POST ${url} refused the request after ${chars} characters: ${said.replace(/\.$/, '')}.`,
          { url },
        );
      }
      throw new RemoteError(
        'server_error',
        `The stream from POST ${url} failed after ${result.text.length + result.reasoning.length} characters: ${chunk.error}. The partial answer is kept; try again.`,
        { url },
      );
    }
    result.id ??= chunk.id;
    result.model ??= chunk.model;
    if (chunk.usage) result.usage = chunk.usage;
    const delta: StreamDelta = {};
    if (chunk.content) delta.content = chunk.content;
    if (chunk.reasoning) delta.reasoning = chunk.reasoning;
    // A later "stop" never overrides a cut (length, content_filter): that would pass it off as whole.
    if (chunk.finishReason && (result.finishReason === null || result.finishReason === 'stop'))
      result.finishReason = chunk.finishReason;
    if (delta.content === undefined && delta.reasoning === undefined) continue;
    if (result.text.length + (delta.content?.length ?? 0) > MAX_ANSWER_CHARS) {
      throw new RemoteError(
        'server_error',
        `The stream from POST ${url} went past ${MAX_ANSWER_CHARS} characters, the most edgetier accepts in one answer. The partial answer is kept.`,
        { url },
      );
    }
    // Reasoning is held and stored as the answer is: thinking that never ends must end too.
    if (result.reasoning.length + (delta.reasoning?.length ?? 0) > MAX_ANSWER_CHARS) {
      throw new RemoteError(
        'server_error',
        `The stream from POST ${url} went past ${MAX_ANSWER_CHARS} characters of reasoning, the most edgetier accepts in one answer. The partial answer is kept.`,
        { url },
      );
    }
    if (result.deltas === 0) attempt.disarm('first_token');
    attempt.arm('idle', limits.idleTimeoutMs);
    result.deltas++;
    if (delta.content) result.text += delta.content;
    if (delta.reasoning) result.reasoning += delta.reasoning;
    onDelta?.(delta);
  }
  if (events === 0) {
    throw new RemoteError('server_error', `POST ${url} answered with an empty stream (no events).`, { url });
  }
}

/** The code of an in-stream error that refuses the request itself; null for a failure of the server. */
function refusalCode(error: { code?: unknown; type?: unknown }): EdgetierErrorCode | null {
  if (error.code === 'context_overflow') return 'context_overflow';
  if (error.type === 'invalid_request_error') return 'bad_request';
  return null;
}

/** GET /models: what the server offers. */
export async function listModels(endpoint: RemoteEndpoint, options: RequestOptions = {}): Promise<ModelList> {
  const limits = { ...DEFAULT_REMOTE_LIMITS, ...options.limits };
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const url = endpointUrl(endpoint.baseUrl, 'models');
  const current = new Attempt(options.signal);
  current.arm('connect', limits.connectTimeoutMs);
  try {
    const response = await fetchImpl(url, {
      headers: headersFor(endpoint, 'application/json', false),
      signal: current.controller.signal,
      redirect: 'manual',
    });
    refuseRedirect('GET', url, response);
    if (!response.ok) throw await httpError('GET', url, response, endpoint.authAdvice);
    let data: ModelList['data'];
    try {
      data = checkModelList(await response.json());
    } catch (error) {
      if (!(error instanceof WireShapeError)) throw error;
      throw new RemoteError(
        'server_error',
        `GET ${url} did not answer with a usable model list: ${error.message}.`,
        {
          url,
        },
      );
    }
    return { object: 'list', data };
  } catch (error) {
    const none = { text: '', reasoning: '' };
    if (current.callerAborted) throw abortedError(url, none);
    if (current.firedTimer) throw timeoutError(current.firedTimer, url, limits, none, 'GET');
    if (error instanceof EdgetierError) throw error;
    if (error instanceof SyntaxError) {
      throw new RemoteError('server_error', `GET ${url} sent an answer that is not valid JSON.`, {
        url,
        cause: error,
      });
    }
    throw networkError(url, error, none, false);
  } finally {
    current.close();
  }
}
