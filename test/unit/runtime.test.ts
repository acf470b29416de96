/**
 * The generation runtime on a real tiny model (converted by edgetier, run by transformers.js on
 * onnxruntime-node): multi-turn KV-cache reuse, interrupt, stop strings, batched streaming, context
 * fitting, the thinking split, and the Node engine's load/unload behaviour. Random weights make the
 * text noise, so the assertions compare token ids and exact counts, not meaning.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, type PreTrainedModel, random } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import type { ChatMessage, StreamChunk } from '../../src/core/engine.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { loadModelSession, ModelSession, WARMUP_MAX_TOKENS } from '../../src/runtime/model-session.ts';
import {
  DEFAULT_PREFILL_CHUNKING,
  prefillChunkingFor,
  TransformersGenerator,
} from '../../src/runtime/transformers-generator.ts';
import { makeCheckpoint } from '../helpers/checkpoints.ts';

let root: string;
let modelDir: string;
let thinkingDir: string;
let session: ModelSession;

/** A Qwen3-style template: the generation prompt opens a <think> block unless thinking is off. */
const THINKING_TEMPLATE =
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}" +
  "{{ '<think>\\n\\n</think>\\n\\n' }}{% else %}{{ '<think>\\n' }}{% endif %}{% endif %}";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-runtime-'));
  const checkpoint = join(root, 'checkpoint');
  modelDir = join(root, 'model');
  // Untied, with strong layers: the continuation varies instead of echoing one token.
  await makeCheckpoint(checkpoint, {
    family: 'llama',
    tied: false,
    seed: 21,
    linearScale: 3,
    maxPositionEmbeddings: 512,
  });
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await convertCommand.run([checkpoint, '--out', modelDir, '--dtype', 'fp32']);
  } finally {
    process.stderr.write = write;
  }
  thinkingDir = join(root, 'thinking');
  await cp(modelDir, thinkingDir, { recursive: true });
  const configPath = join(thinkingDir, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8'));
  await writeFile(configPath, JSON.stringify({ ...config, chat_template: THINKING_TEMPLATE }));
  session = await loadModelSession({
    model: modelDir,
    dtype: 'fp32',
    device: 'cpu',
    batching: { maxTokens: 4, maxDelayMs: 1e9 },
  });
});

afterAll(async () => {
  await session?.dispose();
  await rm(root, { recursive: true, force: true });
});

const question: ChatMessage = { role: 'user', content: 'Tell me a short story about a lighthouse keeper.' };

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe('multi-turn KV-cache reuse', () => {
  async function twoTurns(firstAnswerTokens: number) {
    session.resetConversation();
    const turn1 = await session.generate({
      messages: [question],
      sampling: { maxNewTokens: firstAnswerTokens },
    });
    expect(turn1.metrics.cachedPromptTokens).toBe(0);
    expect(turn1.metrics.prefillTokens).toBe(turn1.promptIds.length);
    const conversation: ChatMessage[] = [
      question,
      { role: 'assistant', content: turn1.text },
      { role: 'user', content: 'And then what happened?' },
    ];
    const turn2 = await session.generate({ messages: conversation, sampling: { maxNewTokens: 12 } });
    session.resetConversation();
    const fresh = await session.generate({ messages: conversation, sampling: { maxNewTokens: 12 } });
    expect(fresh.metrics.cachedPromptTokens).toBe(0);
    expect(fresh.promptIds).toEqual(turn2.promptIds);
    expect(turn2.outputIds).toEqual(fresh.outputIds);
    expect(new Set(fresh.outputIds).size).toBeGreaterThan(3);
    // The cache held turn 1's prompt and every answer token but the last (never fed back).
    return { turn1, turn2, cached: [...turn1.promptIds, ...turn1.outputIds.slice(0, -1)] };
  }

  it('turn 2 prefills only its own tokens and equals a fresh run over the whole conversation', async () => {
    // A one-token answer leaves exactly turn 1's prompt in the cache, and turn 2's prompt extends it.
    const { turn1, turn2, cached } = await twoTurns(1);
    expect(cached).toEqual(turn1.promptIds);
    expect(turn2.promptIds.slice(0, cached.length)).toEqual(cached);
    expect(turn2.metrics.cachedPromptTokens).toBe(turn1.promptIds.length);
    expect(turn2.metrics.prefillTokens).toBe(turn2.promptIds.length - turn1.promptIds.length);
  });

  it('cuts the cache back where the re-templated answer tokenises differently, and stays exact', async () => {
    // Random weights emit byte soup that is not valid UTF-8, so the answer's text re-tokenises to
    // other ids: only the shared prefix can be reused.
    const { turn1, turn2, cached } = await twoTurns(12);
    const shared = commonPrefixLength(turn2.promptIds, cached);
    expect(shared).toBeGreaterThanOrEqual(turn1.promptIds.length);
    expect(shared).toBeLessThan(cached.length); // the truncating path really ran
    expect(turn2.metrics.cachedPromptTokens).toBe(shared);
    expect(turn2.metrics.prefillTokens).toBe(turn2.promptIds.length - shared);
  });

  it('reuses only the shared prefix after an edit, and still answers exactly', async () => {
    session.resetConversation();
    const before = await session.generate({ messages: [question], sampling: { maxNewTokens: 6 } });
    const edited: ChatMessage[] = [{ role: 'user', content: 'A different first question entirely.' }];
    const afterEdit = await session.generate({ messages: edited, sampling: { maxNewTokens: 8 } });
    expect(afterEdit.metrics.cachedPromptTokens).toBe(
      commonPrefixLength(afterEdit.promptIds, before.promptIds),
    );
    expect(afterEdit.metrics.cachedPromptTokens).toBeLessThan(before.promptIds.length);
    session.resetConversation();
    const fresh = await session.generate({ messages: edited, sampling: { maxNewTokens: 8 } });
    expect(afterEdit.outputIds).toEqual(fresh.outputIds);
  });

  it('reruns a repeated prompt from the cache of all but its last token', async () => {
    session.resetConversation();
    const first = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 6 } });
    const repeat = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 6 } });
    expect(repeat.metrics.cachedPromptTokens).toBe(first.promptIds.length - 1);
    expect(repeat.metrics.prefillTokens).toBe(1);
    expect(repeat.outputIds).toEqual(first.outputIds);
  });
});

