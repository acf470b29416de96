/**
 * What a tier sends is checked field by field, by type and size, before any of it is used: a tier
 * is a stranger's server, and a number where text belongs, or a 200 KB error message, must give a
 * clear error (or a capped message), never a crash further in. Pure functions; the client turns a
 * `WireShapeError` into a RemoteError that names the tier's URL.
 */
import type { Usage, WireFinishReason, WireModel } from './openai-wire.ts';

/** An answer (or its reasoning) longer than this is refused: no model writes 8 Mi characters. */
export const MAX_ANSWER_CHARS = 8 * 1024 * 1024;
/** Ids, model names, finish reasons. */
export const MAX_ID_CHARS = 256;
/** A server's own error message, as shown and stored: longer ones are cut, marked with "…". */
export const MAX_SERVER_MESSAGE_CHARS = 500;
/** Entries of a /v1/models list. */
export const MAX_MODELS = 10_000;

/** A field of a tier's answer that has the wrong type or size; `field` is its path on the wire. */
export class WireShapeError extends Error {
  override readonly name = 'WireShapeError' as const;
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
  }
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Optional text: absent/null → undefined; a string up to `max` characters; anything else throws. */
export function optionalText(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new WireShapeError(field, `is ${kind(value)}, not a string`);
  if (value.length > max)
    throw new WireShapeError(field, `is ${value.length} characters long, over the limit of ${max}`);
  return value;
}

function optionalObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw new WireShapeError(field, `is ${kind(value)}, not an object`);
  return value as Record<string, unknown>;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new WireShapeError(
      field,
      `is ${typeof value === 'number' ? value : kind(value)}, not a token count`,
    );
  return value;
}

/** `usage`: absent → undefined; otherwise three non-negative integers. */
export function checkUsage(value: unknown, field = 'usage'): Usage | undefined {
  const usage = optionalObject(value, field);
  if (!usage) return undefined;
  return {
    prompt_tokens: count(usage.prompt_tokens, `${field}.prompt_tokens`),
    completion_tokens: count(usage.completion_tokens, `${field}.completion_tokens`),
    total_tokens: count(usage.total_tokens, `${field}.total_tokens`),
  };
}

/** Bidi embeddings, overrides and isolates: in foreign text they could reverse the app's own words after it. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** Foreign text made safe to set inside the app's sentences: no bidi controls. */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, '');
}

/**
 * A server's error message, cut to MAX_SERVER_MESSAGE_CHARS, without bidi controls; non-text becomes
 * its JSON, cut too.
 */
export function capServerMessage(message: unknown): string {
  const raw = typeof message === 'string' ? message : (JSON.stringify(message) ?? String(message));
  const text = withoutBidiControls(raw);
  return text.length > MAX_SERVER_MESSAGE_CHARS ? `${text.slice(0, MAX_SERVER_MESSAGE_CHARS)}…` : text;
}

/**
 * Finish reasons by the name each server family sends. OpenAI's own are `stop`, `length`,
 * `content_filter`; the others are what OpenAI-compatible servers send for the same ends (TGI's
 * `eos_token`, Anthropic-style `end_turn`/`stop_sequence`/`max_tokens`, vLLM's `model_length`).
 */
const FINISH_REASONS: Readonly<Record<string, WireFinishReason>> = {
  stop: 'stop',
  eos: 'stop',
  eos_token: 'stop',
  end_turn: 'stop',
  stop_sequence: 'stop',
  length: 'length',
  max_tokens: 'length',
  model_length: 'length',
  content_filter: 'content_filter',
};

/**
 * `finish_reason`: absent/null → undefined, and so are "" and the string "null", which servers
 * (Ollama, sglang, KoboldCpp) sent on every chunk of an answer not yet finished. A known name, in
 * any case ("STOP"), → what it means. A tool call is refused by name (edgetier offers no tools, so
 * there is no answer to show), and so is a name edgetier does not know: calling it "stop" could pass
 * a cut or filtered answer off as complete.
 */
export function checkFinishReason(value: unknown, field: string): WireFinishReason | undefined {
  const reason = optionalText(value, field, MAX_ID_CHARS);
  if (reason === undefined || reason === '' || reason === 'null') return undefined;
  const name = reason.toLowerCase();
  const known = Object.hasOwn(FINISH_REASONS, name) ? FINISH_REASONS[name] : undefined;
  if (known) return known;
  const shown = JSON.stringify(withoutBidiControls(reason).slice(0, 64));
  if (name === 'tool_calls' || name === 'function_call')
    throw new WireShapeError(
      field,
      `is ${shown}: the model answered with a tool call, but edgetier offers no tools and has no answer to show`,
    );
  throw new WireShapeError(
    field,
    `is ${shown}, which edgetier does not know (it knows stop, length and content_filter, and their usual aliases)`,
  );
}

