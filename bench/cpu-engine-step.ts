/**
 * Decode-step time of edgetier's own CPU engine (src/cpu-engine, WebAssembly SIMD128, `--threads`: 1 or its pool)
 * against onnxruntime-node (native, 1 and 2 threads) and onnxruntime-web's WASM build (the product's
 * browser path, run in Node, 1 thread) on the same model files, in one process, rows interleaved
 * round after round (A B C …, A B C …) so that a machine whose speed drifts slows every row alike.
 *
 *   npx tsx bench/cpu-engine-step.ts [--dtype q4,q8] [--threads 1,2] [--web q8] [--native 1,2]
 *     [--rounds 3] [--steps 32] [--prompt 22 | --pp 512] [--spin N] [--min-split N] [--chunks N]
 *     [--min-attention N] <model-dir>
 *
 * e.g. after `npx edgetier synth smollm2-135m --out /tmp/m12 --dtype q4,q8`. Per row: the median
 * wall time of a decode step, tokens/s from it, CPU time per step (user + system of this process;
 * with one thread, far less sensitive to other processes than wall time), and the prefill of the
 * prompt (22 fixed ids; `--prompt 2000` times a step at 2000 tokens of context). Greedy, the KV cache fed
 * back each step as transformers.js does, `num_logits_to_keep` = 1 as edgetier's worker feeds it.
 * `--pp N` is `--prompt N` (llama-bench's name); the prefill is reported in wall and CPU time.
 * `--native none` and `--web none` leave the onnxruntime rows out (the CPU engine alone).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { DTYPE_FILE, type Dtype } from '../src/core/dtypes.ts';
import type { CpuDecoder } from '../src/cpu-engine/decoder.ts';
import { loadCpuDecoder } from '../src/cpu-engine/node-session.ts';
import { nodeKernelThreadSpawner } from '../src/cpu-engine/node-threads.ts';

interface Result {
  prefillMs: number;
  prefillCpuMs: number;
  stepMs: number[];
  cpuMsPerStep: number;
}

interface Row {
  label: string;
  run(steps: number, prompt: number[]): Promise<Result>;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
  return best;
}

function cpuEngineRow(label: string, decoder: CpuDecoder): Row {
  return {
    label,
    async run(steps, prompt) {
      decoder.truncate(0);
      const t0 = performance.now();
      const prefillCpu0 = process.cpuUsage();
      let next = argmax(decoder.forward(prompt));
      const prefillCpu = process.cpuUsage(prefillCpu0);
      const prefillCpuMs = (prefillCpu.user + prefillCpu.system) / 1000;
      const prefillMs = performance.now() - t0;
      const stepMs: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let s = 0; s < steps; s++) {
        const t = performance.now();
        next = argmax(decoder.forward([next]));
        stepMs.push(performance.now() - t);
      }
      const cpu = process.cpuUsage(cpu0);
      return { prefillMs, prefillCpuMs, stepMs, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps };
    },
  };
}

type Ort = typeof ortWeb;

function ortRow(label: string, ort: Ort, session: ortWeb.InferenceSession, c: Record<string, number>): Row {
  const layers = c.num_hidden_layers!;
  const kvHeads = c.num_key_value_heads!;
  const headDim = c.head_dim ?? c.hidden_size! / c.num_attention_heads!;
  const vocab = c.vocab_size!;
  const int64 = (values: number[]) =>
    new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, values.length]);
  return {
    label,
    async run(steps, prompt) {
      let past: Record<string, ortWeb.Tensor> = {};
      for (let l = 0; l < layers; l++)
        for (const kind of ['key', 'value'])
          past[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
            1,
            kvHeads,
            0,
            headDim,
          ]);
      let ids = prompt;
      let seen = 0;
      let prefillMs = 0;
      let prefillCpuMs = 0;
      const stepMs: number[] = [];
      let cpu0 = process.cpuUsage();
      for (let s = 0; s <= steps; s++) {
        if (s === 1) {
          const prefillCpu = process.cpuUsage(cpu0);
          prefillCpuMs = (prefillCpu.user + prefillCpu.system) / 1000;
          cpu0 = process.cpuUsage();
        }
        const t = performance.now();
        const out = await session.run({
          input_ids: int64(ids),
          attention_mask: int64(Array(seen + ids.length).fill(1)),
          position_ids: int64(ids.map((_, i) => seen + i)),
          num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([1n]), []),
          ...past,
        });
        seen += ids.length;
        ids = [argmax((out.logits!.data as Float32Array).subarray(-vocab))];
        past = {};
        for (let l = 0; l < layers; l++)
          for (const kind of ['key', 'value'])
            past[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`]!;
        const ms = performance.now() - t;
        if (s === 0) prefillMs = ms;
        else stepMs.push(ms);
      }
      const cpu = process.cpuUsage(cpu0);
      return { prefillMs, prefillCpuMs, stepMs, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps };
    },
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      dtype: { type: 'string', default: 'q4,q8' },
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '32' },
      prompt: { type: 'string', default: '22' },
      pp: { type: 'string' },
      // The CPU engine's thread counts (above 1: its thread pool, src/cpu-engine/thread-pool.ts).
      threads: { type: 'string', default: '1' },
      // The pool's tuning (THREAD_POOL_DEFAULTS when not given): spin loads, split thresholds, chunks.
      spin: { type: 'string' },
      'min-split': { type: 'string' },
      chunks: { type: 'string' },
      'min-attention': { type: 'string' },
      // onnxruntime-node's thread counts, or `none`.
      native: { type: 'string', default: '1,2' },
      // onnxruntime-web's q4 takes seconds per step (bench/results/wasm-cpu-speed.md): off by default.
      web: { type: 'string', default: 'q8' },
    },
  });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) throw new Error('give one model folder');
  const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as Record<string, number>;
  const steps = Number(values.steps);
  const prompt = Array.from(
    { length: Number(values.pp ?? values.prompt) },
    (_, i) => (100 + i * 7) % config.vocab_size!,
  );
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';

  const rows: Row[] = [];
  const decoders: CpuDecoder[] = [];
  for (const dtype of values.dtype.split(',') as Dtype[]) {
    const file = `${dir}/onnx/${DTYPE_FILE[dtype]}`;
    for (const threads of values.threads.split(',').map(Number)) {
      const t0 = performance.now();
      const decoder = await loadCpuDecoder(dir, dtype, {
        threads,
        spawn: nodeKernelThreadSpawner,
        pool: {
          ...(values.spin ? { spin: Number(values.spin) } : {}),
          ...(values['min-split'] ? { minSplitWork: Number(values['min-split']) } : {}),
          ...(values.chunks ? { chunksPerThread: Number(values.chunks) } : {}),
          ...(values['min-attention'] ? { minAttentionWork: Number(values['min-attention']) } : {}),
        },
      });
      decoders.push(decoder);
      console.error(
        `loaded ${dtype} into the CPU engine (${threads} thread${threads > 1 ? 's' : ''}) in ${(performance.now() - t0).toFixed(0)} ms`,
      );
      rows.push(
        cpuEngineRow(`edgetier cpu-engine ${dtype}, ${threads} thread${threads > 1 ? 's' : ''}`, decoder),
      );
    }
    for (const threads of values.native === 'none' ? [] : values.native.split(',').map(Number)) {
      const session = await ortNode.InferenceSession.create(file, {
        intraOpNumThreads: threads,
        logSeverityLevel: 3,
      });
      rows.push(
        ortRow(
          `onnxruntime-node ${dtype}, ${threads} thread${threads > 1 ? 's' : ''}`,
          ortNode as unknown as Ort,
          session as unknown as ortWeb.InferenceSession,
          config,
        ),
      );
    }
    if (values.web.split(',').includes(dtype)) {
      const web = await ortWeb.InferenceSession.create(file, { logSeverityLevel: 3 });
      rows.push(ortRow(`onnxruntime-web WASM ${dtype}, 1 thread (in Node)`, ortWeb, web, config));
    }
  }

  const results = new Map<string, Result[]>();
  const rounds = Number(values.rounds);
  for (let round = 0; round <= rounds; round++) {
    for (const row of rows) {
      // Round 0 warms every row up (V8 tiers the WASM code up; ORT allocates) and is not counted.
      const r = await row.run(round === 0 ? 8 : steps, prompt);
      console.error(`round ${round} ${row.label}: ${median(r.stepMs).toFixed(2)} ms/step`);
      if (round > 0) results.set(row.label, [...(results.get(row.label) ?? []), r]);
    }
  }
  console.log(
    `| row | decode step ms (median) | tok/s | CPU ms/step | prefill ${prompt.length} tokens ms | prefill CPU ms |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const rs = results.get(row.label)!;
    const step = median(rs.flatMap((r) => r.stepMs));
    const cpu = median(rs.map((r) => r.cpuMsPerStep));
    const prefill = median(rs.map((r) => r.prefillMs));
    const prefillCpu = median(rs.map((r) => r.prefillCpuMs));
    console.log(
      `| ${row.label} | ${step.toFixed(2)} | ${(1000 / step).toFixed(1)} | ${cpu.toFixed(2)} | ${prefill.toFixed(0)} | ${prefillCpu.toFixed(0)} |`,
    );
  }
  for (const decoder of decoders) {
    if (decoder.pool)
      console.error(
        `${decoder.dtype} ${decoder.threads} threads: GEMMs split ${decoder.pool.split}, alone ${decoder.pool.local}`,
      );
    await decoder.dispose();
  }
}

await main();