describe('streaming, interrupt and stop strings', () => {
  it('streams in batches whose text and token counts add up to the result', async () => {
    session.resetConversation();
    const chunks: StreamChunk[] = [];
    const result = await session.generate(
      { prompt: 'Once upon a time', sampling: { maxNewTokens: 20 } },
      (c) => chunks.push(c),
    );
    expect(chunks.map((c) => c.text).join('')).toBe(result.text);
    expect(chunks.reduce((n, c) => n + c.tokens, 0)).toBe(result.outputIds.length);
    // Four tokens per chunk (the batching set above), not one message per token; text held back
    // (half a UTF-8 character) may leave in one last chunk.
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil(result.outputIds.length / 4) + 1);
    expect(chunks.slice(0, -1).every((c) => c.tokens === 4)).toBe(true);
    expect(result.metrics.decodeTokens).toBe(result.outputIds.length - 1);
    expect(result.metrics.ttftMs).toBeGreaterThan(0);
  });

  it('interrupt stops within one token, keeps the partial answer, and the next request works', async () => {
    session.resetConversation();
    const full = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 40 } });
    session.resetConversation();
    let streamed = '';
    const partial = await session.generate(
      { prompt: 'Once upon a time', sampling: { maxNewTokens: 40 } },
      (c) => {
        streamed += c.text;
        session.interrupt();
      },
    );
    expect(partial.finishReason).toBe('aborted');
    // The interrupt came with the first chunk (4 tokens); at most the token in flight follows it.
    expect(partial.outputIds.length).toBeGreaterThanOrEqual(4);
    expect(partial.outputIds.length).toBeLessThanOrEqual(5);
    expect(partial.outputIds).toEqual(full.outputIds.slice(0, partial.outputIds.length));
    expect(partial.text.startsWith(streamed)).toBe(true);

    session.resetConversation();
    const again = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 40 } });
    expect(again.outputIds).toEqual(full.outputIds);
    expect(again.finishReason).toBe(full.finishReason);
  });

  it('an interrupt sent while idle does not cut the next request', async () => {
    session.interrupt();
    session.resetConversation();
    const result = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 10 } });
    expect(result.finishReason).not.toBe('aborted');
  });

  it('an interrupt sent after a request was submitted, before it started, ends it (NodeEngine)', async () => {
    const engine = new NodeEngine();
    await engine.load({ source: { kind: 'path', path: modelDir }, device: 'cpu', dtype: 'fp32' });
    try {
      // The abort lands while the request waits behind a reset (as in the native tier).
      const reset = engine.resetConversation();
      const run = engine.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 300 } });
      await engine.interrupt();
      await reset;
      await expect(run).rejects.toMatchObject({ code: 'aborted' });
      // An interrupt before the next request is submitted does not reach it.
      const next = await engine.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 5 } });
      expect(next.outputIds).toHaveLength(5);
      expect(next.finishReason).toBe('length');
    } finally {
      await engine.unload();
    }
  });

  it('stops at a stop string, cuts it from the answer, and never streams it', async () => {
    session.resetConversation();
    const full = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 40 } });
    // A stop string taken from the middle of the greedy answer.
    const at = Math.floor(full.text.length / 2);
    const stop = full.text.slice(at, at + 3);
    const expected = full.text.slice(0, full.text.indexOf(stop));
    session.resetConversation();
    let streamed = '';
    const stopped = await session.generate(
      {
        prompt: 'Once upon a time',
        sampling: { maxNewTokens: 40, stop: ['never appears in noise \u0000', stop] },
      },
      (c) => {
        streamed += c.text;
      },
    );
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(expected);
    expect(streamed).toBe(expected);
    expect(stopped.outputIds.length).toBeLessThan(full.outputIds.length);
    expect(stopped.outputIds).toEqual(full.outputIds.slice(0, stopped.outputIds.length));
  });
});

