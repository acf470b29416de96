/**
 * The decode loop of bench/experiments/decode-step-time.ts, run on onnxruntime-web alone inside headless
 * Chromium (a dedicated worker, as edgetier's engine runs it, but without transformers.js), so that a
 * browser decode step can be compared with the same WASM build run in Node and with the engine.
 * Reports the median and the mean step time per configuration, configurations interleaved round after
 * round, each round in a fresh worker that decodes once to warm up (WASM tier-up) and is timed on its
 * second pass.
 *
 *   npx tsx bench/experiments/browser-decode-step-time.ts [--rounds 3] [--steps 48] [--prompt 22] <model-dir> jspi:2 …
 *
 * --prompt sets the prompt's length: the decode steps then run with that much context (the KV cache
 * ORT-web copies into and out of its heap every step grows with it).
 *
 * A configuration is build:threads[:option=value,…] where build is jspi or wasm (the plain CPU build)
 * and the options are ORT session config entries (e.g. session.intra_op.allow_spinning=0), top-level
 * session options as opt.<name>=<value> (e.g. opt.enableCpuMemArena=false), yield=1 (one macrotask
 * before each run, as edgetier's worker does) or busy=<ms> (that much JS work between runs).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../../src/cli/browser.ts';

const ORT_DIST = resolve(import.meta.dirname, '../../node_modules/onnxruntime-web/dist');

const WORKER = `
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()();
const yieldToEvents = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
self.onmessage = async ({ data: { build, threads, config, steps, promptTokens } }) => {
  const yieldEach = config.yield === '1';
  const busyMs = Number(config.busy ?? 0);
  delete config.yield;
  delete config.busy;
  // opt.<name>=true|false: a top-level session option (e.g. opt.enableCpuMemArena=false).
  const top = {};
  for (const key of Object.keys(config)) {
    if (!key.startsWith('opt.')) continue;
    top[key.slice(4)] = config[key] === 'true' ? true : config[key] === 'false' ? false : config[key];
    delete config[key];
  }
  const ort = await import(build === 'jspi' ? '/ort/ort.jspi.min.mjs' : '/ort/ort.wasm.min.mjs');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const c = await (await fetch('/model/config.json')).json();
  const layers = c.num_hidden_layers, kvHeads = c.num_key_value_heads;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads, vocab = c.vocab_size;
  const session = await ort.InferenceSession.create('/model/onnx/model_quantized.onnx', {
    logSeverityLevel: 3, extra: config, ...top,
  });
  const int64 = (v, dims = [1, v.length]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), dims);
  let result;
  for (let rep = 0; rep < 2; rep++) {
  let past = {};
  for (let l = 0; l < layers; l++) for (const k of ['key', 'value'])
    past['past_key_values.' + l + '.' + k] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]);
  let ids = Array.from({ length: promptTokens }, (_, i) => (100 + i * 7) % vocab);
  let seen = 0;
  const stepMs = [];
  let prefillMs = 0;
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    if (yieldEach) await yieldToEvents();
    if (busyMs) { const until = performance.now() + busyMs; while (performance.now() < until); }
    const out = await session.run({
      input_ids: int64(ids), attention_mask: int64(Array(seen + ids.length).fill(1)),
      position_ids: int64(ids.map((_, i) => seen + i)),
      num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([1n]), []), ...past,
    });
    seen += ids.length;
    const last = out.logits.data.subarray(out.logits.data.length - vocab);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (last[v] > last[best]) best = v;
    ids = [best];
    past = {};
    for (let l = 0; l < layers; l++) for (const k of ['key', 'value'])
      past['past_key_values.' + l + '.' + k] = out['present.' + l + '.' + k];
    const ms = performance.now() - t0;
    if (s === 0) prefillMs = ms; else stepMs.push(ms);
  }
  const meanMs = stepMs.reduce((a, b) => a + b, 0) / stepMs.length;
  stepMs.sort((a, b) => a - b);
  result = { prefillMs, stepMs: stepMs[stepMs.length >> 1], meanMs };
  }
  self.postMessage(result);
};
`;

const PAGE = `<!doctype html><script type="module">
window.runConfig = (msg) => new Promise((resolve, reject) => {
  const w = new Worker('/worker.mjs', { type: 'module' });
  w.onmessage = (e) => { w.terminate(); resolve(e.data); };
  w.onerror = (e) => { w.terminate(); reject(new Error(e.message)); };
  w.postMessage(msg);
});
</script>`;

interface Config {
  key: string;
  build: 'jspi' | 'wasm';
  threads: number;
  config: Record<string, string>;
}

function parseConfig(text: string): Config {
  const [build, threads, options] = text.split(':');
  if (build !== 'jspi' && build !== 'wasm') throw new Error(`bad configuration "${text}"`);
  const config: Record<string, string> = {};
  for (const pair of options ? options.split(',') : []) {
    const [k, v] = pair.split('=');
    config[k!] = v!;
  }
  return { key: text, build, threads: Number(threads) || 1, config };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '48' },
      prompt: { type: 'string', default: '22' },
    },
  });
  const [modelDir, ...configTexts] = positionals;
  if (!modelDir || configTexts.length === 0) throw new Error('give a model folder and configurations');
  const configs = configTexts.map(parseConfig);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    };
    const send = (type: string, body: string) => {
      res.writeHead(200, { ...headers, 'Content-Type': type });
      res.end(body);
    };
    if (url.pathname === '/') return send('text/html', PAGE);
    if (url.pathname === '/worker.mjs') return send('text/javascript', WORKER);
    const file = url.pathname.startsWith('/ort/')
      ? join(ORT_DIST, url.pathname.slice(5))
      : url.pathname.startsWith('/model/')
        ? join(modelDir, url.pathname.slice(7))
        : '';
    // Only files under the two roots (a request with `..` gets a 404).
    const inside = file && [ORT_DIST, resolve(modelDir)].some((root) => resolve(file).startsWith(`${root}/`));
    if (!inside || !existsSync(file)) {
      res.writeHead(404, headers);
      return res.end();
    }
    const type = file.endsWith('.wasm')
      ? 'application/wasm'
      : file.endsWith('.mjs')
        ? 'text/javascript'
        : 'application/octet-stream';
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  const results = new Map<string, { stepMs: number; meanMs: number }[]>();
  try {
    await browser.page.goto(`${origin}/`);
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const c of configs) {
        const r = (await browser.page.evaluate(
          (msg) => (globalThis as unknown as { runConfig(m: unknown): Promise<unknown> }).runConfig(msg),
          {
            build: c.build,
            threads: c.threads,
            config: c.config,
            steps: Number(values.steps),
            promptTokens: Number(values.prompt),
          },
        )) as { prefillMs: number; stepMs: number; meanMs: number };
        console.log(JSON.stringify({ key: c.key, round, ...r }));
        results.set(c.key, [...(results.get(c.key) ?? []), r]);
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
  for (const [key, runs] of results) {
    const step = median(runs.map((r) => r.stepMs));
    const mean = median(runs.map((r) => r.meanMs));
    console.log(
      `MEDIAN ${key}: median step ${step.toFixed(1)} ms, mean step ${mean.toFixed(1)} ms ` +
        `(${(1000 / mean).toFixed(1)} tok/s); means by round ${runs.map((r) => r.meanMs.toFixed(1)).join(' ')}`,
    );
  }
}

await main();
