/**
 * `edgetier generate <model-dir> --prompt TEXT`: loads a model folder and generates, greedy unless a
 * temperature is given. Streams the text to stdout and a metrics line to stderr, or with `--json`
 * prints one JSON object (ids, text, metrics in snake_case with units in the names).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DTYPES, type Dtype, isDtype } from '../../core/dtypes.ts';
import {
  CPU_RUNTIME_CHOICES,
  type GenerateRequest,
  type GenerateResult,
  isCpuRuntimeChoice,
  type LoadInfo,
  type SamplingOptions,
} from '../../core/engine.ts';
import { EdgetierError } from '../../core/errors.ts';
import { availableDtypes } from '../../native/node-engine.ts';
import { parseCommandArgs, parseIntegerOption } from '../args.ts';
import type { Command } from '../command.ts';
import { DEVICES, engineForDevice, isDevice } from '../engine-for-device.ts';

const DEFAULT_MAX_NEW_TOKENS = 64;

const help = `
Usage: edgetier generate <model-dir> --prompt TEXT [options]

Loads a model folder (built by \`edgetier convert\` or \`edgetier synth\`) with transformers.js and
generates a continuation. Greedy decoding unless --temperature is above 0.

Options:
  --prompt TEXT            The prompt (required). Sent as one user message through the model's
                           chat template, unless --raw.
  --system TEXT            A system message before the prompt (chat mode only).
  --raw                    Use the prompt as is: no chat template.
  --max-new-tokens N       Most tokens to generate (default ${DEFAULT_MAX_NEW_TOKENS}).
  --dtype D                Weights to run: ${DTYPES.join(', ')} (default: fp32 if the folder has it,
                           else the first one it holds).
  --device D               ${DEVICES.join(', ')} (default cpu: onnxruntime-node in this process).
  --threads N              ONNX Runtime threads (default 0: the runtime's choice); with
                           --engine edgetier, the CPU engine's threads (default 0: one on cpu,
                           the plan's count on wasm, as for onnxruntime-web).
  --engine E               What runs the model on --device cpu or wasm: auto (default: on wasm
                           edgetier's own WebAssembly CPU engine for q8/q4 files, measured faster,
                           and ONNX Runtime for the rest or for what the engine refuses; on cpu
                           onnxruntime-node), onnxruntime (onnxruntime-node, onnxruntime-web) or
                           edgetier (the CPU engine, in Node or in the browser's engine worker:
                           fp32/q8/q4 files of edgetier's converter).
  --temperature T          0 means greedy (default 0).
  --top-p P                Nucleus sampling threshold (sampling only).
  --top-k K                Keep the K most likely tokens (sampling only).
  --repetition-penalty R   Penalise tokens already present (1 = none).
  --stop TEXT              Stop when the answer contains TEXT (repeatable); TEXT is cut off.
  --think / --no-think     Turn the template's thinking switch on or off (Qwen3 enable_thinking).
  --json                   Print one JSON object: prompt_ids, output_ids, text, finish_reason,
                           model, engine (onnxruntime-node, onnxruntime-web or edgetier-wasm),
                           cpu_kernels (edgetier's CPU engine: SIMD128 or relaxed SIMD, and
                           whether a q4 file ran on int8 activations),
                           engine_choice (asked, reason), engine_fallback (why ONNX Runtime runs
                           what the CPU engine refused),
                           metrics (load_ms, ttft_ms, prefill_tokens, prefill_tok_s,
                           decode_tokens, decode_tok_s, itl_p50_ms, itl_p95_ms, total_ms, …).
  --verbose                Print stack traces on errors.
`;

function parseNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new EdgetierError('usage', `--${name} must be a number >= 0, got "${value}".`);
  return n;
}

function pickDtype(modelDir: string, asked: string | undefined): Dtype {
  if (asked !== undefined) {
    if (!isDtype(asked)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `Unknown --dtype "${asked}"; edgetier knows ${DTYPES.join(', ')}.`,
      );
    }
    return asked;
  }
  const have = availableDtypes(modelDir);
  return have.includes('fp32') ? 'fp32' : (have[0] ?? 'fp32');
}

/** The --json output: snake_case, units in the names. */
export function generateJson(result: GenerateResult, load: LoadInfo, loadMs: number) {
  const m = result.metrics;
  return {
    prompt_ids: result.promptIds,
    output_ids: result.outputIds,
    text: result.text,
    ...(result.reasoning !== undefined ? { reasoning: result.reasoning } : {}),
    finish_reason: result.finishReason,
    ...((m.engine ?? load.engine) ? { engine: m.engine ?? load.engine } : {}),
    // edgetier's CPU engine: which kernels build ran, and a q4 file's activation codes (int8 or int16).
    ...(load.cpuKernels ? { cpu_kernels: load.cpuKernels } : {}),
    // Why that engine: the runtime asked for ('auto' with its measured basis) and any fallback to ORT.
    ...(load.runtimeChoice
      ? { engine_choice: { asked: load.runtimeChoice.asked, reason: load.runtimeChoice.reason } }
      : {}),
    ...(load.fallback
      ? {
          engine_fallback: {
            asked: load.fallback.asked,
            code: load.fallback.code,
            reason: load.fallback.reason,
          },
        }
      : {}),
    ...(result.droppedMessages ? { dropped_messages: result.droppedMessages } : {}),
    // Fewer threads ran than --threads asked for (edgetier's CPU engine on one thread), and why.
    ...(load.threadsFallback
      ? { threads_fallback: { asked: load.threadsFallback.asked, reason: load.threadsFallback.reason } }
      : {}),
    model: {
      id: load.modelId,
      synthetic: load.synthetic,
      ...(load.mirrors ? { mirrors: load.mirrors } : {}),
    },
    metrics: {
      load_ms: loadMs,
      download_ms: load.downloadMs,
      init_ms: load.initMs,
      warmup_ms: load.warmupMs,
      ttft_ms: m.ttftMs,
      prefill_tokens: m.prefillTokens,
      cached_prompt_tokens: m.cachedPromptTokens,
      prefill_tok_s: m.prefillTokPerSec,
      decode_tokens: m.decodeTokens,
      decode_tok_s: m.decodeTokPerSec,
      itl_p50_ms: m.itlP50Ms,
      itl_p95_ms: m.itlP95Ms,
      total_ms: m.totalMs,
      device: m.device ?? load.device,
      dtype: m.dtype ?? load.dtype,
      threads: m.threads ?? load.threads,
    },
  };
}

