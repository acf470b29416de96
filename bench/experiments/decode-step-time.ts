/**
 * Decode-step time of model folders, interleaved round after round (A B A B …), in onnxruntime-web's
 * WASM build run inside Node (the browser adds almost nothing, see bench/results/wasm-cpu-speed.md)
 * or in onnxruntime-node. Reports the median step wall time, CPU time per step (user + system of
 * this process: far less sensitive to other processes than wall time when threads = 1) and the
 * prefill time, and checks that every folder's logits equal the first folder's, so that two graph
 * forms of one model can be compared for speed and exactness at once.
 *
 *   npx tsx bench/experiments/decode-step-time.ts [--runtime web|native] [--threads 1] [--rounds 3]
 *     [--steps 24] [--prompt 22] [--file model_quantized.onnx] <model-dir> <model-dir>…
 *
 * Prompt: 22 fixed token ids (--prompt N for more context); greedy; one session.run per step with
 * the KV cache fed back, as transformers.js does, and `num_logits_to_keep` = 1 as edgetier's worker
 * feeds it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';

type Ort = typeof ortWeb;
type Session = ortWeb.InferenceSession;
type Tensor = ortWeb.Tensor;

interface Folder {
  dir: string;
  session: Session;
  layers: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
}

interface Run {
  prefillMs: number;
  stepMs: number;
  cpuMsPerStep: number;
  /** Last-position logits of every step, for the exactness check. */
  logits: Float32Array[];
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function open(ort: Ort, dir: string, file: string, threads: number, native: boolean): Promise<Folder> {
  const c = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as Record<string, number>;
  const path = `${dir}/onnx/${file}`;
  const session = native
    ? ((await ortNode.InferenceSession.create(path, {
        intraOpNumThreads: threads,
        logSeverityLevel: 3,
      })) as unknown as Session)
    : await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  return {
    dir,
    session,
    layers: c.num_hidden_layers!,
    kvHeads: c.num_key_value_heads!,
    headDim: c.head_dim ?? c.hidden_size! / c.num_attention_heads!,
    vocab: c.vocab_size!,
  };
}

async function decode(ort: Ort, m: Folder, steps: number, promptTokens: number): Promise<Run> {
  const int64 = (values: number[], dims = [1, values.length]) =>
    new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);
  let past: Record<string, Tensor> = {};
  for (let l = 0; l < m.layers; l++)
    for (const kind of ['key', 'value'])
      past[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
        1,
        m.kvHeads,
        0,
        m.headDim,
      ]);
  let ids = Array.from({ length: promptTokens }, (_, i) => (100 + i * 7) % m.vocab);
  let seen = 0;
  let prefillMs = 0;
  const stepMs: number[] = [];
  const logits: Float32Array[] = [];
  let cpuStart = process.cpuUsage();
  for (let s = 0; s <= steps; s++) {
    if (s === 1) cpuStart = process.cpuUsage();
    const t0 = performance.now();
    const out = await m.session.run({
      input_ids: int64(ids),
      attention_mask: int64(Array(seen + ids.length).fill(1)),
      position_ids: int64(ids.map((_, i) => seen + i)),
      num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([1n]), []),
      ...past,
    });
    seen += ids.length;
    const last = (out.logits!.data as Float32Array).slice(-m.vocab);
    logits.push(last);
    let best = 0;
    for (let v = 1; v < m.vocab; v++) if (last[v]! > last[best]!) best = v;
    ids = [best];
    past = {};
    for (let l = 0; l < m.layers; l++)
      for (const kind of ['key', 'value'])
        past[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`]!;
    const ms = performance.now() - t0;
    if (s === 0) prefillMs = ms;
    else stepMs.push(ms);
  }
  const cpu = process.cpuUsage(cpuStart);
  return { prefillMs, stepMs: median(stepMs), cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps, logits };
}

function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let max = 0;
  a.forEach((row, i) => {
    row.forEach((v, j) => {
      max = Math.max(max, Math.abs(v - b[i]![j]!));
    });
  });
  return max;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runtime: { type: 'string', default: 'web' },
      threads: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '24' },
      file: { type: 'string', default: 'model_quantized.onnx' },
      prompt: { type: 'string', default: '22' },
    },
  });
  if (positionals.length === 0) throw new Error('give at least one model folder');
  const native = values.runtime === 'native';
  const threads = Number(values.threads);
  const ort = (native ? ortNode : ortWeb) as unknown as Ort;
  ortWeb.env.wasm.numThreads = threads;
  ortWeb.env.logLevel = 'error';
  const folders: Folder[] = [];
  for (const dir of positionals) folders.push(await open(ort, dir, values.file, threads, native));
  const runs = new Map<string, Run[]>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const m of folders) {
      const run = await decode(ort, m, Number(values.steps), Number(values.prompt));
      runs.set(m.dir, [...(runs.get(m.dir) ?? []), run]);
    }
  }
  const reference = runs.get(folders[0]!.dir)![0]!.logits;
  for (const m of folders) {
    const all = runs.get(m.dir)!;
    const step = median(all.map((r) => r.stepMs));
    console.log(
      `${m.dir}  ${native ? 'native' : 'onnxruntime-web'} ${threads}t: step ${step.toFixed(1)} ms ` +
        `(${(1000 / step).toFixed(1)} tok/s), CPU ${median(all.map((r) => r.cpuMsPerStep)).toFixed(1)} ms/step, ` +
        `prefill ${median(all.map((r) => r.prefillMs)).toFixed(0)} ms; steps ${all.map((r) => r.stepMs.toFixed(1)).join(' ')}; ` +
        `max |logit - first folder's| ${maxAbsDiff(all[0]!.logits, reference)}`,
    );
  }
}

await main();
