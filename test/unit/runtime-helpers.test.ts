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
  const countConversation = (m: ChatMessage[]) => m.reduce((n, x) => n + x.content.length + 2, 0);
  const count = { countConversation, countMessage: (m: ChatMessage) => m.content.length };
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'sys' },
    { role: 'user', content: 'aaaa' },
    { role: 'assistant', content: 'bbbb' },
    { role: 'user', content: 'cc' },
  ];

  /** The old one-message-at-a-time scan: the reference for which messages to keep. */
  function linearFit(messages: ChatMessage[], budget: number) {
    const system = messages.filter((m) => m.role === 'system');
    let turns = messages.filter((m) => m.role !== 'system');
    let dropped = 0;
    for (;;) {
      const tokens = countConversation([...system, ...turns]);
      if (tokens <= budget) return { dropped, promptTokens: tokens };
      if (turns.length <= 1) return null;
      turns = turns.slice(1);
      dropped++;
      while (turns.length > 1 && turns[0]!.role === 'assistant') {
        turns = turns.slice(1);
        dropped++;
      }
    }
  }

  it('keeps everything that fits', async () => {
    expect(await fitConversation(conversation, count, 100)).toEqual({
      messages: conversation,
      dropped: 0,
      promptTokens: 21,
    });
  });

  it('drops the oldest turns, keeps the system message, and never starts with an assistant turn', async () => {
    const fitted = await fitConversation(conversation, count, 12);
    expect(fitted.messages).toEqual([conversation[0], conversation[3]]);
    expect(fitted.dropped).toBe(2);
  });

  it('refuses a last message that alone does not fit', async () => {
    await expect(fitConversation(conversation, count, 5)).rejects.toMatchObject({
      code: 'context_overflow',
      message: expect.stringContaining('needs 9 tokens but only 5'),
    });
  });

  it('keeps exactly what the one-at-a-time scan keeps (random conversations, fixed seed)', async () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 300; round++) {
      const n = 1 + Math.floor(random() * 40);
      const messages: ChatMessage[] = random() < 0.5 ? [{ role: 'system', content: 's'.repeat(5) }] : [];
      for (let i = 0; i < n; i++) {
        const role = random() < 0.15 ? 'assistant' : i % 2 === 0 ? 'user' : 'assistant';
        messages.push({ role, content: 'x'.repeat(Math.floor(random() * 30)) });
      }
      // Estimates that are off by up to ±50 %: the renders must still find the same cut.
      const noisy = {
        countConversation,
        countMessage: (m: ChatMessage) => Math.round(m.content.length * (0.5 + random())),
      };
      const budget = Math.floor(random() * countConversation(messages) * 1.1);
      const expected = linearFit(messages, budget);
      if (expected === null) {
        await expect(fitConversation(messages, noisy, budget), `round ${round}`).rejects.toMatchObject({
          code: 'context_overflow',
        });
      } else {
        const fitted = await fitConversation(messages, noisy, budget);
        expect({ dropped: fitted.dropped, promptTokens: fitted.promptTokens }, `round ${round}`).toEqual(
          expected,
        );
      }
    }
  });

  it('does work linear in the conversation: each message counted once, a few renders', async () => {
    for (const n of [250, 2000]) {
      const messages: ChatMessage[] = Array.from({ length: n }, (_, i) => ({
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: `message ${i} ${'word '.repeat(i % 7)}`,
      }));
      let counted = 0;
      let renderedMessages = 0;
      const counting = {
        countMessage: (m: ChatMessage) => {
          counted++;
          return count.countMessage(m);
        },
        countConversation: (m: ChatMessage[]) => {
          renderedMessages += m.length;
          return countConversation(m);
        },
      };
      const budget = Math.floor(countConversation(messages) / 3);
      const fitted = await fitConversation(messages, counting, budget);
      expect(fitted).toMatchObject(linearFit(messages, budget)!);
      expect(counted).toBe(n);
      // The whole conversation once, then the candidate and its neighbour: at most 4 n messages.
      expect(renderedMessages, `n=${n}`).toBeLessThanOrEqual(4 * n);
    }
  });

  it('never renders the whole conversation when its content alone is over the budget (one render cannot be stopped)', async () => {
    const n = 2000;
    const messages: ChatMessage[] = Array.from({ length: n }, (_, i) => ({
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: `message ${i}`,
    }));
    let largestRender = 0;
    const counting = {
      countMessage: count.countMessage,
      countConversation: (m: ChatMessage[]) => {
        largestRender = Math.max(largestRender, m.length);
        return countConversation(m);
      },
    };
    const budget = 400;
    const fitted = await fitConversation(messages, counting, budget);
    expect(fitted).toMatchObject(linearFit(messages, budget)!);
    // The largest render holds about what fits (~30 messages here), never all 2000.
    expect(largestRender).toBeLessThan(100);
    // A huge last message is measured once, by its own render, and refused.
    largestRender = 0;
    await expect(
      fitConversation([...messages, { role: 'user', content: 'x'.repeat(5000) }], counting, budget),
    ).rejects.toMatchObject({
      code: 'context_overflow',
      message: expect.stringContaining('needs 5002 tokens'),
    });
    expect(largestRender).toBe(1);
  });

  it('stops between steps when asked to, with an aborted error', async () => {
    const messages: ChatMessage[] = Array.from({ length: 1000 }, (_, i) => ({
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: `message ${i}`,
    }));
    let stop = false;
    let counted = 0;
    const counting = {
      countMessage: (m: ChatMessage) => {
        if (++counted === 300) stop = true;
        return m.content.length;
      },
      countConversation,
    };
    await expect(fitConversation(messages, counting, 100, { shouldStop: () => stop })).rejects.toMatchObject({
      code: 'aborted',
      message: 'Stopped while fitting the conversation into the context window.',
    });
    expect(counted).toBeLessThan(400);
  });
});
