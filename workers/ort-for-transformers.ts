/**
 * Stands in for `onnxruntime-web/webgpu` inside transformers.js (vite.config.ts redirects that one
 * import here): it hands transformers.js the ORT build the plan picked instead of always the
 * asyncify/WebGPU build, which is 1.3-1.8x slower on WASM and twice the download.
 *
 * Every session.run first yields one macrotask: ORT's runs resolve through microtasks only, so
 * without it the worker would not see an interrupt message until the whole generation ended.
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

async function create(...args: Parameters<typeof ort.InferenceSession.create>): Promise<Session> {
  const session = await (ort.InferenceSession.create as (...a: unknown[]) => Promise<Session>)(...args);
  const run = session.run.bind(session) as (...a: unknown[]) => ReturnType<Session['run']>;
  (session as { run: unknown }).run = async (...runArgs: unknown[]) => {
    await yieldToEvents();
    return run(...runArgs);
  };
  return session;
}

export const InferenceSession = { create };
export const Tensor = ort.Tensor;
export const env = ort.env;
