/**
 * Where a decode step's time goes: runs an edgetier decoder file (prompt, then single-token steps fed
 * their own KV cache, as generation does) with ORT's per-node profiler, in onnxruntime-web's WASM build
 * (what browsers without WebGPU run; in Node it is the plain CPU build) and in onnxruntime-node (the
 * native ceiling), and sums kernel time per op class. MatMul-like ops are split by weight shape, so
 * the output head shows apart from the layers.
 *
 * Only ORT's kernels are timed here, not transformers.js's JS between steps (the browser engine's
 * `edgetier bench` figures include that) nor ORT-web's copies of the inputs and outputs in and out of
 * the WASM heap (the gap between a step's wall time and its kernel time).
 */
import fs, { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../core/model-spec.ts';

export type ProfileRuntime = 'wasm' | 'native';

export interface DecoderProfileOptions {
  /** The .onnx file (an edgetier decoder: transformers.js I/O names). */
  file: string;
  spec: ModelSpec;
  runtime: ProfileRuntime;
  /** ORT intra-op threads (WASM: worker threads); 0 = the runtime's choice. */
  threads: number;
  promptTokens: number;
  /** Decode steps profiled after the prompt; the first two are warm-up and not counted. */
  steps: number;
}

export interface OpClassTime {
  /** ORT's op name after its graph fusions, plus the weight shape [in x out] for MatMul-like ops. */
  opClass: string;
  /** Median kernel time per decode step. */
  msPerStep: number;
  /** Of the summed medians of every class. */
  share: number;
  nodesPerStep: number;
}

export interface DecoderProfile {
  runtime: ProfileRuntime;
  threads: number;
  promptTokens: number;
  /** Whether the graph takes num_logits_to_keep (fed 1, as the browser engine does). */
  lastLogitsOnly: boolean;
  prefillMs: number;
  /** Median wall time of a counted decode step, as ORT's profiler saw it (model_run). */
  stepMs: number;
  /** Median summed kernel time of a counted decode step. */
  kernelMsPerStep: number;
  classes: OpClassTime[];
}

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args?: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

type OrtTensor = { dims: readonly number[] };
interface OrtLike {
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
  InferenceSession: {
    create(file: string | Uint8Array, options: Record<string, unknown>): Promise<OrtSession>;
  };
  env: { wasm?: { numThreads?: number } };
}
interface OrtSession {
  inputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  endProfiling(): unknown;
  release(): Promise<void>;
}

/**
 * The WASM build prints its trace one event a line, and Emscripten prints in Node with
 * `fs.writeSync(1, …)`: that call is tapped while a trace is expected.
 */
const stdoutTap: { text: string | null; installed: boolean } = { text: null, installed: false };
function installStdoutTap(): void {
  if (stdoutTap.installed) return;
  stdoutTap.installed = true;
  const original = fs.writeSync.bind(fs) as (...a: unknown[]) => number;
  fs.writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    if (fd === 1 && stdoutTap.text !== null && typeof data === 'string') {
      stdoutTap.text += data;
      return Buffer.byteLength(data);
    }
    return original(fd, data, ...rest);
  }) as typeof fs.writeSync;
}

function parseTraceLines(lines: readonly string[]): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const line of lines) {
    const text = line.trim().replace(/,$/, '');
    if (!text.startsWith('{"cat"')) continue;
    events.push(JSON.parse(text) as TraceEvent);
  }
  return events;
}

async function loadRuntime(runtime: ProfileRuntime, threads: number): Promise<OrtLike> {
  if (runtime === 'native') return (await import('onnxruntime-node')) as unknown as OrtLike;
  installStdoutTap();
  const ort = (await import('onnxruntime-web')) as unknown as OrtLike;
  if (ort.env.wasm && threads > 0) ort.env.wasm.numThreads = threads;
  return ort;
}

