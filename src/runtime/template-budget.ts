/**
 * A model's chat template renders under a time and an output budget. The template comes with the model
 * folder, from strangers: a Jinja loop can run for hours and `raise_exception` can say anything. So it
 * renders in a short-lived helper thread (a nested Worker in the browser, a worker_threads Worker in
 * Node) that is terminated when it passes `DEFAULT_TEMPLATE_BUDGET.timeMs`, and refuses output past
 * `maxOutputChars`. Failures are `template_failed` errors that name the chat template as the fault;
 * text the template raised is shown quoted, capped and without bidi controls, never as the app's own
 * sentence.
 *
 * Isomorphic: the thread itself comes from the caller (`TemplateThreadFactory`), so no Node or DOM API
 * is used here. The render context is built exactly as transformers.js's `apply_chat_template` builds
 * it (tested against it), and rendered with the same Jinja engine (@huggingface/jinja).
 */
import type { ChatMessage } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';

export const DEFAULT_TEMPLATE_BUDGET = {
  /** A real template renders in milliseconds; past this the thread is terminated. */
  timeMs: 2000,
  /** Far above any context window's worth of text (8 characters a token, 256k tokens). */
  maxOutputChars: 2 * 1024 * 1024,
} as const;

/** How much of a template's own text (`raise_exception`, a Jinja error) an error message quotes. */
export const MAX_QUOTED_TEMPLATE_CHARS = 200;

export interface TemplateBudget {
  timeMs: number;
  maxOutputChars: number;
}

/** One render, posted to the helper thread (structured-cloneable). */
export interface TemplateJob {
  template: string;
  context: Record<string, unknown>;
  maxOutputChars: number;
}

export type TemplateReply =
  | { ok: true; text: string }
  /**
   * `failed`: Jinja threw, with the template's own `raise_exception` text or its own error (the two
   * cannot be told apart: Jinja declares raise_exception itself); `too_long`: over the output budget.
   */
  | { ok: false; kind: 'failed' | 'too_long'; message: string; chars?: number };

/** The Jinja engine's Template class (@huggingface/jinja), passed in so this module imports no engine. */
export type JinjaTemplateClass = new (
  template: string,
) => { render(items?: Record<string, unknown>): string };

/** The last template parsed: a session renders the same one many times. */
let compiled: { source: string; template: InstanceType<JinjaTemplateClass> } | null = null;

/** Runs one job; what the helper thread does with each message. Never throws. */
export function runTemplateJob(Template: JinjaTemplateClass, job: TemplateJob): TemplateReply {
  let text: string;
  try {
    if (compiled?.source !== job.template)
      compiled = { source: job.template, template: new Template(job.template) };
    text = compiled.template.render(job.context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, kind: 'failed', message };
  }
  if (text.length > job.maxOutputChars)
    return { ok: false, kind: 'too_long', message: '', chars: text.length };
  return { ok: true, text };
}

const SPECIAL_TOKEN_ATTRIBUTES = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
];

/** What transformers.js's tokenizer exposes that the render context needs. */
export interface TemplateTokenizer {
  chat_template?: unknown;
  config: Record<string, unknown>;
}

/**
 * The template and the variables `apply_chat_template(messages, {add_generation_prompt: true})` renders
 * with (transformers.js 4.3: messages, add_generation_prompt, tools, documents, the special tokens,
 * then the extra options).
 */
export function chatTemplateJob(
  tokenizer: TemplateTokenizer,
  messages: readonly ChatMessage[],
  enableThinking: boolean | undefined,
  budget: TemplateBudget,
): TemplateJob {
  const template = tokenizer.chat_template;
  if (typeof template !== 'string' || template.length === 0) {
    throw new EdgetierError(
      'template_failed',
      "The model has no chat template (tokenizer_config.json's chat_template is missing or not text); send a plain prompt instead of messages.",
    );
  }
  const special: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_ATTRIBUTES) {
    const value = tokenizer.config[key];
    if (typeof value === 'string' && value) special[key] = value;
    else if (
      value &&
      typeof value === 'object' &&
      typeof (value as { content?: unknown }).content === 'string'
    ) {
      special[key] = (value as { content: string }).content;
    }
  }
  return {
    template,
    context: {
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: true,
      tools: null,
      documents: null,
      ...special,
      ...(enableThinking === undefined ? {} : { enable_thinking: enableThinking }),
    },
    maxOutputChars: budget.maxOutputChars,
  };
}

const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

