/**
 * `edgetier profile <model-dir>`: where a decode step's time goes, per ORT kernel class, in
 * onnxruntime-web's WASM build and in native onnxruntime-node, side by side (src/bench/decoder-profile.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DecoderProfile, type ProfileRuntime, profileDecoder } from '../../bench/decoder-profile.ts';
import { parseHfConfig } from '../../builder/hf-config.ts';
import { DTYPE_FILE, DTYPES, isDtype } from '../../core/dtypes.ts';
import { EdgetierError } from '../../core/errors.ts';
import { parseCommandArgs, parseIntegerOption } from '../args.ts';
import type { Command } from '../command.ts';

const RUNTIMES: readonly ProfileRuntime[] = ['wasm', 'native'];
const ALL_RUNTIMES = [...RUNTIMES, 'browser'] as const;

const help = `
Usage: edgetier profile <model-dir> [options]

Runs a prompt and then single-token decode steps (each fed the previous step's KV cache) with ONNX
Runtime's per-node profiler, and prints the median kernel time per decode step for each op class
(MatMul-like ops split by weight shape, so the output head shows apart from the layers), in
onnxruntime-web's WASM build (run in Node: the plain CPU build browsers without WebGPU use) and in
native onnxruntime-node. Times are ORT kernels only: the step's wall time minus their sum is ORT's
executor plus, on WASM, copying inputs and outputs through the WASM heap.

--runtime browser runs edgetier's engine worker in headless Chromium instead and splits a decode step's
wall time into time inside ORT's session.run and time between runs (transformers.js's generation
loop and the worker's yield).

Options:
  --dtype D            ${DTYPES.join(', ')} (default q8).
  --runtime LIST       Comma-separated: ${ALL_RUNTIMES.join(', ')} (default wasm,native).
  --threads N          Threads for both runtimes; 0 = each runtime's choice (default 2).
  --prompt-tokens N    Prompt length (default 22).
  --steps N            Decode steps; the first two are warm-up (default 16).
  --top N              Op classes listed (default 12).
  --json               Print the profiles as JSON.
  --verbose            Print stack traces on errors.
`;

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** A Markdown table: one row per op class, a column pair (ms/step, share) per runtime. */
export function profileTable(profiles: readonly DecoderProfile[], top: number): string {
  const first = profiles[0];
  if (!first) return '';
  const classes = first.classes.slice(0, top).map((c) => c.opClass);
  for (const p of profiles.slice(1)) {
    for (const c of p.classes.slice(0, top)) if (!classes.includes(c.opClass)) classes.push(c.opClass);
  }
  const head = ['op class', ...profiles.flatMap((p) => [`${p.runtime} ms/step`, `${p.runtime} share`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const opClass of classes) {
    const cells = profiles.flatMap((p) => {
      const c = p.classes.find((x) => x.opClass === opClass);
      return c ? [c.msPerStep.toFixed(2), percent(c.share)] : ['-', '-'];
    });
    lines.push(`| ${opClass} | ${cells.join(' | ')} |`);
  }
  const totals = profiles.flatMap((p) => [p.kernelMsPerStep.toFixed(2), '100%']);
  lines.push(`| all kernels | ${totals.join(' | ')} |`);
  lines.push(`| step wall time | ${profiles.flatMap((p) => [p.stepMs.toFixed(2), '']).join(' | ')} |`);
  lines.push(`| prompt (prefill) | ${profiles.flatMap((p) => [p.prefillMs.toFixed(1), '']).join(' | ')} |`);
  return lines.join('\n');
}

export const profileCommand: Command = {
  name: 'profile',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('profile', args, {
      dtype: { type: 'string' },
      runtime: { type: 'string' },
      threads: { type: 'string' },
      'prompt-tokens': { type: 'string' },
      steps: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
    });
    if (positionals.length !== 1) {
      throw new EdgetierError('usage', 'Give one model folder: edgetier profile <model-dir>.');
    }
    const dir = resolve(positionals[0]!);
    const dtype = values.dtype ?? 'q8';
    if (!isDtype(dtype)) {
      throw new EdgetierError(
        'unsupported_dtype',
        `Unknown --dtype "${dtype}"; edgetier knows ${DTYPES.join(', ')}.`,
      );
    }
    const runtimes = (values.runtime ?? RUNTIMES.join(',')).split(',').map((r) => r.trim());
    for (const r of runtimes) {
      if (!(ALL_RUNTIMES as readonly string[]).includes(r)) {
        throw new EdgetierError('usage', `Unknown --runtime "${r}"; use ${ALL_RUNTIMES.join(', ')}.`);
      }
    }
    const steps = parseIntegerOption('steps', values.steps, 16);
    if (steps < 3) throw new EdgetierError('usage', '--steps must be at least 3 (two are warm-up).');
    const file = join(dir, 'onnx', DTYPE_FILE[dtype]);
    const configFile = join(dir, 'config.json');
    if (!existsSync(configFile) || !existsSync(file)) {
      throw new EdgetierError(
        'model_not_found',
        `${dir} has no config.json or onnx/${DTYPE_FILE[dtype]}: build it with \`edgetier synth\` or \`edgetier convert\` (--dtype ${dtype}).`,
      );
    }
    const spec = parseHfConfig(JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>);
    const threads = parseIntegerOption('threads', values.threads, 2);
    const promptTokens = Math.max(1, parseIntegerOption('prompt-tokens', values['prompt-tokens'], 22));
    const profiles: DecoderProfile[] = [];
    for (const runtime of runtimes.filter((r): r is ProfileRuntime => r !== 'browser')) {
      profiles.push(await profileDecoder({ file, spec, runtime, threads, promptTokens, steps }));
    }
    const split = runtimes.includes('browser')
      ? await (await import('../../bench/browser-step-split.ts')).browserStepSplit({
          dir,
          dtype,
          threads,
          promptTokens,
          steps,
        })
      : null;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ kernels: profiles, browser: split }, null, 2)}\n`);
      return 0;
    }
    if (profiles.length > 0) {
      process.stdout.write(`${profileTable(profiles, parseIntegerOption('top', values.top, 12))}\n`);
    }
    if (split) {
      const share = (ms: number) => `${((ms / split.decodeStepMs) * 100).toFixed(0)}%`;
      process.stdout.write(
        `browser (${split.build} build, ${split.dtype}, ${split.threads} thread(s)): ` +
          `ttft ${split.ttftMs.toFixed(0)} ms (prompt run ${split.prefillOrtMs.toFixed(0)} ms in ORT), ` +
          `decode ${split.decodeTokPerSec.toFixed(1)} tok/s = ${split.decodeStepMs.toFixed(1)} ms/step: ` +
          `${split.decodeOrtMs.toFixed(1)} ms in session.run (${share(split.decodeOrtMs)}; median run ` +
          `${split.decodeOrtMedianMs.toFixed(1)} ms), ` +
          `${split.betweenRunsMs.toFixed(1)} ms between runs (${share(split.betweenRunsMs)})\n`,
      );
    }
    return 0;
  },
};