describe('a long prompt read in chunks through the cache', () => {
  /** A ModelSession over the test model whose generator reads long prompts in chunks of `chunk` tokens (null: in one pass). */
  async function sessionWithChunks(chunk: number | null) {
    const tokenizer = await AutoTokenizer.from_pretrained(modelDir);
    const model = await AutoModelForCausalLM.from_pretrained(modelDir, { dtype: 'fp32', device: 'cpu' });
    const fixed =
      chunk === null
        ? null
        : {
            onePassTokens: chunk,
            firstChunkTokens: chunk,
            minChunkTokens: chunk,
            maxChunkTokens: chunk,
            targetMs: 250,
          };
    const generator = new TransformersGenerator(model, 'cpu', fixed);
    const chunked = new ModelSession(tokenizer, generator, { dtype: 'fp32', device: 'cpu', threads: 0 });
    return { model, generator, session: chunked };
  }

  /**
   * Counts the model's forward passes (prefill chunks and generate()'s steps) during `run`;
   * `during(n)` is called inside the n-th, after ONNX Runtime's run.
   */
  async function countForwards<T>(
    model: PreTrainedModel,
    run: () => Promise<T>,
    during?: (n: number) => void,
  ): Promise<{ forwards: number; result: T }> {
    const forward = model.forward.bind(model);
    let forwards = 0;
    model.forward = async (inputs: Record<string, unknown>) => {
      const n = ++forwards;
      const out = await forward(inputs);
      during?.(n);
      return out;
    };
    try {
      return { result: await run(), forwards };
    } finally {
      delete (model as { forward?: unknown }).forward;
    }
  }

  const line = (i: number) => `Line ${i}: the keeper climbed the stairs and lit the lamp.`;
  const story = (n: number) => Array.from({ length: n }, (_, i) => line(i)).join(' ');
  let oneRun: Awaited<ReturnType<typeof sessionWithChunks>>;
  let chunked: Awaited<ReturnType<typeof sessionWithChunks>>;

  beforeAll(async () => {
    oneRun = await sessionWithChunks(null);
    chunked = await sessionWithChunks(32);
  });

  afterAll(async () => {
    await oneRun?.session.dispose();
    await chunked?.session.dispose();
  });

  it('gives the tokens, counts and cache of one pass, for a fresh prompt and a long new turn on a cached one', async () => {
    const prompt = story(6);
    const reference = await oneRun.session.generate({ prompt, sampling: { maxNewTokens: 16 } });
    const length = reference.promptIds.length;
    expect(length).toBeGreaterThan(3 * 32);
    expect(length % 32).not.toBe(0); // a last chunk shorter than the others
    // The default session reads it in chunks too.
    expect(length).toBeGreaterThan(DEFAULT_PREFILL_CHUNKING.onePassTokens);
    expect(oneRun.generator.prefillChunks).toBe(0);

    const { forwards, result } = await countForwards(chunked.model, () =>
      chunked.session.generate({ prompt, sampling: { maxNewTokens: 16 } }),
    );
    // Every full chunk but one through the cache, the rest (1 to 32 tokens) by generate().
    const chunks = Math.ceil(length / 32) - 1;
    expect(chunked.generator.prefillChunks).toBe(chunks);
    expect(forwards).toBe(chunks + result.outputIds.length);
    expect(result.promptIds).toEqual(reference.promptIds);
    expect(result.outputIds).toEqual(reference.outputIds);
    expect(new Set(result.outputIds).size).toBeGreaterThan(3);
    expect(result.metrics.prefillTokens).toBe(length);
    expect(result.metrics.cachedPromptTokens).toBe(0);
    expect(result.metrics.ttftMs).toBeGreaterThan(0);
    expect(chunked.generator.cachedIds).toEqual(oneRun.generator.cachedIds);

    session.resetConversation();
    const byDefault = await session.generate({ prompt, sampling: { maxNewTokens: 16 } });
    expect(byDefault.outputIds).toEqual(reference.outputIds);

    // A second turn whose new part is longer than a chunk: read in chunks on top of the cache.
    const turn: ChatMessage[] = [{ role: 'user', content: 'Hi' }];
    const first = await chunked.session.generate({ messages: turn, sampling: { maxNewTokens: 1 } });
    const conversation: ChatMessage[] = [
      ...turn,
      { role: 'assistant', content: first.text },
      { role: 'user', content: story(4) },
    ];
    const before = chunked.generator.prefillChunks;
    const second = await chunked.session.generate({ messages: conversation, sampling: { maxNewTokens: 12 } });
    expect(second.metrics.cachedPromptTokens).toBe(first.promptIds.length);
    expect(second.metrics.prefillTokens).toBeGreaterThan(2 * 32);
    expect(chunked.generator.prefillChunks - before).toBe(Math.ceil(second.metrics.prefillTokens / 32) - 1);
    oneRun.session.resetConversation();
    const fresh = await oneRun.session.generate({ messages: conversation, sampling: { maxNewTokens: 12 } });
    expect(fresh.promptIds).toEqual(second.promptIds);
    expect(second.outputIds).toEqual(fresh.outputIds);
    chunked.session.resetConversation();
  });

  it('an interrupt while the prompt is read ends it after the chunk in flight, with no token; the next request is exact', async () => {
    const prompt = story(6);
    oneRun.session.resetConversation();
    const reference = await oneRun.session.generate({ prompt, sampling: { maxNewTokens: 16 } });
    expect(Math.ceil(reference.promptIds.length / 32) - 1).toBeGreaterThan(3);

    chunked.session.resetConversation();
    const chunksBefore = chunked.generator.prefillChunks;
    // The interrupt comes while the second chunk runs (as a Stop arrives during a forward pass).
    const chunks: StreamChunk[] = [];
    const { forwards, result: stopped } = await countForwards(
      chunked.model,
      () => chunked.session.generate({ prompt, sampling: { maxNewTokens: 16 } }, (c) => chunks.push(c)),
      (n) => {
        if (n === 2) chunked.session.interrupt();
      },
    );
    expect(forwards).toBe(2);
    expect(chunked.generator.prefillChunks - chunksBefore).toBe(2);
    expect(stopped.finishReason).toBe('aborted');
    expect(stopped.outputIds).toEqual([]);
    expect(stopped.text).toBe('');
    expect(chunks.map((c) => c.text).join('')).toBe('');
    expect(stopped.metrics.ttftMs).toBe(0);
    // The cache holds the two chunks read, a prefix of the prompt.
    expect(chunked.generator.cachedIds).toEqual(reference.promptIds.slice(0, 64));

    // The same prompt again resumes from those chunks and answers as a fresh one-pass run.
    const again = await chunked.session.generate({ prompt, sampling: { maxNewTokens: 16 } });
    expect(again.finishReason).toBe(reference.finishReason);
    expect(again.metrics.cachedPromptTokens).toBe(64);
    expect(again.metrics.prefillTokens).toBe(reference.promptIds.length - 64);
    expect(again.outputIds).toEqual(reference.outputIds);

    // Another prompt after another interrupted read: cut back to what it shares, and exact.
    chunked.session.resetConversation();
    const { forwards: forwards2, result: stopped2 } = await countForwards(
      chunked.model,
      () => chunked.session.generate({ prompt, sampling: { maxNewTokens: 16 } }),
      (n) => {
        if (n === 1) chunked.session.interrupt();
      },
    );
    expect(forwards2).toBe(1);
    expect(chunked.generator.cachedIds).toEqual(reference.promptIds.slice(0, 32));
    expect(stopped2.outputIds).toEqual([]);
    const other = `${story(1)} And then the storm came.`;
    const next = await chunked.session.generate({ prompt: other, sampling: { maxNewTokens: 16 } });
    oneRun.session.resetConversation();
    const freshOther = await oneRun.session.generate({ prompt: other, sampling: { maxNewTokens: 16 } });
    expect(next.outputIds).toEqual(freshOther.outputIds);
    expect(next.finishReason).toBe(freshOther.finishReason);
  });

  it('after a read stopped between chunks, a prompt sharing part of it, a shorter one and boundary lengths answer as a fresh run', async () => {
    const max = { maxNewTokens: 12 };
    oneRun.session.resetConversation();
    const base = (await oneRun.session.generate({ prompt: story(6), sampling: max })).promptIds;
    expect(base.length).toBeGreaterThan(98);
    /** What a fresh one-pass run answers to `ids`. */
    const fresh = async (ids: number[]) => {
      oneRun.session.resetConversation();
      return oneRun.session.generate({ promptIds: ids, sampling: max });
    };
    /** Reads `base` in chunks and stops after the `after`-th one. */
    const stopAfter = async (after: number) => {
      chunked.session.resetConversation();
      const { result } = await countForwards(
        chunked.model,
        () => chunked.session.generate({ promptIds: base, sampling: max }),
        (n) => {
          if (n === after) chunked.session.interrupt();
        },
      );
      expect(result.outputIds).toEqual([]);
      expect(chunked.generator.cachedIds).toEqual(base.slice(0, 32 * after));
    };
    const expectFresh = async (ids: number[], cached: number) => {
      const got = await chunked.session.generate({ promptIds: ids, sampling: max });
      const want = await fresh(ids);
      expect(got.outputIds).toEqual(want.outputIds);
      expect(got.finishReason).toBe(want.finishReason);
      expect(got.metrics.cachedPromptTokens).toBe(cached);
      expect(got.metrics.prefillTokens).toBe(ids.length - cached);
    };

    // Shares 40 of the 64 tokens read, then diverges (and is long enough to be chunked again).
    await stopAfter(2);
    const diverging = [...base.slice(0, 40), ...base.slice(50, 50 + 60).reverse()];
    await expectFresh(diverging, 40);
    // Shorter than what was read: a strict prefix of it (the cache is cut to all but its last token).
    await stopAfter(2);
    await expectFresh(base.slice(0, 50), 49);
    // Exactly what was read: its last token is run again.
    await stopAfter(2);
    await expectFresh(base.slice(0, 64), 63);
    // Shares nothing but the first token.
    await stopAfter(1);
    await expectFresh([base[0] as number, ...base.slice(1, 90).reverse()], 1);

    // The chunk boundary on the last token and just before it (32-token chunks).
    for (const length of [96, 97, 65, 64, 33]) {
      chunked.session.resetConversation();
      const before = chunked.generator.prefillChunks;
      await expectFresh(base.slice(0, length), 0);
      expect(chunked.generator.prefillChunks - before).toBe(length > 32 ? Math.ceil(length / 32) - 1 : 0);
    }
  });

  it('with the default chunking, a new part of 64 tokens is read in one pass and one of 65 in chunks, both exact', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(modelDir);
    const model = await AutoModelForCausalLM.from_pretrained(modelDir, { dtype: 'fp32', device: 'cpu' });
    // A clock that never moves: every chunk is "fast", so sizes double from the first one.
    const generator = new TransformersGenerator(model, 'cpu', DEFAULT_PREFILL_CHUNKING, () => 0);
    const own = new ModelSession(tokenizer, generator, { dtype: 'fp32', device: 'cpu', threads: 0 });
    try {
      oneRun.session.resetConversation();
      const base = (await oneRun.session.generate({ prompt: story(6), sampling: { maxNewTokens: 1 } }))
        .promptIds;
      for (const [length, chunks] of [
        [64, 0],
        [65, 2], // 16 + 32, then 17 by generate()
        [97, 1], // the size the last request ended on (64), then 33 by generate()
      ] as const) {
        own.resetConversation();
        const before = generator.prefillChunks;
        const got = await own.generate({ promptIds: base.slice(0, length), sampling: { maxNewTokens: 10 } });
        oneRun.session.resetConversation();
        const want = await oneRun.session.generate({
          promptIds: base.slice(0, length),
          sampling: { maxNewTokens: 10 },
        });
        expect(got.outputIds).toEqual(want.outputIds);
        expect(got.metrics.prefillTokens).toBe(length);
        expect(generator.prefillChunks - before, `length ${length}`).toBe(chunks);
      }
    } finally {
      await own.dispose();
    }
  });

  it('sampling draws from the same distributions after a chunked read (the same random numbers give the same tokens)', async () => {
    const prompt = story(5);
    /** transformers.js's sampler, seeded (its module-level MT19937), during `run`. */
    const seeded = async <T>(run: () => Promise<T>): Promise<T> => {
      random.seed(1234);
      try {
        return await run();
      } finally {
        random.seed();
      }
    };
    oneRun.session.resetConversation();
    const greedy = await oneRun.session.generate({ prompt, sampling: { maxNewTokens: 16 } });
    for (const sampling of [
      { maxNewTokens: 16, temperature: 1.3, topP: 0.9, topK: 20, repetitionPenalty: 1.2 },
      { maxNewTokens: 16, temperature: 1.3 },
    ]) {
      oneRun.session.resetConversation();
      const want = await seeded(() => oneRun.session.generate({ prompt, sampling }));
      oneRun.session.resetConversation();
      const want2 = await seeded(() => oneRun.session.generate({ prompt, sampling }));
      expect(want2.outputIds).toEqual(want.outputIds); // the seed holds
      // The sampler did sample (a greedy answer would differ).
      expect(want.outputIds).not.toEqual(greedy.outputIds);
      chunked.session.resetConversation();
      const before = chunked.generator.prefillChunks;
      const got = await seeded(() => chunked.session.generate({ prompt, sampling }));
      expect(chunked.generator.prefillChunks - before).toBeGreaterThan(1);
      expect(got.outputIds).toEqual(want.outputIds);
    }
  });

  it('time to first token and the prefill count include every chunk', async () => {
    chunked.session.resetConversation();
    const prompt = story(6);
    const delayMs = 40;
    const forward = chunked.model.forward.bind(chunked.model);
    let forwards = 0;
    chunked.model.forward = async (inputs: Record<string, unknown>) => {
      const out = await forward(inputs);
      // Each prefill chunk (the forwards before generate()'s first) takes 40 ms longer.
      if (
        ++forwards <= chunked.generator.prefillChunks + 1 &&
        (inputs.input_ids as { dims: number[] }).dims[1]! > 1
      ) {
        await new Promise((r) => setTimeout(r, delayMs));
      }
      return out;
    };
    try {
      const before = chunked.generator.prefillChunks;
      const result = await chunked.session.generate({ prompt, sampling: { maxNewTokens: 4 } });
      const chunks = chunked.generator.prefillChunks - before;
      expect(chunks).toBeGreaterThan(2);
      expect(result.metrics.prefillTokens).toBe(result.promptIds.length);
      expect(result.metrics.ttftMs).toBeGreaterThanOrEqual(chunks * delayMs);
      expect(result.metrics.prefillTokPerSec).toBeLessThanOrEqual(
        (result.promptIds.length * 1000) / (chunks * delayMs),
      );
    } finally {
      delete (chunked.model as { forward?: unknown }).forward;
    }
  });
  it('a conversation cut to fit the context window, read in chunks and stopped, then grown and cut again: as a fresh run', async () => {
    const max = { maxNewTokens: 48 };
    const turns: ChatMessage[] = [];
    for (let i = 0; i < 12; i++) {
      turns.push({ role: 'user', content: `${i}. ${story(2)}` });
      turns.push({ role: 'assistant', content: `Noted ${i}. ${line(i + 40)}` });
    }
    const first = [...turns, { role: 'user', content: 'Go on.' } as ChatMessage];
    oneRun.session.resetConversation();
    const want1 = await oneRun.session.generate({ messages: first, sampling: max });
    expect(want1.droppedMessages ?? 0).toBeGreaterThan(0);
    chunked.session.resetConversation();
    const { result: stopped } = await countForwards(
      chunked.model,
      () => chunked.session.generate({ messages: first, sampling: max }),
      (n) => {
        if (n === 3) chunked.session.interrupt();
      },
    );
    expect(stopped.outputIds).toEqual([]);
    expect(stopped.promptIds).toEqual(want1.promptIds);
    expect(chunked.generator.cachedIds).toEqual(want1.promptIds.slice(0, 96));
    // Grown by a turn: more is cut at the start, so the cache shares only the template's opening.
    const second: ChatMessage[] = [
      ...first,
      { role: 'assistant', content: 'Fine.' } as ChatMessage,
      { role: 'user', content: story(2) },
    ];
    const got = await chunked.session.generate({ messages: second, sampling: max });
    oneRun.session.resetConversation();
    const want2 = await oneRun.session.generate({ messages: second, sampling: max });
    expect(got.droppedMessages).toBe(want2.droppedMessages);
    expect(want2.droppedMessages ?? 0).toBeGreaterThan(want1.droppedMessages ?? 0);
    expect(got.promptIds).toEqual(want2.promptIds);
    expect(got.outputIds).toEqual(want2.outputIds);
    expect(got.metrics.prefillTokens + got.metrics.cachedPromptTokens).toBe(got.promptIds.length);
    expect(got.metrics.cachedPromptTokens).toBeLessThan(96);
    // Then the same conversation again, answered, on the cache it left.
    const third: ChatMessage[] = [
      ...second,
      { role: 'assistant', content: got.text } as ChatMessage,
      { role: 'user', content: story(3) },
    ];
    const got3 = await chunked.session.generate({ messages: third, sampling: max });
    oneRun.session.resetConversation();
    const want3 = await oneRun.session.generate({ messages: third, sampling: max });
    expect(got3.promptIds).toEqual(want3.promptIds);
    expect(got3.outputIds).toEqual(want3.outputIds);
  });
  it('q4 weights: chunked tokens equal one pass too (q8 promises no such thing: see ARCHITECTURE.md)', async () => {
    // q8 quantizes activations with one scale per tensor (DynamicQuantizeLinear), so the rows run
    // together change the numbers: a q8 chunked read, like any cached turn, may pick other tokens.
    const q4Dir = join(root, 'model-q4');
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await convertCommand.run([join(root, 'checkpoint'), '--out', q4Dir, '--dtype', 'q4']);
    } finally {
      process.stderr.write = write;
    }
    const prompt = story(8);
    const answers: number[][] = [];
    for (const chunk of [null, 32, 16]) {
      const tokenizer = await AutoTokenizer.from_pretrained(q4Dir);
      const model = await AutoModelForCausalLM.from_pretrained(q4Dir, { dtype: 'q4', device: 'cpu' });
      const fixed =
        chunk === null
          ? null
          : {
              onePassTokens: chunk,
              firstChunkTokens: chunk,
              minChunkTokens: chunk,
              maxChunkTokens: chunk,
              targetMs: 250,
            };
      const generator = new TransformersGenerator(model, 'cpu', fixed);
      const own = new ModelSession(tokenizer, generator, { dtype: 'q4', device: 'cpu', threads: 0 });
      try {
        const result = await own.generate({ prompt, sampling: { maxNewTokens: 24, ignoreEos: true } });
        expect(generator.prefillChunks > 0).toBe(chunk !== null);
        answers.push(result.outputIds);
      } finally {
        await own.dispose();
      }
    }
    expect(new Set(answers[0]).size).toBeGreaterThan(3);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('q8 weights: the same prompt gives the same tokens however long its chunks took, and Stop lands between chunks', async () => {
    const q8Dir = join(root, 'model-q8');
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      await convertCommand.run([join(root, 'checkpoint'), '--out', q8Dir, '--dtype', 'q8']);
    } finally {
      process.stderr.write = write;
    }
    oneRun.session.resetConversation();
    const long = (await oneRun.session.generate({ prompt: story(14), sampling: { maxNewTokens: 1 } }))
      .promptIds;
    expect(long.length).toBeGreaterThan(420);
    const promptIds = long.slice(0, 420);
    const tokenizer = await AutoTokenizer.from_pretrained(q8Dir);
    /** The q8 model with the chunking the engine gives it, and `clock` as the generator's clock. */
    const open = async (clock: () => number) => {
      const model = await AutoModelForCausalLM.from_pretrained(q8Dir, { dtype: 'q8', device: 'cpu' });
      const chunking = prefillChunkingFor('q8', model.config as unknown as Record<string, unknown>);
      const generator = new TransformersGenerator(model, 'cpu', chunking, clock);
      const own = new ModelSession(tokenizer, generator, { dtype: 'q8', device: 'cpu', threads: 0 });
      return { model, generator, session: own, chunk: chunking.fixedChunkTokens };
    };
    // Every chunk "instant" on one, ten seconds on the other: a time-sized grid would differ.
    let now = 0;
    const fast = await open(() => 0);
    const slow = await open(() => (now += 10_000));
    try {
      // The tiny model's shape gives the largest chunk: 420 tokens are one chunk, then generate().
      expect(fast.chunk).toBe(256);
      const sampling = { maxNewTokens: 16, ignoreEos: true };
      const answers: number[][] = [];
      for (const side of [fast, slow, fast, slow]) {
        side.session.resetConversation();
        const before = side.generator.prefillChunks;
        answers.push((await side.session.generate({ promptIds, sampling })).outputIds);
        expect(side.generator.prefillChunks - before).toBe(1);
      }
      expect(new Set(answers[0]).size).toBeGreaterThan(3);
      for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);

      // Stop during the first chunk: it lands after that chunk, before any token.
      slow.session.resetConversation();
      const { forwards, result } = await countForwards(
        slow.model,
        () => slow.session.generate({ promptIds, sampling }),
        (n) => {
          if (n === 1) slow.session.interrupt();
        },
      );
      expect(forwards).toBe(1);
      expect(result.outputIds).toEqual([]);
      expect(slow.generator.cachedIds).toEqual(promptIds.slice(0, 256));
      // The same prompt again continues on the same grid: the same tokens as an uninterrupted read.
      const resumed = await slow.session.generate({ promptIds, sampling });
      expect(resumed.metrics.cachedPromptTokens).toBe(256);
      expect(resumed.outputIds).toEqual(answers[0]);
    } finally {
      await fast.session.dispose();
      await slow.session.dispose();
    }
  });
});

