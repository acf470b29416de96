/**
 * edgetier's CPU engine behind the Engine contract (ModelSession over CpuGenerator), on a tiny fp32
 * twin: the same requests give the same tokens, text and finish reason as the ORT path (transformers.js
 * on onnxruntime-node) and, greedy, as the independent reference forward pass; streaming adds up to
 * the final text; an interrupt lands between tokens and between prefill chunks; a second turn reuses
 * the cache (counted by the tokens the decoder really prefilled); `generate --engine edgetier` says
 * which engine ran and refuses what it does not run, by name.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/cli/commands/convert.ts';
import { generateCommand } from '../../src/cli/commands/generate.ts';
import type { ChatMessage, GenerateRequest, SamplingOptions, StreamChunk } from '../../src/core/engine.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { CpuGenerator } from '../../src/cpu-engine/cpu-generator.ts';
import { PREFILL_CHUNK } from '../../src/cpu-engine/decoder.ts';
import { loadCpuModelSession } from '../../src/cpu-engine/node-session.ts';
import { NodeEngine } from '../../src/native/node-engine.ts';
import { loadReferenceCheckpoint } from '../../src/reference/checkpoint.ts';
import { loadModelSession, type ModelSession } from '../../src/runtime/model-session.ts';
import { FIXTURE_TOKENS, makeCheckpoint } from '../helpers/checkpoints.ts';
import { compareGreedy } from '../helpers/greedy.ts';

const PROMPT = 'The quick brown fox jumps over the lazy dog. Once upon a time';
const LONG_PROMPT = `${PROMPT} ${PROMPT} ${PROMPT} ${PROMPT}`;
const REPO = join(import.meta.dirname, '../..');

let root: string;
let checkpoint: string;
let modelDir: string;
let ort: ModelSession;
let cpu: ModelSession;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-cpu-runtime-'));
  checkpoint = join(root, 'checkpoint');
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
  const batching = { maxTokens: 4, maxDelayMs: 1e9 };
  ort = await loadModelSession({ model: modelDir, dtype: 'fp32', device: 'cpu', batching });
  cpu = await loadCpuModelSession({ model: modelDir, dtype: 'fp32', batching });
});

afterAll(async () => {
  await ort?.dispose();
  await cpu?.dispose();
  await rm(root, { recursive: true, force: true });
});

/** The decoder's own count of prompt tokens it ran (cache hits excluded). */
function prefilled(session: ModelSession): number {
  const generator = (session as unknown as { generator: unknown }).generator;
  if (!(generator instanceof CpuGenerator)) throw new Error('not a CPU engine session');
  return generator.prefilledTokens;
}

const question: ChatMessage = { role: 'user', content: 'Tell me a short story about a lighthouse keeper.' };

describe('the CPU engine answers as the ORT path does', () => {
  it.each<[string, GenerateRequest]>([
    ['greedy, raw prompt', { prompt: PROMPT, sampling: { maxNewTokens: 24 } }],
    ['greedy, chat template', { messages: [question], sampling: { maxNewTokens: 24 } }],
    ['ignoreEos runs to the cap', { prompt: PROMPT, sampling: { maxNewTokens: 30, ignoreEos: true } }],
    ['repetition penalty', { prompt: PROMPT, sampling: { maxNewTokens: 24, repetitionPenalty: 1.5 } }],
    // Sampling from the top-1 token is deterministic: the sampled path, compared exactly.
    ['sampling, top-k 1', { prompt: PROMPT, sampling: { maxNewTokens: 24, temperature: 0.7, topK: 1 } }],
  ])('%s: same tokens, text and finish reason', async (_label, request) => {
    ort.resetConversation();
    cpu.resetConversation();
    const want = await ort.generate(request);
    const got = await cpu.generate(request);
    expect(got.promptIds).toEqual(want.promptIds);
    expect(got.outputIds).toEqual(want.outputIds);
    expect(got.text).toBe(want.text);
    expect(got.finishReason).toBe(want.finishReason);
    expect(new Set(got.outputIds).size).toBeGreaterThan(3);
    expect(got.metrics.engine).toBe('edgetier-wasm');
    expect(want.metrics.engine).toBe('onnxruntime-node');
  });

  it('greedy tokens equal the reference forward pass', async () => {
    cpu.resetConversation();
    const got = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 24 } });
    const { model } = await loadReferenceCheckpoint(checkpoint);
    compareGreedy('cpu engine', got.outputIds, model.greedy(got.promptIds, 24, [FIXTURE_TOKENS.imEnd]));
  });

  it('stops at a stop string, cuts it, never streams it, as the ORT path does', async () => {
    cpu.resetConversation();
    const full = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 24 } });
    const stop = full.text.slice(6, 9);
    expect(stop.length).toBe(3);
    const request: GenerateRequest = { prompt: PROMPT, sampling: { maxNewTokens: 24, stop: [stop] } };
    ort.resetConversation();
    cpu.resetConversation();
    const want = await ort.generate(request);
    let streamed = '';
    const got = await cpu.generate(request, (c) => {
      streamed += c.text;
    });
    expect(got.finishReason).toBe('stop');
    expect(got.text).toBe(want.text);
    expect(got.outputIds).toEqual(want.outputIds);
    expect(streamed).toBe(got.text);
    expect(got.text.includes(stop)).toBe(false);
  });
});

