/**
 * Stands in for `onnxruntime-web/webgpu` inside transformers.js (vite.config.ts redirects that one
 * import here): it hands transformers.js the ORT build the plan picked instead of always the
 * asyncify/WebGPU build, which is 1.3-1.8x slower on WASM and twice the download.
 *
 * Every session.run first yields one macrotask: ORT's runs resolve through microtasks only, so
 * without it the worker would not see an interrupt message until the whole generation ended.
 *
 * Sessions whose graph takes `num_logits_to_keep` (edgetier's decoders do) get 1 where transformers.js
 * feeds 0 ("every position"): the engine only generates, and generation reads the last position's
 * logits, so the output head runs once per prompt instead of once per prompt token (a shorter time to
 * first token; decode steps have one position anyway).
 */
import { loadOrt } from './ort-build.ts';

const ort = await loadOrt();

const channel = new MessageChannel();
const waiting: (() => void)[] = [];
channel.port1.onmessage = () => waiting.shift()?.();
/** A macrotask turn without setTimeout's 4 ms clamp. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(0);
  });
}

type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;

/**
 * Time inside ORT's session.run (yield excluded), on the worker's global as `edgetierOrtRunStats`: the
 * rest of a generation's time is transformers.js's JS between steps (`edgetier profile --runtime
 * browser` reads both), with the durations of the last runs so that one generation's prompt run can be
 * told from its decode runs. A few additions per run; nothing else reads it.
 */
const RECENT_RUNS = 256;
const runStats = { runs: 0, ms: 0, recentMs: [] as number[] };
(globalThis as { edgetierOrtRunStats?: typeof runStats }).edgetierOrtRunStats = runStats;

const NUM_LOGITS_TO_KEEP = 'num_logits_to_keep';
const lastLogitOnly = new ort.Tensor('int64', BigInt64Array.from([1n]), []);

async function create(...args: Parameters<typeof ort.InferenceSession.create>): Promise<Session> {
  const session = await (ort.InferenceSession.create as (...a: unknown[]) => Promise<Session>)(...args);
  const run = session.run.bind(session) as (...a: unknown[]) => ReturnType<Session['run']>;
  const keepsLogits = session.inputNames.includes(NUM_LOGITS_TO_KEEP);
  (session as { run: unknown }).run = async (feeds: Record<string, unknown>, ...rest: unknown[]) => {
    await yieldToEvents();
    const startMs = performance.now();
    try {
      return await run(keepsLogits ? { ...feeds, [NUM_LOGITS_TO_KEEP]: lastLogitOnly } : feeds, ...rest);
    } finally {
      const ms = performance.now() - startMs;
      runStats.runs += 1;
      runStats.ms += ms;
      runStats.recentMs.push(ms);
      if (runStats.recentMs.length > RECENT_RUNS) runStats.recentMs.shift();
    }
  };
  return session;
}

export const InferenceSession = { create };
export const Tensor = ort.Tensor;
export const env = ort.env;