export const generateCommand: Command = {
  name: 'generate',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('generate', args, {
      prompt: { type: 'string' },
      system: { type: 'string' },
      raw: { type: 'boolean', default: false },
      'max-new-tokens': { type: 'string' },
      dtype: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      threads: { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      'repetition-penalty': { type: 'string' },
      stop: { type: 'string', multiple: true },
      think: { type: 'boolean' },
      'no-think': { type: 'boolean' },
      json: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) {
      throw new EdgetierError('usage', 'Give exactly one model folder. Run `edgetier generate --help`.');
    }
    if (values.prompt === undefined) {
      throw new EdgetierError('usage', '--prompt is required. Run `edgetier generate --help`.');
    }
    if (!isDevice(values.device)) {
      throw new EdgetierError(
        'usage',
        `Unknown --device "${values.device}"; use one of ${DEVICES.join(', ')}.`,
      );
    }
    if (!isCpuRuntimeChoice(values.engine)) {
      throw new EdgetierError(
        'usage',
        `Unknown --engine "${values.engine}"; use ${CPU_RUNTIME_CHOICES.join(', ')}.`,
      );
    }
    if (values.think && values['no-think'])
      throw new EdgetierError('usage', 'Give --think or --no-think, not both.');
    const modelDir = resolve(positionals[0]!);
    if (!existsSync(modelDir)) throw new EdgetierError('model_not_found', `${modelDir} does not exist.`);
    const dtype = pickDtype(modelDir, values.dtype);
    const threads = parseIntegerOption('threads', values.threads, 0);
    const sampling: SamplingOptions = {
      maxNewTokens: parseIntegerOption('max-new-tokens', values['max-new-tokens'], DEFAULT_MAX_NEW_TOKENS),
    };
    const temperature = parseNumber('temperature', values.temperature);
    const topP = parseNumber('top-p', values['top-p']);
    const repetitionPenalty = parseNumber('repetition-penalty', values['repetition-penalty']);
    if (temperature !== undefined) sampling.temperature = temperature;
    if (topP !== undefined) sampling.topP = topP;
    if (values['top-k'] !== undefined) sampling.topK = parseIntegerOption('top-k', values['top-k'], 0);
    if (repetitionPenalty !== undefined) sampling.repetitionPenalty = repetitionPenalty;
    if (values.stop) sampling.stop = values.stop;

    const request: GenerateRequest = { sampling };
    if (values.raw) {
      if (values.system !== undefined)
        throw new EdgetierError('usage', '--system needs the chat template (drop --raw).');
      request.prompt = values.prompt;
    } else {
      request.messages = [
        ...(values.system !== undefined ? [{ role: 'system' as const, content: values.system }] : []),
        { role: 'user' as const, content: values.prompt },
      ];
      if (values.think) request.enableThinking = true;
      if (values['no-think']) request.enableThinking = false;
    }

    const engine = await engineForDevice(values.device, { threads, runtime: values.engine });
    try {
      const loadStart = performance.now();
      const load = await engine.load({
        source: { kind: 'path', path: modelDir },
        device: values.device,
        dtype,
        threads,
      });
      const loadMs = performance.now() - loadStart;
      if (load.synthetic && !values.json) {
        process.stderr.write(
          `note: synthetic shape twin${load.mirrors ? ` of ${load.mirrors}` : ''}: random weights, so the text is noise; the speed is real.\n`,
        );
      }
      const result = await engine.generate(
        request,
        values.json
          ? undefined
          : (chunk) => {
              if (chunk.reasoning) process.stdout.write(chunk.reasoning);
              if (chunk.text) process.stdout.write(chunk.text);
            },
      );
      if (values.json) {
        process.stdout.write(`${JSON.stringify(generateJson(result, load, loadMs))}\n`);
      } else {
        const m = result.metrics;
        process.stdout.write('\n');
        process.stderr.write(
          `[${m.device} ${m.dtype}${m.engine ? ` ${m.engine}` : ''}] load ${loadMs.toFixed(0)} ms · ttft ${m.ttftMs.toFixed(0)} ms · prefill ` +
            `${m.prefillTokens} tok at ${m.prefillTokPerSec.toFixed(1)} tok/s · decode ${m.decodeTokens} tok at ` +
            `${m.decodeTokPerSec.toFixed(1)} tok/s · itl p50 ${m.itlP50Ms.toFixed(1)} ms p95 ${m.itlP95Ms.toFixed(1)} ms · ` +
            `${result.finishReason}\n`,
        );
      }
    } finally {
      await engine.unload();
    }
    return 0;
  },
};