describe('warm-up after a load', () => {
  it('generates up to its token cap, stops once its budget has passed, and leaves no trace', async () => {
    // A clock that moves 100 ms each time it is read: a 250 ms budget is spent within the first tokens.
    let reads = 0;
    const timed = await loadModelSession({
      model: modelDir,
      dtype: 'fp32',
      device: 'cpu',
      batching: { maxTokens: 1, maxDelayMs: 0 },
      clock: () => 100 * reads++,
    });
    try {
      expect(await timed.warmUp(0)).toEqual({ ms: 0, tokens: 0 });
      const cut = await timed.warmUp(250, WARMUP_MAX_TOKENS);
      expect(cut.tokens).toBeGreaterThan(0);
      expect(cut.tokens).toBeLessThan(4);
      expect(cut.ms).toBeGreaterThanOrEqual(250);
      expect((await timed.warmUp(1e12, 5)).tokens).toBe(5);
      // The next request starts from an empty cache and answers as a session that never warmed up.
      const after = await timed.generate({ messages: [question], sampling: { maxNewTokens: 8 } });
      session.resetConversation();
      const plain = await session.generate({ messages: [question], sampling: { maxNewTokens: 8 } });
      expect(after.metrics.cachedPromptTokens).toBe(0);
      expect(after.finishReason).not.toBe('aborted');
      expect(after.outputIds).toEqual(plain.outputIds);
    } finally {
      await timed.dispose();
    }
  });
});

