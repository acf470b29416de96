/**
 * The code a CPU engine thread runs (thread-pool.ts), as plain JavaScript text: a worker cannot load
 * the project's TypeScript (tsx's loader does not reach worker threads), and the same text serves a
 * Node worker_threads Worker and a browser Web Worker, each with its own two-line prelude.
 *
 * The thread instantiates the threaded kernels build over the shared memory it is given, says
 * 'ready', then loops until told to stop: it waits for a new job (a bounded spin on the generation
 * word, then Atomics.wait), claims chunks of the job (a GEMM's output rows, or an attention's units,
 * scored in this thread's own scratch) one at a time with a
 * compare-and-swap on the claim word (generation | next chunk | chunk count in one 32-bit word, so a
 * late thread can never claim a chunk of a job that is over), runs each, and counts it done. A kernel
 * that throws is reported through the control block (its text and the thread's number) and still
 * counted done, so the calling thread never waits for it.
 *
 * The control block's layout (Int32 indices) is CONTROL in thread-pool.ts; keep both in step.
 */
const LOOP = `
const GEN = 0, CLAIM = 16, DONE = 32, STOP = 48, SLEEPERS = 49, ERROR = 50, SPIN = 51, KIND = 52, ARGS = 53, ERROR_TEXT = 80, ERROR_CHARS = 256;
let ex = null, i32 = null, u32 = null, f32 = null, index = 0;
const KERNELS = ['gemmF32Rows', 'gemmQ4Rows', 'gemmQ8Rows', 'attentionUnits', 'gemmQ4I8Rows', 'attentionUnitsI8'];
function attention(chunk, kind) {
  const units = u32[ARGS + 15], chunkUnits = u32[ARGS + 16];
  const u0 = chunk * chunkUnits, u1 = Math.min(units, u0 + chunkUnits);
  ex[KERNELS[kind]](u32[ARGS], u32[ARGS + 1], u32[ARGS + 2], u32[ARGS + 3], u32[ARGS + 4], u32[ARGS + 5], u32[ARGS + 6], u32[ARGS + 7], u32[ARGS + 8], u32[ARGS + 9], u32[ARGS + 10], f32[ARGS + 11], u32[ARGS + 12] + index * u32[ARGS + 13], u32[ARGS + 14], u32[ARGS + 17], u0, u1);
}
function report(error, kind) {
  const text = ('thread ' + index + ' in ' + KERNELS[kind] + ': ' + (error && error.message ? error.message : String(error))).slice(0, ERROR_CHARS);
  if (Atomics.compareExchange(i32, ERROR, 0, index) === 0) {
    const chars = new Uint16Array(i32.buffer, i32.byteOffset + ERROR_TEXT * 4, ERROR_CHARS);
    chars.fill(0);
    for (let i = 0; i < text.length; i++) chars[i] = text.charCodeAt(i);
  }
}
function work(gen) {
  const tag = gen & 0x7fff;
  for (;;) {
    const v = Atomics.load(i32, CLAIM);
    if ((v >>> 16) !== tag) return;
    const next = (v >>> 8) & 0xff, chunks = v & 0xff;
    if (next >= chunks) return;
    if (Atomics.compareExchange(i32, CLAIM, v, v + 256) !== v) continue;
    // Claimed: the job cannot end before this chunk is counted, so its arguments stand still.
    const kind = i32[KIND];
    try {
      if (kind === 3 || kind === 5) attention(next, kind);
      else {
        const rows = u32[ARGS + 5], chunkRows = u32[ARGS + 8];
        const r0 = next * chunkRows, r1 = Math.min(rows, r0 + chunkRows);
        if (kind === 0) ex.gemmF32Rows(u32[ARGS], u32[ARGS + 1], u32[ARGS + 3], rows, u32[ARGS + 6], u32[ARGS + 7], r0, r1);
        else ex[KERNELS[kind]](u32[ARGS], u32[ARGS + 1], u32[ARGS + 2], u32[ARGS + 3], u32[ARGS + 4], rows, u32[ARGS + 6], u32[ARGS + 7], r0, r1);
      }
    } catch (error) {
      report(error, kind);
    }
    if (Atomics.add(i32, DONE, 1) + 1 === chunks) Atomics.notify(i32, DONE);
  }
}
function loop() {
  let seen = Atomics.load(i32, GEN);
  for (;;) {
    let gen = Atomics.load(i32, GEN);
    const spin = i32[SPIN];
    for (let i = 0; gen === seen && i < spin; i++) gen = Atomics.load(i32, GEN);
    if (gen === seen) {
      Atomics.add(i32, SLEEPERS, 1);
      Atomics.wait(i32, GEN, seen);
      Atomics.sub(i32, SLEEPERS, 1);
      continue;
    }
    seen = gen;
    if (Atomics.load(i32, STOP) !== 0) return;
    work(gen);
  }
}
async function start(message) {
  index = message.index;
  try {
    const instance = await WebAssembly.instantiate(message.module, { env: { memory: message.memory } });
    ex = instance.exports;
    i32 = new Int32Array(message.memory.buffer, message.control, ERROR_TEXT + ERROR_CHARS / 2);
    u32 = new Uint32Array(message.memory.buffer, message.control, ERROR_TEXT);
    f32 = new Float32Array(message.memory.buffer, message.control, ERROR_TEXT);
  } catch (error) {
    post({ type: 'failed', message: error && error.message ? error.message : String(error) });
    return;
  }
  post({ type: 'ready' });
  loop();
  post({ type: 'stopped' });
}
`;

/** For a Node worker_threads Worker with `eval: true`. */
export const NODE_KERNEL_THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const post = (message) => parentPort.postMessage(message);
parentPort.once('message', (message) => { start(message).then(() => parentPort.close()); });
${LOOP}`;

/** For a classic Web Worker (a Blob URL of this text, or a file with it). */
export const WEB_KERNEL_THREAD_SOURCE = `
const post = (message) => self.postMessage(message);
self.addEventListener('message', (event) => { start(event.data).then(() => self.close()); }, { once: true });
${LOOP}`;