/** Runs the profile and returns its per-class medians; throws what ORT throws. */
export async function profileDecoder(options: DecoderProfileOptions): Promise<DecoderProfile> {
  const { spec, runtime, threads, promptTokens, steps } = options;
  const ort = await loadRuntime(runtime, threads);
  const traceDir = mkdtempSync(join(tmpdir(), 'edgetier-profile-'));
  try {
    const sessionOptions: Record<string, unknown> = { enableProfiling: true };
    if (runtime === 'native') {
      sessionOptions.profileFilePrefix = join(traceDir, 'trace');
      if (threads > 0) sessionOptions.intraOpNumThreads = threads;
    }
    const source = runtime === 'wasm' ? new Uint8Array(readFileSync(options.file)) : options.file;
    const session = await ort.InferenceSession.create(source, sessionOptions);
    const lastLogitsOnly = session.inputNames.includes('num_logits_to_keep');
    const int64 = (values: number[], dims: number[]) =>
      new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
    let past: Record<string, OrtTensor> = {};
    for (let i = 0; i < spec.numLayers; i++) {
      for (const kv of ['key', 'value']) {
        past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
          1,
          spec.numKvHeads,
          0,
          spec.headDim,
        ]);
      }
    }
    let position = 0;
    const run = async (ids: number[]) => {
      const total = position + ids.length;
      const feeds: Record<string, OrtTensor> = {
        input_ids: int64(ids, [1, ids.length]),
        attention_mask: int64(new Array<number>(total).fill(1), [1, total]),
        position_ids: int64(
          ids.map((_, i) => position + i),
          [1, ids.length],
        ),
        ...past,
      };
      if (lastLogitsOnly) feeds.num_logits_to_keep = int64([1], []);
      const out = await session.run(feeds);
      past = {};
      for (const [name, tensor] of Object.entries(out)) {
        if (name.startsWith('present.')) past[name.replace('present.', 'past_key_values.')] = tensor;
      }
      position = total;
    };
    // Token ids spread over the vocabulary, fixed so that runs compare.
    await run(Array.from({ length: promptTokens }, (_, i) => (7 + i * 97) % spec.vocabSize));
    for (let s = 0; s < steps; s++) await run([(11 + s * 131) % spec.vocabSize]);

    let events: TraceEvent[];
    if (runtime === 'wasm') {
      stdoutTap.text = '';
      try {
        session.endProfiling();
        // Printed from a pthread when ORT runs threads: wait for the closing bracket.
        const deadline = Date.now() + 30_000;
        while (!/^\]\s*$/m.test(stdoutTap.text) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        events = parseTraceLines(stdoutTap.text.split('\n'));
      } finally {
        stdoutTap.text = null;
      }
    } else {
      session.endProfiling();
      const trace = readdirSync(traceDir).find((f) => f.endsWith('.json'));
      if (!trace) throw new Error('onnxruntime-node wrote no profile trace');
      events = JSON.parse(readFileSync(join(traceDir, trace), 'utf8')) as TraceEvent[];
    }
    await session.release();
    return summarise(events, { runtime, threads, promptTokens, lastLogitsOnly });
  } finally {
    rmSync(traceDir, { recursive: true, force: true });
  }
}

/**
 * The op class of a kernel event: the op name; MatMul-like ops also get [in x out] from their
 * activation and output (native ORT drops prepacked weights from the input list), or "attention"
 * when they multiply 4-D activations.
 */
export function opClassOf(event: TraceEvent): string {
  const op = event.args?.op_name ?? event.name;
  if (!/MatMul|Gemm/.test(op)) return op;
  const first = (shapes: Record<string, number[]>[] | undefined) =>
    shapes?.[0] ? Object.values(shapes[0])[0] : undefined;
  const input = first(event.args?.input_type_shape);
  const output = first(event.args?.output_type_shape);
  if (!input || !output) return op;
  if (input.length >= 4) return `${op} (attention)`;
  return `${op} ${input[input.length - 1]}x${output[output.length - 1]}`;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Splits the trace into runs (model_run closes each) and takes per-class medians over decode steps. */
export function summarise(
  events: readonly TraceEvent[],
  meta: Pick<DecoderProfile, 'runtime' | 'threads' | 'promptTokens' | 'lastLogitsOnly'>,
): DecoderProfile {
  const runs: { wallUs: number; classes: Map<string, { us: number; nodes: number }> }[] = [];
  let current = new Map<string, { us: number; nodes: number }>();
  for (const event of events) {
    if (event.cat === 'Session' && event.name === 'model_run') {
      runs.push({ wallUs: event.dur, classes: current });
      current = new Map();
    } else if (event.cat === 'Node' && event.name.endsWith('_kernel_time')) {
      const key = opClassOf(event);
      const entry = current.get(key) ?? { us: 0, nodes: 0 };
      entry.us += event.dur;
      entry.nodes += 1;
      current.set(key, entry);
    }
  }
  if (runs.length < 4)
    throw new Error(`the trace holds ${runs.length} runs; profile at least 3 decode steps`);
  const decode = runs.slice(3); // the prompt, then two warm-up steps
  const names = new Set(decode.flatMap((r) => [...r.classes.keys()]));
  const classes: OpClassTime[] = [...names].map((opClass) => ({
    opClass,
    msPerStep: median(decode.map((r) => (r.classes.get(opClass)?.us ?? 0) / 1000)),
    share: 0,
    nodesPerStep: median(decode.map((r) => r.classes.get(opClass)?.nodes ?? 0)),
  }));
  const total = classes.reduce((sum, c) => sum + c.msPerStep, 0);
  for (const c of classes) c.share = total > 0 ? c.msPerStep / total : 0;
  classes.sort((a, b) => b.msPerStep - a.msPerStep);
  const kernelMs = decode.map((r) => [...r.classes.values()].reduce((sum, c) => sum + c.us, 0) / 1000);
  return {
    ...meta,
    prefillMs: runs[0]!.wallUs / 1000,
    stepMs: median(decode.map((r) => r.wallUs / 1000)),
    kernelMsPerStep: median(kernelMs),
    classes,
  };
}
