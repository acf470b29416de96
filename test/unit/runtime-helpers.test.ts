import { describe, expect, it } from 'vitest';
import type { ChatMessage, StreamChunk } from '../../src/core/engine.ts';
import { ChunkBatcher } from '../../src/runtime/chunk-batcher.ts';
import { fitConversation } from '../../src/runtime/context-window.ts';
import { cutAtStop, findStop, stopHoldback } from '../../src/runtime/stop-strings.ts';
import { ThinkSplitter } from '../../src/runtime/think-split.ts';

describe('stop strings', () => {
  it('finds the earliest stop string and cuts before it', () => {
    expect(findStop('abc END xyz STOP', ['STOP', 'END'])).toBe(4);
    expect(cutAtStop('abc END xyz', ['END'])).toBe('abc ');
    expect(cutAtStop('abc', ['END', ''])).toBe('abc');
  });

  it('holds back a tail that may grow into a stop string', () => {
    expect(stopHoldback('hello EN', ['END'])).toBe(2);
    expect(stopHoldback('hello E', ['END', 'Eq'])).toBe(1);
    expect(stopHoldback('hello', ['END'])).toBe(0);
  });
});

describe('ThinkSplitter', () => {
  const whole = '<think>\nplan: add 2 and 2\n\n</think>\n\nThe answer is 4.';

  it('splits reasoning from the answer and trims the reasoning', () => {
    expect(ThinkSplitter.split(whole)).toEqual({ reasoning: 'plan: add 2 and 2', text: 'The answer is 4.' });
    expect(ThinkSplitter.split('no tags here')).toEqual({ reasoning: '', text: 'no tags here' });
    expect(ThinkSplitter.split('still thinking </think> done', true)).toEqual({
      reasoning: 'still thinking',
      text: 'done',
    });
  });

  it('streams, one character at a time, exactly what the whole split gives', () => {
    for (const text of [whole, 'a <thi', '<think>x</thin', 'x<think>y</think>z</think>w']) {
      const splitter = new ThinkSplitter();
      let answer = '';
      let reasoning = '';
      for (const ch of text) {
        const out = splitter.push(ch);
        answer += out.text;
        reasoning += out.reasoning;
      }
      const end = splitter.flush();
      expect({ text: answer + end.text, reasoning: reasoning + end.reasoning }).toEqual(
        ThinkSplitter.split(text),
      );
    }
  });

  it('never shows a half-received tag', () => {
    const splitter = new ThinkSplitter();
    expect(splitter.push('Hi <thi')).toEqual({ text: 'Hi ', reasoning: '' });
    expect(splitter.push('nk>why')).toEqual({ text: '', reasoning: 'why' });
    expect(splitter.push(' </th')).toEqual({ text: '', reasoning: '' });
    expect(splitter.push('ink> ok')).toEqual({ text: 'ok', reasoning: '' });
  });
});

describe('ChunkBatcher', () => {
  it('sends a chunk every maxTokens tokens, after maxDelayMs, and at the end', () => {
    let now = 0;
    const chunks: StreamChunk[] = [];
    const batcher = new ChunkBatcher(
      (c) => chunks.push(c),
      { maxTokens: 3, maxDelayMs: 50 },
      () => now,
    );
    for (const t of ['a', 'b', 'c', 'd']) batcher.add({ text: t, reasoning: '' });
    expect(chunks).toEqual([{ text: 'abc', tokens: 3 }]);
    now = 60;
    batcher.add({ text: 'e', reasoning: 'r' });
    expect(chunks.at(-1)).toEqual({ text: 'de', reasoning: 'r', tokens: 2 });
    batcher.add({ text: 'f', reasoning: '' });
    batcher.addText({ text: '!', reasoning: '' });
    batcher.flush();
    batcher.flush();
    expect(chunks.at(-1)).toEqual({ text: 'f!', tokens: 1 });
    expect(chunks).toHaveLength(3);
  });
});

describe('fitConversation', () => {
  // One "token" per character of content plus 2 per message: easy to reason about.
  const count = (m: ChatMessage[]) => m.reduce((n, x) => n + x.content.length + 2, 0);
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'sys' },
    { role: 'user', content: 'aaaa' },
    { role: 'assistant', content: 'bbbb' },
    { role: 'user', content: 'cc' },
  ];

  it('keeps everything that fits', () => {
    expect(fitConversation(conversation, count, 100)).toEqual({
      messages: conversation,
      dropped: 0,
      promptTokens: 21,
    });
  });

  it('drops the oldest turns, keeps the system message, and never starts with an assistant turn', () => {
    const fitted = fitConversation(conversation, count, 12);
    expect(fitted.messages).toEqual([conversation[0], conversation[3]]);
    expect(fitted.dropped).toBe(2);
  });

  it('refuses a last message that alone does not fit', () => {
    expect(() => fitConversation(conversation, count, 5)).toThrowError(
      expect.objectContaining({
        code: 'context_overflow',
        message: expect.stringContaining('needs 9 tokens but only 5'),
      }),
    );
  });
});