describe('context window', () => {
  const long = (n: number) =>
    `Paragraph ${n}: ${'the keeper climbed the stairs and lit the lamp again. '.repeat(4)}`;

  it('drops the oldest turns (keeping the system message) and says how many', async () => {
    session.resetConversation();
    const conversation: ChatMessage[] = [{ role: 'system', content: 'You are terse.' }];
    for (let i = 0; i < 6; i++) {
      conversation.push({ role: 'user', content: long(i) }, { role: 'assistant', content: long(i + 100) });
    }
    conversation.push({ role: 'user', content: 'Summarise.' });
    // 512 positions, answer room min(300, 256): the prompt must fit in 256 tokens.
    const result = await session.generate({ messages: conversation, sampling: { maxNewTokens: 300 } }, () =>
      session.interrupt(),
    );
    expect(result.droppedMessages).toBeGreaterThan(0);
    expect(result.promptIds.length).toBeLessThanOrEqual(256);
    const kept = [conversation[0]!, ...conversation.slice(1 + result.droppedMessages!)];
    session.resetConversation();
    const direct = await session.generate({ messages: kept, sampling: { maxNewTokens: 4 } });
    expect(direct.promptIds).toEqual(result.promptIds);
    expect(direct.droppedMessages).toBeUndefined();
  });

  /** Counts the tokenizer's work on this session: characters encoded and messages rendered. */
  function countWork(target: ModelSession, onEncode?: () => void) {
    const tokenizer = (target as unknown as { tokenizer: Record<string, (...args: unknown[]) => unknown> })
      .tokenizer;
    const encode = tokenizer.encode!.bind(tokenizer);
    const template = tokenizer.apply_chat_template!.bind(tokenizer);
    const work = { encodedChars: 0, renderedMessages: 0 };
    tokenizer.encode = (text: unknown, ...rest: unknown[]) => {
      work.encodedChars += String(text).length;
      onEncode?.();
      return encode(text, ...rest);
    };
    tokenizer.apply_chat_template = (messages: unknown, ...rest: unknown[]) => {
      work.renderedMessages += (messages as unknown[]).length;
      return template(messages, ...rest);
    };
    return {
      work,
      restore: () => {
        delete tokenizer.encode;
        delete tokenizer.apply_chat_template;
      },
    };
  }

  const manyTurns = (n: number): ChatMessage[] =>
    Array.from({ length: n }, (_, i) => ({
      role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
      content: `Turn ${i}: the keeper lit the lamp.`,
    }));

  it('fits a long conversation with tokenizer work linear in its length', async () => {
    const conversation = manyTurns(400);
    const chars = JSON.stringify(conversation).length;
    const spy = countWork(session);
    try {
      session.resetConversation();
      const result = await session.generate({ messages: conversation, sampling: { maxNewTokens: 2 } });
      // 512 positions, 2 kept for the answer.
      expect(result.droppedMessages).toBeGreaterThan(300);
      expect(result.promptIds.length).toBeLessThanOrEqual(510);
      // Re-rendering the whole conversation for each dropped message would be ~200 times this.
      expect(spy.work.renderedMessages).toBeLessThanOrEqual(5 * conversation.length);
      expect(spy.work.encodedChars).toBeLessThanOrEqual(8 * chars);
    } finally {
      spy.restore();
    }
  });

  it('an interrupt while a long conversation is fitted ends the request with an aborted error', async () => {
    let encodes = 0;
    const spy = countWork(session, () => {
      if (++encodes === 50) session.interrupt();
    });
    try {
      session.resetConversation();
      await expect(
        session.generate({ messages: manyTurns(400), sampling: { maxNewTokens: 200 } }),
      ).rejects.toMatchObject({ code: 'aborted' });
      expect(encodes).toBeLessThan(150);
    } finally {
      spy.restore();
    }
    const after = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 3 } });
    expect(after.outputIds).toHaveLength(3);
  });

  it('refuses a last message that cannot fit, and keeps working', async () => {
    const huge: ChatMessage = { role: 'user', content: long(1).repeat(12) };
    await expect(
      session.generate({ messages: [huge], sampling: { maxNewTokens: 16 } }),
    ).rejects.toMatchObject({
      code: 'context_overflow',
      message: expect.stringContaining('context window'),
    });
    await expect(session.generate({ prompt: long(1).repeat(12) })).rejects.toMatchObject({
      code: 'context_overflow',
    });
    const ok = await session.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 3 } });
    expect(ok.outputIds).toHaveLength(3);
  });
});