describe('streaming, interrupt and KV reuse on the CPU engine', () => {
  it('streams in batches whose text and token counts add up to the result', async () => {
    cpu.resetConversation();
    const chunks: StreamChunk[] = [];
    const result = await cpu.generate(
      { prompt: PROMPT, sampling: { maxNewTokens: 20, ignoreEos: true } },
      (c) => chunks.push(c),
    );
    expect(chunks.map((c) => c.text).join('')).toBe(result.text);
    expect(chunks.reduce((n, c) => n + c.tokens, 0)).toBe(result.outputIds.length);
    expect(chunks.slice(0, -1).every((c) => c.tokens === 4)).toBe(true);
    expect(result.metrics.decodeTokens).toBe(result.outputIds.length - 1);
  });

  it('an interrupt stops within one token and keeps the partial answer', async () => {
    cpu.resetConversation();
    const full = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 40, ignoreEos: true } });
    cpu.resetConversation();
    const partial = await cpu.generate(
      { prompt: PROMPT, sampling: { maxNewTokens: 40, ignoreEos: true } },
      () => cpu.interrupt(),
    );
    expect(partial.finishReason).toBe('aborted');
    // The interrupt came with the first chunk (4 tokens): the loop ends at that token.
    expect(partial.outputIds).toEqual(full.outputIds.slice(0, 4));
    const again = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 40, ignoreEos: true } });
    expect(again.outputIds).toEqual(full.outputIds);
  });

  it('an interrupt during a long prefill ends it after the chunk in flight', async () => {
    cpu.resetConversation();
    const before = prefilled(cpu);
    const run = cpu.generate({ prompt: LONG_PROMPT, sampling: { maxNewTokens: 8 } });
    // Runs at the first yield of the generator, after its first prefill chunk.
    setImmediate(() => cpu.interrupt());
    const result = await run;
    expect(result.promptIds.length).toBeGreaterThan(2 * PREFILL_CHUNK);
    expect(prefilled(cpu) - before).toBe(PREFILL_CHUNK);
    expect(result.outputIds).toEqual([]);
    expect(result.finishReason).toBe('aborted');
    // The chunk that ran stays cached and is reused, and the answer is the one a fresh run gives.
    const next = await cpu.generate({ prompt: LONG_PROMPT, sampling: { maxNewTokens: 8 } });
    expect(next.metrics.cachedPromptTokens).toBe(PREFILL_CHUNK);
    cpu.resetConversation();
    const fresh = await cpu.generate({ prompt: LONG_PROMPT, sampling: { maxNewTokens: 8 } });
    expect(next.outputIds).toEqual(fresh.outputIds);
  });

  it('turn 2 prefills only the tokens it does not share with the cache, and equals the ORT path', async () => {
    const turns = async (session: ModelSession) => {
      session.resetConversation();
      const turn1 = await session.generate({ messages: [question], sampling: { maxNewTokens: 12 } });
      const conversation: ChatMessage[] = [
        question,
        { role: 'assistant', content: turn1.text },
        { role: 'user', content: 'And then what happened?' },
      ];
      const start = session === cpu ? prefilled(cpu) : 0;
      const turn2 = await session.generate({ messages: conversation, sampling: { maxNewTokens: 12 } });
      return { turn1, turn2, prefilledInTurn2: session === cpu ? prefilled(cpu) - start : -1 };
    };
    const want = await turns(ort);
    const got = await turns(cpu);
    expect(got.turn1.outputIds).toEqual(want.turn1.outputIds);
    expect(got.turn2.outputIds).toEqual(want.turn2.outputIds);
    expect(got.turn2.metrics.cachedPromptTokens).toBe(want.turn2.metrics.cachedPromptTokens);
    expect(got.turn2.metrics.cachedPromptTokens).toBeGreaterThanOrEqual(got.turn1.promptIds.length);
    expect(got.prefilledInTurn2).toBe(got.turn2.promptIds.length - got.turn2.metrics.cachedPromptTokens);
    expect(got.turn2.metrics.prefillTokens).toBe(got.prefilledInTurn2);
  });
});

