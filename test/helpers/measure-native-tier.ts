/**
 * Measures the native tier of a real `edgetier serve` process: /healthz latency while the model
 * loads and while 20 concurrent streams run (3 rounds), outcomes (200 / 429) and RSS before/after.
 * Not a test (no timing assertions); figures for the report.
 *   npx tsx test/helpers/measure-native-tier.ts [models-dir] [model] [max_tokens] [rounds]
 * Without arguments it builds the tiny twin into a temp dir and measures that.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthPreset } from '../../src/builder/synth.ts';
import { postChat, startServe } from './serve-process.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetier-measure-'));
await synthPreset('tiny', join(root, 'tiny-twin'), { dtypes: ['fp32'] });
const s = await startServe(['--models', process.argv[2] ?? root, '--grace', '1']);
const model = process.argv[3] ?? 'tiny-twin';
let maxHealthMs = 0;
let polling = true;
const poll = (async () => {
  while (polling) {
    const t = performance.now();
    await (await fetch(`${s.url}healthz`)).text();
    maxHealthMs = Math.max(maxHealthMs, performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
})();
for (let i = 0; i < 600; i++) {
  const h = (await (await fetch(`${s.url}healthz`)).json()) as { native: string };
  if (h.native !== 'loading') break;
  await new Promise((r) => setTimeout(r, 100));
}
console.log(`max /healthz latency while loading: ${maxHealthMs.toFixed(0)} ms`);
maxHealthMs = 0;
const req = {
  model,
  messages: [{ role: 'user', content: 'hello' }],
  stream: true,
  temperature: 0,
  max_tokens: Number(process.argv[4] ?? 24),
};
await postChat(s.url, req);
const base = s.rssBytes();
for (let round = 0; round < Number(process.argv[5] ?? 3); round++) {
  const t = Date.now();
  const rs = await Promise.all(Array.from({ length: 20 }, () => postChat(s.url, req)));
  console.log(
    `round ${round}: ${rs.filter((r) => r.status === 200).length} done, ${rs.filter((r) => r.status === 429).length} x 429, others ${rs.filter((r) => r.status !== 200 && r.status !== 429).length}, ${Date.now() - t} ms, rss ${(s.rssBytes() / 2 ** 20).toFixed(0)} MiB`,
  );
}
console.log(`max /healthz latency while generating: ${maxHealthMs.toFixed(0)} ms`);
polling = false;
await poll;
console.log(
  `baseline rss ${(base / 2 ** 20).toFixed(0)} MiB, after ${(s.rssBytes() / 2 ** 20).toFixed(0)} MiB`,
);
console.log('exit', await s.stop());