describe('thinking mode', () => {
  it('keeps the reasoning apart from the answer, streamed and final, and honours enable_thinking', async () => {
    const thinking = await loadModelSession({ model: thinkingDir, dtype: 'fp32', device: 'cpu' });
    try {
      expect(thinking.info.hasThinking).toBe(true);
      expect(session.info.hasThinking).toBe(false);
      let streamedReasoning = '';
      let streamedText = '';
      const on = await thinking.generate({ messages: [question], sampling: { maxNewTokens: 16 } }, (c) => {
        streamedReasoning += c.reasoning ?? '';
        streamedText += c.text;
      });
      // The prompt opened <think>, and noise never closes it: everything is reasoning.
      expect(on.reasoning).toBeTruthy();
      expect(on.text).toBe('');
      expect(streamedReasoning).toBe(on.reasoning);
      expect(streamedText).toBe('');

      thinking.resetConversation();
      const off = await thinking.generate({
        messages: [question],
        enableThinking: false,
        sampling: { maxNewTokens: 16 },
      });
      expect(off.reasoning).toBeUndefined();
      expect(off.text.length).toBeGreaterThan(0);
      expect(off.promptIds.length).toBeGreaterThan(on.promptIds.length);
    } finally {
      await thinking.dispose();
    }
  });
});