describe('generate --engine edgetier', () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['bin/edgetier.mjs', 'generate', modelDir, ...args], { cwd: REPO });

  it('prints the ORT path’s greedy tokens and names the engine that ran', async () => {
    const common = ['--prompt', PROMPT, '--raw', '--json', '--max-new-tokens', '16'];
    const edgetier = JSON.parse((await cli(...common, '--engine', 'edgetier')).stdout);
    const onnx = JSON.parse((await cli(...common)).stdout);
    expect(edgetier.engine).toBe('edgetier-wasm');
    expect(onnx.engine).toBe('onnxruntime-node');
    expect(edgetier.prompt_ids).toEqual(onnx.prompt_ids);
    expect(edgetier.output_ids).toEqual(onnx.output_ids);
    expect(edgetier.text).toBe(onnx.text);
    expect(edgetier.metrics.prefill_tokens).toBe(edgetier.prompt_ids.length);
    expect(edgetier.metrics.threads).toBe(1);
    // And why: the runtime asked for, 'auto' (the default) with its basis (cpu keeps onnxruntime-node).
    expect(edgetier.engine_choice).toEqual({
      asked: 'edgetier',
      reason: "edgetier's CPU engine was asked for.",
    });
    expect(onnx.engine_choice.asked).toBe('auto');
    expect(onnx.engine_choice.reason).toMatch(
      /^auto: on device cpu onnxruntime-node runs it \(it prefills 2-3x faster/,
    );
    expect(onnx.engine_fallback).toBeUndefined();
  });

  it('--threads 2 prints the same tokens and the process exits on its own (no worker keeps it alive)', async () => {
    const common = ['--prompt', PROMPT, '--raw', '--json', '--max-new-tokens', '16', '--engine', 'edgetier'];
    const one = JSON.parse((await cli(...common)).stdout);
    // execFile's timeout kills a process that hangs after its answer; a hang fails here, not later.
    const run = promisify(execFile)(
      process.execPath,
      ['bin/edgetier.mjs', 'generate', modelDir, ...common, '--threads', '2'],
      { cwd: REPO, timeout: 60_000 },
    );
    const two = JSON.parse((await run).stdout);
    expect(two.metrics.threads).toBe(2);
    expect(two.output_ids).toEqual(one.output_ids);
  });

  it.each([
    [['--engine', 'tvm'], 'Unknown --engine "tvm"; use auto, onnxruntime, edgetier.'],
    [
      ['--engine', 'edgetier', '--device', 'webgpu'],
      '--engine edgetier runs on --device cpu (Node) or wasm (the browser), not on webgpu (WebGPU runs onnxruntime-web).',
    ],
    [['--engine', 'edgetier', '--threads', '65'], "edgetier's CPU engine runs on 1 to 64 threads, not 65."],
    // An empty value is not 0 (one thread): Number('') is 0, so it used to pass unseen.
    [['--engine', 'edgetier', '--threads', ''], '--threads must be a non-negative integer, got "".'],
    [['--engine', 'edgetier', '--threads', ' '], '--threads must be a non-negative integer, got " ".'],
    [['--engine', 'edgetier', '--threads=-1'], '--threads must be a non-negative integer, got "-1".'],
    [['--engine', 'edgetier', '--threads', '1.5'], '--threads must be a non-negative integer, got "1.5".'],
    [['--engine', 'edgetier', '--threads', 'abc'], '--threads must be a non-negative integer, got "abc".'],
  ])('refuses %j by name', async (args, message) => {
    await expect(generateCommand.run([modelDir, '--prompt', 'hi', ...args])).rejects.toThrow(message);
  });

  it('the engine refuses a dtype it does not run, by name', async () => {
    const engine = new NodeEngine({ runtime: 'edgetier' });
    const error = await engine
      .load({ source: { kind: 'path', path: modelDir }, device: 'cpu', dtype: 'fp16' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as EdgetierError).code).toBe('unsupported_dtype');
  });
});