/** A template's own words, made safe to quote inside the app's sentence: capped, one line, no bidi controls. */
export function quoteTemplateText(text: string): string {
  const flat = text.replace(BIDI_CONTROLS, '').replace(/\s+/g, ' ').trim();
  const capped =
    flat.length > MAX_QUOTED_TEMPLATE_CHARS ? `${flat.slice(0, MAX_QUOTED_TEMPLATE_CHARS)}…` : flat;
  return `“${capped}”`;
}

const FIX = "Fix or replace the chat_template in the model folder's tokenizer_config.json.";

/** The error for a failed render: the chat template is named as the fault. */
export function templateError(
  reply: Exclude<TemplateReply, { ok: true }>,
  budget: TemplateBudget,
): EdgetierError {
  switch (reply.kind) {
    case 'failed':
      return new EdgetierError(
        'template_failed',
        `The model's chat template failed on this conversation; its own words: ${quoteTemplateText(reply.message)}. ${FIX}`,
      );
    case 'too_long':
      return new EdgetierError(
        'template_failed',
        `The model's chat template produced ${reply.chars ?? 'too many'} characters, more than the ` +
          `${budget.maxOutputChars} allowed, so its output was refused. ${FIX}`,
      );
  }
}

export function templateTimeoutError(budget: TemplateBudget): EdgetierError {
  return new EdgetierError(
    'template_failed',
    `The model's chat template did not finish within ${budget.timeMs / 1000} s, so it was stopped. ${FIX}`,
  );
}

/** Renders the chat template under the budget; throws `template_failed` (or `aborted` once disposed). */
export interface TemplateRenderer {
  render(job: TemplateJob): Promise<string>;
  dispose(): void;
}

/** A helper thread: a browser Worker or a Node worker_threads Worker behind one small shape. */
export interface TemplateThread {
  post(job: TemplateJob): void;
  /** Called once per reply, or with an Error when the thread failed (crash, out of memory). */
  onReply(listener: (reply: TemplateReply | Error) => void): void;
  terminate(): void;
}

export type TemplateThreadFactory = () => TemplateThread;

/**
 * Renders in a helper thread that lives while it answers in time: a thread past the time budget is
 * terminated (the render with it) and the next render starts a fresh one. Renders run one at a time.
 */
export class ThreadTemplateRenderer implements TemplateRenderer {
  private thread: TemplateThread | null = null;
  private pending: ((reply: TemplateReply | Error) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly spawn: TemplateThreadFactory,
    private readonly budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET,
  ) {}

  render(job: TemplateJob): Promise<string> {
    const run = this.queue.then(() => this.renderNow(job));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Starts the helper thread now, at load: its script is fetched and compiled before the first chat
   * (no request while chatting, and the first render's time budget is not spent on start-up).
   */
  start(): this {
    if (!this.disposed) this.ensureThread();
    return this;
  }

  dispose(): void {
    this.disposed = true;
    this.kill();
  }

  private kill(): void {
    this.thread?.terminate();
    this.thread = null;
  }

  private ensureThread(): TemplateThread {
    if (this.thread) return this.thread;
    const thread = this.spawn();
    thread.onReply((reply) => {
      const resolve = this.pending;
      this.pending = null;
      if (reply instanceof Error) this.kill();
      resolve?.(reply);
    });
    this.thread = thread;
    return thread;
  }

  private renderNow(job: TemplateJob): Promise<string> {
    if (this.disposed)
      return Promise.reject(new EdgetierError('aborted', 'This model was unloaded; load it again.'));
    const thread = this.ensureThread();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill();
        reject(templateTimeoutError(this.budget));
      }, this.budget.timeMs);
      this.pending = (reply) => {
        clearTimeout(timer);
        if (reply instanceof Error) {
          reject(
            new EdgetierError(
              'template_failed',
              `The model's chat template stopped its rendering thread (${quoteTemplateText(reply.message)}). ${FIX}`,
            ),
          );
        } else if (reply.ok) resolve(reply.text);
        else reject(templateError(reply, this.budget));
      };
      thread.post({ ...job, maxOutputChars: Math.min(job.maxOutputChars, this.budget.maxOutputChars) });
    });
  }
}

/**
 * Renders on the calling thread with the output budget only: for callers that have no helper thread
 * (tests, the CPU engine's own sessions). A looping template is not stopped here.
 */
export class InThreadTemplateRenderer implements TemplateRenderer {
  constructor(
    private readonly Template: JinjaTemplateClass,
    private readonly budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET,
  ) {}

  async render(job: TemplateJob): Promise<string> {
    const reply = runTemplateJob(this.Template, {
      ...job,
      maxOutputChars: Math.min(job.maxOutputChars, this.budget.maxOutputChars),
    });
    if (reply.ok) return reply.text;
    throw templateError(reply, this.budget);
  }

  dispose(): void {}
}