describe('NodeEngine', () => {
  it('refuses bad loads with a code, stays usable, lists and deletes models', async () => {
    const models = join(root, 'models');
    await cp(modelDir, join(models, 'tiny-a'), { recursive: true });
    const engine = new NodeEngine({ modelsDir: models });
    await expect(
      engine.load({ source: { kind: 'path', path: join(root, 'nope') }, device: 'cpu', dtype: 'fp32' }),
    ).rejects.toMatchObject({ code: 'model_not_found' });
    await expect(
      engine.load({ source: { kind: 'path', path: modelDir }, device: 'cpu', dtype: 'q4' }),
    ).rejects.toMatchObject({ code: 'unsupported_dtype', message: expect.stringContaining('it holds fp32') });
    await expect(engine.generate({ prompt: 'x' })).rejects.toMatchObject({ code: 'bad_request' });

    const info = await engine.load({
      source: { kind: 'path', path: join(models, 'tiny-a') },
      device: 'cpu',
      dtype: 'fp32',
    });
    expect(info).toMatchObject({ device: 'cpu', dtype: 'fp32', synthetic: false });
    const result = await engine.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 5 } });
    expect(result.outputIds).toHaveLength(5);
    await engine.unload();
    await expect(engine.generate({ prompt: 'x' })).rejects.toMatchObject({ code: 'bad_request' });

    const listed = await engine.listCached();
    expect(listed.map((m) => m.id)).toEqual(['tiny-a']);
    expect(listed[0]!.bytes).toBeGreaterThan(100_000);
    await expect(engine.deleteCached('../model')).rejects.toMatchObject({ code: 'bad_request' });
    await engine.deleteCached('tiny-a');
    expect(await engine.listCached()).toEqual([]);
  });

  it('runs requests one at a time, in order', async () => {
    const engine = new NodeEngine();
    await engine.load({ source: { kind: 'path', path: modelDir }, device: 'cpu', dtype: 'fp32' });
    try {
      const order: number[] = [];
      const runs = [0, 1, 2].map((i) =>
        engine.generate({ prompt: 'Once upon a time', sampling: { maxNewTokens: 4 } }).then((r) => {
          order.push(i);
          return r;
        }),
      );
      const results = await Promise.all(runs);
      expect(order).toEqual([0, 1, 2]);
      // Same prompt, greedy: the same tokens each time, whatever the cache did in between.
      expect(results[1]!.outputIds).toEqual(results[0]!.outputIds);
      expect(results[2]!.outputIds).toEqual(results[0]!.outputIds);
    } finally {
      await engine.unload();
    }
  });
});

