import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgetierError } from '../../src/core/errors.ts';
import { parseRetryAfter, RemoteError } from '../../src/remote/errors.ts';
import { listModels, type StreamDelta, streamChatCompletion } from '../../src/remote/openai-client.ts';
import { RemoteEngine } from '../../src/remote/remote-engine.ts';
import { MAX_SSE_EVENT_CHARS } from '../../src/remote/sse.ts';
import { capServerMessage, MAX_ANSWER_CHARS } from '../../src/remote/wire-checks.ts';
import {
  ANSWER,
  HUGE_MESSAGE,
  startUpstream,
  UPSTREAM_KEY,
  UPSTREAM_MODELS,
  type Upstream,
} from '../helpers/misbehaving-upstream.ts';

// Short limits so that every stall ends in well under 2 s.
const limits = {
  connectTimeoutMs: 400,
  firstTokenTimeoutMs: 600,
  idleTimeoutMs: 300,
  retryBaseDelayMs: 20,
  maxRetryDelayMs: 2000,
};

let upstream: Upstream;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});

const endpoint = () => ({ baseUrl: upstream.url, apiKey: UPSTREAM_KEY });
const ask = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'Say hello' }] });

/** Runs a stream that must fail; returns the error and the deltas seen. */
async function failing(model: string, extra: Parameters<typeof streamChatCompletion>[2] = {}) {
  const deltas: StreamDelta[] = [];
  const started = Date.now();
  try {
    await streamChatCompletion(endpoint(), ask(model), { limits, onDelta: (d) => deltas.push(d), ...extra });
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteError);
    return { error: error as RemoteError, deltas, ms: Date.now() - started };
  }
  throw new Error(`${model}: expected a failure`);
}

describe('a stream whose reasoning never ends', () => {
  it('stops past MAX_ANSWER_CHARS of reasoning as it does for the answer, keeping the partial', async () => {
    const { error, deltas } = await failing('endless-reasoning', {
      limits: { ...limits, connectTimeoutMs: 20_000, firstTokenTimeoutMs: 20_000, idleTimeoutMs: 20_000 },
    });
    expect(error.message).toBe(
      `The stream from POST ${upstream.url}/chat/completions went past ${MAX_ANSWER_CHARS} characters of reasoning, the most edgetier accepts in one answer. The partial answer is kept.`,
    );
    expect(error.code).toBe('server_error');
    expect(deltas.map((d) => d.reasoning?.length)).toEqual(Array(8).fill(1024 * 1024));
    expect(error.partial?.reasoning.length).toBe(8 * 1024 * 1024);
  });
});