export interface CheckedCompletion {
  id: string | undefined;
  model: string | undefined;
  content: string;
  reasoning: string;
  finishReason: WireFinishReason | null;
  usage: Usage | undefined;
}

/** A whole (non-streamed) chat completion. */
export function checkCompletion(body: unknown): CheckedCompletion {
  const completion = optionalObject(body, 'the answer');
  if (!completion) throw new WireShapeError('the answer', 'is null, not a chat completion object');
  if (!Array.isArray(completion.choices) || completion.choices.length === 0)
    throw new WireShapeError(
      'choices',
      Array.isArray(completion.choices) ? 'is empty' : `is ${kind(completion.choices)}, not a list`,
    );
  const choice = optionalObject(completion.choices[0], 'choices[0]');
  if (!choice) throw new WireShapeError('choices[0]', 'is null');
  const message = optionalObject(choice.message, 'choices[0].message') ?? {};
  return {
    id: optionalText(completion.id, 'id', MAX_ID_CHARS),
    model: optionalText(completion.model, 'model', MAX_ID_CHARS),
    content: optionalText(message.content, 'choices[0].message.content', MAX_ANSWER_CHARS) ?? '',
    reasoning:
      optionalText(message.reasoning_content, 'choices[0].message.reasoning_content', MAX_ANSWER_CHARS) ??
      optionalText(message.reasoning, 'choices[0].message.reasoning', MAX_ANSWER_CHARS) ??
      '',
    finishReason: checkFinishReason(choice.finish_reason, 'choices[0].finish_reason') ?? null,
    usage: checkUsage(completion.usage),
  };
}

export interface CheckedChunk {
  id: string | undefined;
  model: string | undefined;
  content: string | undefined;
  reasoning: string | undefined;
  finishReason: WireFinishReason | undefined;
  usage: Usage | undefined;
  /** The server's error event, its message capped. */
  error: string | undefined;
}

/** One streamed chunk (already parsed JSON). */
export function checkChunk(value: unknown): CheckedChunk {
  const chunk = optionalObject(value, 'the event');
  if (!chunk) throw new WireShapeError('the event', 'is null, not a JSON object');
  const error = chunk.error;
  const errorMessage =
    error === undefined || error === null
      ? undefined
      : capServerMessage(
          typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string'
            ? (error as { message: string }).message
            : error,
        );
  const choices = chunk.choices;
  if (choices !== undefined && choices !== null && !Array.isArray(choices))
    throw new WireShapeError('choices', `is ${kind(choices)}, not a list`);
  const choice = Array.isArray(choices) ? optionalObject(choices[0], 'choices[0]') : undefined;
  const delta = choice ? (optionalObject(choice.delta, 'choices[0].delta') ?? {}) : {};
  return {
    id: optionalText(chunk.id, 'id', MAX_ID_CHARS),
    model: optionalText(chunk.model, 'model', MAX_ID_CHARS),
    content: optionalText(delta.content, 'choices[0].delta.content', MAX_ANSWER_CHARS),
    reasoning:
      optionalText(delta.reasoning_content, 'choices[0].delta.reasoning_content', MAX_ANSWER_CHARS) ??
      optionalText(delta.reasoning, 'choices[0].delta.reasoning', MAX_ANSWER_CHARS),
    finishReason: checkFinishReason(choice?.finish_reason, 'choices[0].finish_reason'),
    usage: checkUsage(chunk.usage),
    error: errorMessage,
  };
}

/** A /v1/models list: every entry an object with a string id; returned as sent otherwise. */
export function checkModelList(body: unknown): WireModel[] {
  const list = optionalObject(body, 'the answer');
  if (!list || !Array.isArray(list.data))
    throw new WireShapeError('data', 'is missing: not a model list ({"data": [...]})');
  if (list.data.length > MAX_MODELS)
    throw new WireShapeError('data', `lists ${list.data.length} models, over the limit of ${MAX_MODELS}`);
  return list.data.map((entry, i) => {
    const model = optionalObject(entry, `data[${i}]`);
    if (!model) throw new WireShapeError(`data[${i}]`, 'is null, not a model');
    if (optionalText(model.id, `data[${i}].id`, MAX_ID_CHARS) === undefined)
      throw new WireShapeError(`data[${i}].id`, 'is missing');
    return model as WireModel;
  });
}