describe('the native tier on the real engine', () => {
  /** A NodeEngine whose resetConversation runs `during` first: an abort that lands right there. */
  class HookedEngine extends NodeEngine {
    during: (() => void) | null = null;
    override async resetConversation(): Promise<void> {
      this.during?.();
      return super.resetConversation();
    }
  }

  async function tierWith(engine: NodeEngine) {
    const { modelIndex } = await import('../../src/server/model-index.ts');
    const { NativeTier } = await import('../../src/server/native-tier.ts');
    const entry = (await modelIndex([root])).models.find((m) => m.name === 'model')!;
    const tier = new NativeTier({ model: entry, modelDir, dtype: 'fp32', engine });
    await tier.whenSettled();
    return tier;
  }

  const chat = (max_tokens: number) => ({
    model: 'model',
    messages: [{ role: 'user' as const, content: 'Tell me a story.' }],
    temperature: 0,
    max_tokens,
  });

  it('an abort while the conversation is reset ends the request: no token is generated', async () => {
    const engine = new HookedEngine();
    const tier = await tierWith(engine);
    try {
      const controller = new AbortController();
      engine.during = () => controller.abort();
      const deltas: unknown[] = [];
      await expect(tier.run(chat(400), (d) => deltas.push(d), controller.signal)).rejects.toMatchObject({
        status: 499,
        code: 'aborted',
      });
      expect(deltas).toEqual([]);
      // The engine is free again and answers the next request in full.
      engine.during = null;
      const next = await tier.run(chat(5), () => undefined, new AbortController().signal);
      expect(next.usage?.completion_tokens).toBe(5);
    } finally {
      await tier.close();
    }
  });

  it("a client gone while its conversation is checked ends the check (it holds the tier's slot), not only the generation", async () => {
    const engine = new NodeEngine();
    const tier = await tierWith(engine);
    const tokenizer = (engine as unknown as { session: { tokenizer: Record<string, unknown> } }).session
      .tokenizer;
    const encode = (tokenizer.encode as (...args: unknown[]) => unknown).bind(tokenizer);
    const controller = new AbortController();
    let encodes = 0;
    tokenizer.encode = (...args: unknown[]) => {
      if (++encodes === 50) controller.abort();
      return encode(...args);
    };
    try {
      const messages = Array.from({ length: 400 }, (_, i) => ({
        role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
        content: `Turn ${i}: the keeper lit the lamp.`,
      }));
      await expect(
        tier.run({ model: 'model', messages, max_tokens: 4 }, () => undefined, controller.signal),
      ).rejects.toMatchObject({ status: 499, code: 'aborted' });
      // Without the signal the check tokenises all 400 messages (and renders them) before it looks.
      expect(encodes).toBeLessThan(150);
    } finally {
      delete tokenizer.encode;
      await tier.close();
    }
  });

  it('the threaded engine ends a fit whose signal fires, on its thread', async () => {
    const { ThreadedNodeEngine } = await import('../../src/server/threaded-engine.ts');
    const engine = new ThreadedNodeEngine({ threads: 1 });
    try {
      await engine.load({ source: { kind: 'path', path: modelDir }, device: 'cpu', dtype: 'fp32' });
      const messages = Array.from({ length: 3000 }, (_, i) => ({
        role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
        content: `Turn ${i}: the keeper lit the lamp.`,
      }));
      const controller = new AbortController();
      const fit = engine.fitPrompt({ messages, sampling: { maxNewTokens: 4 } }, controller.signal);
      controller.abort();
      await expect(fit).rejects.toMatchObject({ code: 'aborted' });
      // An already-aborted signal is refused without a round trip; the engine still fits.
      await expect(
        engine.fitPrompt({ messages, sampling: { maxNewTokens: 4 } }, controller.signal),
      ).rejects.toMatchObject({ code: 'aborted' });
      const ok = await engine.fitPrompt({ messages: messages.slice(-3), sampling: { maxNewTokens: 4 } });
      expect(ok.droppedMessages).toBe(0);
    } finally {
      await engine.unload();
    }
  });

  it('a cut answer is an error naming the cause, not a complete one', async () => {
    const engine = new NodeEngine();
    const tier = await tierWith(engine);
    try {
      const controller = new AbortController();
      const { shuttingDownError } = await import('../../src/server/api-error.ts');
      await expect(
        tier.run(chat(400), () => controller.abort(shuttingDownError()), controller.signal),
      ).rejects.toMatchObject({ status: 503, code: 'shutting_down' });
    } finally {
      await tier.close();
    }
  });
});

describe('the native tier when its engine thread ends', () => {
  it('says failed in its state (/healthz) and answers 503 once the thread has exited', async () => {
    const { ThreadedNodeEngine } = await import('../../src/server/threaded-engine.ts');
    const { modelIndex } = await import('../../src/server/model-index.ts');
    const { NativeTier } = await import('../../src/server/native-tier.ts');
    const engine = new ThreadedNodeEngine({ threads: 1 });
    const entry = (await modelIndex([root])).models.find((m) => m.name === 'model')!;
    const tier = new NativeTier({ model: entry, modelDir, dtype: 'fp32', engine });
    await tier.whenSettled();
    expect(tier.state).toBe('ready');
    // The thread dies (as after a native crash): its exit is all the server sees.
    const thread = (engine as unknown as { worker: import('node:worker_threads').Worker }).worker;
    await thread.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(tier.state).toBe('failed');
    await expect(
      tier.run(
        { model: 'model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
        () => undefined,
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({
      status: 503,
      code: 'engine_exited',
      message: expect.stringMatching(
        /^The native tier's engine thread exited \(code 1\)\. Restart edgetier serve/,
      ),
    });
    await tier.close();
  });
});