describe('both runtimes refuse a sampling value they cannot honour, by name', () => {
  // Before: maxNewTokens 0 or -3 generated one token, 2.5 three; temperature NaN or -1 fell back to
  // greedy; topK 2.5 failed inside ORT with a BigInt error and drew token 0 every step on the CPU
  // engine; a repetition penalty of 0 made every seen token's logit infinite.
  it.each<[SamplingOptions, string]>([
    [{ maxNewTokens: 0 }, 'maxNewTokens must be a whole number of at least 1, got 0.'],
    [{ maxNewTokens: -3 }, 'maxNewTokens must be a whole number of at least 1, got -3.'],
    [{ maxNewTokens: 2.5 }, 'maxNewTokens must be a whole number of at least 1, got 2.5.'],
    [
      { temperature: Number.NaN },
      'temperature must be a finite number of at least 0 (0 means greedy), got NaN.',
    ],
    [{ temperature: -1 }, 'temperature must be a finite number of at least 0 (0 means greedy), got -1.'],
    [
      { temperature: Number.POSITIVE_INFINITY },
      'temperature must be a finite number of at least 0 (0 means greedy), got Infinity.',
    ],
    [{ topK: 2.5 }, 'topK must be a whole number of at least 0 (0 keeps every token), got 2.5.'],
    [{ topK: -4 }, 'topK must be a whole number of at least 0 (0 keeps every token), got -4.'],
    [{ topP: 2 }, 'topP must be a number from 0 to 1, got 2.'],
    [{ topP: -0.5 }, 'topP must be a number from 0 to 1, got -0.5.'],
    [{ topP: Number.NaN }, 'topP must be a number from 0 to 1, got NaN.'],
    [{ repetitionPenalty: 0 }, 'repetitionPenalty must be a finite number above 0 (1 means none), got 0.'],
    [{ repetitionPenalty: -1 }, 'repetitionPenalty must be a finite number above 0 (1 means none), got -1.'],
  ])('%j: %s', async (sampling, message) => {
    for (const session of [ort, cpu]) {
      for (const attempt of [
        session.generate({ prompt: PROMPT, sampling: { temperature: 1, ...sampling } }),
        session.fit({ prompt: PROMPT, sampling }),
      ]) {
        const error = await attempt.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(EdgetierError);
        expect((error as EdgetierError).code).toBe('bad_request');
        expect((error as EdgetierError).message).toBe(message);
      }
    }
  });

  it('a prompt id outside the vocabulary is a bad request, refused by name before anything runs', async () => {
    // Before: generation_failed with ORT's raw Gather message (and its input dump on stderr) on one
    // runtime, a RangeError's text on the other, and the conversation reset.
    for (const session of [ort, cpu]) {
      const vocab = Number(
        (session as unknown as { generator: { config: { vocab_size: number } } }).generator.config.vocab_size,
      );
      const error = await session
        .generate({ promptIds: [5, vocab], sampling: { maxNewTokens: 2 } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EdgetierError);
      expect((error as EdgetierError).code).toBe('bad_request');
      expect((error as EdgetierError).message).toBe(
        `promptIds must be token ids below the vocabulary size ${vocab}, got ${vocab}.`,
      );
    }
  });

  it('the edges that mean something still run: temperature 1e-9 is greedy, top-k 0 and larger than the vocabulary keep every token', async () => {
    cpu.resetConversation();
    const greedy = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 8 } });
    for (const sampling of [
      { temperature: 1e-9 },
      { temperature: 1e-9, topK: 0 },
      { temperature: 1e-9, topK: 10_000_000 },
      { temperature: 1e-9, topP: 1 },
    ]) {
      const got = await cpu.generate({ prompt: PROMPT, sampling: { maxNewTokens: 8, ...sampling } });
      expect(got.outputIds).toEqual(greedy.outputIds);
    }
  });
});