describe('streamChatCompletion against a misbehaving upstream', () => {
  it('streams a well-formed answer with usage, and sends the key and include_usage', async () => {
    const deltas: StreamDelta[] = [];
    // Generous limits: no time limit is tested here, and a busy machine must not fail it.
    const result = await streamChatCompletion(endpoint(), ask('ok'), {
      limits: { ...limits, connectTimeoutMs: 10_000, firstTokenTimeoutMs: 10_000, idleTimeoutMs: 10_000 },
      onDelta: (d) => deltas.push(d),
    });
    expect(result.text).toBe(ANSWER);
    expect(deltas.map((d) => d.content)).toEqual(['Hel', 'lo', ',', ' world']);
    expect(result).toMatchObject({ finishReason: 'stop', doneSeen: true, deltas: 4, model: 'ok' });
    expect(result.usage).toEqual({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 });
    expect(upstream.authorizations.at(-1)).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(upstream.bodies.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('survives 3-byte frames, CRLF, comments and a multi-line data field', async () => {
    const result = await streamChatCompletion(endpoint(), ask('split'), { limits });
    expect(result.text).toBe(`${ANSWER} ✓`);
    expect(result.finishReason).toBe('stop');
  });

  it('keeps reasoning deltas (reasoning_content and reasoning) apart from the answer', async () => {
    const result = await streamChatCompletion(endpoint(), ask('reasoning'), { limits });
    expect(result.reasoning).toBe('Let me think.');
    expect(result.text).toBe('Answer.');
  });

  it('accepts a server that ignores stream: true and answers with JSON', async () => {
    const result = await streamChatCompletion(endpoint(), ask('json-only'), { limits });
    expect(result).toMatchObject({ text: ANSWER, finishReason: 'stop', usage: { completion_tokens: 4 } });
  });

  it('accepts a stream that has a finish_reason but no [DONE]', async () => {
    const result = await streamChatCompletion(endpoint(), ask('no-done'), { limits });
    expect(result).toMatchObject({ text: ANSWER, finishReason: 'stop', doneSeen: false });
  });

  it("maps other servers' names for a finish reason to what they mean", async () => {
    for (const [model, finishReason] of [
      ['finish-content_filter', 'content_filter'],
      ['finish-eos_token', 'stop'],
      ['finish-max_tokens', 'length'],
    ] as const) {
      const result = await streamChatCompletion(endpoint(), ask(model), { limits });
      expect({ model, text: result.text, finishReason: result.finishReason }).toEqual({
        model,
        text: ANSWER,
        finishReason,
      });
    }
  });

  it('takes "" and "null" on the chunks before the last as "not finished yet" (Ollama, sglang, KoboldCpp sent them)', async () => {
    for (const model of ['pending-', 'pending-null']) {
      const result = await streamChatCompletion(endpoint(), ask(model), { limits });
      expect({ model, text: result.text, finishReason: result.finishReason }).toEqual({
        model,
        text: ANSWER,
        finishReason: 'stop',
      });
    }
  });

  it('keeps content_filter when a later chunk says stop: a cut answer is never passed off as complete', async () => {
    const result = await streamChatCompletion(endpoint(), ask('filter-then-stop'), { limits });
    expect(result).toMatchObject({ text: ANSWER, finishReason: 'content_filter' });
  });

  it('reads a finish reason whatever its case ("STOP" is stop)', async () => {
    const result = await streamChatCompletion(endpoint(), ask('finish-STOP'), { limits });
    expect(result).toMatchObject({ text: ANSWER, finishReason: 'stop' });
  });

  it('refuses a tool call and an unknown finish reason by name, keeping the answer so far', async () => {
    const url = `${upstream.url}/chat/completions`;
    const tool = await failing('finish-tool_calls');
    expect(tool.error.code).toBe('server_error');
    expect(tool.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: choices[0].finish_reason is "tool_calls": the model answered with a tool call, but edgetier offers no tools and has no answer to show. Is it an OpenAI-compatible API?`,
    );
    expect(tool.error.partial?.text).toBe(ANSWER);
    const odd = await failing('finish-made_up');
    expect(odd.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: choices[0].finish_reason is "made_up", which edgetier does not know (it knows stop, length and content_filter, and their usual aliases). Is it an OpenAI-compatible API?`,
    );
    expect(odd.error.partial?.text).toBe(ANSWER);
  });

  it('stops at an early [DONE] and ignores what follows it', async () => {
    const result = await streamChatCompletion(endpoint(), ask('early-done'), { limits });
    expect(result).toMatchObject({ text: 'Hello', doneSeen: true, finishReason: null });
  });

  it('fails a stream that ends with neither finish_reason nor [DONE], keeping the partial text', async () => {
    const { error } = await failing('truncated');
    expect(error.code).toBe('network');
    expect(error.partial?.text).toBe('Hello');
    expect(error.message).toBe(
      `The stream from POST ${upstream.url}/chat/completions ended before the answer was complete (no finish_reason, no [DONE]) after 5 characters. The partial answer is kept; try again.`,
    );
  });

  it('turns an early connection close into a network error with the partial text', async () => {
    const { error, deltas } = await failing('early-close');
    expect(error.code).toBe('network');
    expect(error.unreachable).toBe(false);
    expect(error.partial?.text).toBe('Hello');
    expect(deltas.map((d) => d.content).join('')).toBe('Hello');
    expect(error.message).toMatch(
      /^The stream from POST http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions broke after 5 characters \(.+\)\. The partial answer is kept; try again\.$/,
    );
  });

  it('retries a 429 after Retry-After, before the first token', async () => {
    const retries: number[] = [];
    const before = upstream.hits.get('rate-limit-once') ?? 0;
    const result = await streamChatCompletion(endpoint(), ask('rate-limit-once'), {
      limits,
      onRetry: (r) => retries.push(r.delayMs),
    });
    expect(result.text).toBe(ANSWER);
    expect(retries).toEqual([1000]);
    expect(upstream.hits.get('rate-limit-once')).toBe(before + 2);
  });

  it('retries a 503 too', async () => {
    const result = await streamChatCompletion(endpoint(), ask('busy-once'), { limits });
    expect(result.text).toBe(ANSWER);
  });

  it('fails at once when Retry-After is longer than the longest wait', async () => {
    const { error, ms } = await failing('rate-limit-long');
    expect(error.code).toBe('rate_limited');
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(3_600_000);
    expect(ms).toBeLessThan(1500);
    expect(error.message).toBe(
      `POST ${upstream.url}/chat/completions answered 429 Too Many Requests: Quota exceeded. It asked to retry after 3600 s. The server is busy or the quota is spent: wait and try again, or lower the request rate.`,
    );
  });

  it('maps 401, 404 and 500 to typed errors that name the URL, the status and what to do', async () => {
    let error: RemoteError | undefined;
    try {
      await streamChatCompletion({ baseUrl: upstream.url, apiKey: 'wrong' }, ask('ok'), { limits });
    } catch (e) {
      error = e as RemoteError;
    }
    expect(error?.code).toBe('auth');
    expect(error?.status).toBe(401);
    expect(error?.message).toBe(
      `POST ${upstream.url}/chat/completions answered 401 Unauthorized: Incorrect API key provided. Check the API key the tier is configured with (EDGETIER_UPSTREAM_KEY or OPENAI_API_KEY) and that it may use this model.`,
    );
    expect(error?.message).not.toContain('wrong');
    const missing = await failing('no-such-model');
    expect(missing.error.code).toBe('model_not_found');
    expect(missing.error.message).toContain(
      'answered 404 Not Found: The model `no-such-model` does not exist.',
    );
    const crash = await failing('http500');
    expect(crash.error.code).toBe('server_error');
    expect(crash.error.message).toBe(
      `POST ${upstream.url}/chat/completions answered 500 Internal Server Error: The engine crashed. The server failed; try again later, or check its logs.`,
    );
  });

  it('times out when no headers come (connect limit)', async () => {
    const { error, ms } = await failing('stall-headers');
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('sent no response within 400 ms');
    expect(ms).toBeLessThan(1500);
  });

  it('times out when no token comes (first-token limit)', async () => {
    const { error } = await failing('stall-first');
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('sent no token within 600 ms');
  });

  it('times out a stall mid-stream (idle limit) and keeps the partial text, keep-alives or not', async () => {
    for (const model of ['stall-mid', 'keepalive-stall']) {
      const { error, ms } = await failing(model);
      expect(error.code).toBe('timeout');
      expect(error.partial?.text).toBe('Hello');
      expect(error.message).toContain(
        'stopped streaming: nothing for 300 ms after 5 characters. The partial answer is kept',
      );
      expect(ms).toBeLessThan(1500);
    }
  });

  it('refuses an event that never ends (past MAX_SSE_EVENT_CHARS) by name, keeping the partial text', async () => {
    // Its bytes flow, but no event completes: a long idle limit lets it reach the event limit.
    const { error } = await failing('endless-line', { limits: { ...limits, idleTimeoutMs: 60_000 } });
    expect(error.code).toBe('server_error');
    expect(error.partial?.text).toBe('Hel');
    expect(error.message).toBe(
      `POST ${upstream.url}/chat/completions sent an answer edgetier cannot use: the event stream is over ${MAX_SSE_EVENT_CHARS} characters in one event, the most edgetier reads. Is it an OpenAI-compatible API?`,
    );
  });

  it('reports garbage events, HTML pages and in-stream errors clearly', async () => {
    const garbage = await failing('garbage');
    expect(garbage.error.code).toBe('server_error');
    expect(garbage.error.message).toBe(
      `POST ${upstream.url}/chat/completions sent an event that is not JSON ("<html><body>Bad gateway</body></html>"). Is the URL an OpenAI-compatible API?`,
    );
    const html = await failing('html');
    expect(html.error.message).toBe(
      `POST ${upstream.url}/chat/completions answered with an empty stream (no events).`,
    );
    const mid = await failing('mid-error');
    expect(mid.error.code).toBe('server_error');
    expect(mid.error.partial?.text).toBe('Hello');
    expect(mid.error.message).toContain('failed after 5 characters: CUDA out of memory.');
  });

  it('refuses a JSON answer whose fields have the wrong type, naming the tier and the field', async () => {
    const url = `${upstream.url}/chat/completions`;
    const object = await failing('json-object-content');
    expect(object.error.code).toBe('server_error');
    expect(object.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: choices[0].message.content is an object, not a string. Is it an OpenAI-compatible API?`,
    );
    const number = await failing('json-number-content');
    expect(number.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: choices[0].message.content is a number, not a string. Is it an OpenAI-compatible API?`,
    );
    const usage = await failing('json-bad-usage');
    expect(usage.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: usage.prompt_tokens is a string, not a token count. Is it an OpenAI-compatible API?`,
    );
    const id = await failing('stream-object-id');
    expect(id.error.message).toBe(
      `POST ${url} sent an answer edgetier cannot use: id is an object, not a string. Is it an OpenAI-compatible API?`,
    );
  });

  it('caps a 200 KB error message, before and after the first token', async () => {
    // Generous limits: 200 KB takes a while on a busy machine, and a timeout is not what is tested.
    const slow = {
      limits: { ...limits, connectTimeoutMs: 10_000, firstTokenTimeoutMs: 10_000, idleTimeoutMs: 10_000 },
    };
    const before = await failing('huge-error', slow);
    expect(before.error.code).toBe('server_error');
    expect(before.error.message).toContain(`${HUGE_MESSAGE.slice(0, 500)}…`);
    expect(before.error.message.length).toBeLessThan(1000);
    const after = await failing('stream-huge-error', slow);
    expect(after.error.partial?.text).toBe('Hello');
    expect(after.error.message).toContain(
      `failed after 5 characters: ${HUGE_MESSAGE.slice(0, 500)}…. The partial`,
    );
    expect(after.error.message.length).toBeLessThan(1000);
  });

  it('refuses a redirect instead of sending the prompt to another host', async () => {
    const redirected = await failing('redirect');
    expect(redirected.error.code).toBe('bad_request');
    expect(redirected.error.message).toBe(
      `POST ${upstream.url}/chat/completions answered with a redirect to http://127.0.0.2:9/v1/chat/completions. edgetier does not follow a tier's redirects, so that a prompt never reaches another host than the one configured: set the tier's base URL to the final address.`,
    );
  });

  it("advises on the key where the tier's key is set", async () => {
    await expect(
      streamChatCompletion(
        { baseUrl: upstream.url, apiKey: 'sk-wrong', authAdvice: 'Check the API key entered in Settings.' },
        ask('ok'),
        { limits },
      ),
    ).rejects.toThrow(
      `POST ${upstream.url}/chat/completions answered 401 Unauthorized: Incorrect API key provided. Check the API key entered in Settings.`,
    );
  });

  it('strips bidi controls from server messages, which could reverse the words after them', () => {
    expect(capServerMessage('evil \u202Etxet\u2066 x\u2069 done')).toBe('evil txet x done');
  });

  it('maps an in-stream context_overflow error to its own code, without "try again"', async () => {
    const overflow = await failing('mid-overflow');
    expect(overflow.error.code).toBe('context_overflow');
    expect(overflow.error.partial?.text).toBe('Hello');
    expect(overflow.error.message).toBe(
      `POST ${upstream.url}/chat/completions refused the request after 5 characters: The last message alone needs 900 tokens but only 500 fit.`,
    );
  });

  it('reads at most 64 KiB of an error body, then hangs up', async () => {
    const streamed = await failing('huge-error-body');
    expect(streamed.error.code).toBe('server_error');
    expect(streamed.error.message).toMatch(
      new RegExp(`^POST ${upstream.url}/chat/completions answered 500 Internal Server Error: x{200}…\\. `),
    );
    // The upstream saw the connection close long before its 64 MB were written (socket buffers aside).
    await new Promise((r) => setTimeout(r, 100));
    expect(upstream.hugeErrorBytesWritten()).toBeLessThan(16 * 1024 * 1024);
  });

  it('cannot reach a closed port: a network error naming the URL', async () => {
    let error: RemoteError | undefined;
    try {
      await streamChatCompletion({ baseUrl: 'http://127.0.0.1:9/v1' }, ask('ok'), { limits });
    } catch (e) {
      error = e as RemoteError;
    }
    expect(error?.code).toBe('network');
    // No response at all: the app explains the likely causes (see app/state/tier-errors.ts).
    expect(error?.unreachable).toBe(true);
    expect(error?.message).toMatch(
      /^Could not reach http:\/\/127\.0\.0\.1:9\/v1\/chat\/completions \(.+\)\. Check that the server is running and the URL is right\.$/,
    );
  });

  it('aborts on the caller signal and keeps the partial text', async () => {
    const controller = new AbortController();
    const { error } = await failing('stall-mid', {
      limits: { ...limits, idleTimeoutMs: 5000 },
      onDelta: (d) => {
        if (d.content === 'lo') controller.abort();
      },
      signal: controller.signal,
    });
    expect(error.code).toBe('aborted');
    expect(error.partial?.text).toBe('Hello');
  });

  it('lists models and parses Retry-After dates', async () => {
    const list = await listModels(endpoint(), { limits });
    expect(list.data.map((m) => m.id)).toEqual([...UPSTREAM_MODELS]);
    expect(parseRetryAfter('2')).toBe(2000);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
    ).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('RemoteEngine', () => {
  it("reports a provider's content filter as 'filtered', never as a complete answer", async () => {
    const engine = new RemoteEngine({ ...endpoint(), model: 'finish-content_filter', limits });
    await engine.load({ source: { kind: 'url', url: upstream.url }, device: 'cpu', dtype: 'fp32' });
    const result = await engine.generate({ messages: [{ role: 'user', content: 'hi' }] });
    expect(result).toMatchObject({ text: ANSWER, finishReason: 'filtered' });
  });

  it('loads, streams chunks, and measures with the server usage', async () => {
    let now = 0;
    const engine = new RemoteEngine({ ...endpoint(), model: 'ok', limits, clock: () => (now += 10) });
    const info = await engine.load({
      source: { kind: 'url', url: upstream.url },
      device: 'cpu',
      dtype: 'fp32',
    });
    expect(info).toMatchObject({ modelId: 'ok', synthetic: false });
    const chunks: string[] = [];
    const result = await engine.generate({ messages: [{ role: 'user', content: 'hi' }] }, (c) =>
      chunks.push(c.text),
    );
    expect(chunks).toEqual(['Hel', 'lo', ',', ' world']);
    expect(result.text).toBe(ANSWER);
    expect(result.finishReason).toBe('stop');
    // The model as the response names it (Compare shows it as the tier's model).
    expect(result.model).toBe('ok');
    // Clock: start 10, tokens at 20, 30, 40, 50 → ttft 10 ms, decode window 30 ms over 3 tokens.
    expect(result.metrics).toMatchObject({
      prefillTokens: 7,
      ttftMs: 10,
      decodeTokens: 3,
      decodeTokPerSec: 100,
    });
    expect(upstream.bodies.at(-1)).toMatchObject({ model: 'ok', temperature: 0, max_tokens: 256 });
  });

  it('returns the partial answer with finishReason aborted on interrupt', async () => {
    const engine = new RemoteEngine({
      ...endpoint(),
      model: 'stall-mid',
      limits: { ...limits, idleTimeoutMs: 5000 },
    });
    const result = await engine.generate({ messages: [{ role: 'user', content: 'hi' }] }, (c) => {
      if (c.text === 'lo') void engine.interrupt();
    });
    expect(result).toMatchObject({ text: 'Hello', finishReason: 'aborted' });
  });

  it("believes a model's synthetic-twin claim only from the app's own server", async () => {
    const load = (ownServer: boolean) =>
      new RemoteEngine({ ...endpoint(), model: 'claims-twin', limits, ownServer }).load({
        source: { kind: 'url', url: upstream.url },
        device: 'cpu',
        dtype: 'fp32',
      });
    const stranger = await load(false);
    expect(stranger.synthetic).toBe(false);
    expect(stranger).not.toHaveProperty('mirrors');
    expect(stranger).not.toHaveProperty('params');
    expect(await load(true)).toMatchObject({ synthetic: true, mirrors: 'Org/Spoofed', params: 494000000 });
  });

  it('an interrupt also ends a request submitted behind the running one', async () => {
    const engine = new RemoteEngine({
      ...endpoint(),
      model: 'stall-mid',
      limits: { ...limits, idleTimeoutMs: 5000 },
    });
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const first = engine.generate({ messages }, (c) => {
      if (c.text === 'lo') void engine.interrupt();
    });
    const second = engine.generate({ messages });
    expect(await first).toMatchObject({ text: 'Hello', finishReason: 'aborted' });
    await expect(second).rejects.toMatchObject({ code: 'aborted' });
  });

  it('refuses an unknown model at load with the list of models offered', async () => {
    const engine = new RemoteEngine({ ...endpoint(), model: 'gpt-9', limits });
    await expect(
      engine.load({ source: { kind: 'url', url: upstream.url }, device: 'cpu', dtype: 'fp32' }),
    ).rejects.toThrow(EdgetierError);
  });
});

describe('RemoteEngine.load and interrupt', () => {
  it('an unload ends the answer under way and one queued behind it, as on this device', async () => {
    const engine = new RemoteEngine({ ...endpoint(), model: 'ok', limits });
    const ask = { messages: [{ role: 'user' as const, content: 'hi' }] };
    let first: (() => void) | null = null;
    const chunked = new Promise<void>((resolve) => {
      first = resolve;
    });
    const running = engine.generate(ask, () => first?.());
    const queued = engine.generate(ask).then(
      (result) => result.finishReason,
      (error: unknown) => (error instanceof EdgetierError ? error.code : error),
    );
    await chunked;
    await engine.unload();
    expect((await running).finishReason).toBe('aborted');
    expect(await queued).toBe('aborted');
  });

  it("an interrupt ends a load whose model list has not come back (Compare's Stop on a slow tier)", async () => {
    const { createServer } = await import('node:http');
    // A server that takes the request and never answers it.
    const held: import('node:http').ServerResponse[] = [];
    const server = createServer((_req, res) => {
      held.push(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const engine = new RemoteEngine({ baseUrl: `http://127.0.0.1:${port}/v1` });
      const load = engine.load({ source: { kind: 'hub', id: 'x' }, device: 'wasm', dtype: 'fp32' });
      const outcome = load.then(
        () => 'loaded',
        (error: unknown) => error,
      );
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      await engine.interrupt();
      const error = await outcome;
      expect(performance.now() - started).toBeLessThan(1000);
      expect(error).toBeInstanceOf(EdgetierError);
      expect((error as EdgetierError).code).toBe('aborted');
    } finally {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
